"""tuner: hyperparameter tuning on Optuna with a hand-written numpy batch-norm MLP.

Layers, bottom up (a module imports only from layers below it; tests/project/test_layout.py
checks there is no import cycle):

- errors, keys, files, passwords: the error root and one-line formatter, every
  ``tuner:*`` attribute key, atomic file writes, a URL's password never shown.
- machine (cores, memory, CPU, BLAS, GPUs, versions: every fact about this machine),
  hashing (content hash of named arrays), footprint (a trial's memory and work),
  signals (SIGINT / SIGTERM handled for a block), metrics (the validation metrics of
  each task, their directions; numpy only).
- splits (what loading gives), data (built-in datasets; `spec_splits` dispatches on the
  source), cache (prepared splits on disk), sources / cells / target / columns /
  table / preprocess (your own CSV, Parquet or SQL rows: reading, typing a cell, the
  target's classes or numbers, which columns are features and of what kind, the rows and
  their fingerprint, the column transformer),
  spec/ (study files), space (search space, samplers), mlp/ (the model),
  fingerprint (data / hardware / definition hashes).
- storage/: the Optuna RDB storage that holds a version to its n_trials across workers
  (``with storage.budget()``), keeps a worker's bookkeeping lean (``with
  storage.lean()``) and survives outages; the Optuna internals tuner relies on.
- pruning (the [pruner], the median deciding from a snapshot), objective (one trial),
  chain_lock (one lock per chain, across processes), versions (the chain NAME,
  NAME/v2, ...: decide, create, prepare, study queries), worker (run a version's
  trials; seeds; parallel processes),
  study_file (the one door from a study file to its storage, data, fingerprints,
  sampler and pruner).
- run (`run_study`, `run_worker`), retune (`retune_file(s)`), schedule (cron),
  train (retrain the best trial), predict (a saved model on a CSV), history (one row per
  decision about the champion, beside the chain), deploy (where the champion's files go,
  the checks a model passes first), champion (the model in use: promote, roll back),
  study (what `study list|show|best` print), report/, dashboard.
- api: the Python API, `run_study`, `train_model`, `load_model` (imported on first use).
- cli: the click skin; each command parses options, makes one call, prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuner.api import Model, load_model, run_study, train_model
    from tuner.run import RunResult

__version__ = "0.1.0"

# The Python API (tuner/api.py), imported on first use: `tuner predict` imports this
# package and should not pay for Optuna or the study machinery.
__all__ = ["Model", "RunResult", "__version__", "load_model", "run_study", "train_model"]


def __getattr__(name: str) -> Any:
    if name in ("Model", "load_model", "run_study", "train_model"):
        from tuner import api

        return getattr(api, name)
    if name == "RunResult":
        from tuner.run import RunResult

        return RunResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

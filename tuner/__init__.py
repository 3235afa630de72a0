"""tuner: hyperparameter tuning on Optuna with a hand-written numpy batch-norm MLP.

Layers, bottom up (a module imports only from layers below it; tests/test_layout.py
checks there is no import cycle):

- errors, keys, files, optuna_private: the error root and one-line formatter, every
  ``tuner:*`` attribute key, atomic file writes, the Optuna internals tuner relies on.
- splits (what loading gives), data (built-in datasets; `spec_splits` dispatches on the
  source), cache (prepared splits on disk), sources / table / preprocess (your own CSV,
  Parquet or SQL rows: reading, typing and fingerprint, the column transformer),
  spec/ (study files), space (search space, samplers), mlp/ (the model),
  fingerprint (data / hardware / definition hashes).
- storage_url (which storage, checked, its password never shown), outage (calls retried
  while the database is away), write_behind / read_cache (a worker's lean bookkeeping),
  storage: Optuna RDB storage that holds a version to its n_trials across workers and
  survives outages.
- pruning (the [pruner], the median deciding from a snapshot), objective (one trial),
  versions (the chain NAME, NAME/v2, ...: decide, create,
  prepare, study queries), worker (run a version's trials; seeds; parallel processes).
- run (`run_study`, `run_worker`), retune (`retune_file(s)`), schedule (cron),
  train (retrain the best trial), predict (a saved model on a CSV), study (what
  `study list|show|best` print), report/, dashboard.
- cli: the click skin; each command parses options, makes one call, prints.
"""

from __future__ import annotations

__version__ = "0.1.0"

"""What every benchmark shares, one module per topic. Read this before writing a new one.

A benchmark is a script, ``python benchmarks/NAME.py [--quick] [--out ...]``, that measures
one thing and writes ``benchmarks/results/NAME.md`` (and, for the evidence scripts,
``NAME.png``). ``--quick`` runs a tiny budget for the smoke tests in tests/test_benchmarks*.py:
its numbers mean nothing and its result file says so. The skeleton of a new one::

    from common.arguments import parser
    from common.results import finish, table
    from common.shared_machine import Machine
    from common.study_files import spec_from_toml, study_toml

    def main() -> None:
        args = parser(__doc__).parse_args()          # --quick, --out DIR
        machine = Machine()                           # starts the clock and the load record
        spec = spec_from_toml(study_toml("mine", trials=8, epochs=3, dataset="digits"))
        ...                                           # measure; time blocks in OtherLoad()
        finish(args, machine, "mine", "My title", body_markdown)

The modules:

- ``arguments``: ``parser(doc)`` (``--quick``, ``--out DIR``; a quick run writes to a
  temporary folder, never over the published results), ``file_parser(doc, name)``
  (``--quick``, ``--out FILE``), ``add_options(p, seeds=, epochs=, dataset=)`` for the
  usual extras.
- ``study_files``: ``study_toml(name, trials=, epochs=, ...)`` writes the TOML of a study
  file (search space, sampler, pruner, data and model keys as arguments; the search space
  defaults to ``ALPHA_BETA``, the shipped studies' alpha and beta); ``spec_from_toml``
  parses it with tuner's own parser; ``write_study(folder, text)`` puts it on disk for a
  CLI; ``fmt_range(low, high)`` writes a range for a result file.
- ``studies`` (run in memory): ``quiet``, ``with_seed``, ``spec_splits``, ``run_study``,
  ``best_value``, ``diverged_trials``; ``accuracy_grid`` trains the model over a grid of
  (alpha, beta) with several seeds (the learning-rate sweeps); ``test_accuracy`` and
  ``best_test_accuracy`` score a chosen trial on the test split.
- ``epoch_timing`` (same architecture and optimizer steps for everyone): ``time_tuner``,
  ``time_sklearn``, ``time_torch`` (PyTorch, when importable) return an ``EpochTimes``;
  ``sklearn_mlp`` is scikit-learn's MLPClassifier set up to take tuner's steps;
  ``torch_or_none()``; ``ALPHA``, ``BETA``, tuner's default steps.
- ``shared_machine``: ``OtherLoad`` (the share of CPU time other processes used during a
  block: report it beside every timing with ``load_text``, redo a block above ~10%),
  ``wait_until_idle``, ``SpeedProbe`` (a virtual machine slowed by its neighbours),
  ``Machine`` (cores, BLAS, versions, load from `tuner.machine`: the result file's
  "## Machine" section). numpy's BLAS threads: ``tuner.machine.blas_threads()``.
- ``stats``: ``quartiles``, ``median``, ``loglog_slope``.
- ``results``: ``table``, ``fmt_acc``, ``save_figure``, ``write_result``, ``finish``
  (write the result file and say so) for the evidence scripts; ``write_table`` for the
  timing scripts' one-table files; ``median_time``; ``progress`` (stderr).

Optuna, tuner's heavier modules and scikit-learn are imported inside the functions that
use them: a subprocess that imports one helper (vs_alternatives.py's scikit-learn job)
must not pay for the others' imports inside its timing.

Timing rules (README "Timing on a shared machine"): competitors take turns within each
repeat, report ratios of medians, never a bare number of seconds as the verdict.
"""

from __future__ import annotations

import os

# Files only: never open a window, work without a display (read when pyplot is imported).
os.environ.setdefault("MPLBACKEND", "Agg")

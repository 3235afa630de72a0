"""The study file's [pruner] as an Optuna pruner, and `SnapshotPruner` seeing a trial its
process has just finished at once. (That it decides exactly as Optuna's median pruner
with one worker is checked in tests/storage/test_lean.py, with the reads it spares.)"""

from __future__ import annotations

import optuna
import pytest

from tuner.pruning import SnapshotPruner, make_pruner
from tuner.spec import PrunerSpec

pytestmark = pytest.mark.unit


def _finished(study: optuna.Study, values: list[float]) -> optuna.trial.FrozenTrial:
    trial = study.ask()
    for step, value in enumerate(values):
        trial.report(value, step)
    study.tell(trial, values[-1])
    return study.get_trials(deepcopy=False)[trial.number]


def test_each_pruner_name_gives_its_optuna_pruner() -> None:
    assert isinstance(make_pruner(PrunerSpec("none"), epochs=10), optuna.pruners.NopPruner)
    assert isinstance(make_pruner(PrunerSpec("hyperband"), epochs=10),
                      optuna.pruners.HyperbandPruner)
    assert isinstance(make_pruner(PrunerSpec("successive-halving"), epochs=10),
                      optuna.pruners.SuccessiveHalvingPruner)
    median = make_pruner(PrunerSpec("median"), epochs=10)
    assert isinstance(median, SnapshotPruner)
    assert isinstance(median.inner, optuna.pruners.MedianPruner)


def test_the_median_pruner_takes_the_study_files_options() -> None:
    """n_startup_trials=1: one finished trial is enough to prune a worse one (the default
    waits for five)."""
    for options, pruned in (((("n_startup_trials", 1), ("n_warmup_steps", 0)), True),
                            ((("n_warmup_steps", 0),), False)):
        pruner = make_pruner(PrunerSpec("median", options), epochs=5)
        study = optuna.create_study(direction="maximize", pruner=pruner)
        pruner.record(_finished(study, [0.9, 0.9]))
        trial = study.ask()
        trial.report(0.1, 0)
        assert bool(trial.should_prune()) is pruned, options


def test_a_trial_recorded_by_its_process_counts_in_the_next_decision() -> None:
    pruner = SnapshotPruner(optuna.pruners.MedianPruner(n_startup_trials=1,
                                                        n_warmup_steps=0))
    study = optuna.create_study(direction="maximize", pruner=pruner)
    first = study.ask()
    first.report(0.9, 0)
    assert not first.should_prune(), "no finished trial yet: nothing to compare with"
    study.tell(first, 0.9)
    pruner.record(study.get_trials(deepcopy=False)[0])
    second = study.ask()
    second.report(0.1, 0)
    # The snapshot was read before the first trial finished; only `record` put it there.
    assert second.should_prune()

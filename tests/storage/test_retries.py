"""Retries (tuner/storage/_retries.py): a crash is queued again without limit, a trial
that fails by itself at most MAX_RETRY times."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

pytestmark = pytest.mark.integration


def test_crashes_requeue_without_limit_and_own_failures_at_most_max_retry(
        tmp_path: Path) -> None:
    """Item 11: the retry limit of 3 dropped a parameter set that only ever crashed."""
    from tuner.storage import MAX_RETRY, open_storage, requeue, retry_trial

    storage = open_storage(f"sqlite:///{tmp_path / 'tuner.db'}")
    study = optuna.create_study(storage=storage, study_name="retries")
    study.enqueue_trial({"x": 0.5})
    for _ in range(MAX_RETRY + 3):  # crash after crash: always queued again
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        retry_trial(study, study.trials[-1])
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].params == {"x": 0.5}

    queued = []
    for _ in range(MAX_RETRY + 2):  # the objective itself fails every time
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        assert trial.params == {"x": 0.5}
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        queued.append(requeue(study, study.trials[-1], own_failure=True))
        if not queued[-1]:
            break
    assert queued == [True] * MAX_RETRY + [False]
    assert not study.get_trials(states=(optuna.trial.TrialState.WAITING,))

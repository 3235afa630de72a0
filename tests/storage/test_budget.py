"""The trial budget (tuner/storage/_budget.py): with the quota on, a missing study is
still a KeyError, and a failed trial keeps its place until its copy is queued."""

from __future__ import annotations

import optuna
import pytest

pytestmark = pytest.mark.integration


def test_create_new_trial_for_a_missing_study_is_a_key_error_with_the_quota_on(
        any_url: str) -> None:
    from tuner.storage import open_storage

    storage = open_storage(any_url)
    with storage.budget():
        with pytest.raises(KeyError):
            storage.create_new_trial(12345)
        study_id = storage.create_new_study([optuna.study.StudyDirection.MAXIMIZE], "gone")
        storage.delete_study(study_id)
        with pytest.raises(KeyError):
            storage.create_new_trial(study_id)


def test_a_failed_trial_keeps_its_place_until_its_copy_is_queued(any_url: str) -> None:
    """Between a trial failed as stale (or handed back) and its queued copy, the budget
    had a free place, and a crash storm under load finished 41 of 40 trials."""
    from tuner import keys
    from tuner.storage import MAX_RETRY, QuotaReached, open_storage, requeue, retry_trial

    storage = open_storage(any_url)
    study = optuna.create_study(storage=storage, study_name="owed")
    study.set_user_attr(keys.N_TRIALS, 2)
    with storage.budget():
        dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
        done = study.ask(dist)
        study.tell(done, 0.1)
        crashed = study.ask(dist)
        storage.set_trial_state_values(crashed._trial_id, optuna.trial.TrialState.FAIL)
        with pytest.raises(QuotaReached):  # the crashed trial's copy is owed: no fresh trial
            storage.create_new_trial(study._study_id)
        retry_trial(study, study.trials[-1])  # the copy: now it holds the place
        with pytest.raises(QuotaReached):
            storage.create_new_trial(study._study_id)
        retried = study.ask(dist)
        assert retried.params == crashed.params

        # A parameter set that failed by itself more than MAX_RETRY times is dropped: its
        # place goes to a fresh trial at once.
        retried.set_user_attr(keys.FAILED_BY_ITSELF, "ValueError: no")
        storage.set_trial_system_attr(retried._trial_id, keys.OWN_FAILURES, MAX_RETRY)
        study.tell(retried, state=optuna.trial.TrialState.FAIL)
        assert not requeue(study, study.trials[-1], own_failure=True)
        fresh = study.ask(dist)
        assert fresh.number == len(study.trials) - 1
        with pytest.raises(QuotaReached):
            storage.create_new_trial(study._study_id)

"""Trials run again: which are queued again, how often, and how a copy names its original.

- A trial whose worker died (heartbeat stale) or that its worker handed back (a stop
  signal, a lost storage) is queued again with the same parameters, without limit: a
  crash says nothing about the parameters, and every such trial's parameters are run.
- A trial that fails by itself (its objective raised) is queued again at most
  `MAX_RETRY` times (`requeue(..., own_failure=True)`); after that it stays FAIL, and
  since FAIL does not count against n_trials a fresh trial takes its place.
"""

from __future__ import annotations

import logging
import warnings

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from tuner import keys

__all__ = ["FAILED_BY_ITSELF_ATTR", "MAX_RETRY", "OWN_FAILURES_ATTR", "RETRY_HISTORY",
           "requeue", "retry_trial"]

log = logging.getLogger("tuner.storage")

MAX_RETRY = 3
# Optuna's system attribute on a queued copy: the trials it retries, the last one last
# (its retry callbacks write it; so does `requeue`).
RETRY_HISTORY = "retry_history"
OWN_FAILURES_ATTR = keys.OWN_FAILURES  # system attribute, carried across the retries
# User attribute a worker sets on a trial whose objective raised (why, in one line); not
# carried over to the retry, which has not failed yet.
FAILED_BY_ITSELF_ATTR = keys.FAILED_BY_ITSELF
with warnings.catch_warnings():
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    retry_trial = RetryHeartbeatStaleTrialCallback(max_retry=None)


def requeue(study: optuna.Study, trial: optuna.trial.FrozenTrial, *, own_failure: bool) -> bool:
    """Queue ``trial``'s parameters again for any worker; returns whether it was queued.

    ``own_failure``: the objective itself raised (not a crash, not a hand-back). Those are
    counted across the retries in the ``tuner:own_failures`` system attribute, and the
    parameters are dropped once they have failed MAX_RETRY + 1 times by themselves.
    """
    failures = int(trial.system_attrs.get(OWN_FAILURES_ATTR, 0)) + int(own_failure)
    if failures > MAX_RETRY:
        log.warning("trial %d failed by itself %d times; its parameters are not queued "
                    "again (a fresh trial takes its place)", trial.number, failures)
        return False
    attrs = {"failed_trial": trial.number, RETRY_HISTORY: [], **trial.system_attrs}
    attrs[RETRY_HISTORY] = [*attrs[RETRY_HISTORY], trial.number]
    attrs[OWN_FAILURES_ATTR] = failures
    study.add_trial(optuna.trial.create_trial(
        state=TrialState.WAITING, params=trial.params, distributions=trial.distributions,
        user_attrs={k: v for k, v in trial.user_attrs.items() if k != FAILED_BY_ITSELF_ATTR},
        system_attrs=attrs))
    return True

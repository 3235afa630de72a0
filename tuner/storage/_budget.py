"""A version's budget: its ``tuner:n_trials``, counted against its finished, running and
queued trials inside the transaction that creates a new one.

The count runs on the transaction of Optuna's ``_get_prepared_new_trial``, which has just
locked the study's row (``SELECT ... FOR UPDATE``): every other worker creating a trial in
this study waits for its commit, and the count sees every trial committed before it
(PostgreSQL's READ COMMITTED reads per statement; InnoDB takes its snapshot at the first
plain read, which is this one, after the lock). One connection does the lock, the count
and the insert: a worker needs no extra connection to create a trial, and the lock is a
transaction's, which a pooler in transaction mode (PgBouncer) keeps. SQLite, which has no
row lock, creates trials one process at a time under a lock file (`sqlite_lock`).
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy
from optuna.trial import TrialState

from tuner import keys
from tuner.storage._optuna_private import rdb_models
from tuner.storage._retries import (
    FAILED_BY_ITSELF_ATTR,
    MAX_RETRY,
    OWN_FAILURES_ATTR,
    RETRY_HISTORY,
)

__all__ = ["OWED_S", "QuotaReached", "check_budget", "sqlite_lock"]

_LIVE = ("COMPLETE", "PRUNED", "RUNNING", "WAITING")
OWED_S = 30  # how long a FAIL trial without its queued copy yet counts (`_owed_retries`)


class QuotaReached(Exception):
    """The version already has its n_trials (finished, running or queued): start no more."""


def check_budget(study_id: int, session: Any) -> None:
    """Raise `QuotaReached` unless the study (its ``tuner:n_trials`` set) has a free place,
    counted in one query on ``session``, the transaction that creates the trial (rolled
    back by Optuna when this raises: nothing is written)."""
    models = rdb_models()
    StudyUserAttributeModel, TrialModel = models.StudyUserAttributeModel, models.TrialModel
    target = (sqlalchemy.select(StudyUserAttributeModel.value_json)
              .where(StudyUserAttributeModel.study_id == study_id)
              .where(StudyUserAttributeModel.key == keys.N_TRIALS).scalar_subquery())
    live = (sqlalchemy.select(sqlalchemy.func.count(TrialModel.trial_id))
            .where(TrialModel.study_id == study_id)
            .where(TrialModel.state.in_(_LIVE)).scalar_subquery())
    raw, count = session.execute(sqlalchemy.select(target, live)).one()
    if raw is None or int(count) + _owed_retries(study_id, session) >= int(json.loads(raw)):
        raise QuotaReached()


def _owed_retries(study_id: int, session: Any) -> int:
    """FAIL trials whose parameters are about to be queued again, but not yet.

    A trial is failed (as stale, or handed back) in one transaction and its copy is
    queued in the next: in between, the count above had a free place, and a crash storm
    under load created one trial too many (41 of 40). A FAIL trial of the last `OWED_S`
    seconds counts until a copy names it last in its ``retry_history`` (Optuna's retry
    callback and `requeue` both write it), unless it failed by itself more than MAX_RETRY
    times (dropped: a fresh trial takes its place). After `OWED_S` a FAIL trial without a
    copy (its worker died in between) no longer counts.
    """
    models = rdb_models()
    T, S = models.TrialModel, models.TrialSystemAttributeModel
    U = models.TrialUserAttributeModel
    cutoff = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=OWED_S)
    recent = session.execute(
        sqlalchemy.select(T.trial_id, T.number).where(T.study_id == study_id)
        .where(T.state == TrialState.FAIL).where(T._datetime_complete_utc >= cutoff)).all()
    if not recent:
        return 0
    ids = [trial_id for trial_id, _ in recent]
    histories = session.execute(
        sqlalchemy.select(S.value_json).join(T, S.trial_id == T.trial_id)
        .where(T.study_id == study_id).where(S.key == RETRY_HISTORY)).scalars()
    copied = {h[-1] for h in map(json.loads, histories) if h}
    own = dict(session.execute(sqlalchemy.select(S.trial_id, S.value_json)
                               .where(S.trial_id.in_(ids))
                               .where(S.key == OWN_FAILURES_ATTR)).all())
    by_itself = set(session.execute(sqlalchemy.select(U.trial_id)
                                    .where(U.trial_id.in_(ids))
                                    .where(U.key == FAILED_BY_ITSELF_ATTR)).scalars())
    return sum(number not in copied and
               int(json.loads(own.get(trial_id, "0"))) + (trial_id in by_itself) <= MAX_RETRY
               for trial_id, number in recent)


@contextmanager
def sqlite_lock(database: str) -> Iterator[None]:
    """A lock file beside a SQLite database: trial creation one process at a time, even
    for a storage built without `open_storage`'s BEGIN IMMEDIATE."""
    path = Path(database).expanduser().resolve()
    with open(f"{path}.tuner-lock", "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)

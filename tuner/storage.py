"""One place that turns a URL into an Optuna storage that survives many workers.

- SQLite: WAL journal (readers never block the writer), a 60 s busy timeout, and every
  transaction opened with BEGIN IMMEDIATE. The last one matters for correctness, not
  speed: Python's sqlite3 runs SELECTs outside any transaction, so Optuna's
  "read WAITING, then set RUNNING" pop of a queued trial is not atomic across processes
  and two workers can run the same trial. BEGIN IMMEDIATE makes the pair atomic.
- PostgreSQL / MySQL: pre-ping on checkout (survives a database restart or a killed
  backend), recycled connections.
- Every RDB storage beats a heartbeat; a trial whose worker died is marked FAIL after the
  grace period and Optuna's retry callback re-queues it with the same parameters.
- A storage that cannot be reached is retried with backoff for a bounded time, then
  reported in one line with the password masked.
- A storage lost mid-run (a database restart, a stop, a network cut) is retried too: every
  storage call backs off and tries again until the database returns, for at most
  ``TUNER_OUTAGE_TIMEOUT`` seconds (default 300) counted from the first failure, then
  raises `StorageLost` (one line, the password masked): `tuner.outage`.
- In a worker, the bookkeeping of a trial is lean (`TunerStorage.lean_bookkeeping`): its
  reports written behind (`tuner.write_behind`), reads repeated within one ask answered
  once (`tuner.read_cache`), its first heartbeat one interval late.
"""

from __future__ import annotations

import fcntl
import json
import logging
import random
import sqlite3
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
import sqlalchemy.exc
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tuner import keys
from tuner.optuna_private import open_rdb, rdb_models
from tuner.outage import (
    TRANSIENT_ERRORS,
    OutageRetrying,
    StorageLost,
    env_seconds,
    retry_through_outages,
    transient_cause,
)
from tuner.read_cache import ReadCache
from tuner.storage_url import (
    _PERMANENT,
    DEFAULT_STORAGE,
    StorageError,
    check_url,
    default_artifact_dir,
    mask_url,
    one_line,
    password_pieces,
    resolve_storage_url,
    url_password,
)
from tuner.write_behind import WriteBehind

__all__ = [
    "DEFAULT_STORAGE", "TRANSIENT_ERRORS", "QuotaReached", "StorageError",
    "StorageLost", "TunerStorage",
    "mask_url", "open_storage", "password_pieces", "requeue", "resolve_storage_url",
    "retry_trial", "transient_cause", "url_password", "default_artifact_dir",
]

log = logging.getLogger(__name__)


# The retry policy (issue 13, item 11):
# - a trial whose worker died (heartbeat stale) or that its worker handed back (a stop
#   signal, a lost storage) is queued again with the same parameters, without limit: a
#   crash says nothing about the parameters, and the README promises every such trial's
#   parameters are run;
# - a trial that fails by itself (its objective raised) is queued again at most
#   MAX_RETRY times (`requeue(..., own_failure=True)`); after that it stays FAIL, and
#   since FAIL does not count against n_trials a fresh trial takes its place.
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


class NoDatabase(StorageError):
    """A SQLite file that a command which only reads was pointed at does not exist."""


class QuotaReached(Exception):
    """The version already has its n_trials (finished, running or queued): start no more."""


_LIVE = ("COMPLETE", "PRUNED", "RUNNING", "WAITING")
OWED_S = 30  # how long a FAIL trial without its queued copy yet counts (`_owed_retries`)


class TunerStorage(OutageRetrying, RDBStorage):
    """RDBStorage that holds each study to its budget across every worker.

    With `enforce_quota` set, a new trial is created only under a per-study lock (the
    study's row, locked by Optuna's own trial-creating transaction), after counting the
    study's finished, running and queued trials against its ``tuner:n_trials``: several
    workers together run exactly n_trials, and asking for one more raises `QuotaReached`.
    Queued trials (retries, warm starts) are popped as usual; a FAIL trial does not
    count, since its retry (or a fresh trial) takes its place.
    """

    enforce_quota = False
    # Set by a worker (`tuner.worker.work`): a running trial's reports and user attributes
    # are written behind (`tuner.write_behind`), in one transaction about once a second;
    # reads repeated within one ask are answered once (`tuner.read_cache`); a trial's
    # first heartbeat waits one interval (`record_heartbeat`).
    lean_bookkeeping = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            # A lost race to create the tables (open_storage tries again) must not leave
            # this engine's connections open until the garbage collector finds them.
            if getattr(self, "engine", None) is not None:
                self.engine.dispose()
            raise
        self._reset_outage()
        self._lean_state()

    def _lean_state(self) -> None:
        self._pending = WriteBehind()
        self._reads = ReadCache()
        self._first_beat_due: set[int] = set()

    # Optuna rebuilds the engine when a storage is unpickled (joblib, dask,
    # multiprocessing): the SQLite settings that keep two processes from popping the same
    # queued trial live on the engine, so they must be applied again.
    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state.pop("_outage_since", None)
        state.pop("_reachable_since", None)
        for lean in ("_pending", "_reads", "_first_beat_due"):
            state.pop(lean, None)
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._reset_outage()
        self._lean_state()
        if self.engine.dialect.name == "sqlite":
            _serialize_sqlite(self.engine)

    # Study.ask() pops a WAITING trial first and only then calls this with no template;
    # enqueue_trial and the retry callback always pass a template.
    def _create_new_trial(self, study_id: int, template_trial: Any = None) -> Any:
        if template_trial is not None or not self.enforce_quota:
            trial = super()._create_new_trial(study_id, template_trial)
        elif self.engine.dialect.name == "sqlite":
            with self._sqlite_lock():  # see _get_prepared_new_trial for the count
                trial = super()._create_new_trial(study_id, template_trial)
        else:
            trial = super()._create_new_trial(study_id, template_trial)
        if self.lean_bookkeeping:  # Trial() reads it back at once
            self._reads.put(("trial", trial._trial_id), trial)
        return trial

    def get_trial(self, trial_id: int) -> Any:
        kept = self._reads.take(("trial", trial_id)) if self.lean_bookkeeping else None
        return kept if kept is not None else super().get_trial(trial_id)

    def _get_trials(self, study_id: int, states: Any, included_trial_ids: set[int],
                    trial_id_greater_than: int) -> Any:
        def read() -> Any:
            return super(TunerStorage, self)._get_trials(
                study_id, states, included_trial_ids, trial_id_greater_than)

        if not self.lean_bookkeeping:
            return read()
        # Optuna drops included ids above trial_id_greater_than (read anyway): the same
        # query whether or not the trial just read is in the caller's unfinished set.
        included = frozenset(i for i in included_trial_ids if i <= trial_id_greater_than)
        key = ("trials", study_id, None if states is None else frozenset(states), included,
               trial_id_greater_than)
        return self._reads.get(key, read)

    def _get_prepared_new_trial(self, study_id: int, template_trial: Any, session: Any) -> Any:
        """The quota, counted inside Optuna's own trial-creating transaction.

        Optuna has just locked the study's row (``SELECT ... FOR UPDATE``) in this very
        transaction, so every other worker creating a trial in this study waits for our
        commit, and the count below sees every trial committed before us (PostgreSQL's
        READ COMMITTED reads per statement; InnoDB takes its snapshot at the first plain
        read, which is this one, after the lock). One connection does the lock, the count
        and the insert: a worker needs no extra connection to create a trial, and the lock
        is a transaction's, which a pooler in transaction mode (PgBouncer) keeps. A study
        that does not exist is already a KeyError (Optuna's contract).
        """
        if template_trial is None and self.enforce_quota:
            target, live = self._quota(study_id, session)
            if target is None or live >= target:
                raise QuotaReached()  # rolled back by Optuna's session: nothing is written
        return super()._get_prepared_new_trial(study_id, template_trial, session)

    def _quota(self, study_id: int, session: Any) -> tuple[int | None, int]:
        """(the study's ``tuner:n_trials``, its finished + running + queued trials), in one
        query on the transaction that creates the trial."""
        models = rdb_models()
        StudyUserAttributeModel, TrialModel = models.StudyUserAttributeModel, models.TrialModel

        target = (sqlalchemy.select(StudyUserAttributeModel.value_json)
                  .where(StudyUserAttributeModel.study_id == study_id)
                  .where(StudyUserAttributeModel.key == keys.N_TRIALS).scalar_subquery())
        live = (sqlalchemy.select(sqlalchemy.func.count(TrialModel.trial_id))
                .where(TrialModel.study_id == study_id)
                .where(TrialModel.state.in_(_LIVE)).scalar_subquery())
        raw, count = session.execute(sqlalchemy.select(target, live)).one()
        return (None if raw is None else int(json.loads(raw))), int(count) + \
            self._owed_retries(study_id, session)

    def _owed_retries(self, study_id: int, session: Any) -> int:
        """FAIL trials whose parameters are about to be queued again, but not yet.

        A trial is failed (as stale, or handed back) in one transaction and its copy is
        queued in the next: in between, the count above had a free place, and a crash
        storm under load created one trial too many (41 of 40). A FAIL trial of the last
        `OWED_S` seconds counts until a copy names it last in its ``retry_history``
        (Optuna's retry callback and `requeue` both write it), unless it failed by itself
        more than MAX_RETRY times (dropped: a fresh trial takes its place). After
        `OWED_S` a FAIL trial without a copy (its worker died in between) no longer
        counts.
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

    def _grace(self) -> int:
        return self.grace_period or 2 * (self.heartbeat_interval or 1)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        """Optuna's stale trials, plus RUNNING trials that never wrote a heartbeat.

        A worker killed between ``study.ask()`` and its heartbeat thread's first write
        leaves a RUNNING trial with no heartbeat row, which Optuna never considers: it is
        stale once its ``datetime_start`` is older than the grace period. Optuna writes
        ``datetime_start`` from the worker's clock, so it is compared with ours; a
        live trial lacks a heartbeat row for milliseconds only (Optuna 5 stores the time in UTC).

        Nothing is judged stale until this storage has answered without a break for a
        grace period: after an outage every heartbeat is old, and the other workers need
        a heartbeat interval to write theirs again.
        """
        grace = self._grace()
        since = self._reachable_since
        if since is None or time.monotonic() - since < grace:
            return []
        stale = super()._get_stale_trial_ids(study_id)
        models = rdb_models()
        TrialHeartbeatModel, TrialModel = models.TrialHeartbeatModel, models.TrialModel

        # Optuna 5 stores datetime_start in UTC, from the worker's clock.
        cutoff = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=grace)
        no_beat = ~sqlalchemy.exists().where(TrialHeartbeatModel.trial_id == TrialModel.trial_id)
        query = (sqlalchemy.select(TrialModel.trial_id)
                 .where(TrialModel.study_id == study_id)
                 .where(TrialModel.state == TrialState.RUNNING)
                 .where(TrialModel._datetime_start_utc < cutoff)
                 .where(no_beat))
        with self.engine.connect() as conn:
            orphans = list(conn.execute(query).scalars())
        return stale + [t for t in orphans if t not in stale]

    def record_heartbeat(self, trial_id: int) -> None:
        """One try: a beat missed while the database is away is written at the next one
        (the thread beats again every interval); retrying here would hold up the end of
        the trial, which joins this thread.

        With `lean_bookkeeping`, a trial's first beat (at its start) is not written: a
        RUNNING trial without a heartbeat row is stale only once it is older than the
        grace period (`_get_stale_trial_ids`), and the second beat, one interval later,
        comes well before that. A trial shorter than an interval then writes no
        heartbeat at all, which was one transaction per trial.
        """
        if self.lean_bookkeeping and trial_id not in self._first_beat_due and \
                self._grace() >= 2 * (self.heartbeat_interval or 1):
            self._first_beat_due.add(trial_id)
            return
        self._first_beat_due.discard(trial_id)
        try:
            super().record_heartbeat(trial_id)
        except Exception as e:  # noqa: BLE001 - only transient errors are swallowed
            if isinstance(e, StorageLost) or transient_cause(e) is None:
                raise
            self._note_outage(e)
            log.debug("heartbeat of trial %d not written: %s", trial_id, one_line(e, self.url))
        else:
            self._note_reachable()

    def set_trial_intermediate_value(self, trial_id: int, step: int,
                                     intermediate_value: float) -> None:
        if not self.lean_bookkeeping:
            return super().set_trial_intermediate_value(trial_id, step, intermediate_value)
        if self._pending.add_value(trial_id, step, intermediate_value):
            self._reads.clear()
            self._pending.flush(self, finished_ok=False)
        return None

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        if not self.lean_bookkeeping:
            return super().set_trial_user_attr(trial_id, key, value)
        self._pending.add_attr(trial_id, key, value)
        return None

    def flush(self) -> None:
        """Write every report and user attribute still held back (`lean_bookkeeping`)."""
        self._retrying("flush", lambda: None, ())

    def _before_call(self, name: str) -> None:
        write = name not in _READS and name not in _WRITTEN_BEHIND
        if write:
            self._reads.clear()  # nothing read before a write is reused after it
        if self._pending and (write or name in _READS_OF_REPORTS):
            self._reads.clear()
            self._pending.flush(self, finished_ok=True)

    @contextmanager
    def _sqlite_lock(self) -> Iterator[None]:
        """A lock file beside a SQLite database: trial creation one process at a time,
        even for a storage built without open_storage's BEGIN IMMEDIATE."""
        path = Path(self.engine.url.database).expanduser().resolve()
        with open(f"{path}.tuner-lock", "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


# The calls `TunerStorage.lean_bookkeeping` holds back; every write, and every read of
# what they hold, writes them first.
_WRITTEN_BEHIND = ("set_trial_intermediate_value", "set_trial_user_attr")
# Calls that write nothing; any other call empties the read cache before it runs.
_READS = frozenset({
    "get_study_id_from_name", "get_study_name_from_id", "get_study_directions",
    "get_study_user_attrs", "get_study_system_attrs", "get_trial_user_attrs",
    "get_trial_system_attrs", "get_all_studies", "get_trial_param",
    "get_trial_id_from_study_id_trial_number", "get_trial", "get_all_trials", "get_n_trials",
    "get_best_trial", "_get_stale_trial_ids", "_get_best_trial_id", "_get_trials"})
# Reads whose answer includes held-back reports or user attributes: written first. Other
# reads (a trial's system attributes, which successive halving reads every epoch; study
# attributes; stale trials) go ahead without writing them.
_READS_OF_REPORTS = frozenset({"get_trial", "get_all_trials", "_get_trials",
                               "get_trial_user_attrs", "get_best_trial"})

retry_through_outages(TunerStorage)

def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        # Let SQLAlchemy, not pysqlite, open transactions (see _sqlite_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # Safe with WAL: a power cut may lose the last commits, never corrupt the file.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _serialize_sqlite(engine: Engine) -> None:
    """Give ``engine`` WAL and BEGIN IMMEDIATE transactions from now on.

    Applied after Optuna has set the schema up: its version check holds one connection
    while opening another, which would wait on itself under BEGIN IMMEDIATE.
    """
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    engine.dispose()  # connections opened so far lack the settings


def heartbeat_settings() -> tuple[int, int]:
    """(heartbeat_interval, grace_period) in seconds, from the environment or defaults."""
    interval = env_seconds("TUNER_HEARTBEAT_INTERVAL", 5)
    grace = env_seconds("TUNER_HEARTBEAT_GRACE", max(4 * interval, 20))
    return interval, grace


# Connections a worker holds on a server database. A worker's calls come from two threads:
# the trial's (every storage call, one at a time, each returning its connection to the
# pool when done) and the heartbeat thread's (one short write per interval). Creating a
# trial takes no connection of its own (see TunerStorage._get_prepared_new_trial). So
# the pool keeps ONE connection open between calls; when both threads need one at the
# same moment, an overflow connection is opened and closed again after that call.
# SQLAlchemy's default (5 kept, 10 more on demand) let 32 workers hold 80 connections.
POOL_SIZE = 1
MAX_OVERFLOW = 3  # a hard cap of 4 per worker; a 5th checkout would wait, not fail


def _engine_kwargs(parsed: sqlalchemy.engine.URL) -> dict[str, Any]:
    if parsed.get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": 60}}
    connect_timeout = {"connect_timeout": 5}
    return {"pool_pre_ping": True, "pool_recycle": 1800, "connect_args": connect_timeout,
            "pool_size": POOL_SIZE, "max_overflow": MAX_OVERFLOW}


def open_storage(url: str, *, wait_s: float | None = None, heartbeat: bool = True,
                 create: bool = True) -> TunerStorage:
    """Open (creating its tables if needed) the Optuna storage at ``url``.

    A database that refuses connections is retried with exponential backoff for up to
    ``wait_s`` seconds (default ``TUNER_CONNECT_TIMEOUT`` or 30). Several processes
    opening a fresh database at once race to create the tables; the losers retry.
    With ``create=False`` (commands that only read) a SQLite file that does not exist is
    an error, not a new empty database: a typo in a path should not look like "no studies".
    """
    parsed = check_url(url)
    if not create and parsed.get_backend_name() == "sqlite" and \
            not Path(parsed.database).expanduser().exists():
        raise NoDatabase(f"no database at {parsed.database}: check --storage or "
                           "TUNER_STORAGE, or run `tuner study run FILE` first")
    if wait_s is None:
        wait_s = float(env_seconds("TUNER_CONNECT_TIMEOUT", 30))
    interval, grace = heartbeat_settings()
    kwargs: dict[str, Any] = {"engine_kwargs": _engine_kwargs(parsed)}
    if heartbeat:
        kwargs.update(heartbeat_interval=interval, grace_period=grace,
                      heartbeat_stale_trial_callback=retry_trial)
    deadline = time.monotonic() + wait_s
    delay = 0.2
    races = 0
    while True:
        try:
            with warnings.catch_warnings():
                # Optuna flags the heartbeat arguments as experimental on every open.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                # At the current schema: no create_all, no alembic (optuna_private).
                storage = open_rdb(TunerStorage, url, **kwargs)
            if parsed.get_backend_name() == "sqlite":
                _serialize_sqlite(storage.engine)
            return storage
        except ImportError as e:
            raise StorageError(f"cannot open {mask_url(url)}: the database driver is not "
                               f"installed ({e.__cause__ or e})") from None
        except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError,
                AssertionError) as e:
            message = one_line(e, url)
            if _lost_race(e, message) and races < MAX_CREATE_RACES:
                # Another process created (part of) the tables first: they exist now, so
                # try again at once. The database answered; this is not an outage, and it
                # does not count against TUNER_CONNECT_TIMEOUT.
                races += 1
                log.debug("lost the race to create the tables of %s (%s); opening again",
                          mask_url(url), message)
                time.sleep(random.random() * 0.05)  # de-synchronise the losers
                continue
            permanent = any(p in message.lower() for p in _PERMANENT)
            if permanent or time.monotonic() + delay > deadline:
                waited = "" if permanent else f" (gave up after {wait_s:g} s)"
                raise StorageError(f"cannot open storage {mask_url(url)}: {message}{waited}"
                                   ) from None
            log.info("storage %s not reachable (%s); retrying in %.1f s",
                     mask_url(url), message, delay)
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 5.0)


# Errors of several processes creating one database's tables at once: SQLite "UNIQUE
# constraint failed: alembic_version.version_num" / "table ... already exists", MariaDB
# "Duplicate entry 'v3.2.0.a'" / "Table ... already exists" / a DDL deadlock, PostgreSQL
# "relation ... already exists" / "duplicate key value violates unique constraint
# pg_type_typname_nsp_index" (two CREATE TABLEs of one name). Bounded, in case a real
# schema error ever looks like one.
_RACE = ("already exists", "duplicate", "unique constraint", "deadlock")
MAX_CREATE_RACES = 20


def _lost_race(e: BaseException, message: str) -> bool:
    """Whether opening failed only because another process was creating the tables.

    Optuna's `check_table_schema_compatibility` asserts the version row it expects the
    same open to have written; a concurrent creator can make that read come up empty.
    """
    if isinstance(e, AssertionError):
        return True
    return any(r in message.lower() for r in _RACE)



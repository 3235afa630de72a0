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
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import random
import sqlite3
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
import sqlalchemy.exc
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from tuner import keys
from tuner.errors import TunerError
from tuner.optuna_private import rdb_models

__all__ = [
    "DEFAULT_STORAGE", "TRANSIENT_ERRORS", "QuotaReached", "StorageError",
    "TunerStorage",
    "mask_url", "open_storage", "resolve_storage_url", "retry_trial",
]

log = logging.getLogger(__name__)

DEFAULT_STORAGE = "sqlite:///tuner.db"
# Errors of a lost or busy connection: worth retrying, never a reason to lose a study.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    optuna.exceptions.StorageInternalError,
)
MAX_RETRY = 3  # a trial that kills its worker 3 times is not re-run a 4th time
with warnings.catch_warnings():
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    retry_trial = RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)


class StorageError(TunerError):
    """A storage URL that is malformed or cannot be reached."""


class NoDatabase(StorageError):
    """A SQLite file that a command which only reads was pointed at does not exist."""


class QuotaReached(Exception):
    """The version already has its n_trials (finished, running or queued): start no more."""


_LIVE = ("COMPLETE", "PRUNED", "RUNNING", "WAITING")


class TunerStorage(RDBStorage):
    """RDBStorage that holds each study to its budget across every worker.

    With `enforce_quota` set, a new trial is created only under a per-study lock, after
    counting the study's finished, running and queued trials against its
    ``tuner:n_trials``: several workers together run exactly n_trials, and asking for one
    more raises `QuotaReached`. Queued trials (retries, warm starts) are popped as usual;
    a FAIL trial does not count, since its retry (or a fresh trial) takes its place.
    """

    enforce_quota = False

    # Study.ask() pops a WAITING trial first and only then calls this with no template;
    # enqueue_trial and the retry callback always pass a template.
    def _create_new_trial(self, study_id: int, template_trial: Any = None) -> Any:
        if template_trial is not None or not self.enforce_quota:
            return super()._create_new_trial(study_id, template_trial)
        with self._study_lock(study_id):
            target, live = self._quota(study_id)
            if target is None or live >= target:
                raise QuotaReached()
            return super()._create_new_trial(study_id, template_trial)

    def _quota(self, study_id: int) -> tuple[int | None, int]:
        """(the study's ``tuner:n_trials``, its finished + running + queued trials), read
        in one query on a connection of its own, opened after the lock: it sees every
        commit before it."""
        models = rdb_models()
        StudyUserAttributeModel, TrialModel = models.StudyUserAttributeModel, models.TrialModel
        target = (sqlalchemy.select(StudyUserAttributeModel.value_json)
                  .where(StudyUserAttributeModel.study_id == study_id)
                  .where(StudyUserAttributeModel.key == keys.N_TRIALS).scalar_subquery())
        live = (sqlalchemy.select(sqlalchemy.func.count(TrialModel.trial_id))
                .where(TrialModel.study_id == study_id)
                .where(TrialModel.state.in_(_LIVE)).scalar_subquery())
        with self.engine.connect() as conn:
            raw, count = conn.execute(sqlalchemy.select(target, live)).one()
        return (None if raw is None else int(json.loads(raw))), int(count)

    @contextmanager
    def _study_lock(self, study_id: int) -> Iterator[None]:
        """An exclusive lock on creating trials in ``study_id``, across processes and hosts.

        Not Optuna's own row lock on the study (its insert takes that one, and would wait
        on us): an advisory lock on PostgreSQL, a named lock on MySQL, a lock file beside
        a SQLite database.
        """
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            path = Path(self.engine.url.database).expanduser().resolve()
            with open(f"{path}.tuner-lock", "a+b") as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(f, fcntl.LOCK_UN)
        elif dialect == "postgresql":
            with self.engine.connect() as conn, conn.begin():
                # Released by the end of the transaction, or by the server if we die.
                conn.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:a, :b)"),
                             {"a": 0x7475, "b": study_id})
                yield
        else:
            # Autocommit, so each count reads what is committed now, not a snapshot taken
            # before the lock was granted (InnoDB's REPEATABLE READ).
            name = f"tuner:{self.engine.url.database}:{study_id}"[:64]
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                got = conn.execute(sqlalchemy.text("SELECT GET_LOCK(:n, 600)"), {"n": name})
                if got.scalar() != 1:
                    raise StorageError(f"could not lock study {study_id} for 600 s")
                try:
                    yield
                finally:
                    conn.execute(sqlalchemy.text("SELECT RELEASE_LOCK(:n)"), {"n": name})


def resolve_storage_url(option: str | None, from_spec: str | None = None) -> str:
    """First found wins: ``--storage``, ``TUNER_STORAGE``, [study] storage, the default.

    With ``TUNER_REQUIRE_STORAGE=1`` (set by docker/compose.yaml and docker/k8s/) only the
    first two count: in a container the default SQLite file, or one a study file names,
    would silently die with the container, so a missing ``TUNER_STORAGE`` is an error.
    """
    url = option or os.environ.get("TUNER_STORAGE")
    if not url and os.environ.get("TUNER_REQUIRE_STORAGE", "").strip() not in ("", "0"):
        state = "empty" if "TUNER_STORAGE" in os.environ else "not set"
        raise StorageError(f"TUNER_STORAGE is {state} and TUNER_REQUIRE_STORAGE=1 refuses the "
                           f"{DEFAULT_STORAGE} fallback (a file inside the container): set "
                           "it, e.g. TUNER_STORAGE=postgresql+psycopg2://tuner:PASSWORD@db:5432/"
                           "tuner in docker/.env (copy docker/.env.example), or pass --storage")
    return url or from_spec or DEFAULT_STORAGE


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ***, safe to print or store."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: nothing in it can be trusted to be safe
        return url.split("@")[-1] if "@" in url else url


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


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise StorageError(f"{name}={raw!r} must be a whole number of seconds") from None
    if value <= 0:
        raise StorageError(f"{name}={raw!r} must be positive")
    return value


def heartbeat_settings() -> tuple[int, int]:
    """(heartbeat_interval, grace_period) in seconds, from the environment or defaults."""
    interval = _env_int("TUNER_HEARTBEAT_INTERVAL", 5)
    grace = _env_int("TUNER_HEARTBEAT_GRACE", max(4 * interval, 20))
    return interval, grace


# Errors that no amount of waiting fixes: report them at once.
_PERMANENT = ("authentication failed", "access denied", "does not exist",
              "unknown database", "unable to open database file", "file is not a database")


def _check_url(url: str) -> sqlalchemy.engine.URL:
    try:
        parsed = make_url(url)
    except Exception:
        raise StorageError(f"malformed storage URL {mask_url(url)!r}: expected e.g. "
                           "sqlite:///tuner.db, postgresql+psycopg2://user:pw@host/db or "
                           "mysql+pymysql://user:pw@host/db") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql", "mysql", "mariadb"):
        raise StorageError(f"unsupported storage URL {mask_url(url)!r}: use sqlite:///, "
                           "postgresql+psycopg2:// or mysql+pymysql://")
    if backend == "sqlite":
        db = parsed.database
        if not db or db == ":memory:":
            raise StorageError(f"storage URL {url!r} names no file: an in-memory database "
                               "would lose the study; use e.g. sqlite:///tuner.db")
        parent = Path(db).expanduser().resolve().parent
        if not parent.is_dir():
            raise StorageError(f"storage URL {url!r}: folder {parent} does not exist")
    return parsed


def _engine_kwargs(parsed: sqlalchemy.engine.URL) -> dict[str, Any]:
    if parsed.get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": 60}}
    connect_timeout = {"connect_timeout": 5}
    return {"pool_pre_ping": True, "pool_recycle": 1800, "connect_args": connect_timeout}


def open_storage(url: str, *, wait_s: float | None = None, heartbeat: bool = True,
                 create: bool = True) -> TunerStorage:
    """Open (creating its tables if needed) the Optuna storage at ``url``.

    A database that refuses connections is retried with exponential backoff for up to
    ``wait_s`` seconds (default ``TUNER_CONNECT_TIMEOUT`` or 30). Several processes
    opening a fresh database at once race to create the tables; the losers retry.
    With ``create=False`` (commands that only read) a SQLite file that does not exist is
    an error, not a new empty database: a typo in a path should not look like "no studies".
    """
    parsed = _check_url(url)
    if not create and parsed.get_backend_name() == "sqlite" and \
            not Path(parsed.database).expanduser().exists():
        raise NoDatabase(f"no database at {parsed.database}: check --storage or "
                           "TUNER_STORAGE, or run `tuner study run FILE` first")
    if wait_s is None:
        wait_s = float(_env_int("TUNER_CONNECT_TIMEOUT", 30))
    interval, grace = heartbeat_settings()
    kwargs: dict[str, Any] = {"engine_kwargs": _engine_kwargs(parsed)}
    if heartbeat:
        kwargs.update(heartbeat_interval=interval, grace_period=grace,
                      heartbeat_stale_trial_callback=retry_trial)
    deadline = time.monotonic() + wait_s
    delay = 0.2
    while True:
        try:
            with warnings.catch_warnings():
                # Optuna flags the heartbeat arguments as experimental on every open.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = TunerStorage(url, **kwargs)
            if parsed.get_backend_name() == "sqlite":
                _serialize_sqlite(storage.engine)
            return storage
        except ImportError as e:
            raise StorageError(f"cannot open {mask_url(url)}: the database driver is not "
                               f"installed ({e.__cause__ or e})") from None
        except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as e:
            message = _one_line(e, url)
            racing = "already exists" in message.lower() or "duplicate" in message.lower()
            permanent = not racing and any(p in message.lower() for p in _PERMANENT)
            if permanent or time.monotonic() + delay > deadline:
                waited = "" if permanent else f" (gave up after {wait_s:g} s)"
                raise StorageError(f"cannot open storage {mask_url(url)}: {message}{waited}"
                                   ) from None
            if not racing:
                log.info("storage %s not reachable (%s); retrying in %.1f s",
                            mask_url(url), message, delay)
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 5.0)


def _one_line(e: BaseException, url: str) -> str:
    """The first line of the driver's message, without SQL, and without the password."""
    inner = getattr(e, "orig", None) or e
    text = str(inner).strip().splitlines()[0] if str(inner).strip() else type(inner).__name__
    password = make_url(url).password if "://" in url else None
    if password:
        text = text.replace(str(password), "***")
    return text[:300]


def default_artifact_dir(url: str) -> Path:
    """Where trained models are stored as Optuna artifacts unless `--artifacts` says.

    Beside the database file for SQLite (``tuner.db`` -> ``tuner-artifacts/``); for a
    server database, ``tuner-artifacts/`` in the current folder (mount the same folder on
    every host that trains or serves the dashboard).
    """
    parsed = _check_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        db = Path(parsed.database).expanduser().resolve()
        return db.with_name(f"{db.stem}-artifacts")
    return Path("tuner-artifacts").resolve()

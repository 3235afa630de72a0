"""`open_storage`: a URL turned into a `TunerStorage`, the database waited for, its tables
created once however many processes open it at the same moment."""

from __future__ import annotations

import logging
import random
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
import sqlalchemy.exc

from tuner.passwords import driver_message, mask_url
from tuner.storage._engine import configure_engine, engine_kwargs, heartbeat_settings
from tuner.storage._optuna_private import open_rdb
from tuner.storage._retries import retry_trial
from tuner.storage._storage import TunerStorage
from tuner.storage._url import PERMANENT, NoDatabase, StorageError, check_url, env_seconds

__all__ = ["MAX_CREATE_RACES", "open_storage"]

log = logging.getLogger("tuner.storage")


def open_storage(url: str, *, create: bool = True, read_only: bool = False,
                 heartbeat: bool = True, lock_on_begin: bool = True,
                 wait_s: float | None = None) -> TunerStorage:
    """The Optuna storage at ``url``, its tables created if needed.

    Args:
        url: a SQLAlchemy URL (``sqlite:///tuner.db``, ``postgresql+psycopg2://...``).
        create: False for commands that only read: a SQLite file that does not exist is
            `NoDatabase`, not a new empty database (a typo in a path should not look like
            "no studies").
        read_only: write nothing at all, not even Optuna's tables: a database without
            them is `NoDatabase` too (a dry run). Implies no heartbeat.
        heartbeat: beat a heartbeat for the trials this process runs, and retry (with
            the same parameters) a trial whose worker died. Off for a process that runs
            no trial.
        lock_on_begin: on SQLite, open every transaction with BEGIN IMMEDIATE (see
            `tuner.storage._engine`); False for a process that creates no trial and
            polls (the dashboard).
        wait_s: how long a database that refuses connections is retried, with
            exponential backoff (default ``TUNER_CONNECT_TIMEOUT`` or 30 s). Several
            processes opening a fresh database at once race to create the tables; the
            losers retry, without counting against this.

    Raises:
        StorageError: a malformed URL, a driver not installed, a database that refuses
            us for good or stays unreachable for ``wait_s`` (one line, no password).
    """
    parsed = check_url(url)
    create = create and not read_only
    if not create and parsed.get_backend_name() == "sqlite" and \
            not Path(parsed.database).expanduser().exists():
        raise NoDatabase(f"no database at {parsed.database}: check --storage or "
                         "TUNER_STORAGE, or run `tuner study run FILE` first")
    if wait_s is None:
        wait_s = float(env_seconds("TUNER_CONNECT_TIMEOUT", 30))
    interval, grace = heartbeat_settings()
    kwargs: dict[str, Any] = {"engine_kwargs": engine_kwargs(parsed),
                              "lock_on_begin": lock_on_begin}
    if heartbeat and not read_only:
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
                # At the current schema: no create_all, no alembic (_optuna_private).
                storage = open_rdb(TunerStorage, url, create=not read_only, **kwargs)
            if storage is None:
                raise NoDatabase(f"no tuner studies at {mask_url(url)} (no Optuna tables): "
                                 "check --storage or TUNER_STORAGE")
            configure_engine(storage.engine, lock_on_begin=lock_on_begin)
            return storage
        except ImportError as e:
            raise StorageError(f"cannot open {mask_url(url)}: the database driver is not "
                               f"installed ({e.__cause__ or e})") from None
        except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError,
                AssertionError) as e:
            message = driver_message(e, url)
            if _lost_race(e, message) and races < MAX_CREATE_RACES:
                # Another process created (part of) the tables first: they exist now, so
                # try again at once. The database answered; this is not an outage, and it
                # does not count against TUNER_CONNECT_TIMEOUT.
                races += 1
                log.debug("lost the race to create the tables of %s (%s); opening again",
                          mask_url(url), message)
                time.sleep(random.random() * 0.05)  # de-synchronise the losers
                continue
            permanent = any(p in message.lower() for p in PERMANENT)
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

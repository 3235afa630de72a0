"""The SQLAlchemy engine under a storage: its pool, timeouts and SQLite's transactions.

- SQLite: WAL journal (readers never block the writer), a 60 s busy timeout, and, for a
  process that creates trials, every transaction opened with BEGIN IMMEDIATE. The last
  one matters for correctness, not speed: Python's sqlite3 runs SELECTs outside any
  transaction, so Optuna's "read WAITING, then set RUNNING" pop of a queued trial is not
  atomic across processes and two workers can run the same trial. BEGIN IMMEDIATE makes
  the pair atomic. A process that creates no trial (the dashboard) keeps deferred
  transactions: through BEGIN IMMEDIATE its polling would queue behind every worker.
- PostgreSQL / MySQL: pre-ping on checkout (survives a database restart or a killed
  backend), recycled connections, a small pool.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tuner.storage._url import env_seconds

__all__ = ["MAX_OVERFLOW", "POOL_SIZE", "configure_engine", "engine_kwargs",
           "heartbeat_settings"]

# Connections a worker holds on a server database. A worker's calls come from two threads:
# the trial's (every storage call, one at a time, each returning its connection to the
# pool when done) and the heartbeat thread's (one short write per interval). Creating a
# trial takes no connection of its own (the budget is counted on Optuna's transaction).
# So the pool keeps ONE connection open between calls; when both threads need one at the
# same moment, an overflow connection is opened and closed again after that call.
# SQLAlchemy's default (5 kept, 10 more on demand) let 32 workers hold 80 connections.
POOL_SIZE = 1
MAX_OVERFLOW = 3  # a hard cap of 4 per worker; a 5th checkout would wait, not fail


def engine_kwargs(parsed: sqlalchemy.engine.URL) -> dict[str, Any]:
    if parsed.get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": 60}}
    connect_timeout = {"connect_timeout": 5}
    return {"pool_pre_ping": True, "pool_recycle": 1800, "connect_args": connect_timeout,
            "pool_size": POOL_SIZE, "max_overflow": MAX_OVERFLOW}


def heartbeat_settings() -> tuple[int, int]:
    """(heartbeat_interval, grace_period) in seconds, from the environment or defaults."""
    interval = env_seconds("TUNER_HEARTBEAT_INTERVAL", 5)
    grace = env_seconds("TUNER_HEARTBEAT_GRACE", max(4 * interval, 20))
    return interval, grace


def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


def _sqlite_serialized(dbapi_connection: Any, _record: Any) -> None:
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


def configure_engine(engine: Engine, *, lock_on_begin: bool = True) -> None:
    """On SQLite, give ``engine`` WAL and (``lock_on_begin``) BEGIN IMMEDIATE
    transactions from now on; nothing on a server database.

    Applied after Optuna has set the schema up: its version check holds one connection
    while opening another, which would wait on itself under BEGIN IMMEDIATE.
    """
    if engine.dialect.name != "sqlite":
        return
    if lock_on_begin:
        event.listen(engine, "connect", _sqlite_serialized)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        event.listen(engine, "connect", _sqlite_wal)
    engine.dispose()  # connections opened so far lack the settings

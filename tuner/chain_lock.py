"""One lock per version chain, across processes and machines: `chain_lock(storage, name)`.

Held while a decision about the chain is made and carried out, so that two processes
(two schedulers ticking at once, two `tuner promote`) make one decision each in turn and
never interleave: `tuner.champion.promote` holds it, and a caller that decides first and
then promotes holds it around both (it is re-entrant within a process).

The lock lives where the storage lives, and a process that dies holding it (SIGKILL)
loses it at once:

- SQLite: ``flock`` on a file beside the database (``tuner.db.chain-<hash>.lock``); the
  kernel releases it when the process dies.
- PostgreSQL: a transaction advisory lock (``pg_try_advisory_xact_lock``) in a
  transaction of its own, open for the block: the server releases it when the
  transaction or the connection ends. (Not a session lock: through PgBouncer in
  transaction mode a session lock could be taken on one server connection and released
  on another.)
- MySQL / MariaDB: a named lock (``GET_LOCK``), released the same way.

None of them blocks the workers: they never take it.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tuner.errors import TunerError

__all__ = ["ChainLockTimeout", "chain_lock"]

WAIT_S = 600.0  # how long a second process waits for the first (a promotion trains a model)


class ChainLockTimeout(TunerError):
    """Another process held the chain's lock for longer than we wait."""


# Re-entrancy within one process: (url, name) -> [thread lock, depth].
_HELD: dict[tuple[str, str], list[Any]] = {}
_HELD_GUARD = threading.Lock()


def _digest(name: str) -> bytes:
    return hashlib.sha256(name.encode("utf-8")).digest()


@contextmanager
def chain_lock(storage: Any, name: str, *, wait_s: float = WAIT_S) -> Iterator[None]:
    """Hold the lock of chain ``name`` in ``storage`` (an Optuna `RDBStorage`) for the
    block; waits up to ``wait_s`` for another process, then raises `ChainLockTimeout`."""
    url = str(storage.url)
    with _HELD_GUARD:
        entry = _HELD.setdefault((url, name), [threading.RLock(), 0])
    local: threading.RLock = entry[0]
    if not local.acquire(timeout=wait_s):
        raise _timeout(name, wait_s)
    try:
        if entry[1]:  # this thread holds it already: one level deeper
            entry[1] += 1
            try:
                yield
            finally:
                entry[1] -= 1
            return
        with _process_lock(storage, name, wait_s):
            entry[1] = 1
            try:
                yield
            finally:
                entry[1] = 0
    finally:
        local.release()


def _timeout(name: str, wait_s: float) -> ChainLockTimeout:
    return ChainLockTimeout(f"another process has held the lock of chain {name!r} for more "
                            f"than {wait_s:.0f} s (a promotion or a re-tune decision); try "
                            "again when it is done")


@contextmanager
def _process_lock(storage: Any, name: str, wait_s: float) -> Iterator[None]:
    backend = storage.engine.dialect.name
    if backend == "sqlite":
        with _file_lock(storage.engine.url.database, name, wait_s):
            yield
    elif backend == "postgresql":
        with _pg_lock(storage.engine, name, wait_s):
            yield
    elif backend in ("mysql", "mariadb"):
        with _mysql_lock(storage.engine, name, wait_s):
            yield
    else:  # pragma: no cover - open_storage accepts only the three above
        raise TunerError(f"no chain lock for a {backend} storage")


@contextmanager
def _file_lock(database: str | None, name: str, wait_s: float) -> Iterator[None]:
    if database in (None, "", ":memory:"):
        yield  # one process only: the thread lock above is the whole story
        return
    db = Path(database).expanduser().resolve()
    path = db.with_name(f"{db.name}.chain-{_digest(name).hex()[:16]}.lock")
    deadline = time.monotonic() + wait_s
    with open(path, "a+b") as f:
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _timeout(name, wait_s) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextmanager
def _pg_lock(engine: Any, name: str, wait_s: float) -> Iterator[None]:
    import sqlalchemy

    key = int.from_bytes(_digest(name)[:8], "big", signed=True)  # bigint
    deadline = time.monotonic() + wait_s
    with engine.connect() as conn:
        while not conn.execute(sqlalchemy.text("SELECT pg_try_advisory_xact_lock(:k)"),
                               {"k": key}).scalar():
            conn.rollback()  # a new transaction for each try: nothing held between
            if time.monotonic() >= deadline:
                raise _timeout(name, wait_s)
            time.sleep(0.05)
        try:
            yield
        finally:
            conn.rollback()  # ends the transaction, and with it the lock


@contextmanager
def _mysql_lock(engine: Any, name: str, wait_s: float) -> Iterator[None]:
    import sqlalchemy

    key = "tuner-chain-" + _digest(name).hex()[:40]  # GET_LOCK names: at most 64 characters
    with engine.connect() as conn:
        got = conn.execute(sqlalchemy.text("SELECT GET_LOCK(:n, :t)"),
                           {"n": key, "t": max(1, int(wait_s))}).scalar()
        if got != 1:
            raise _timeout(name, wait_s)
        try:
            yield
        finally:
            conn.execute(sqlalchemy.text("SELECT RELEASE_LOCK(:n)"), {"n": key})

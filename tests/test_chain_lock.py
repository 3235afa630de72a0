"""The chain's lock (`tuner.chain_lock`): one holder at a time across processes, on
SQLite (a file lock) and PostgreSQL / MariaDB (the server's own locks); re-entrant in a
process; released when its holder is killed."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest

from tuner.chain_lock import ChainLockTimeout, chain_lock
from tuner.storage import open_storage

HOLD = """
import sys, time
from tuner.chain_lock import chain_lock
from tuner.storage import open_storage
st = open_storage(sys.argv[1], heartbeat=False)
with chain_lock(st, sys.argv[2]):
    print("held", flush=True)
    time.sleep(3600)
"""


def holder(url: str, name: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, url, name], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held", proc.stderr.read()
    return proc


@pytest.mark.unit
def test_reentrant_in_one_thread_exclusive_between_threads(sqlite_url: str) -> None:
    st = open_storage(sqlite_url, heartbeat=False)
    order: list[str] = []
    with chain_lock(st, "a"), chain_lock(st, "a"):  # the same thread, one level deeper
        t = threading.Thread(target=lambda: (chain_lock_enter(st, order)))
        t.start()
        t.join(0.3)
        assert t.is_alive() and order == []  # the other thread waits
        order.append("main")
    t.join()
    assert order == ["main", "thread"]


def chain_lock_enter(st, order: list[str]) -> None:
    with chain_lock(st, "a"):
        order.append("thread")


@pytest.mark.integration
@pytest.mark.parametrize("server", ["sqlite_url", "pg_url", "mysql_url"])
def test_one_process_at_a_time_and_a_killed_holder_lets_go(request, server: str) -> None:
    url = request.getfixturevalue(server)
    st = open_storage(url, heartbeat=False)
    proc = holder(url, "churn")
    try:
        with pytest.raises(ChainLockTimeout, match="another process has held the lock of "
                           "chain 'churn'"):
            with chain_lock(st, "churn", wait_s=1):
                pass
        with chain_lock(st, "other chain", wait_s=1):  # another chain is not blocked
            pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    start = time.monotonic()
    with chain_lock(st, "churn"):
        waited = time.monotonic() - start
    assert waited < 30, waited  # released by the kill itself, not by a timeout of ours


@pytest.mark.integration
def test_through_pgbouncer_in_transaction_mode(pg_url: str) -> None:
    """A session lock would be taken on one server connection and left on it for whoever
    gets it next; the transaction lock pins its connection while it is held."""
    from sqlalchemy.engine import make_url

    from conftest import PG_ADMIN, missing
    from pgbouncer import PgBouncer, binary

    if binary() is None:
        missing("pgbouncer is not installed: apt-get install pgbouncer")
    with PgBouncer(PG_ADMIN, pool_size=2) as bouncer:
        url = bouncer.url(make_url(pg_url).database)
        st = open_storage(url, heartbeat=False)
        proc = holder(url, "churn")
        try:
            for _ in range(3):  # whichever server connection the pool hands out
                with pytest.raises(ChainLockTimeout):
                    with chain_lock(st, "churn", wait_s=0.5):
                        pass
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        with chain_lock(st, "churn", wait_s=60):
            pass
        st.engine.dispose()

"""The engine's settings (tuner/storage/_engine.py): WAL, synchronous NORMAL and BEGIN
IMMEDIATE on SQLite, kept when the storage is pickled."""

from __future__ import annotations

import pickle
import sqlite3
from pathlib import Path

import optuna
import pytest

pytestmark = pytest.mark.integration


def _writer_blocked(db: Path) -> bool:
    """Whether another process's writer is locked out right now."""
    other = sqlite3.connect(db, timeout=0.2, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as e:
        assert "locked" in str(e)
        return True
    finally:
        other.close()


def test_pickled_sqlite_storage_keeps_begin_immediate_and_its_pragmas(tmp_path: Path) -> None:
    from tuner.storage import open_storage

    db = tmp_path / "tuner.db"
    restored = pickle.loads(pickle.dumps(open_storage(f"sqlite:///{db}")))
    with restored.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw.isolation_level is None  # SQLAlchemy, not pysqlite, opens transactions
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    with restored.engine.connect() as conn, conn.begin():
        # A read inside a transaction already holds the write lock: BEGIN IMMEDIATE, so
        # "read WAITING, then set RUNNING" is atomic across processes.
        conn.exec_driver_sql("SELECT 1").scalar()
        assert _writer_blocked(db)
    # And the restored storage still works as one.
    study = optuna.create_study(storage=restored, study_name="after-pickle")
    study.enqueue_trial({"x": 1.0})
    assert study.ask().params == {}  # the queued trial is popped, fixed params apply
    assert restored.get_all_trials(study._study_id)[0].state.name == "RUNNING"

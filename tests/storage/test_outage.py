"""Riding out an outage (tuner/storage/_outage.py), one storage at a time: what counts as
transient, what a failed write is blamed on, and giving up after TUNER_OUTAGE_TIMEOUT.
The workers that live through a restarted database are in tests/system/test_resilience.py."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from servers import fresh_database, private_pg  # noqa: F401 - a fixture

pytestmark = pytest.mark.integration


def test_storage_gives_up_after_outage_timeout_in_one_line(private_pg, monkeypatch) -> None:  # noqa: F811
    """Calls retry through an outage, then raise StorageLost naming the limit; the next
    call after the database returns works again."""
    from tuner.passwords import mask_url
    from tuner.storage import StorageLost, open_storage

    url = fresh_database(private_pg)
    storage = open_storage(url)
    assert storage.get_all_studies() == []
    monkeypatch.setenv("TUNER_OUTAGE_TIMEOUT", "2")
    private_pg.stop()
    try:
        with pytest.raises(StorageLost) as lost:
            storage.get_all_studies()
        message = str(lost.value)
        assert "\n" not in message and mask_url(url) in message, message
        assert "TUNER_OUTAGE_TIMEOUT" in message, message
    finally:
        private_pg.start()
    assert storage.get_all_studies() == []


def test_transient_cause_sees_through_optunas_unbound_local_error() -> None:
    """What Optuna's _run_trial raises when the final write and its fallback read both
    fail: an UnboundLocalError whose context is the storage's error."""
    import sqlalchemy.exc

    from tuner.storage import transient_cause

    lost = sqlalchemy.exc.OperationalError(
        "SELECT 1", {}, Exception("server closed the connection unexpectedly"))

    def run_trial() -> None:  # the shape of optuna/study/_optimize.py:_run_trial
        try:
            raise lost
            updated_state = 1  # noqa: F841 - never reached, as in Optuna
        finally:
            if updated_state == 1:  # noqa: F821
                pass

    with pytest.raises(UnboundLocalError) as raised:
        run_trial()
    assert transient_cause(raised.value) is lost
    assert transient_cause(ValueError("x")) is None


def test_a_failed_commit_is_described_by_its_cause_not_optunas_guess(tmp_path: Path) -> None:
    """Optuna wraps a commit that fails because the database is locked (or gone) in a
    StorageInternalError that blames "invalid data ... e.g. exceeding max length"."""
    import sqlite3

    from tuner.storage import storage_cause

    db = tmp_path / "s.db"
    storage = optuna.storages.RDBStorage(f"sqlite:///{db}",
                                         engine_kwargs={"connect_args": {"timeout": 0.05}})
    locker = sqlite3.connect(db)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(optuna.exceptions.StorageInternalError) as raised:
            storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "s")
    finally:
        locker.rollback()
        locker.close()
    assert "max length" in str(raised.value)
    cause = storage_cause(raised.value)
    assert "database is locked" in str(cause) and "max length" not in str(cause)
    assert storage_cause(ValueError("x")).args == ("x",)

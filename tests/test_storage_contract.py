"""Issue 13, items 9 and 10: password masking that does not depend on where the URL
parser splits, and two deviations from Optuna's storage contract (a missing study with the
quota on; a pickled SQLite storage losing its settings)."""

from __future__ import annotations

import pickle
import sqlite3
from pathlib import Path

import optuna
import pytest

from conftest import run_tuner

pytestmark = pytest.mark.integration

AT_IN_PASSWORD = "postgresql+psycopg2://tuner:pa55@Hid3den/Part@127.0.0.1:1/db"


def test_mask_url_hides_a_password_with_an_unencoded_at() -> None:
    from tuner.storage import mask_url, url_password

    masked = mask_url(AT_IN_PASSWORD)
    assert masked == "postgresql+psycopg2://tuner:***@127.0.0.1:1/db"
    assert url_password(AT_IN_PASSWORD) == "pa55@Hid3den/Part"
    assert mask_url("mysql+pymysql://root@127.0.0.1/db") == "mysql+pymysql://root@127.0.0.1/db"
    assert mask_url("postgresql://u:p%40ss@h/db") == "postgresql://u:***@h/db"
    # An @ in the query string: over-masked rather than ever shown.
    assert "s3cret" not in mask_url("postgresql://u:s3cret@h/db?options=a@b")


def test_cli_never_prints_any_piece_of_such_a_password() -> None:
    r = run_tuner("study", "list", "--storage", AT_IN_PASSWORD, "-vv")
    assert r.returncode == 2, r.stderr
    for piece in ("pa55", "Hid3den", "Part"):
        assert piece not in r.stderr + r.stdout, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert "%40" in line and "tuner:***@127.0.0.1" in line, line


def test_one_line_scrubs_the_pieces_a_driver_may_print() -> None:
    from tuner.storage_url import one_line as _one_line

    error = Exception('could not translate host name "Hid3den" to address')
    assert "Hid3den" not in _one_line(error, AT_IN_PASSWORD)


def test_create_new_trial_for_a_missing_study_is_a_key_error_with_the_quota_on(
        any_url: str) -> None:
    from tuner.storage import open_storage

    storage = open_storage(any_url)
    storage.enforce_quota = True
    with pytest.raises(KeyError):
        storage.create_new_trial(12345)
    study_id = storage.create_new_study([optuna.study.StudyDirection.MAXIMIZE], "gone")
    storage.delete_study(study_id)
    with pytest.raises(KeyError):
        storage.create_new_trial(study_id)


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


def test_crashes_requeue_without_limit_and_own_failures_at_most_max_retry(
        tmp_path: Path) -> None:
    """Item 11: the retry limit of 3 dropped a parameter set that only ever crashed."""
    from tuner.storage import MAX_RETRY, open_storage, requeue, retry_trial

    storage = open_storage(f"sqlite:///{tmp_path / 'tuner.db'}")
    study = optuna.create_study(storage=storage, study_name="retries")
    study.enqueue_trial({"x": 0.5})
    for _ in range(MAX_RETRY + 3):  # crash after crash: always queued again
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        retry_trial(study, study.trials[-1])
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].params == {"x": 0.5}

    queued = []
    for _ in range(MAX_RETRY + 2):  # the objective itself fails every time
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        assert trial.params == {"x": 0.5}
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        queued.append(requeue(study, study.trials[-1], own_failure=True))
        if not queued[-1]:
            break
    assert queued == [True] * MAX_RETRY + [False]
    assert not study.get_trials(states=(optuna.trial.TrialState.WAITING,))


def test_cli_masks_every_piece_of_a_password_it_remembers() -> None:
    """The CLI's secret set holds the password as typed and its pieces, not only what the
    URL parser took for the password (before: "pa55" alone, so "Hid3den/Part" showed in
    any later message that echoed the URL's tail)."""
    from tuner.cli.app import CliState

    state = CliState()
    state.remember(AT_IN_PASSWORD)
    state.remember("postgresql://u:s3cr%40tW0rd@h/db")
    leaked = (f"could not connect to {AT_IN_PASSWORD}; host Hid3den/Part@127.0.0.1 "
              "said no to s3cr@tW0rd (typed s3cr%40tW0rd)")
    text = state.scrub(leaked)
    for piece in ("pa55", "Hid3den", "Part", "s3cr", "tW0rd"):
        assert piece not in text, text


# Each child imports first, then waits for the same instant, so the 8 opens really race.
OPEN_AT = """
import sys, time
from tuner.storage import open_storage
at = float(sys.argv[2])
time.sleep(max(0.0, at - time.time()))
storage = open_storage(sys.argv[1])
assert storage.get_all_studies() == []
print("opened")
"""


def test_eight_processes_opening_one_fresh_database_at_once_all_succeed(any_url: str) -> None:
    """Several workers started at once on a fresh database race to create Optuna's tables
    (SQLite "UNIQUE constraint failed: alembic_version", MariaDB "Duplicate entry",
    PostgreSQL "relation ... already exists"). A lost race means the tables are there:
    every process must open the storage, however short TUNER_CONNECT_TIMEOUT (3 s here)."""
    import os
    import subprocess
    import sys
    import time

    at = time.time() + 8  # enough for 8 interpreters to import tuner.storage on a busy box
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_AT, any_url, str(at)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "TUNER_CONNECT_TIMEOUT": "3"})
             for _ in range(8)]
    outputs = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    for code, out, err in outputs:
        assert code == 0 and out.strip() == "opened", err


def test_a_failed_trial_keeps_its_place_until_its_copy_is_queued(any_url: str) -> None:
    """Between a trial failed as stale (or handed back) and its queued copy, the budget
    had a free place, and a crash storm under load finished 41 of 40 trials."""
    from tuner import keys
    from tuner.storage import MAX_RETRY, QuotaReached, open_storage, requeue, retry_trial

    storage = open_storage(any_url)
    study = optuna.create_study(storage=storage, study_name="owed")
    study.set_user_attr(keys.N_TRIALS, 2)
    storage.enforce_quota = True
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    done = study.ask(dist)
    study.tell(done, 0.1)
    crashed = study.ask(dist)
    storage.set_trial_state_values(crashed._trial_id, optuna.trial.TrialState.FAIL)
    with pytest.raises(QuotaReached):  # the crashed trial's copy is owed: no fresh trial
        storage.create_new_trial(study._study_id)
    retry_trial(study, study.trials[-1])  # the copy: now it holds the place
    with pytest.raises(QuotaReached):
        storage.create_new_trial(study._study_id)
    retried = study.ask(dist)
    assert retried.params == crashed.params

    # A parameter set that failed by itself more than MAX_RETRY times is dropped: its
    # place goes to a fresh trial at once.
    retried.set_user_attr(keys.FAILED_BY_ITSELF, "ValueError: no")
    storage.set_trial_system_attr(retried._trial_id, keys.OWN_FAILURES, MAX_RETRY)
    study.tell(retried, state=optuna.trial.TrialState.FAIL)
    assert not requeue(study, study.trials[-1], own_failure=True)
    fresh = study.ask(dist)
    assert fresh.number == len(study.trials) - 1
    with pytest.raises(QuotaReached):
        storage.create_new_trial(study._study_id)

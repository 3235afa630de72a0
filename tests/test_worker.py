"""Many workers on one storage: PostgreSQL, MariaDB and SQLite, with real processes,
real signals and a database connection killed under a running worker."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState

from conftest import run_tuner, tuner_cmd, write_study
from helpers import kill_all, wait_until

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def start_worker(study: Path, url: str, *extra: str,
                 env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(tuner_cmd("worker", study, "--storage", url, *extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def all_trials(url: str, name: str = "tiny") -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=url).get_trials()


# Trials long enough, and steady enough, that two workers are both inside one at the same
# moment on any machine: a learning rate that never diverges (a diverged trial ends at
# once, and trials of random length drift apart), 1000 epochs, and every epoch's report
# written at once (write-behind would show a trial's progress up to a second late).
SIGNAL_EPOCHS = 1000
SIGNAL_ENV = {"TUNER_WRITE_BEHIND_S": "0"}


def write_signal_study(folder: Path) -> Path:
    study = write_study(folder, n_trials=4, dataset="digits", epochs=SIGNAL_EPOCHS)
    text = study.read_text().replace("low = 1e-3, high = 1.0", "low = 1e-3, high = 1e-2")
    assert text != study.read_text()
    study.write_text(text)
    return study


def both_mid_trial(url: str, epochs: int) -> bool:
    """Two trials running, each past its first epoch and short of its middle one: a signal
    sent now lands inside a trial of each worker, whatever the machine's load."""
    running = [t for t in all_trials(url) if t.state == TrialState.RUNNING]
    return len(running) == 2 and all(1 <= len(t.intermediate_values) < epochs // 2
                                     for t in running)


def finish(procs: list[subprocess.Popen]) -> list[tuple[int, str]]:
    outputs = []
    for p in procs:
        _, err = p.communicate(timeout=300)
        outputs.append((p.returncode, err))
    return outputs


def assert_clean(outputs: list[tuple[int, str]]) -> None:
    for code, err in outputs:
        assert code == 0, err
        for bad in ("Traceback", "ERROR", "locked", "already exists", "UpdateFinishedTrial"):
            assert bad not in err, err


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mysql"])
def test_three_workers_run_exactly_n_trials(tmp_path: Path, kind: str,
                                            request: pytest.FixtureRequest) -> None:
    """Started at the same moment on an empty database: one creates the schema and the
    study, the others join; together they run exactly n_trials."""
    url = (f"sqlite:///{tmp_path / 'tuner.db'}" if kind == "sqlite" else
           request.getfixturevalue("pg_url" if kind == "postgresql" else "mysql_url"))
    study = write_study(tmp_path, n_trials=15, dataset="digits", epochs=3)
    procs = [start_worker(study, url) for _ in range(3)]
    outputs = finish(procs)
    assert_clean(outputs)
    ts = all_trials(url)
    assert len([t for t in ts if t.state in FINISHED]) == 15
    assert len(ts) == 15, [t.state for t in ts]
    numbers = [t.number for t in ts]
    assert sorted(numbers) == list(range(15))
    ran = sum(int(err.split("ran ")[1].split()[0]) for _, err in outputs)
    assert ran == 15, outputs


@pytest.mark.integration
def test_sigkill_mid_trial_is_rerun_by_the_survivor(tmp_path: Path, pg_url: str) -> None:
    study = write_signal_study(tmp_path)
    survivor = start_worker(study, pg_url, env=SIGNAL_ENV)
    victim = start_worker(study, pg_url, env=SIGNAL_ENV)
    wait_until(lambda: both_mid_trial(pg_url, SIGNAL_EPOCHS), what="two running trials",
               procs=[survivor, victim], ignore=(KeyError,), timeout=120)
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    assert_clean(finish([survivor]))
    ts = all_trials(pg_url)
    assert not [t for t in ts if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert len([t for t in ts if t.state in FINISHED]) == 4
    failed = [t for t in ts if t.state == TrialState.FAIL]
    assert len(failed) == 1, "exactly the killed worker's trial"
    reruns = [t for t in ts if t.system_attrs.get("failed_trial") == failed[0].number]
    assert len(reruns) == 1 and reruns[0].state in FINISHED
    assert reruns[0].params == failed[0].params


@pytest.mark.integration
def test_sigterm_worker_exits_0_and_the_other_finishes(tmp_path: Path, pg_url: str) -> None:
    study = write_signal_study(tmp_path)
    staying = start_worker(study, pg_url, env=SIGNAL_ENV)
    leaving = start_worker(study, pg_url, env=SIGNAL_ENV)
    wait_until(lambda: both_mid_trial(pg_url, SIGNAL_EPOCHS), what="two running trials",
               procs=[staying, leaving], ignore=(KeyError,), timeout=120)
    leaving.send_signal(signal.SIGTERM)
    # Exits after the current epoch (milliseconds here); a generous bound so a loaded
    # machine does not make this flaky, far below the heartbeat-based 3 s + re-run.
    code = leaving.wait(timeout=30)
    err = leaving.stderr.read()
    assert code == 0, err
    assert "SIGTERM received" in err and "handed 1 back to the queue" in err
    assert_clean(finish([staying]))
    ts = all_trials(pg_url)
    assert len([t for t in ts if t.state in FINISHED]) == 4
    assert not [t for t in ts if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    handed_back = [t for t in ts if t.state == TrialState.FAIL]
    assert len(handed_back) == 1
    # Its parameters were re-run to completion, never stored as a partial COMPLETE.
    reruns = [t for t in ts if t.system_attrs.get("failed_trial") == handed_back[0].number]
    assert len(reruns) == 1 and reruns[0].state in FINISHED
    assert max(handed_back[0].intermediate_values) < SIGNAL_EPOCHS


@pytest.mark.integration
def test_worker_survives_its_connection_being_killed(tmp_path: Path, pg_url: str) -> None:
    """The database kills the worker's backends mid-run (as a restart or a failover
    would): the worker reconnects and the study finishes with nothing lost."""
    study = write_study(tmp_path, n_trials=8, dataset="digits", epochs=25)
    worker = start_worker(study, pg_url)
    wait_until(lambda: len([t for t in all_trials(pg_url) if t.state in FINISHED]) >= 2,
               what="two finished trials", procs=[worker], ignore=(KeyError,), timeout=120)
    before = {t.number: t.value for t in all_trials(pg_url) if t.state in FINISHED}
    db = sqlalchemy.engine.make_url(pg_url).database
    admin = sqlalchemy.create_engine(pg_url.replace(f"/{db}", "/test"),
                                     isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        killed = conn.exec_driver_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE datname = '{db}' AND pid <> pg_backend_pid()").scalar()
    admin.dispose()
    assert killed >= 1
    outputs = finish([worker])
    assert outputs[0][0] == 0, outputs[0][1]
    ts = all_trials(pg_url)
    assert len([t for t in ts if t.state in FINISHED]) == 8
    assert not [t for t in ts if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    after = {t.number: t.value for t in ts}
    assert all(after[n] == v for n, v in before.items()), "what finished before is kept"


@pytest.mark.integration
def test_sqlite_pop_is_atomic_across_processes(tmp_path: Path) -> None:
    """Plain Optuna on SQLite pops the same queued trial in two processes now and then
    (pysqlite runs the SELECT outside the transaction); tuner's storage never does."""
    url = f"sqlite:///{tmp_path / 'q.db'}"
    from tuner.storage import open_storage

    study = optuna.create_study(study_name="q", storage=open_storage(url, heartbeat=False))
    for _ in range(200):
        study.enqueue_trial({})
    script = (
        "import sys, optuna\n"
        "from tuner.storage import open_storage\n"
        "s = optuna.load_study(study_name='q',\n"
        "                      storage=open_storage(sys.argv[1], heartbeat=False))\n"
        "got = []\n"
        "while (t := s._pop_waiting_trial_id()) is not None: got.append(t)\n"
        "print(' '.join(map(str, got)))\n")
    procs = [subprocess.Popen([tuner_cmd()[0], "-c", script, url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    popped = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        popped += out.split()
    assert len(popped) == 200 and len(set(popped)) == 200


@pytest.mark.integration
@pytest.mark.parametrize("url, expected", [
    ("postgresql+psycopg2://postgres:pw-XYZ@127.0.0.1:1/test", "Connection refused"),
    ("postgresql+psycopg2://postgres:pw-XYZ@127.0.0.1:5432/no_such_db_tuner", "does not exist"),
    ("mysql+pymysql://root:pw-XYZ@127.0.0.1:3306/test", "Access denied"),
    ("mysql+pymysql://root@127.0.0.1:3306/no_such_db_tuner", "Unknown database"),
])
def test_unreachable_storage_one_line_exit_2_password_masked(tmp_path: Path, url: str,
                                                             expected: str) -> None:
    r = run_tuner("worker", write_study(tmp_path), "--storage", url)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot open storage"), lines
    assert expected in lines[0]
    assert "pw-XYZ" not in r.stderr + r.stdout
    if "pw-XYZ" in url:
        assert "***" in lines[0]


@pytest.mark.integration
def test_password_from_environment_is_never_printed(tmp_path: Path, pg_url: str) -> None:
    url = pg_url.replace("postgres@", "postgres:hunter2-secret@")  # trust auth accepts it
    study = write_study(tmp_path, n_trials=2)
    r = run_tuner("study", "run", study, "-v", env={"TUNER_STORAGE": url})
    assert r.returncode == 0, r.stderr
    assert "hunter2-secret" not in r.stderr + r.stdout
    assert "***" in r.stderr
    for cmd in (["study", "show", "tiny", "--json"], ["study", "list"]):
        r = run_tuner(*cmd, env={"TUNER_STORAGE": url})
        assert r.returncode == 0 and "hunter2-secret" not in r.stdout + r.stderr
    attrs = json.dumps(optuna.load_study(study_name="tiny", storage=url).user_attrs)
    assert "hunter2-secret" not in attrs


@pytest.mark.unit
def test_jobs_auto_with_one_core_babysits(tmp_path: Path) -> None:
    from tuner.data import load_splits
    from tuner.spec import load_spec
    from tuner.worker import plan_jobs

    spec = load_spec(write_study(tmp_path, dataset="digits"))
    splits = load_splits("digits")
    assert plan_jobs(spec, splits, "auto", cores=1).jobs == 1
    caviar = plan_jobs(spec, splits, "auto", cores=8)
    assert caviar.mode == "caviar" and caviar.jobs == 6 and caviar.threads == 1  # 6 trials
    wide = dataclasses.replace(spec, model=dataclasses.replace(
        spec.model, hidden=(2048, 2048), batch_size=512))
    panda = plan_jobs(wide, splits, "auto", cores=8)
    assert panda.mode == "panda" and panda.jobs == 1 and panda.threads == 8
    tight = plan_jobs(spec, splits, "auto", cores=8, memory=600 * 2**20)
    assert tight.jobs == 1 and "memory" in tight.why



def _worker_on(tmp_path: Path, url: str, n_trials: int, search: str = ""):
    """The pieces `run_worker` builds, for a test that wraps the real objective;
    ``search`` adds lines to the file's [search] table."""
    from tuner.data import spec_splits
    from tuner.fingerprint import study_fingerprints
    from tuner.run import load_study_file
    from tuner.storage import open_storage
    from tuner.versions import prepare_version

    file = write_study(tmp_path, n_trials=n_trials, sampler="random")
    file.write_text(file.read_text().replace("[sampler]", f"{search}\n[sampler]"))
    spec = load_study_file(file)
    splits = spec_splits(spec)
    st = open_storage(url)
    version, _ = prepare_version(st, spec, study_fingerprints(spec, splits), file=file,
                                 owner=True)
    return spec, splits, st, version


@pytest.mark.integration
def test_parameters_failing_by_themselves_run_at_most_1_plus_max_retry_times(
        tmp_path: Path, sqlite_url: str) -> None:
    """Training that raises for batch_size 16, every time: those parameters are run at
    most 1 + MAX_RETRY times, then left FAIL; fresh trials take their place, so the
    version still ends with exactly n_trials finished and the worker returns normally
    (before: the worker died with the objective's exception, exit 1)."""
    import threading

    from tuner.objective import make_objective
    from tuner.storage import FAILED_BY_ITSELF_ATTR, MAX_RETRY
    from tuner.worker import work

    n_trials = 8
    spec, splits, st, version = _worker_on(
        tmp_path, sqlite_url, n_trials,
        'batch_size = { prior = "categorical", choices = [16, 32] }')
    train = make_objective(spec, splits)

    def training_that_fails_on_16(trial: optuna.Trial) -> float:
        value = train(trial)
        if trial.params["batch_size"] == 16:
            raise FloatingPointError("batch 16 always fails here")
        return value

    # seed 1: a deterministic draw of the space with both batch sizes in it
    result = work(st, spec, splits, version, seed=1, stop=threading.Event(),
                  objective=training_that_fails_on_16)
    got = optuna.load_study(study_name=version, storage=sqlite_url).get_trials()
    assert sum(t.state in FINISHED for t in got) == n_trials
    assert all(t.state in (*FINISHED, TrialState.FAIL) for t in got), got
    failed = [t for t in got if t.state == TrialState.FAIL]
    assert failed and all(t.params["batch_size"] == 16 for t in failed)
    assert all("FloatingPointError" in t.user_attrs[FAILED_BY_ITSELF_ATTR] for t in failed)
    tries = Counter(tuple(sorted(t.params.items())) for t in failed)
    assert max(tries.values()) == 1 + MAX_RETRY, tries  # re-queued, then dropped
    assert result.ran == n_trials and result.failed == len(failed)


@pytest.mark.integration
def test_objective_that_always_fails_stops_the_worker_in_one_line(
        tmp_path: Path, sqlite_url: str) -> None:
    """Every trial fails by itself: the worker stops after MAX_DROPPED_IN_A_ROW parameter
    sets with a TunerError (one line, exit 2 from the CLI) instead of replacing trials
    forever."""
    import threading

    from tuner.worker import MAX_DROPPED_IN_A_ROW, ObjectiveKeepsFailing, work

    spec, splits, st, version = _worker_on(tmp_path, sqlite_url, 4)

    def broken(trial: optuna.Trial) -> float:
        raise RuntimeError("no GPU here")

    with pytest.raises(ObjectiveKeepsFailing) as stopped:
        work(st, spec, splits, version, seed=0, stop=threading.Event(), objective=broken)
    assert "RuntimeError: no GPU here" in str(stopped.value)
    assert "\n" not in str(stopped.value)
    got = optuna.load_study(study_name=version, storage=sqlite_url).get_trials()
    from tuner.storage import MAX_RETRY

    assert all(t.state == TrialState.FAIL for t in got), got
    assert len(got) == MAX_DROPPED_IN_A_ROW * (1 + MAX_RETRY)


@pytest.mark.integration
def test_worker_whose_trial_was_failed_as_stale_while_alive_carries_on(
        tmp_path: Path, pg_url: str) -> None:
    """A worker whose heartbeat is late (here: an interval of 60 s against the other
    worker's grace of 2 s; in life, a loaded machine or a paused process) has its trial
    failed as stale and queued again by another worker while it still trains. It must
    notice at its next report, drop the trial quietly and carry on: exit 0, no traceback
    (before: Optuna's "Cannot tell a FAIL trial" ended it with exit 1, or the objective's
    UpdateFinishedTrialError was taken for a failure of the parameters)."""
    import os

    n_trials = 1
    # Trials of several seconds at least, on an idle machine too: the other worker needs
    # its start-up plus twice its grace period before it judges anything stale.
    study = write_study(tmp_path, n_trials=n_trials, epochs=10000, dataset="digits")
    late = subprocess.Popen(tuner_cmd("worker", study, "--storage", pg_url),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TUNER_HEARTBEAT_INTERVAL": "60",
                                 "TUNER_HEARTBEAT_GRACE": "120"})
    try:
        wait_until(lambda: any(t.state == TrialState.RUNNING for t in all_trials(pg_url))
                   if _has_study(pg_url) else False, what="the late worker's first trial",
                   timeout=120)
        keen = subprocess.Popen(tuner_cmd("worker", study, "--storage", pg_url),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "TUNER_HEARTBEAT_INTERVAL": "1",
                                     "TUNER_HEARTBEAT_GRACE": "2"})
        outputs = finish([late, keen])
    finally:
        kill_all([late])
    assert_clean(outputs)
    trials = all_trials(pg_url)
    assert sum(t.state in FINISHED for t in trials) == n_trials
    assert any(t.state == TrialState.FAIL for t in trials), "nothing was failed as stale"
    assert not any(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials)
    assert "failed as stale" in outputs[0][1], outputs[0][1]


def _has_study(url: str) -> bool:
    try:
        all_trials(url)
    except KeyError:
        return False
    return True


@pytest.mark.integration
@pytest.mark.parametrize("then", ["returns", "raises"])
def test_a_trial_failed_as_stale_after_its_last_report_is_dropped_quietly(
        tmp_path: Path, sqlite_url: str, then: str) -> None:
    """Another worker fails this worker's trial as stale (and queues its copy) between
    its last report and its end: Optuna's tell then refuses it (a plain ValueError, or
    an AssertionError around one). The worker recognises the trial by its stored state,
    not by the error's text, and carries on; the version still ends with n_trials."""
    import threading

    from tuner.objective import make_objective
    from tuner.storage import retry_trial
    from tuner.worker import work

    n_trials = 3
    spec, splits, st, version = _worker_on(tmp_path, sqlite_url, n_trials)
    train = make_objective(spec, splits)
    taken: list[int] = []

    def taken_away_at_the_end(trial: optuna.Trial) -> float:
        value = train(trial)
        if not taken:
            taken.append(trial.number)
            other = optuna.storages.RDBStorage(sqlite_url)  # another worker
            other.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            study = optuna.load_study(study_name=version, storage=other)
            retry_trial(study, study.trials[trial.number])
            other.engine.dispose()
            if then == "raises":
                raise RuntimeError("stopped by the other worker's verdict")
        return value

    result = work(st, spec, splits, version, seed=1, stop=threading.Event(),
                  objective=taken_away_at_the_end)
    got = optuna.load_study(study_name=version, storage=sqlite_url).get_trials()
    assert sum(t.state in FINISHED for t in got) == n_trials == result.ran
    assert [t.number for t in got if t.state == TrialState.FAIL] == taken
    assert result.failed == 0  # not a failure of the parameters

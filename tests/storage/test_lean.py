"""Issue 15, bookkeeping per trial: a worker's reports written behind, repeated reads
answered once, the percentile pruners deciding from a snapshot, the first heartbeat
deferred. Each is checked against what Optuna itself stores and decides, on real SQLite
files (and the real servers where a test takes ``any_url``)."""

from __future__ import annotations

import math
import os
import random
import subprocess
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from helpers import kill_all, tuner_cmd, wait_until, write_study

optuna.logging.set_verbosity(optuna.logging.WARNING)


def lean_study(tmp_path: Path, name: str) -> tuple[str, object, optuna.Study]:
    """(url, storage, study) on a fresh SQLite file, the storage in a worker's lean mode
    (`TunerStorage.lean`, entered for the rest of the test), the study created before."""
    from tuner.storage import open_storage

    url = f"sqlite:///{tmp_path / name}.db"
    storage = open_storage(url)
    study = optuna.create_study(storage=storage, study_name=name)
    mode = storage.lean()
    mode.__enter__()
    _ENTERED.append(mode)  # a mode dropped by the garbage collector would be left
    return url, storage, study


_ENTERED: list = []


def _curve_objective(epochs: int):
    """Noisy learning curves whose level depends on x: some trials are clearly worse."""
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        rng = random.Random(trial.number)
        value = 0.0
        for step in range(epochs):
            value = x * (1 - math.exp(-(step + 1) / 3)) + rng.gauss(0, 0.02)
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value
    return objective


@pytest.mark.unit
def test_snapshot_pruner_decides_exactly_as_optuna_with_one_worker(tmp_path: Path) -> None:
    from tuner.pruning import SnapshotPruner
    from tuner.storage import open_storage

    runs = {}
    reads = {}
    for label in ("optuna", "snapshot"):
        storage = open_storage(f"sqlite:///{tmp_path / label}.db")
        median = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
        pruner = median if label == "optuna" else SnapshotPruner(median)
        study = optuna.create_study(storage=storage, direction="maximize", pruner=pruner,
                                    sampler=optuna.samplers.RandomSampler(seed=3))
        counted = [0]
        get_trials = study.get_trials

        def counting(*a, _get=get_trials, _n=counted, **k):
            _n[0] += 1
            return _get(*a, **k)

        study.get_trials = counting  # what the pruner reads, counted
        record = [lambda s, t, p=pruner: p.record(t)] if label == "snapshot" else []
        study.optimize(_curve_objective(12), n_trials=25, callbacks=record)
        runs[label] = [(t.state, dict(t.intermediate_values), t.value)
                       for t in study.get_trials()]
        reads[label] = counted[0]
    assert runs["snapshot"] == runs["optuna"]
    assert sum(s == TrialState.PRUNED for s, _, _ in runs["optuna"]) >= 5, runs["optuna"]
    # Optuna reads the study at every epoch past warm-up; the snapshot about never.
    assert reads["optuna"] > 100 and reads["snapshot"] <= 3, reads


@pytest.mark.unit
def test_reports_are_held_back_then_all_written_and_optuna_reads_them(
        tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUNER_WRITE_BEHIND_S", "1")  # the default
    url, _, study = lean_study(tmp_path, "behind")
    trial = study.ask()
    reader = optuna.storages.RDBStorage(url)

    def stored() -> dict[int, float]:
        return reader.get_trial(trial._trial_id).intermediate_values

    trial.report(0.5, 0)                  # a trial's first report: written at once
    assert stored() == {0: 0.5}
    for step in range(1, 6):              # then held back (less than a second later)
        trial.report(0.5 + step / 10, step)
    trial.set_user_attr("note", {"a": 1})
    assert stored() == {0: 0.5}
    assert reader.get_trial(trial._trial_id).user_attrs == {}
    # Any other call on the storage writes them first: here, finishing the trial.
    study.tell(trial, 1.0)
    done = optuna.load_study(study_name="behind", storage=url).trials[0]
    assert done.intermediate_values == {s: 0.5 + s / 10 for s in range(6)}
    assert done.user_attrs == {"note": {"a": 1}} and done.state == TrialState.COMPLETE


@pytest.mark.unit
def test_notes_written_again_replace_the_first_write(tmp_path: Path) -> None:
    """A write retried after its commit was lost finds its rows there: updated, not a
    second row (the unique step and key would refuse it) and not lost."""
    from tuner.storage._optuna_private import write_trial_notes

    url, storage, study = lean_study(tmp_path, "again")
    trial = study.ask()
    write_trial_notes(storage, trial._trial_id, {0: 0.5, 1: 0.6}, {"a": 1})
    write_trial_notes(storage, trial._trial_id, {1: 0.7, 2: 0.8}, {"a": 2, "b": [3]})
    stored = optuna.storages.RDBStorage(url).get_trial(trial._trial_id)
    assert stored.intermediate_values == {0: 0.5, 1: 0.7, 2: 0.8}
    assert stored.user_attrs == {"a": 2, "b": [3]}


@pytest.mark.unit
def test_write_behind_waits_at_most_its_setting(tmp_path: Path, monkeypatch) -> None:
    from tuner.storage import StorageError, open_storage

    monkeypatch.setenv("TUNER_WRITE_BEHIND_S", "0.2")
    url, _, study = lean_study(tmp_path, "due")
    trial = study.ask()
    reader = optuna.storages.RDBStorage(url)
    trial.report(1.0, 0)
    trial.report(2.0, 1)
    assert len(reader.get_trial(trial._trial_id).intermediate_values) == 1
    time.sleep(0.25)
    trial.report(3.0, 2)  # due: this one and the one held back are written together
    assert reader.get_trial(trial._trial_id).intermediate_values == {0: 1.0, 1: 2.0, 2: 3.0}

    monkeypatch.setenv("TUNER_WRITE_BEHIND_S", "soon")
    with pytest.raises(StorageError, match="TUNER_WRITE_BEHIND_S='soon'"):
        open_storage(url)


@pytest.mark.unit
def test_reports_of_a_trial_failed_elsewhere_raise_as_optunas_own(tmp_path: Path) -> None:
    from tuner.storage._lean import WriteBehind

    url = f"sqlite:///{tmp_path / 'taken.db'}"
    study = optuna.create_study(storage=url, study_name="taken")
    trial = study.ask()
    storage = optuna.storages.RDBStorage(url)
    storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)  # another worker
    pending = WriteBehind()
    pending.add_value(trial._trial_id, 0, 1.0)
    with pytest.raises(UpdateFinishedTrialError):
        pending.flush(storage, finished_ok=False)
    assert not pending  # dropped: it can never be written
    pending.add_value(trial._trial_id, 1, 1.0)
    pending.flush(storage, finished_ok=True)  # before a read: dropped quietly
    assert not pending and storage.get_trial(trial._trial_id).intermediate_values == {}


@pytest.mark.unit
def test_repeated_reads_are_reused_until_this_process_writes(tmp_path: Path) -> None:
    url, storage, study = lean_study(tmp_path, "reads")
    study_id = study._study_id
    created = storage.create_new_trial(study_id)
    first = storage.get_trial(created)
    first.intermediate_values[0] = 9.9  # a caller changing what it was given ...
    assert storage.get_trial(created).intermediate_values == {}  # ... changes no one else's

    ask = storage._get_trials(study_id, None, set(), -1)
    other = optuna.storages.RDBStorage(url)  # another worker adds a trial
    other.create_new_trial(study_id)
    assert len(storage._get_trials(study_id, None, set(), -1)) == len(ask) == 1  # reused
    storage.set_trial_user_attr(created, "k", 1)  # held back: no write yet
    storage.set_trial_system_attr(created, "s", 1)  # a write: nothing read is reused
    assert len(storage._get_trials(study_id, None, set(), -1)) == 2
    assert storage.get_trial(created).user_attrs == {"k": 1}


@pytest.mark.unit
def test_a_read_is_reused_for_half_a_second_at_most(tmp_path: Path) -> None:
    from tuner.storage._lean import REUSE_S

    url, storage, study = lean_study(tmp_path, "ttl")
    study_id = study._study_id
    assert storage._get_trials(study_id, None, set(), -1) == []
    optuna.storages.RDBStorage(url).create_new_trial(study_id)
    time.sleep(REUSE_S + 0.05)
    assert len(storage._get_trials(study_id, None, set(), -1)) == 1


@pytest.mark.unit
def test_first_heartbeat_waits_one_interval_and_the_trial_is_not_stale(
        tmp_path: Path) -> None:
    from tuner.storage import rdb_models

    _, storage, study = lean_study(tmp_path, "beat")  # conftest: interval 1 s, grace 3 s
    trial = study.ask()
    beat_table = rdb_models().TrialHeartbeatModel

    def beats() -> int:
        with storage.engine.connect() as conn:
            return conn.execute(sqlalchemy.select(sqlalchemy.func.count())
                                .select_from(beat_table)).scalar_one()

    storage.record_heartbeat(trial._trial_id)
    assert beats() == 0
    assert storage._get_stale_trial_ids(study._study_id) == []
    storage.record_heartbeat(trial._trial_id)
    assert beats() == 1


@pytest.mark.integration
def test_a_running_trials_curve_reaches_the_database_while_it_runs(
        tmp_path: Path, any_url: str) -> None:
    """The dashboard's guarantee: a running trial's learning curve is in the database
    within about a second, not only when the trial ends."""
    study = write_study(tmp_path, name="live", n_trials=2, epochs=3000, dataset="digits")
    proc = subprocess.Popen(tuner_cmd("worker", study, "--storage", any_url),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TUNER_WRITE_BEHIND_S": "1"})  # the default
    reader = optuna.storages.RDBStorage(any_url)
    seen: set[int] = set()

    def running_curve_grew() -> bool:
        study_id = reader.get_study_id_from_name("live")
        for t in reader.get_all_trials(study_id, deepcopy=False):
            if t.state == TrialState.RUNNING and t.intermediate_values:
                seen.add(len(t.intermediate_values))
        return len(seen) >= 3  # three different lengths seen while it ran

    try:
        wait_until(running_curve_grew, what="a running trial's curve growing in the database",
                   procs=[proc], ignore=(KeyError,), timeout=120, interval=0.1)
    finally:
        kill_all([proc])
        reader.engine.dispose()


@pytest.mark.unit
@pytest.mark.parametrize("state", [TrialState.COMPLETE, TrialState.FAIL])
def test_a_retried_finish_finding_its_state_is_ours_only_for_complete(
        tmp_path: Path, state: TrialState, monkeypatch) -> None:
    """A finishing write retried after its connection broke finds the trial already in
    that state. COMPLETE can only be our own write that landed: success. FAIL may be
    another worker's (failed as stale, already queued again): Optuna's own error, so
    the parameters are not queued a second time."""
    import sqlalchemy.exc
    from optuna.storages import RDBStorage

    from tuner.storage import open_storage

    calls: list[TrialState] = []
    optunas = RDBStorage.set_trial_state_values

    def breaks_after_the_first_commit(self, tid, state, values=None):
        calls.append(state)
        landed = optunas(self, tid, state, values)
        if len(calls) == 1:  # the write landed; the connection broke before the ack
            raise sqlalchemy.exc.OperationalError("COMMIT", {}, Exception("server closed"))
        return landed

    storage = open_storage(f"sqlite:///{tmp_path / 'finish.db'}")
    study_id = storage.create_new_study([optuna.study.StudyDirection.MAXIMIZE], "finish")
    trial_id = storage.create_new_trial(study_id)
    monkeypatch.setattr(RDBStorage, "set_trial_state_values", breaks_after_the_first_commit)
    values = [1.0] if state == TrialState.COMPLETE else None
    # As Optuna's _CachedStorage and fail_stale_trials call it: state and values by name.
    if state == TrialState.COMPLETE:
        assert storage.set_trial_state_values(trial_id, state=state, values=values) is True
    else:
        with pytest.raises(UpdateFinishedTrialError):
            storage.set_trial_state_values(trial_id, state=state, values=values)
    assert calls == [state, state] and storage.get_trial(trial_id).state == state

"""`tuner schedule`: ticks driven by a fake clock over real retunes on a real SQLite file,
skipped ticks, errors that do not stop the loop, bad cron expressions, and a real process
stopped by SIGTERM between and during runs."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import tuner.data
from conftest import invoke, tuner_cmd, write_study
from tuner.retune import retune_file
from tuner.schedule import ScheduleError, check_cron, run_schedule

START = datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC)
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d ")


def at(minute: int, second: int = 0) -> str:
    return (START.replace(second=0) + timedelta(minutes=minute, seconds=second)).isoformat()


class FakeClock:
    """now() and sleep() of a clock that moves only when told; it sets ``stop`` once it
    has slept past ``stop_at``, as a SIGTERM between two ticks would."""

    def __init__(self, stop: threading.Event, stop_at: datetime) -> None:
        self.t, self.stop, self.stop_at = START, stop, stop_at
        self.slept: list[float] = []
        self.on_sleep = lambda t: None

    def now(self) -> datetime:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += timedelta(seconds=seconds)
        self.on_sleep(self.t)
        if self.t >= self.stop_at:
            self.stop.set()


def decisions(lines: list[str]) -> list[str]:
    """The lines after the timestamp, without the scheduler's own bookkeeping."""
    return [line.split(" ", 1)[1] for line in lines
            if not re.search(r"(re-tuning \d+ study file|next run at)", line)]


@pytest.mark.unit
def test_every_minute_runs_retune_at_each_tick(tmp_path: Path, sqlite_url: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    file = write_study(tmp_path, n_trials=3)
    stop = threading.Event()
    clock = FakeClock(stop, stop_at=START + timedelta(minutes=3))

    def between_ticks(t: datetime) -> None:
        if t >= START + timedelta(minutes=2):  # the machine changes before the third tick
            monkeypatch.setenv("TUNER_HARDWARE_LABEL", "pool-b")
    clock.on_sleep = between_ticks

    lines: list[str] = []
    runs = run_schedule("* * * * *", [file], storage=sqlite_url, stop=stop, emit=lines.append,
                        now=clock.now, sleep=clock.sleep)
    assert runs == 3
    assert all(STAMP.match(line) for line in lines)
    assert clock.slept == [30.0, 60.0, 60.0, 60.0], "woken exactly at each minute"
    ticks = [line for line in lines if "re-tuning 1 study file" in line]
    assert ticks == [f"{at(m)} tick {at(m)}: re-tuning 1 study file" for m in (1, 2, 3)]
    d = decisions(lines)
    assert d[0].startswith("tiny: no version yet: created tiny and run 3 trials")
    assert d[1].startswith("tiny: best val_accuracy") and "(first version)" in d[1]
    assert d[2].startswith("tiny: up to date (tiny, 3 of 3 trials finished")
    assert d[3].startswith("tiny: hardware changed (hardware ")
    assert "created tiny/v2 from tiny" in d[3]
    assert d[4].startswith("tiny/v2: best val_accuracy")
    assert d[5] == "stopped after 3 runs"
    assert sorted(optuna.get_all_study_names(sqlite_url)) == ["tiny", "tiny/v2"]
    assert lines[-2] == f"{at(3)} next run at {at(4)}"


@pytest.mark.unit
def test_a_tick_that_comes_during_a_run_is_skipped(tmp_path: Path, sqlite_url: str) -> None:
    file = write_study(tmp_path, n_trials=2)
    stop = threading.Event()
    clock = FakeClock(stop, stop_at=START + timedelta(minutes=5))
    started: list[datetime] = []

    def slow_retune(file, storage, *, stop, emit):
        started.append(clock.now())
        clock.t += timedelta(seconds=150)  # a retune that outlasts two ticks
        return retune_file(file, storage, stop=stop, emit=emit)

    lines: list[str] = []
    runs = run_schedule("* * * * *", [file], storage=sqlite_url, stop=stop, emit=lines.append,
                        now=clock.now, sleep=clock.sleep, retune_one=slow_retune)
    assert runs == 2
    assert [t.isoformat() for t in started] == [at(1), at(4)], "never two at once"
    skipped = [line.split(" ", 1)[1] for line in lines if "skipped" in line]
    assert skipped == [f"skipped 2 ticks ({at(2)}, {at(3)}): the previous run was still going",
                       f"skipped 2 ticks ({at(5)}, {at(6)}): the previous run was still going"]


@pytest.mark.unit
def test_an_error_in_one_study_does_not_stop_the_others(tmp_path: Path, sqlite_url: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    foreign = write_study(tmp_path, name="foreign", n_trials=2)
    plain = optuna.create_study(storage=sqlite_url, study_name="foreign")
    plain.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    broken = write_study(tmp_path, name="broken", n_trials=2, dataset="wine")

    def unreadable(seed: int):
        raise RuntimeError("disk on fire")
    monkeypatch.setitem(tuner.data.DATASETS, "wine", unreadable)
    gone = tmp_path / "gone.toml"
    good = write_study(tmp_path, name="good", n_trials=2)

    stop = threading.Event()
    clock = FakeClock(stop, stop_at=START + timedelta(minutes=1))
    lines: list[str] = []
    # check_first=False: a file missing at a tick (deleted since the start) is that tick's
    # error; at the start it would be the whole schedule's (test_cli, check_files).
    runs = run_schedule("* * * * *", [foreign, broken, gone, good], storage=sqlite_url,
                        run_now=True, stop=stop, emit=lines.append, now=clock.now,
                        sleep=clock.sleep, check_first=False)
    assert runs == 2  # run-now, then the tick at 00:01
    d = decisions(lines)
    for run in (d[:5], d[5:9]):
        assert run[0].startswith(f"error: {foreign}: study 'foreign' in this storage was not "
                                 "created by tuner")
        assert run[1] == f"error: {broken}: unexpected error: RuntimeError: disk on fire"
        assert run[2] == f"error: {gone}: no such study file"
    assert d[3].startswith("good: no version yet: created good")
    assert d[8].startswith("good: up to date (good, 2 of 2 trials finished")
    assert sorted(optuna.get_all_study_names(sqlite_url)) == ["foreign", "good"]
    assert len(optuna.load_study(study_name="foreign", storage=sqlite_url).trials) == 1


@pytest.mark.unit
@pytest.mark.parametrize("expr", ["61 * * * *", "every minute", "* * *", "0 0 30 2 *", ""])
def test_invalid_cron_expression_is_one_line_exit_2(tmp_path: Path, expr: str) -> None:
    file = write_study(tmp_path)
    result = invoke("schedule", "--cron", expr, file)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: invalid cron expression {expr!r}: ")
    with pytest.raises(ScheduleError):
        check_cron(expr)


@pytest.mark.unit
def test_schedule_refuses_a_missing_file_at_once(tmp_path: Path) -> None:
    result = invoke("schedule", "--cron", "0 3 * * *", tmp_path / "nope.toml")
    assert result.exit_code == 2 and "no such study file" in result.stderr
    assert "--run-now" in invoke("schedule", "--help").output


def _read_until(proc: subprocess.Popen, needle: str) -> list[str]:
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} never came; stdout: {lines}; stderr: {proc.stderr.read()}")


@pytest.mark.integration
def test_real_process_runs_now_then_stops_on_sigterm(tmp_path: Path, sqlite_url: str) -> None:
    file = write_study(tmp_path, n_trials=3)
    proc = subprocess.Popen(tuner_cmd("schedule", "--cron", "* * * * *", "--run-now", file,
                                      "--storage", sqlite_url),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = _read_until(proc, "next run at")  # the first retune is done: between runs now
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    lines += out.splitlines()
    assert proc.returncode == 0, err
    assert all(STAMP.match(line) for line in lines), lines
    text = "\n".join(lines)
    assert "run-now: re-tuning 1 study file" in text
    assert "tiny: no version yet: created tiny and run 3 trials" in text
    assert re.search(r"tiny: best val_accuracy \S+ \(first version\); 3 of 3 trials finished",
                     text)
    assert re.search(r" stopped after \d+ runs?$", lines[-1])
    assert "SIGTERM received" in err and "Traceback" not in err


@pytest.mark.integration
def test_real_process_stopped_during_a_run(tmp_path: Path, sqlite_url: str) -> None:
    file = write_study(tmp_path, n_trials=40, epochs=60, dataset="digits")
    proc = subprocess.Popen(tuner_cmd("schedule", "--cron", "0 3 * * *", "--run-now", file,
                                      "--storage", sqlite_url),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _read_until(proc, "created tiny")  # trials are running now
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert " stopped: tiny: " in lines[-2] and lines[-1].endswith(" stopped after 1 run")
    study = optuna.load_study(study_name="tiny", storage=sqlite_url)
    assert not study.get_trials(states=(TrialState.RUNNING,)), "the trial was handed back"
    assert len(study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))) < 40


@pytest.mark.unit
def test_a_python_caller_gets_bad_input_before_the_first_tick(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tuner.errors import TunerError

    good = write_study(tmp_path)
    lines: list[str] = []
    with pytest.raises(TunerError, match="no such study file"):
        run_schedule("0 3 * * *", [good, tmp_path / "nope.toml"], emit=lines.append)
    monkeypatch.setenv("TUNER_REQUIRE_STORAGE", "1")
    monkeypatch.delenv("TUNER_STORAGE", raising=False)
    with pytest.raises(TunerError, match="TUNER_REQUIRE_STORAGE=1 refuses"):
        run_schedule("0 3 * * *", [good], emit=lines.append)
    assert lines == [], "nothing ran, nothing was logged"

"""`tuner study run` on real SQLite files: counts, resume, parallel jobs, pruning,
divergence, bad input refused before anything is written."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from conftest import invoke, run_tuner, tuner_cmd, write_study
from helpers import wait_until


def trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=url).get_trials()


def finished(ts: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    return [t for t in ts if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


@pytest.mark.integration
def test_run_produces_exactly_n_trials(tmp_path: Path, sqlite_url: str) -> None:
    study = write_study(tmp_path, n_trials=7)
    result = invoke("study", "run", study, "--storage", sqlite_url)
    assert result.exit_code == 0, result.output
    ts = trials(sqlite_url, "tiny")
    assert len(finished(ts)) == 7 and len(ts) == 7
    beta = [t.user_attrs["beta"] for t in ts if "beta" in t.user_attrs]
    assert len(beta) == 7 and all(0.9 <= b <= 0.999 for b in beta)
    dist = ts[0].distributions["one_minus_beta"]
    assert dist.log and dist.low == pytest.approx(0.001) and dist.high == pytest.approx(0.1)
    assert all(t.intermediate_values for t in ts), "every trial reports a learning curve"

    again = invoke("study", "run", study, "--storage", sqlite_url)
    assert again.exit_code == 0 and "7 of 7 trials finished" in again.output
    assert len(trials(sqlite_url, "tiny")) == 7, "a finished version runs nothing more"

    more = invoke("study", "run", study, "--storage", sqlite_url, "--n-trials", "9")
    assert more.exit_code == 0
    assert len(finished(trials(sqlite_url, "tiny"))) == 9


@pytest.mark.integration
def test_storage_resolution_order(tmp_path: Path) -> None:
    study = write_study(tmp_path, n_trials=1)
    env_db, flag_db = tmp_path / "env.db", tmp_path / "flag.db"
    r = run_tuner("study", "run", study, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "tuner.db").exists(), "default is sqlite:///tuner.db in the cwd"
    r = run_tuner("study", "run", study, env={"TUNER_STORAGE": f"sqlite:///{env_db}"},
                  cwd=tmp_path)
    assert r.returncode == 0 and env_db.exists()
    r = run_tuner("study", "run", study, "--storage", f"sqlite:///{flag_db}",
                  env={"TUNER_STORAGE": f"sqlite:///{env_db}"}, cwd=tmp_path)
    assert r.returncode == 0 and flag_db.exists()


@pytest.mark.integration
def test_jobs_2_gives_exactly_n_trials(tmp_path: Path, sqlite_url: str) -> None:
    study = write_study(tmp_path, n_trials=12, dataset="digits", epochs=4)
    r = run_tuner("study", "run", study, "--storage", sqlite_url, "--jobs", "2")
    assert r.returncode == 0, r.stderr
    ts = trials(sqlite_url, "tiny")
    numbers = [t.number for t in ts]
    assert len(finished(ts)) == 12 and len(ts) == 12
    assert len(set(numbers)) == len(numbers)
    assert "Traceback" not in r.stderr and "locked" not in r.stderr
    # Each process had its own sampler seed: no duplicated parameters.
    assert len({t.params["alpha"] for t in ts}) == 12


@pytest.mark.integration
def test_jobs_auto_says_what_it_chose(tmp_path: Path, sqlite_url: str) -> None:
    study = write_study(tmp_path, n_trials=2)
    r = run_tuner("study", "run", study, "--storage", sqlite_url, "--jobs", "auto")
    assert r.returncode == 0, r.stderr
    assert "--jobs auto:" in r.stderr and ("caviar" in r.stderr or "panda" in r.stderr)


def _wait_for_trials(url: str, name: str, n: int, proc: subprocess.Popen) -> None:
    wait_until(lambda: len(finished(trials(url, name))) >= n, what=f"{n} finished trial(s)",
               procs=[proc], ignore=(KeyError,), timeout=120)


@pytest.mark.integration
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigint_then_resume_finishes_exactly_n_trials(tmp_path: Path, sqlite_url: str,
                                                      jobs: str) -> None:
    # 400 epochs: a compiled trial of this size trains an epoch in about 2 ms, so a
    # 100-epoch study could run out of trials between the check below and the signal.
    study = write_study(tmp_path, n_trials=10, dataset="digits", epochs=400)
    proc = subprocess.Popen(tuner_cmd("study", "run", study, "--storage", sqlite_url,
                                      "--jobs", jobs),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_trials(sqlite_url, "tiny", 1, proc)
    # ... and until a trial is well inside its epochs, so the signal lands mid-trial.
    wait_until(lambda: any(t.state == TrialState.RUNNING and 1 <= len(t.intermediate_values) < 200
                           for t in trials(sqlite_url, "tiny")),
               what="a running trial between its epochs 1 and 200", procs=[proc],
               interval=0.05, timeout=120)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "run the same command to resume" in err
    ts = trials(sqlite_url, "tiny")
    assert not [t for t in ts if t.state == TrialState.RUNNING], "no zombie RUNNING trial"
    interrupted = [t for t in ts if t.state == TrialState.FAIL]
    assert len(interrupted) in range(1, int(jobs) + 1) and len(finished(ts)) < 10
    # Every interrupted trial is queued again with the same parameters.
    waiting = [t for t in ts if t.state == TrialState.WAITING and t.params]
    assert {json.dumps(t.params, sort_keys=True) for t in interrupted} <= \
        {json.dumps(t.params, sort_keys=True) for t in waiting}

    r = run_tuner("study", "run", study, "--storage", sqlite_url, "--jobs", jobs)
    assert r.returncode == 0, r.stderr
    ts = trials(sqlite_url, "tiny")
    assert len(finished(ts)) == 10
    assert not [t for t in ts if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    done_params = {json.dumps(t.params, sort_keys=True) for t in finished(ts)}
    assert all(json.dumps(t.params, sort_keys=True) in done_params for t in interrupted)


@pytest.mark.integration
def test_pruning_prunes_hopeless_trials(tmp_path: Path, sqlite_url: str) -> None:
    """Half the learning rates are far too small to learn in 20 epochs: the median
    pruner stops them early instead of running every epoch."""
    study = write_study(tmp_path, n_trials=24, dataset="digits", epochs=20, sampler="random",
                        pruner="median")
    text = study.read_text().replace("low = 1e-3, high = 1.0", "low = 1e-6, high = 0.5")
    study.write_text(text)
    assert invoke("study", "run", study, "--storage", sqlite_url).exit_code == 0
    ts = trials(sqlite_url, "tiny")
    pruned = [t for t in ts
              if t.state == TrialState.PRUNED and not t.user_attrs.get("tuner:diverged")]
    assert len(pruned) >= 3
    assert all(max(t.intermediate_values) < 20 for t in pruned), "cut short"
    complete = [t for t in ts if t.state == TrialState.COMPLETE]
    assert all(max(t.intermediate_values) == 20 for t in complete)


@pytest.mark.integration
def test_divergence_is_recorded_and_tpe_moves_away(tmp_path: Path, sqlite_url: str) -> None:
    """alpha up to 1e4 diverges; those trials are PRUNED with the epoch, never NaN, and
    TPE proposes the diverging region far less once it has seen it."""
    study = write_study(tmp_path, n_trials=40, dataset="digits", epochs=3, sampler="tpe")
    study.write_text(study.read_text().replace("low = 1e-3, high = 1.0",
                                               "low = 1e-3, high = 1e4"))
    assert invoke("study", "run", study, "--storage", sqlite_url).exit_code == 0
    ts = trials(sqlite_url, "tiny")
    diverged = [t for t in ts if t.user_attrs.get("tuner:diverged")]
    assert diverged, "alpha near 1e4 must diverge"
    for t in diverged:
        # Optuna keeps the last epoch reported before the divergence as a pruned
        # trial's value; the diverging epoch itself is never reported.
        assert t.state == TrialState.PRUNED
        assert t.value is None or 0.0 <= t.value <= 1.0
        assert t.user_attrs["tuner:diverged_epoch"] not in t.intermediate_values
        assert t.user_attrs["tuner:diverged_epoch"] in (1, 2, 3)
    assert all(t.value is None or t.value == t.value for t in ts), "no NaN value"
    early = sum(t.user_attrs.get("tuner:diverged", False) for t in ts[:10]) / 10
    late = sum(t.user_attrs.get("tuner:diverged", False) for t in ts[-15:]) / 15
    assert late < early, (early, late)


@pytest.mark.integration
@pytest.mark.parametrize("args, expected", [
    (["study", "run", "missing.toml"], "missing.toml: no such study file"),
    (["study", "run", "{study}", "--storage", "nosuchdb://x"], "unsupported storage URL"),
    (["study", "run", "{study}", "--storage", "not a url"], "malformed storage URL"),
    (["study", "run", "{study}", "--storage",
      "postgresql+psycopg2://u:s3cret@127.0.0.1:1/db"], "cannot open storage"),
    (["study", "run", "{study}", "--storage", "sqlite:////no/such/folder/x.db"],
     "does not exist"),
])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path: Path, args: list[str],
                                                    expected: str) -> None:
    study = write_study(tmp_path)
    r = run_tuner(*[a.replace("{study}", str(study)) for a in args], cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
    assert "s3cret" not in r.stderr + r.stdout
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "tuner.db").exists()


@pytest.mark.integration
def test_bad_study_file_writes_nothing(tmp_path: Path) -> None:
    study = write_study(tmp_path, extra="\n[serch]\n")
    r = run_tuner("study", "run", study, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: {study}: [serch]: unknown section (did you mean [search]?)"
    assert not (tmp_path / "tuner.db").exists()


@pytest.mark.unit
def test_refuses_a_study_not_made_by_tuner(tmp_path: Path, sqlite_url: str) -> None:
    optuna.create_study(study_name="tiny", storage=sqlite_url, direction="minimize")
    r = invoke("study", "run", write_study(tmp_path), "--storage", sqlite_url)
    assert r.exit_code == 2 and "not created by tuner" in r.output


@pytest.mark.unit
def test_help_explains(tmp_path: Path) -> None:
    r = invoke("study", "run", "--help")
    assert r.exit_code == 0 and "--jobs" in r.output and "resume" in r.output
    assert invoke("--version").output.startswith("tuner, version")


@pytest.mark.integration
def test_quiet_prints_nothing_on_success(tmp_path: Path, sqlite_url: str) -> None:
    r = run_tuner("study", "run", write_study(tmp_path, n_trials=2), "--storage", sqlite_url,
                  "-q")
    assert r.returncode == 0 and r.stderr == "" and r.stdout == ""


@pytest.mark.integration
@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "studies")
                                        .glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_study_file_runs_as_it_is(path: Path, sqlite_url: str) -> None:
    r = invoke("study", "run", path, "--storage", sqlite_url, "--n-trials", "2")
    assert r.exit_code == 0, r.output
    name = path.read_text().split('name = "')[1].split('"')[0]
    assert len(finished(trials(sqlite_url, name))) == 2


@pytest.mark.unit
@pytest.mark.parametrize("args", [["study", "list"], ["study", "show", "tiny"],
                                  ["study", "best", "tiny"], ["study", "report", "tiny"]])
def test_reading_a_missing_sqlite_file_does_not_create_it(tmp_path: Path,
                                                          args: list[str]) -> None:
    typo = tmp_path / "tunr.db"
    r = invoke(*args, "--storage", f"sqlite:///{typo}")
    assert r.exit_code == 2
    assert f"no database at {typo}" in r.output
    assert not typo.exists()


@pytest.mark.integration
@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_extending_a_version_draws_new_parameters(tmp_path: Path, sqlite_url: str,
                                                  sampler: str) -> None:
    # Issue 13 item 3: every run seeded the sampler alike, so trials 3-5 replayed 0-2.
    study = write_study(tmp_path, n_trials=3, sampler=sampler)
    assert invoke("study", "run", study, "--storage", sqlite_url).exit_code == 0
    more = invoke("study", "run", study, "--storage", sqlite_url, "--n-trials", "6")
    assert more.exit_code == 0, more.output
    params = [json.dumps(t.params, sort_keys=True) for t in trials(sqlite_url, "tiny")]
    assert len(params) == 6 and len(set(params)) == 6, params

    # Deterministic for a given seed and history: the same two runs on a fresh storage
    # draw the same six parameter sets.
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert invoke("study", "run", study, "--storage", other).exit_code == 0
    assert invoke("study", "run", study, "--storage", other, "--n-trials", "6").exit_code == 0
    assert [json.dumps(t.params, sort_keys=True) for t in trials(other, "tiny")] == params


@pytest.mark.integration
@pytest.mark.parametrize("extra, section", [
    ("", "[sampler]"),                                           # seed below the range
    ("n_warmup_steps = -1\n", "[pruner]"),
])
def test_a_sampler_or_pruner_value_optuna_refuses_writes_nothing(
        tmp_path: Path, extra: str, section: str) -> None:
    # Issue 13 item 4: the sampler and pruner are built before the study is created.
    study = write_study(tmp_path, pruner="median" if extra else "none", extra=extra)
    if not extra:
        study.write_text(study.read_text().replace("seed = 0\n\n[pruner]",
                                                   "seed = -1\n\n[pruner]"))
    db = tmp_path / "tuner.db"
    result = invoke("study", "run", study, "--storage", f"sqlite:///{db}")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {study}"), result.stderr
    assert section in lines[0] or "seed" in lines[0] or "n_warmup_steps" in lines[0]
    if db.exists():  # a validator may refuse it even earlier, before opening the storage
        assert optuna.get_all_study_names(f"sqlite:///{db}") == []

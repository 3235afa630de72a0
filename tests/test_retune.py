"""`tuner retune` on real SQLite files and a real PostgreSQL: versions, reasons, warm
starts, dry runs, races between processes, signals and bad input."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState
from sklearn.datasets import load_iris

import tuner.data
from conftest import invoke, run_tuner, tuner_cmd, write_study
from tuner.keys import ATTR
from tuner.keys import N_TRIALS as N_TRIALS_ATTR
from tuner.retune import retune_file
from tuner.spec import load_spec
from tuner.storage import open_storage
from tuner.versions import Decision, best_params, create_version, decide, fit_to_space

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A real SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tuner.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def change_data(monkeypatch: pytest.MonkeyPatch):
    """Call it to move one value of iris: the data changes under an unchanged study file,
    as a user's own data would. The hook is the dataset registry `tuner.data.DATASETS`
    itself: a loader registered under a name is what `load_splits` reads."""
    def change(delta: float = 0.5) -> None:
        def load(seed: int):
            X, y = load_iris(return_X_y=True)
            X = X.copy()
            X[0, 0] += delta
            return X, y
        monkeypatch.setitem(tuner.data.DATASETS, "iris", load)
    return change


def names(url: str) -> list[str]:
    return sorted(optuna.get_all_study_names(url))


def study(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=url)


def finished(s: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return s.get_trials(states=FINISHED)


def top3(s: optuna.Study) -> list[dict]:
    """The parent's 3 best distinct complete parameter sets, computed independently."""
    complete = sorted(s.get_trials(states=(TrialState.COMPLETE,)),
                      key=lambda t: (-t.value, t.number))  # maximize
    out: list[dict] = []
    for t in complete:
        if t.params not in out:
            out.append(t.params)
    return out[:3]


def dump(url: str) -> dict[str, list[str]]:
    """Every row of every table of the database: what "writes nothing" is checked on."""
    engine = sqlalchemy.create_engine(url)
    meta = sqlalchemy.MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        rows = {t.name: sorted(repr(tuple(r)) for r in conn.execute(t.select()))
                for t in meta.sorted_tables}
    engine.dispose()
    return rows


def run_json(*args) -> list[dict]:
    result = invoke("retune", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- the life of a chain --------------------------------------------------------------

@pytest.mark.integration
def test_data_change_makes_v2_warm_started_then_up_to_date(tmp_path: Path, url: str,
                                                           change_data) -> None:
    file = write_study(tmp_path, n_trials=6)
    first = invoke("retune", file, "--storage", url)
    assert first.exit_code == 0, first.output
    assert "no version yet" in first.stdout and "(first version)" in first.stdout
    assert names(url) == ["tiny"] and len(finished(study(url, "tiny"))) == 6

    change_data()
    result = invoke("retune", file, "--storage", url)
    assert result.exit_code == 0, result.output
    assert names(url) == ["tiny", "tiny/v2"]
    parent, v2 = study(url, "tiny"), study(url, "tiny/v2")
    attrs = v2.user_attrs
    # A pure data change: the file did not move, so only `data` is named.
    assert attrs[ATTR["reason"]].startswith("data ") and ";" not in attrs[ATTR["reason"]]
    old, new = parent.user_attrs[ATTR["data"]][:12], attrs[ATTR["data"]][:12]
    assert attrs[ATTR["reason"]] == f"data {old} -> {new}" and old != new
    assert attrs[ATTR["parent"]] == "tiny" and attrs[ATTR["version"]] == 2
    assert attrs[ATTR["definition"]] == parent.user_attrs[ATTR["definition"]]
    assert attrs[ATTR["hardware"]] == parent.user_attrs[ATTR["hardware"]]

    trials = v2.get_trials()
    assert len(finished(v2)) == 6 and len(trials) == 6, "warm starts count toward n_trials"
    expected = top3(parent)
    assert [t.params for t in trials[:len(expected)]] == expected
    assert all(t.user_attrs.get("tuner:warm_start") for t in trials[:len(expected)])
    assert not any(t.user_attrs.get("tuner:warm_start") for t in trials[len(expected):])
    # One verdict line comparing the parent's best with the new best.
    verdict = result.stdout.strip().splitlines()[-1]
    assert verdict.startswith("tiny/v2: best val_accuracy")
    assert f"parent tiny {parent.best_value:.4f}" in verdict

    again = invoke("retune", file, "--storage", url)
    assert again.exit_code == 0
    assert again.stdout.startswith("tiny: up to date (tiny/v2, 6 of 6 trials finished")
    assert names(url) == ["tiny", "tiny/v2"] and len(study(url, "tiny/v2").get_trials()) == 6

    # `tuner study run` resumes the current version rather than the stale one.
    run = invoke("study", "run", file, "--storage", url)
    assert run.exit_code == 0 and "tiny/v2: resuming" in run.output


@pytest.mark.integration
def test_study_run_says_stale_and_points_to_retune(tmp_path: Path, sqlite_url: str,
                                                  change_data) -> None:
    file = write_study(tmp_path, n_trials=3)
    assert invoke("retune", file, "--storage", sqlite_url).exit_code == 0
    change_data()
    stale = invoke("study", "run", file, "--storage", sqlite_url)
    assert stale.exit_code == 2
    assert "data changed since tiny was tuned" in stale.output
    assert f"run `tuner retune {file}`" in stale.output
    assert names(sqlite_url) == ["tiny"], "study run never re-tunes by itself"


@pytest.mark.integration
def test_synthetic_n_samples_changes_data_and_definition(tmp_path: Path,
                                                        sqlite_url: str) -> None:
    file = write_study(tmp_path, n_trials=3, dataset="synthetic")
    text = file.read_text()
    file.write_text(text.replace('dataset = "synthetic"',
                                 'dataset = "synthetic"\nn_samples = 300'))
    assert run_json(file, "--storage", sqlite_url)[0]["action"] == "create"
    file.write_text(text.replace('dataset = "synthetic"',
                                 'dataset = "synthetic"\nn_samples = 400'))
    [r] = run_json(file, "--storage", sqlite_url)
    assert r["action"] == "retune" and r["created"] and r["version"] == "tiny/v2"
    assert [c["part"] for c in r["changes"]] == ["data", "definition"]
    reason = study(sqlite_url, "tiny/v2").user_attrs[ATTR["reason"]]
    assert reason.startswith("data ") and "; definition " in reason


@pytest.mark.integration
def test_hardware_label_change_is_reason_hardware(tmp_path: Path, sqlite_url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    file = write_study(tmp_path, n_trials=3)
    run_json(file, "--storage", sqlite_url)
    monkeypatch.setenv("TUNER_HARDWARE_LABEL", "pool-b")
    [r] = run_json(file, "--storage", sqlite_url)
    assert [c["part"] for c in r["changes"]] == ["hardware"]
    assert study(sqlite_url, "tiny/v2").user_attrs[ATTR["reason"]].startswith("hardware ")
    comps = study(sqlite_url, "tiny/v2").user_attrs["tuner:fingerprints"]
    assert comps["hardware"]["label"] == "pool-b"
    assert run_json(file, "--storage", sqlite_url)[0]["action"] == "up to date"


@pytest.mark.integration
def test_search_space_change_is_reason_definition(tmp_path: Path, sqlite_url: str) -> None:
    file = write_study(tmp_path, n_trials=5)
    run_json(file, "--storage", sqlite_url)
    file.write_text(file.read_text().replace("low = 1e-3, high = 1.0",
                                             "low = 1e-3, high = 0.02"))
    [r] = run_json(file, "--storage", sqlite_url)
    assert [c["part"] for c in r["changes"]] == ["definition"]
    v2 = study(sqlite_url, "tiny/v2")
    assert v2.user_attrs[ATTR["reason"]].startswith("definition ")
    # The parent's best values outside the new range are dropped, never run.
    assert all(1e-3 <= t.params["alpha"] <= 0.02 for t in v2.get_trials())
    assert len(finished(v2)) == 5


@pytest.mark.integration
def test_comment_only_edit_is_up_to_date(tmp_path: Path, sqlite_url: str) -> None:
    file = write_study(tmp_path, n_trials=3)
    run_json(file, "--storage", sqlite_url)
    file.write_text("# tuned nightly\n" + file.read_text().replace(
        "n_trials = 3", "n_trials = 3   # the budget").replace("1e-3", "0.001"))
    result = invoke("retune", file, "--storage", sqlite_url)
    assert result.exit_code == 0 and "tiny: up to date (tiny," in result.stdout
    assert names(sqlite_url) == ["tiny"] and len(study(sqlite_url, "tiny").get_trials()) == 3


@pytest.mark.integration
def test_force_retunes_when_nothing_changed(tmp_path: Path, sqlite_url: str) -> None:
    file = write_study(tmp_path, n_trials=4)
    run_json(file, "--storage", sqlite_url)
    [r] = run_json(file, "--storage", sqlite_url, "--force")
    assert r["action"] == "retune" and r["reason"] == "forced" and r["created"]
    assert study(sqlite_url, "tiny/v2").user_attrs[ATTR["reason"]] == "forced"
    assert len(r["warm_start"]) == len(top3(study(sqlite_url, "tiny")))
    assert set(r["warm_start"][0]) == {"alpha", "beta"}, "course notation for people"
    assert r["finished"] == 4 and r["parent_best"] is not None and r["best"] is not None


@pytest.mark.integration
def test_dry_run_writes_nothing(tmp_path: Path, url: str,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    file = write_study(tmp_path, n_trials=3)
    fresh = invoke("retune", file, "--storage", url, "--dry-run")
    assert fresh.exit_code == 0
    assert "would create tiny and run 3 trials (dry run: nothing written)" in fresh.stdout
    if url.startswith("sqlite"):
        assert not (tmp_path / "tuner.db").exists(), "no database file made"
    else:
        assert dump(url) == {}, "no tables made"

    run_json(file, "--storage", url)
    monkeypatch.setenv("TUNER_HARDWARE_LABEL", "pool-b")
    before = dump(url)
    assert before["trials"] and before["study_user_attributes"]
    for flags in (["--dry-run"], ["--dry-run", "--force"]):
        result = invoke("retune", file, "--storage", url, *flags)
        assert result.exit_code == 0, result.output
        assert "hardware changed" in result.stdout
        assert "would create tiny/v2 from tiny and run 3 trials" in result.stdout
        assert dump(url) == before
    monkeypatch.delenv("TUNER_HARDWARE_LABEL")
    up = invoke("retune", file, "--storage", url, "--dry-run")
    assert "tiny: up to date" in up.stdout and dump(url) == before


# --- races, signals ---------------------------------------------------------------------

@pytest.mark.integration
@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_two_concurrent_retunes_create_one_version(tmp_path: Path, kind: str,
                                                   request: pytest.FixtureRequest) -> None:
    url = (request.getfixturevalue("pg_url") if kind == "postgresql"
           else f"sqlite:///{tmp_path / 'tuner.db'}")
    file = write_study(tmp_path, n_trials=6)
    retune_file(file, url)
    env = {"TUNER_HARDWARE_LABEL": "pool-b"}
    procs = [subprocess.Popen(tuner_cmd("retune", file, "--storage", url, "--json"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, **env}) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
    results = [json.loads(out)[0] for out, _ in outputs]
    assert names(url) == ["tiny", "tiny/v2"], "one NAME/v2, however the race went"
    v2 = study(url, "tiny/v2")
    assert len(finished(v2)) == 6 and len(v2.get_trials()) == 6
    assert v2.user_attrs[ATTR["reason"]].startswith("hardware ")
    assert sum(r["created"] for r in results) == 1
    loser = next(r for r in results if not r["created"])
    # It joined the version as a worker, or found it already done.
    assert loser["version"] == "tiny/v2"
    assert loser["action"] in ("retune", "resume", "up to date"), loser
    assert sum(r["ran"] for r in results) == 6


@pytest.mark.unit
def test_losing_the_creation_race_loads_the_winners_version(tmp_path: Path,
                                                           sqlite_url: str) -> None:
    from tuner.data import spec_splits
    from tuner.fingerprint import study_fingerprints

    spec = load_spec(write_study(tmp_path, n_trials=4))
    fps = study_fingerprints(spec, spec_splits(spec))
    storage = open_storage(sqlite_url)
    decision = decide(storage, spec.name, fps)
    warm = [{"alpha": 0.1, "one_minus_beta": 0.01}, {"alpha": 0.2, "one_minus_beta": 0.02}]
    won, created = create_version(storage, spec, fps, decision, n_trials=4, warm_start=warm)
    lost, created_again = create_version(storage, spec, fps, decision, n_trials=4,
                                         warm_start=warm)
    assert (created, created_again) == (True, False)
    assert lost.study_name == won.study_name == "tiny"
    queued = [t.system_attrs["fixed_params"] for t in lost.get_trials()]
    assert queued == warm, "the loser queues nothing"
    assert lost.user_attrs[N_TRIALS_ATTR] == 4


@pytest.mark.integration
def test_sigterm_during_retune_exits_0_and_the_next_retune_resumes(tmp_path: Path,
                                                                   sqlite_url: str) -> None:
    file = write_study(tmp_path, n_trials=40, epochs=60, dataset="digits")
    proc = subprocess.Popen(tuner_cmd("retune", file, "--storage", sqlite_url),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    assert "created tiny" in first, first
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.splitlines()[-1].startswith("stopped: tiny:"), out
    assert f"run `tuner retune {file}` again" in out
    s = study(sqlite_url, "tiny")
    assert len(finished(s)) < 40
    assert not s.get_trials(states=(TrialState.RUNNING,)), "the trial was handed back"

    # Not "up to date": the version still has queued trials, so the next retune finishes it.
    again = run_tuner("retune", file, "--storage", sqlite_url, "-q")
    assert again.returncode == 0, again.stderr
    assert "is current; resuming it" in again.stdout
    assert names(sqlite_url) == ["tiny"] and len(finished(study(sqlite_url, "tiny"))) == 40


# --- warm starts --------------------------------------------------------------------------

@pytest.mark.unit
def test_best_params_are_distinct_and_follow_the_direction(sqlite_url: str) -> None:
    for direction, best in (("maximize", [0.9, 0.5, 0.2]), ("minimize", [0.05, 0.2, 0.5])):
        s = optuna.create_study(storage=sqlite_url, study_name=direction, direction=direction)
        dist = optuna.distributions.FloatDistribution(0.0, 1.0)
        for value in (0.2, 0.9, 0.5, 0.05, 0.9):
            s.add_trial(optuna.trial.create_trial(params={"x": value}, distributions={"x": dist},
                                                  value=value))
        s.add_trial(optuna.trial.create_trial(params={"x": 0.99}, distributions={"x": dist},
                                              state=TrialState.PRUNED))
        assert [p["x"] for p in best_params(s)] == best


@pytest.mark.unit
def test_fit_to_space_drops_what_the_new_space_rules_out(tmp_path: Path) -> None:
    spec = load_spec(write_study(tmp_path))  # alpha in [1e-3, 1], one_minus_beta [1e-3, 0.1]
    fitted = fit_to_space([{"alpha": 0.1, "one_minus_beta": 0.01},
                           {"alpha": 5.0, "one_minus_beta": 0.02},     # alpha out of range
                           {"alpha": 0.1, "one_minus_beta": 0.01, "units": 8},  # gone: units
                           {"gone": 1}], spec)
    assert fitted == [{"alpha": 0.1, "one_minus_beta": 0.01}, {"one_minus_beta": 0.02}]


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.unit
def test_unknown_study_file(tmp_path: Path, sqlite_url: str) -> None:
    result = invoke("retune", tmp_path / "nope.toml", "--storage", sqlite_url)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nope.toml'}: no such study file"


@pytest.mark.integration
def test_study_not_made_by_tuner_is_refused(tmp_path: Path, url: str) -> None:
    file = write_study(tmp_path, n_trials=3)
    plain = optuna.create_study(storage=url, study_name="tiny")
    plain.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    before = dump(url)
    result = invoke("retune", file, "--storage", url)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "'tiny'" in result.stderr and "not created by tuner" in result.stderr
    assert "refusing to touch it" in result.stderr
    assert dump(url) == before


@pytest.mark.integration
def test_corrupted_fingerprint_attribute_is_a_change(tmp_path: Path, sqlite_url: str) -> None:
    file = write_study(tmp_path, n_trials=3)
    run_json(file, "--storage", sqlite_url)
    study(sqlite_url, "tiny").set_user_attr(ATTR["data"], "not a hash!")
    result = invoke("retune", file, "--storage", sqlite_url)
    assert result.exit_code == 0, result.output
    assert ("tuner:data_fingerprint of tiny is corrupted ('not a hash!'): treating the data "
            "as changed") in result.stdout
    reason = study(sqlite_url, "tiny/v2").user_attrs[ATTR["reason"]]
    assert reason.startswith("data corrupted -> ") and ";" not in reason
    assert invoke("retune", file, "--storage", sqlite_url).stdout.startswith(
        "tiny: up to date (tiny/v2")


@pytest.mark.integration
def test_several_files_go_on_past_a_bad_one(tmp_path: Path, sqlite_url: str) -> None:
    good = write_study(tmp_path, name="good", n_trials=2)
    result = invoke("retune", tmp_path / "missing.toml", good, "--storage", sqlite_url,
                    "--json")
    assert result.exit_code == 2
    rows = json.loads(result.stdout)
    assert rows[0] == {"file": str(tmp_path / "missing.toml"),
                       "error": f"{tmp_path / 'missing.toml'}: no such study file"}
    assert rows[1]["action"] == "create" and rows[1]["finished"] == 2
    assert "error:" in result.stderr and names(sqlite_url) == ["good"]


@pytest.mark.unit
def test_decide_on_an_empty_storage_and_help(sqlite_url: str) -> None:
    storage = open_storage(sqlite_url)
    fps = {"data": {"hash": "a" * 64}, "hardware": {"hash": "b" * 64}, "spec_hash": "c" * 64}
    assert decide(storage, "x", fps) == Decision("create", None, "x")
    help_text = invoke("retune", "--help").output
    assert "--dry-run" in help_text and "TUNER_HARDWARE_LABEL" in help_text


@pytest.mark.unit
def test_one_file_error_is_the_batchs_error_unless_every_file_is_asked_for(
        tmp_path: Path) -> None:
    from tuner.errors import TunerError
    from tuner.retune import retune_files

    gone = tmp_path / "nope.toml"
    seen: list[str] = []
    with pytest.raises(TunerError, match="no such study file"):
        retune_files([gone], on_error=lambda _e, line: seen.append(line))
    assert seen == []
    batch = retune_files([gone], on_error=lambda _e, line: seen.append(line), every_file=True)
    assert seen == [f"{gone}: no such study file"]
    assert batch.results == [{"file": str(gone), "error": seen[0]}] and batch.exit_code == 2


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_four_concurrent_forced_retunes_make_one_version(tmp_path: Path, kind: str,
                                                         request: pytest.FixtureRequest
                                                         ) -> None:
    """`--force` makes a new version only once the newest is finished: forced retunes
    started together make one version (the others join it), a later one makes another."""
    url = (request.getfixturevalue("pg_url") if kind == "postgresql"
           else f"sqlite:///{tmp_path / 'tuner.db'}")
    file = write_study(tmp_path, n_trials=12)
    retune_file(file, url)
    procs = [subprocess.Popen(tuner_cmd("retune", file, "--storage", url, "--force", "--json"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outputs]
    results = [json.loads(out)[0] for out, _ in outputs]
    # "Together" is the scheduler's call: on a loaded machine a process can start after v2
    # has finished, and then it rightly makes v3. What must never happen is a version made
    # while its parent still ran: each new version starts after the previous one ended.
    versions = names(url)
    new = versions[1:]
    assert versions[:2] == ["tiny", "tiny/v2"] and new == [f"tiny/v{k}" for k in
                                                            range(2, len(versions) + 1)]
    for earlier, later in itertools.pairwise(new):
        ended = max(t.datetime_complete for t in study(url, earlier).get_trials())
        began = min(t.datetime_start for t in study(url, later).get_trials())
        assert began >= ended, f"{later} began before {earlier} ended"
    for name in new:
        v = study(url, name)
        assert len(finished(v)) == 12 and len(v.get_trials()) == 12
        assert v.user_attrs[ATTR["reason"]] == "forced"
    assert sum(r["created"] for r in results) == len(new)
    assert {r["version"] for r in results} == set(new)
    assert sum(r["ran"] for r in results) == 12 * len(new)
    joined = [(err, r["version"]) for (_, err), r in zip(outputs, results, strict=True)
              if r["action"] == "resume"]
    assert all(f"--force: {v} is not finished yet" in err and
               "joining it as a worker" in err for err, v in joined), joined

    [again] = run_json(file, "--storage", url, "--force")
    following = f"tiny/v{len(versions) + 1}"
    assert again["created"] and again["version"] == following
    assert names(url) == [*versions, following]
    assert len(finished(study(url, following))) == 12


@pytest.mark.integration
def test_force_on_an_unfinished_version_joins_it(tmp_path: Path, sqlite_url: str) -> None:
    """A newest version with trials still to run (stopped half-way) is joined, not
    followed by another one."""
    file = write_study(tmp_path, n_trials=4)
    run_json(file, "--storage", sqlite_url)
    s = study(sqlite_url, "tiny")
    s.set_user_attr(N_TRIALS_ATTR, 6)  # two trials still owed
    result = invoke("retune", file, "--storage", sqlite_url, "--force")
    assert result.exit_code == 0, result.output
    assert ("tiny: --force: tiny is not finished yet (4 of 6 trials finished); joining it "
            "as a worker instead of creating another version") in result.output
    assert names(sqlite_url) == ["tiny"] and len(finished(study(sqlite_url, "tiny"))) == 6
    [r] = run_json(file, "--storage", sqlite_url, "--force")
    assert r["created"] and r["version"] == "tiny/v2"


@pytest.mark.integration
@pytest.mark.parametrize("special", ["fifo", "symlink to /dev/zero"])
def test_a_study_file_that_is_no_regular_file_is_refused(tmp_path: Path, sqlite_url: str,
                                                         special: str) -> None:
    """A FIFO blocks `open()` until a writer comes and /dev/zero never ends: both are
    refused before reading, in one line. The subprocess timeout only guards the run."""
    file = tmp_path / "study.toml"
    if special == "fifo":
        os.mkfifo(file)
    else:
        file.symlink_to("/dev/zero")
    for command in (["retune", file, "--storage", sqlite_url],
                    ["study", "run", file, "--storage", sqlite_url]):
        result = run_tuner(*command, timeout=120)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == (f"error: {file}: not a regular file (a FIFO, device "
                                         "or socket); give a file"), result.stderr
    assert not (tmp_path / "tuner.db").exists(), "nothing written"

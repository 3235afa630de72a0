"""The champion (`tuner.champion`): promote, roll back, refuse a model that is not the
version's, and survive SIGKILL at every step of a promotion; on real SQLite files and
the real PostgreSQL, with real subprocesses for the kills and the concurrent promotes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import optuna
import pytest

from conftest import run_tuner, tuner_cmd, wait_until, write_study
from tuner import history, keys
from tuner.api import run_study
from tuner.champion import (
    HOLD_ENV,
    Champion,
    PromoteError,
    current_champion,
    kept_path,
    promote,
)
from tuner.predict import predict_csv
from tuner.retune import retune_file
from tuner.spec import load_spec
from tuner.storage import open_storage
from tuner.train import TrainError, train_best

DEPLOY = '\n[deploy]\npath = "models/tiny.npz"\n'


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tuned(folder: Path, url: str, *, deploy: str = DEPLOY, n_trials: int = 4) -> Path:
    """A tiny iris study with a [deploy] path, its first version tuned."""
    file = write_study(folder, n_trials=n_trials, extra=deploy)
    run_study(file, url, emit=lambda _line: None)
    return file


def second_version(file: Path, url: str) -> None:
    """v2: the definition changes (one more epoch), `retune` tunes it."""
    file.write_text(file.read_text().replace("epochs = 3", "epochs = 4"))
    result = retune_file(file, url, emit=lambda _line: None)
    assert result.as_dict()["version"].endswith("/v2"), result.as_dict()


def rows_csv(folder: Path) -> Path:
    path = folder / "rows.csv"
    path.write_text("5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n5.9,3.0,4.2,1.5\n")
    return path


# --- promoting ------------------------------------------------------------------------------

@pytest.mark.unit
def test_no_champion_before_a_promotion(tmp_path: Path, sqlite_url: str) -> None:
    file = tuned(tmp_path, sqlite_url)
    assert current_champion(file, sqlite_url) is None
    # No storage at all yet is no champion either, not an empty database created.
    missing = f"sqlite:///{tmp_path / 'nothing.db'}"
    assert current_champion(file, missing) is None
    assert not (tmp_path / "nothing.db").exists()


@pytest.mark.unit
def test_promote_writes_the_best_trial_to_the_deploy_path(tmp_path: Path,
                                                          sqlite_url: str) -> None:
    file = tuned(tmp_path, sqlite_url)
    champion = promote(file, storage=sqlite_url)

    st = open_storage(sqlite_url, heartbeat=False)
    best = optuna.load_study(storage=st, study_name="tiny").best_trial
    stable = tmp_path / "models" / "tiny.npz"
    assert champion.model_path == stable and champion.trial == best.number
    assert (champion.family, champion.study, champion.version) == ("tiny", "tiny", 1)
    card = json.loads(stable.with_suffix(".json").read_text())
    assert card["model_sha256"] == sha(stable) == champion.model_sha256
    assert card["model_file"] == f"tiny.v1.t{best.number}.npz"  # the kept name it came as
    assert champion.score == card["test_score"] and champion.test_rows == 30
    assert (champion.metric, champion.direction) == ("val_accuracy", "maximize")
    assert champion.data_fingerprint == st.get_study_user_attrs(
        st.get_study_id_from_name("tiny"))[keys.DATA_FINGERPRINT]
    # The same model is kept under its version and trial, for a roll-back.
    assert sha(kept_path(stable, 1, best.number)) == sha(stable)
    assert current_champion(file, sqlite_url) == champion
    # It predicts: what an application reads is a whole model.
    assert len(predict_csv(stable, rows_csv(tmp_path))) == 3
    # One history row, the promotion, carrying the champion's record.
    rows = history.read(st, "tiny")
    assert [r["decision"] for r in rows] == ["promoted"]
    assert Champion.from_dict(rows[0]["promoted"]) == champion


@pytest.mark.unit
def test_promoting_the_champion_again_changes_nothing(tmp_path: Path, sqlite_url: str) -> None:
    file = tuned(tmp_path, sqlite_url)
    first = promote(file, storage=sqlite_url)
    stamp = first.model_path.stat().st_mtime_ns
    assert promote(file, storage=sqlite_url) == first
    assert first.model_path.stat().st_mtime_ns == stamp
    st = open_storage(sqlite_url, heartbeat=False)
    assert len(history.read(st, "tiny")) == 1


@pytest.mark.unit
def test_another_trial_then_the_best_again_reuses_the_kept_model(tmp_path: Path,
                                                                 sqlite_url: str) -> None:
    file = tuned(tmp_path, sqlite_url)
    best = promote(file, storage=sqlite_url)
    other = next(t for t in range(4) if t != best.trial)
    second = promote(file, storage=sqlite_url, trial=other)
    assert second.trial == other and sha(second.model_path) != best.model_sha256
    kept = kept_path(best.model_path, 1, best.trial)
    stamp = kept.stat().st_mtime_ns
    back = promote(file, storage=sqlite_url)
    assert back.trial == best.trial and sha(back.model_path) == best.model_sha256
    assert kept.stat().st_mtime_ns == stamp  # not retrained
    st = open_storage(sqlite_url, heartbeat=False)
    assert [r["promoted"]["trial"] for r in history.read(st, "tiny")] == \
        [best.trial, other, best.trial]


@pytest.mark.unit
def test_a_callers_decision_fields_go_into_the_row_but_cannot_forge_a_champion(
        tmp_path: Path, sqlite_url: str) -> None:
    file = tuned(tmp_path, sqlite_url)
    champion = promote(file, storage=sqlite_url, reason="challenger won",
                       decision={"decision": "challenger promoted", "challenger_score": 0.9,
                                 "drift": {"petal": 0.3}, "promoted": "forged"})
    st = open_storage(sqlite_url, heartbeat=False)
    (row,) = history.read(st, "tiny")
    assert (row["decision"], row["challenger_score"], row["drift"]) == \
        ("challenger promoted", 0.9, {"petal": 0.3})
    assert Champion.from_dict(row["promoted"]) == champion
    # A later decision row that mentions a champion does not make one.
    history.record(st, "tiny", {"decision": "holds", "champion": {"study": "x", "trial": 9},
                                "champion_score": 0.5})
    assert current_champion(file, sqlite_url) == champion


@pytest.mark.unit
def test_an_earlier_version_rolls_back(tmp_path: Path, sqlite_url: str) -> None:
    file = tuned(tmp_path, sqlite_url)
    v1 = promote(file, storage=sqlite_url)
    second_version(file, sqlite_url)
    v2 = promote(file, storage=sqlite_url)
    assert (v2.study, v2.version) == ("tiny/v2", 2) and v2.spec_hash != v1.spec_hash
    back = promote(file, storage=sqlite_url, version=1)
    assert (back.study, back.trial) == ("tiny", v1.trial)
    assert sha(back.model_path) == v1.model_sha256
    st = open_storage(sqlite_url, heartbeat=False)
    rows = history.read(st, "tiny")
    assert [r["decision"] for r in rows] == ["promoted", "promoted", "rolled back"]
    assert rows[-1]["previous"]["study"] == "tiny/v2"


@pytest.mark.unit
def test_a_roll_back_by_version_takes_the_trial_that_was_champion(tmp_path: Path,
                                                                  sqlite_url: str) -> None:
    file = tuned(tmp_path, sqlite_url)
    st = open_storage(sqlite_url, heartbeat=False)
    best = optuna.load_study(storage=st, study_name="tiny").best_trial.number
    other = next(t for t in range(4) if t != best)
    v1 = promote(file, storage=sqlite_url, trial=other)
    second_version(file, sqlite_url)
    promote(file, storage=sqlite_url)
    back = promote(file, storage=sqlite_url, version=1)
    assert (back.study, back.trial, back.model_sha256) == ("tiny", other, v1.model_sha256)
    # Its kept model gone, the version's best is trained -- if its data still matches;
    # here the definition moved on (v2), so training v1 again is refused, saying why.
    kept_path(back.model_path, 1, other).unlink()
    promote(file, storage=sqlite_url, version=2)
    with pytest.raises(TrainError, match=r"definition changed since tiny was tuned"):
        promote(file, storage=sqlite_url, version=1)


@pytest.mark.unit
def test_a_model_of_another_definition_is_refused(tmp_path: Path, sqlite_url: str) -> None:
    file = tuned(tmp_path, sqlite_url)
    st = open_storage(sqlite_url, heartbeat=False)
    old = train_best(st, load_spec(file), output=tmp_path / "v1.npz", upload=False)
    second_version(file, sqlite_url)
    before = current_champion(file, sqlite_url)
    with pytest.raises(PromoteError, match=r"trained on other definition than tiny/v2"):
        promote(file, storage=sqlite_url, version=2, model=old.model_path)
    # Claimed as v2's trial but it is v1's model: refused, and nothing was written.
    assert current_champion(file, sqlite_url) == before is None
    assert not (tmp_path / "models" / "tiny.npz").exists()
    # As what it is (v1's), it is promoted.
    assert promote(file, storage=sqlite_url, version=1, model=old.model_path).study == "tiny"


@pytest.mark.unit
def test_a_model_of_other_data_or_a_tampered_file_is_refused(tmp_path: Path,
                                                              sqlite_url: str) -> None:
    file = tuned(tmp_path, sqlite_url)
    st = open_storage(sqlite_url, heartbeat=False)
    trained = train_best(st, load_spec(file), output=tmp_path / "m.npz", upload=False)
    card = json.loads(trained.card_path.read_text())
    card["fingerprints"]["data"] = "0" * 64
    trained.card_path.write_text(json.dumps(card))
    with pytest.raises(PromoteError, match=r"trained on other data than tiny was tuned on"):
        promote(file, storage=sqlite_url, model=trained.model_path)
    trained = train_best(st, load_spec(file), output=tmp_path / "m.npz", upload=False)
    with trained.model_path.open("ab") as f:
        f.write(b"\0")
    with pytest.raises(PromoteError, match=r"sha256 differs"):
        promote(file, storage=sqlite_url, model=trained.model_path)
    with pytest.raises(PromoteError, match=r"not trial 99"):
        promote(file, storage=sqlite_url, model=tmp_path / "m.npz", trial=99)
    assert current_champion(file, sqlite_url) is None


@pytest.mark.unit
def test_nothing_to_promote_and_no_such_version(tmp_path: Path, sqlite_url: str) -> None:
    file = write_study(tmp_path, extra=DEPLOY)
    open_storage(sqlite_url, heartbeat=False)
    with pytest.raises(PromoteError, match=r"nothing to promote yet"):
        promote(file, storage=sqlite_url)
    run_study(file, sqlite_url, emit=lambda _line: None)
    with pytest.raises(PromoteError, match=r"has no version v3; it has v1"):
        promote(file, storage=sqlite_url, version=3)


@pytest.mark.unit
def test_a_pending_promotion_whose_file_never_moved_is_dropped(tmp_path: Path,
                                                               sqlite_url: str) -> None:
    """The state a kill between steps 2 and 3 leaves: the next promote drops it."""
    file = tuned(tmp_path, sqlite_url)
    first = promote(file, storage=sqlite_url)
    st = open_storage(sqlite_url, heartbeat=False)
    fake = {**first.as_dict(), "trial": 99, "model_sha256": "f" * 64, "promoted_at": "x"}
    st.set_study_user_attr(st.get_study_id_from_name("tiny"), keys.CHAMPION_PENDING,
                           {"champion": fake, "row": {"decision": "promoted"}})
    assert current_champion(file, sqlite_url) == first
    other = next(t for t in range(4) if t != first.trial)
    promote(file, storage=sqlite_url, trial=other)
    rows = history.read(st, "tiny")
    assert [r["promoted"]["trial"] for r in rows] == [first.trial, other]


# --- SIGKILL at every step, and two promotes at once (real processes) ----------------------

def _hold(file: Path, url: str, step: str, *args: str) -> subprocess.Popen:
    """`tuner promote` stopped at ``step`` (the test hook), ready to be killed."""
    proc = subprocess.Popen(tuner_cmd("promote", file, "--storage", url, *args),
                            env={**os.environ, HOLD_ENV: step}, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    line = proc.stderr.readline()
    assert line.strip() == f"holding at {step}", line + proc.stderr.read()
    return proc


@pytest.mark.integration
@pytest.mark.parametrize(("server", "step"), [
    *(("sqlite_url", step) for step in ("trained", "pending", "npz", "card", "recorded")),
    ("pg_url", "pending"), ("pg_url", "npz")])
def test_sigkill_at_every_step_leaves_a_whole_champion(tmp_path: Path, server: str, step: str,
                                                      request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(server)
    file = tuned(tmp_path, url)
    first = promote(file, storage=url)
    other = next(t for t in range(4) if t != first.trial)
    proc = _hold(file, url, step, "--trial", str(other))
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    # The stable file is a whole model, and the champion named is the one it holds.
    stable = first.model_path
    now = current_champion(file, url)
    assert now is not None and sha(stable) == now.model_sha256
    moved = step in ("npz", "card", "recorded")  # killed after the stable file was replaced
    assert now.trial == (other if moved else first.trial)
    assert len(predict_csv(stable, rows_csv(tmp_path))) == 3
    # `tuner champion` in a new process agrees, and reads it.
    shown = run_tuner("champion", file, "--storage", url, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["trial"] == now.trial

    # The next promote finishes the cut-short one (or drops it) before its own (which,
    # when the first is still the champion, has nothing to do).
    promote(file, storage=url, trial=first.trial)
    st = open_storage(url, heartbeat=False)
    rows = history.read(st, "tiny")
    trials = [r["promoted"]["trial"] for r in rows]
    assert trials == ([first.trial, other, first.trial] if moved else [first.trial]), trials
    assert [bool(r.get("recovered")) for r in rows][1:2] == ([step != "recorded"] if moved else [])
    card = json.loads(stable.with_suffix(".json").read_text())
    assert card["model_sha256"] == sha(stable) == first.model_sha256
    attrs = st.get_study_user_attrs(st.get_study_id_from_name("tiny"))
    assert attrs[keys.CHAMPION_PENDING] is None


@pytest.mark.integration
def test_two_promotes_at_once_take_turns(tmp_path: Path, sqlite_url: str) -> None:
    """The second waits for the chain's lock while the first holds it; killing the first
    lets it through, and the stable file ends as the champion recorded last."""
    file = tuned(tmp_path, sqlite_url)
    first = promote(file, storage=sqlite_url)
    a, b = [t for t in range(4) if t != first.trial][:2]
    holder = _hold(file, sqlite_url, "pending", "--trial", str(a))
    waiter = subprocess.Popen(tuner_cmd("promote", file, "--storage", sqlite_url,
                                        "--trial", str(b), "--json"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The waiter trains first (outside the lock, into a file of its own), then waits: it
    # cannot finish while the holder holds the lock.
    kept_b = kept_path(first.model_path, 1, b)
    staging = kept_b.with_name(f".{kept_b.stem}.{waiter.pid}.json")
    wait_until(staging.exists, what="the waiter trained its model", procs=[waiter])
    time.sleep(1)  # ample time to finish, were it not waiting for the lock
    assert waiter.poll() is None
    assert current_champion(file, sqlite_url).trial == first.trial
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    out, err = waiter.communicate(timeout=300)
    assert waiter.returncode == 0, err
    assert json.loads(out)["trial"] == b
    now = current_champion(file, sqlite_url)
    assert now.trial == b and sha(now.model_path) == now.model_sha256
    assert not staging.exists() and kept_b.exists()  # kept under its name, staging gone


@pytest.mark.integration
@pytest.mark.parametrize("server", ["pg_url", "mysql_url"])
def test_promote_and_history_on_server_databases(tmp_path: Path, request: pytest.FixtureRequest,
                                                 server: str) -> None:
    url = request.getfixturevalue(server)
    file = tuned(tmp_path, url)
    assert current_champion(file, url) is None
    champion = promote(file, storage=url, reason="first")
    assert current_champion(file, url) == champion
    other = next(t for t in range(4) if t != champion.trial)
    assert promote(file, storage=url, trial=other).trial == other
    assert current_champion(file, url).trial == other
    st = open_storage(url, heartbeat=False)
    rows = history.read(st, "tiny")
    assert [(r["decision"], r["reason"]) for r in rows] == [("promoted", "first"),
                                                            ("promoted", "promoted by hand")]
    np.testing.assert_equal(len(predict_csv(champion.model_path, rows_csv(tmp_path))), 3)


@pytest.mark.integration
def test_two_processes_promoting_one_untrained_trial_agree(tmp_path: Path,
                                                           sqlite_url: str) -> None:
    """Both train it (each into a file of its own) and take turns at the lock: the first
    promotes it, the second finds it already the champion; the recorded sha256 is the
    stable file's and the kept file's."""
    file = tuned(tmp_path, sqlite_url)
    procs = [subprocess.Popen(tuner_cmd("promote", file, "--storage", sqlite_url, "--json"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    changed = sorted(json.loads(out)["changed"] for out, _ in outs)
    assert changed == [False, True]
    now = current_champion(file, sqlite_url)
    assert sha(now.model_path) == sha(now.kept_path) == now.model_sha256
    st = open_storage(sqlite_url, heartbeat=False)
    assert len(history.read(st, "tiny")) == 1
    assert not list((tmp_path / "models").glob(".*"))  # no staging file left behind

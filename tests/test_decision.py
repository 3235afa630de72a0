"""Decide, then re-tune (`tuner.decision`, through `tuner.retune`): the policy table; on a
file study with a key, rows from the same distribution leave the champion in place (no
version, the champion file unchanged), shifted rows make a challenger that is scored on
the same test rows as the champion; two ticks at once decide once; a tick killed while it
promotes leaves the champion whole and the next tick decides. Real SQLite files, real
subprocesses and signals."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import run_tuner, tuner_cmd, wait_until
from tuner import history
from tuner.champion import HOLD_ENV, current_champion
from tuner.compare import current_rows
from tuner.decision import should_retune
from tuner.predict import predict_csv
from tuner.retune import retune_file
from tuner.spec import RetuneSpec, load_spec
from tuner.storage import open_storage
from tuner.versions import chain

POLICIES = ("changed", "degraded", "drifted", "degraded-or-drifted")


# --- the policy table -----------------------------------------------------------------------

@pytest.mark.unit
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize(("degraded", "drifted"), [
    (False, False), (True, False), (False, True), (True, True), (False, None), (True, None)])
def test_the_policy_table(policy: str, degraded: bool, drifted: bool | None) -> None:
    moved = drifted is not False  # drift that could not be measured counts as drift
    expected = {"changed": True, "degraded": degraded, "drifted": moved,
                "degraded-or-drifted": degraded or moved}[policy]
    assert should_retune(RetuneSpec(when=policy), degraded=degraded,
                         drifted=drifted) is expected


# --- the loop on a file study ---------------------------------------------------------------

STUDY = """
[study]
name = "loop"
n_trials = 3
storage = "{url}"

[data]
path = "rows.csv"
target = "label"
key = "id"
drop = ["id"]

[model]
hidden = [8]
epochs = 4
batch_size = 32

[search]
alpha = {{ prior = "log-uniform", low = 0.05, high = 1.0 }}
beta = {{ prior = "complement-log-uniform", low = 0.8, high = 0.99 }}

[deploy]
path = "models/loop.npz"

[retune]
{retune}
"""


def rows(start: int, n: int, *, shifted: bool = False, seed: int = 0) -> pd.DataFrame:
    """Rows of a two-feature problem with a categorical column; ``shifted``: the features
    move and the rule that labels them flips."""
    rng = np.random.default_rng(seed + start)
    x1 = rng.normal(size=n) + (3.0 if shifted else 0.0)
    x2 = rng.normal(size=n)
    plan = rng.choice(["basic", "pro"], size=n, p=[0.3, 0.7] if shifted else [0.7, 0.3])
    score = x1 - 3.0 * shifted + x2 + (plan == "pro") * 0.5
    label = np.where((score > 0) != shifted, "yes", "no")
    noise = rng.random(n) < 0.05
    label = np.where(noise, np.where(label == "yes", "no", "yes"), label)
    return pd.DataFrame({"id": [f"r{i}" for i in range(start, start + n)], "x1": x1.round(4),
                         "x2": x2.round(4), "plan": plan, "label": label})


def study(folder: Path, url: str, retune: str = "") -> Path:
    rows(0, 600).to_csv(folder / "rows.csv", index=False)
    file = folder / "loop.toml"
    file.write_text(STUDY.format(url=url, retune=retune))
    return file


def append(folder: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(folder / "rows.csv", mode="a", header=False, index=False)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tick(file: Path, url: str, lines: list[str] | None = None) -> dict:
    return retune_file(file, url, emit=(lines.append if lines is not None else None)).as_dict()


def decisions(url: str) -> list[str]:
    st = open_storage(url, heartbeat=False)
    return [r["decision"] for r in history.read(st, "loop")]


@pytest.mark.unit
def test_same_rows_hold_shifted_rows_challenge_on_the_same_test_rows(tmp_path: Path,
                                                                    sqlite_url: str) -> None:
    file = study(tmp_path, sqlite_url)
    first = tick(file, sqlite_url)
    assert first["action"] == "create" and first["promotion"] == "promoted"
    stable = tmp_path / "models" / "loop.npz"
    before = sha(stable)
    champion = current_champion(file, sqlite_url)
    assert champion is not None and champion.study == "loop"

    # Rows from the same distribution: the champion holds; no version, no trial.
    append(tmp_path, rows(600, 300))
    lines: list[str] = []
    held = tick(file, sqlite_url, lines)
    assert held["action"] == "holds", held["message"]
    assert lines[-1].startswith("loop: data changed (+300 rows); champion loop trial ")
    assert " holds: accuracy " in lines[-1] and "largest drift" in lines[-1]
    assessment = held["assessment"]
    assert not assessment["degraded"] and assessment["drifted"] is False
    assert max(held["drift"].values()) < 0.2
    assert [v.name for v in chain(sqlite_url, "loop")] == ["loop"]
    assert sha(stable) == before
    # The next tick on the same data: decided already.
    again = tick(file, sqlite_url)
    assert again["action"] == "up to date" and "holds on this data" in again["message"]
    assert decisions(sqlite_url) == ["promoted", "holds"]

    # `tuner split`'s test rows are exactly the rows the champion was re-scored on:
    # predicting them reproduces the score.
    out = tmp_path / "splits"
    assert run_tuner("split", str(file), "-o", str(out)).returncode == 0
    test = pd.read_csv(out / "test.csv")
    assert len(test) == assessment["test_rows"]
    accuracy = float(np.mean(predict_csv(stable, out / "test.csv") == test["label"].to_numpy()))
    assert accuracy == pytest.approx(assessment["score_now"])

    # Shifted rows: drift and a worse champion; a new version, and its challenger scored
    # on the same rows as the champion (those of the first split are still in it).
    append(tmp_path, rows(900, 900, shifted=True))
    shifted = tick(file, sqlite_url)
    assert shifted["assessment"]["retune"] and shifted["assessment"]["drifted"]
    assert shifted["version"] == "loop/v2" and shifted["promotion"] in ("promoted", "refused")
    comparison = shifted["challenger"]["comparison"]
    now_test = current_rows(load_spec(file)).frames["test"]
    assert comparison["rows"] == len(now_test) > len(test)
    assert set(test["id"]) <= set(now_test["id"])
    assert comparison["low"] <= comparison["gain"] <= comparison["high"]
    assert decisions(sqlite_url)[-2:] == ["re-tune", shifted["promotion"]]
    now = current_champion(file, sqlite_url)
    if shifted["promotion"] == "promoted":
        assert now.study == "loop/v2" and sha(stable) != before
    else:
        assert now.study == "loop" and sha(stable) == before
        assert (tmp_path / "models" / f"loop.v2.t{shifted['challenger']['trial']}.npz").exists()
    # Decided once: the next tick has nothing to do.
    assert tick(file, sqlite_url)["action"] == "up to date"
    assert len(decisions(sqlite_url)) == 4


@pytest.mark.unit
def test_test_rows_of_the_first_split_stay_in_the_test_split(tmp_path: Path,
                                                              sqlite_url: str) -> None:
    file = study(tmp_path, sqlite_url)
    before = set(current_rows(load_spec(file)).frames["test"]["id"])
    append(tmp_path, rows(600, 900, shifted=True))
    after = set(current_rows(load_spec(file)).frames["test"]["id"])
    assert before < after


@pytest.mark.unit
def test_policy_changed_retunes_and_a_dry_run_writes_nothing(tmp_path: Path,
                                                             sqlite_url: str) -> None:
    file = study(tmp_path, sqlite_url)
    tick(file, sqlite_url)
    append(tmp_path, rows(600, 300))
    dry = retune_file(file, sqlite_url, dry_run=True).as_dict()
    assert dry["action"] == "holds" and "dry run: nothing written" in dry["message"]
    assert decisions(sqlite_url) == ["promoted"]
    file.write_text(file.read_text().replace("[retune]\n", '[retune]\nwhen = "changed"\n'))
    result = tick(file, sqlite_url)
    assert result["version"] == "loop/v2" and result["assessment"]["retune"]
    assert decisions(sqlite_url)[:2] == ["promoted", "re-tune"]


@pytest.mark.unit
def test_a_champion_without_a_profile_counts_as_drifted(tmp_path: Path,
                                                        sqlite_url: str) -> None:
    file = study(tmp_path, sqlite_url, retune='when = "drifted"')
    tick(file, sqlite_url)
    champion = current_champion(file, sqlite_url)
    for card in (champion.card_path, champion.kept_path.with_suffix(".json")):
        data = json.loads(card.read_text())
        del data["drift_profile"]  # as a card written before tuner kept one
        card.write_text(json.dumps(data))
    append(tmp_path, rows(600, 300))
    lines: list[str] = []
    result = tick(file, sqlite_url, lines)
    assert result["assessment"]["drift_known"] is False and result["version"] == "loop/v2"
    assert any("drift unknown" in line for line in lines)


@pytest.mark.unit
def test_without_a_retune_section_retune_promotes_nothing(tmp_path: Path,
                                                          sqlite_url: str) -> None:
    file = study(tmp_path, sqlite_url)
    file.write_text(file.read_text().replace("[retune]\n", ""))
    result = tick(file, sqlite_url)
    assert result["promotion"] is None and current_champion(file, sqlite_url) is None
    assert not (tmp_path / "models" / "loop.npz").exists()


# --- two ticks, and a kill ------------------------------------------------------------------

@pytest.mark.integration
def test_two_ticks_at_once_decide_once(tmp_path: Path, sqlite_url: str) -> None:
    file = study(tmp_path, sqlite_url)
    tick(file, sqlite_url)
    append(tmp_path, rows(600, 300))
    procs = [subprocess.Popen(tuner_cmd("retune", str(file), "--json"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    actions = sorted(json.loads(out)[0]["action"] for out, _ in outs)
    assert actions == ["holds", "up to date"], outs
    assert decisions(sqlite_url) == ["promoted", "holds"]
    assert [v.name for v in chain(sqlite_url, "loop")] == ["loop"]


@pytest.mark.integration
@pytest.mark.parametrize("step", ["trained", "pending", "npz", "card", "recorded"])
def test_a_tick_killed_while_promoting_leaves_the_champion_and_the_next_decides(
        tmp_path: Path, sqlite_url: str, step: str) -> None:
    file = study(tmp_path, sqlite_url, retune="min_gain = -1.0")  # the challenger wins
    tick(file, sqlite_url)
    stable = tmp_path / "models" / "loop.npz"
    before = sha(stable)
    append(tmp_path, rows(600, 900, shifted=True))
    proc = subprocess.Popen(tuner_cmd("retune", str(file)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, HOLD_ENV: step})
    seen: list[str] = []

    def holding() -> bool:
        seen.append(proc.stderr.readline())
        return f"holding at {step}" in seen[-1]

    wait_until(holding, what=f"the tick to hold at {step}", timeout=300)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    # Whatever the step, the champion read names the model the stable file holds, whole.
    champion = current_champion(file, sqlite_url)
    assert champion is not None and champion.file_problem() is None
    assert predict_csv(stable, tmp_path / "rows.csv").shape == (1500,)
    moved = step in ("npz", "card", "recorded")
    assert (sha(stable) != before) is moved
    assert champion.study == ("loop/v2" if moved else "loop")
    # The next tick finishes the promotion, or makes it again: recorded once.
    result = tick(file, sqlite_url)
    assert result["action"] == "up to date"
    assert decisions(sqlite_url).count("promoted") == 2, decisions(sqlite_url)
    assert current_champion(file, sqlite_url).study == "loop/v2"
    card = json.loads(stable.with_suffix(".json").read_text())
    assert card["version"] == "loop/v2" and card["model_sha256"] == sha(stable)
    assert tick(file, sqlite_url)["action"] == "up to date"
    assert decisions(sqlite_url).count("promoted") == 2


@pytest.mark.integration
def test_two_ticks_at_once_on_shifted_rows_make_one_version_and_one_decision(
        tmp_path: Path, sqlite_url: str) -> None:
    file = study(tmp_path, sqlite_url)
    tick(file, sqlite_url)
    append(tmp_path, rows(600, 900, shifted=True))
    procs = [subprocess.Popen(tuner_cmd("retune", str(file), "--json"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [v.name for v in chain(sqlite_url, "loop")] == ["loop", "loop/v2"]
    promotions = [json.loads(out)[0]["promotion"] for out, _ in outs]
    if promotions == [None, None]:
        # Each saw the other's last trial still running when its own ended: neither
        # could decide yet; the next tick does.
        promotions.append(tick(file, sqlite_url)["promotion"])
    made = decisions(sqlite_url)
    assert made[:2] == ["promoted", "re-tune"] and len(made) == 3, made
    assert made[2] in ("promoted", "refused")
    assert [p for p in promotions if p is not None] == [made[2]], outs
    assert tick(file, sqlite_url)["action"] == "up to date"
    assert len(decisions(sqlite_url)) == 3


@pytest.mark.integration
def test_a_tick_that_decided_before_another_retuned_and_promoted_decides_again(
        tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The interleaving two schedulers met in CI, made certain: this tick compares the
    # fingerprints with the chain, then another process (a real one) makes v2 and promotes
    # its challenger before this tick takes the chain's lock. The tick must see that chain,
    # not re-score the new champion on the data it was trained on and record "holds".
    import tuner.retune

    file = study(tmp_path, sqlite_url, retune="min_gain = -1.0")  # the challenger wins
    tick(file, sqlite_url)
    append(tmp_path, rows(600, 900, shifted=True))
    other: list[dict] = []
    decide = tuner.retune.decide

    def decide_then_another_process_retunes(*args: object, **kwargs: object) -> object:
        decision = decide(*args, **kwargs)
        if not other:
            out = run_tuner("retune", str(file), "--json")
            other.append(json.loads(out.stdout)[0])
        return decision

    monkeypatch.setattr(tuner.retune, "decide", decide_then_another_process_retunes)
    result = tick(file, sqlite_url)
    assert other[0]["action"] == "retune" and other[0]["promotion"] == "promoted", other
    assert result["action"] == "up to date" and result["version"] == "loop/v2", result
    assert result["promotion"] is None
    assert decisions(sqlite_url) == ["promoted", "re-tune", "promoted"]
    assert [v.name for v in chain(sqlite_url, "loop")] == ["loop", "loop/v2"]


@pytest.mark.unit
def test_a_champion_that_cannot_read_todays_rows_is_replaced(tmp_path: Path,
                                                             sqlite_url: str) -> None:
    file = study(tmp_path, sqlite_url)
    tick(file, sqlite_url)
    frame = pd.concat([rows(0, 600), rows(600, 100)]).rename(columns={"x2": "x3"})
    frame.to_csv(tmp_path / "rows.csv", index=False)  # a column renamed at the source
    lines: list[str] = []
    result = tick(file, sqlite_url, lines)
    assert "cannot score today's rows" in lines[0] and "'x2'" in lines[0]
    assert result["version"] == "loop/v2" and result["promotion"] == "promoted"
    assert "cannot score today's rows" in result["challenger"]["reason"]
    assert decisions(sqlite_url) == ["promoted", "re-tune", "promoted"]

"""What `tuner study list|show|best` say about a study, as text and as JSON, and that
Optuna's own CLI reads the same storage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import invoke, write_study


@pytest.mark.integration
def test_show_best_list_and_optuna_cli(tmp_path: Path, sqlite_url: str) -> None:
    study = write_study(tmp_path, n_trials=4)
    assert invoke("study", "run", study, "--storage", sqlite_url).exit_code == 0

    best = invoke("study", "best", "tiny", "--storage", sqlite_url, "--json")
    assert best.exit_code == 0, best.output
    data = json.loads(best.output)
    assert set(data["params"]) == {"alpha", "beta"}
    assert data["params"]["beta"] == pytest.approx(1 - data["optuna_params"]["one_minus_beta"])

    show = invoke("study", "show", "tiny", "--storage", sqlite_url)
    assert show.exit_code == 0
    assert "beta=" in show.output and "data" in show.output and "hardware" in show.output
    assert "\nclasses    train 0 " in show.output  # iris: rows of each class in each split
    shown = json.loads(invoke("study", "show", "tiny", "--storage", sqlite_url,
                              "--json").output)
    c = shown["counts"]
    assert c["complete"] + c["pruned"] + c["diverged"] == 4 and c["waiting"] == 0
    assert len(shown["data"]) == 64 and shown["version"] == 1

    listed = json.loads(invoke("study", "list", "--storage", sqlite_url, "--json").output)
    assert [s["name"] for s in listed] == ["tiny"] and listed[0]["n_trials"] == 4

    optuna_cli = Path(sys.executable).with_name("optuna")
    r = subprocess.run([optuna_cli, "studies", "--storage", sqlite_url, "-f", "json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["name"] == "tiny"
    r = subprocess.run([optuna_cli, "best-trial", "--study-name", "tiny", "--storage",
                        sqlite_url, "-f", "json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["number"] == data["number"]



@pytest.mark.unit
def test_unknown_study_name_lists_known_ones(tmp_path: Path, sqlite_url: str) -> None:
    study = write_study(tmp_path, n_trials=1)
    invoke("study", "run", study, "--storage", sqlite_url)
    r = invoke("study", "show", "nope", "--storage", sqlite_url)
    assert r.exit_code == 2
    assert "no study named 'nope'" in r.output and "known: tiny" in r.output


@pytest.mark.unit
def test_show_names_the_champion_and_the_newest_decisions(tmp_path: Path,
                                                         sqlite_url: str) -> None:
    from tuner import history
    from tuner.api import run_study
    from tuner.champion import promote
    from tuner.storage import open_storage

    study = write_study(tmp_path, n_trials=3, extra='\n[deploy]\npath = "m/tiny.npz"\n')
    run_study(study, sqlite_url, emit=lambda _line: None)
    plain = invoke("study", "show", "tiny", "--storage", sqlite_url, "--json")
    assert json.loads(plain.output)["champion"] is None
    assert "champion" not in invoke("study", "show", "tiny", "--storage", sqlite_url).output

    champion = promote(study, storage=sqlite_url)
    st = open_storage(sqlite_url, heartbeat=False)
    for i in range(6):
        history.record(st, "tiny", {"decision": "holds", "rows": 150 + i}, note=False)
    show = invoke("study", "show", "tiny", "--storage", sqlite_url)
    lines = show.output.splitlines()
    assert f"champion   tiny trial {champion.trial}: test accuracy {champion.score:.4f}, " \
        f"promoted {champion.promoted_at} (promoted by hand)" in lines
    start = lines.index("history    7 decisions, the 5 newest:")
    assert lines[start + 1].split()[:3] == ["TIME", "(UTC)", "DECISION"]
    assert [line.split()[5] for line in lines[start + 2:]] == ["151", "152", "153", "154",
                                                               "155"]
    report = json.loads(invoke("study", "show", "tiny", "--storage", sqlite_url,
                               "--json").output)
    assert report["history_count"] == 7 and len(report["history"]) == 5
    assert report["champion"]["trial"] == champion.trial

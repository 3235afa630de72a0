"""`tuner promote`, `tuner champion`, `tuner history` and `tuner predict --champion`, as a
user runs them: real subprocesses on a real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_tuner, write_study

pytestmark = pytest.mark.integration

DEPLOY = '\n[deploy]\npath = "models/tiny.npz"\n'


@pytest.fixture
def tuned(tmp_path: Path) -> tuple[Path, str]:
    file = write_study(tmp_path, n_trials=4, extra=DEPLOY)
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    result = run_tuner("study", "run", file, "--storage", url, "-q")
    assert result.returncode == 0, result.stderr
    return file, url


def test_no_champion_is_exit_3_and_one_line(tuned: tuple[Path, str]) -> None:
    file, url = tuned
    result = run_tuner("champion", file, "--storage", url)
    assert (result.returncode, result.stdout) == (3, "")
    assert result.stderr.splitlines() == [f"{file}: no champion yet: run `tuner promote "
                                          f"{file}`"]
    as_json = run_tuner("champion", file, "--storage", url, "--json")
    assert (as_json.returncode, json.loads(as_json.stdout)) == (3, None)
    empty = run_tuner("history", file, "--storage", url)
    assert (empty.returncode, empty.stdout) == (0, "")
    assert "no decision recorded yet" in empty.stderr


def test_promote_champion_history_predict(tuned: tuple[Path, str], tmp_path: Path) -> None:
    file, url = tuned
    promoted = run_tuner("promote", file, "--storage", url, "--json")
    assert promoted.returncode == 0, promoted.stderr
    record = json.loads(promoted.stdout)
    assert record["changed"] and record["study"] == "tiny"
    assert record["model_path"] == str(tmp_path / "models" / "tiny.npz")

    again = run_tuner("promote", file, "--storage", url)
    assert again.returncode == 0 and "already is the champion: nothing written" in again.stderr

    shown = run_tuner("champion", file, "--storage", url)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"champion   tiny trial {record['trial']}"
    assert lines[1].startswith("score      test accuracy ") and "on 30 held-out rows" in lines[1]
    assert lines[4].startswith("promoted   ") and lines[4].endswith("promoted by hand")

    rows = run_tuner("history", file, "--storage", url, "--json")
    assert [r["decision"] for r in json.loads(rows.stdout)] == ["promoted"]
    table = run_tuner("history", file, "--storage", url)
    assert table.stdout.splitlines()[1].split()[2:4] == ["promoted", "tiny"]

    data = tmp_path / "rows.csv"
    data.write_text("5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n")
    by_champion = run_tuner("predict", "--champion", file, data)
    by_file = run_tuner("predict", tmp_path / "models" / "tiny.npz", data)
    assert by_champion.returncode == 0, by_champion.stderr
    assert by_champion.stdout == by_file.stdout and len(by_champion.stdout.splitlines()) == 2


def test_rollback_by_version_and_bad_arguments(tuned: tuple[Path, str]) -> None:
    file, url = tuned
    assert run_tuner("promote", file, "--storage", url, "--trial", "0").returncode == 0
    best = run_tuner("promote", file, "--storage", url, "--version", "v1", "--json")
    assert json.loads(best.stdout)["version"] == 1
    bad = run_tuner("promote", file, "--storage", url, "--version", "two")
    assert bad.returncode == 2
    assert bad.stderr.splitlines() == ["error: --version 'two': expected v1, v2, ... (or "
                                       "tiny/v2)"]
    missing = run_tuner("promote", file, "--storage", url, "--trial", "40")
    assert missing.returncode == 2 and len(missing.stderr.splitlines()) == 1
    assert "tiny has no complete trial 40 (no such trial)" in missing.stderr
    usage = run_tuner("predict", "--champion", file)
    assert usage.returncode == 2 and "expected --champion FILE DATA, got 0 path(s)" in \
        usage.stderr


def test_predict_champion_before_any_promotion(tuned: tuple[Path, str], tmp_path: Path
                                               ) -> None:
    file, _ = tuned
    data = tmp_path / "rows.csv"
    data.write_text("5.1,3.5,1.4,0.2\n")
    result = run_tuner("predict", "--champion", file, data)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {file}: no champion at {tmp_path / 'models' / 'tiny.npz'} yet: run "
        f"`tuner promote {file}`"]


def test_predict_champion_keeps_the_fast_start(tuned: tuple[Path, str], tmp_path: Path
                                               ) -> None:
    """With a [deploy] path the champion is found from the study file alone: neither
    Optuna nor SQLAlchemy (nor scikit-learn, pandas, scipy) is imported."""
    import subprocess
    import sys

    file, url = tuned
    assert run_tuner("promote", file, "--storage", url).returncode == 0
    data = tmp_path / "rows.csv"
    data.write_text("5.1,3.5,1.4,0.2\n")
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "tuner", "predict",
                        "--champion", str(file), str(data)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    modules = {line.split("|")[-1].strip() for line in p.stderr.splitlines()
               if line.startswith("import time:")}
    assert "tuner.predict" in modules and "tuner.spec" in modules  # the log is real
    heavy = ("sklearn", "pandas", "optuna", "scipy", "sqlalchemy")
    assert not [m for m in modules if m.split(".")[0] in heavy], sorted(modules)


def test_no_storage_yet_is_one_line_and_makes_no_folder(tmp_path: Path) -> None:
    file = write_study(tmp_path, extra=DEPLOY)
    result = run_tuner("promote", file, "--storage", f"sqlite:///{tmp_path / 'none.db'}")
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "no database at" in result.stderr
    assert not (tmp_path / "models").exists() and not (tmp_path / "none.db").exists()


def test_champion_warns_when_its_file_was_replaced_or_removed(tuned: tuple[Path, str],
                                                             tmp_path: Path) -> None:
    file, url = tuned
    assert run_tuner("promote", file, "--storage", url).returncode == 0
    stable = tmp_path / "models" / "tiny.npz"
    stable.write_bytes(stable.read_bytes() + b"\0")
    shown = run_tuner("champion", file, "--storage", url, "--json")
    assert shown.returncode == 0
    assert shown.stderr.splitlines() == [
        f"warning: {stable} is not this champion's model (its sha256 differs): it was "
        "replaced by hand; `tuner promote` writes it again"]
    assert json.loads(shown.stdout)["file_problem"].startswith(str(stable))
    repaired = run_tuner("promote", file, "--storage", url)
    assert repaired.returncode == 0 and "wrote" in repaired.stderr
    stable.unlink()
    gone = run_tuner("champion", file, "--storage", url)
    assert gone.returncode == 0 and "is missing" in gone.stderr

"""Smoke tests of the storage, fingerprint and predict start-up benchmarks: each runs end
to end with a tiny budget (`--quick`) as a real subprocess and writes its result table.
The full runs measure a shared machine and are not tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def run_quick(script: str, out: Path, *extra: str) -> str:
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick",
                             "--out", str(out), *extra],
                            capture_output=True, text=True, timeout=600, cwd=out.parent)
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    machine = text.split("## Machine", 1)[1]  # common's Machine: what the figures ran on
    assert "logical cores" in machine and "load average" in machine
    return text


def rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| run") and
            not line.startswith("| storage") and not line.startswith("| dtype")]


def test_overhead_compares_tuner_with_a_bare_optuna_loop(tmp_path: Path) -> None:
    text = run_quick("overhead.py", tmp_path / "overhead.md")
    names = [r[0] for r in rows(text)]
    assert names == ["bare Optuna, default SQLite", "bare Optuna, tuner's SQLite settings",
                     "tuner (in process)", "tuner study run (subprocess)"]
    for r in rows(text):
        assert float(r[1]) > 0 and float(r[2]) > 0  # wall and training seconds


def test_scaling_measures_one_and_two_workers(tmp_path: Path, pg_url: str) -> None:
    # pg_url: the script makes its own databases on the same server; the fixture only
    # checks that the server is there (skip, or fail in CI, when it is not).
    text = run_quick("scaling.py", tmp_path / "scaling.md")
    assert [r[0] for r in rows(text)] == ["sqlite", "postgresql"]
    for r in rows(text):
        assert float(r[2]) > 0 and float(r[3]) > 0  # trials per minute, 1 and 2 workers


def test_fingerprint_speed_table(tmp_path: Path) -> None:
    text = run_quick("fingerprint_speed.py", tmp_path / "fingerprint_speed.md")
    assert [r[0] for r in rows(text)] == ["float32", "float64"]
    assert "Hardware fingerprint" in text


def test_predict_startup_table(tmp_path: Path) -> None:
    text = run_quick("predict_startup.py", tmp_path / "predict_startup.md")
    table = [r for r in rows(text) if not r[0].startswith("command")]
    assert [r[0] for r in table] == ['python -c "import numpy"', "built-in (iris)",
                                     "table (churn CSV)"]
    for r in table[1:]:
        assert float(r[1]) > 0 and r[3].endswith("x") and float(r[4]) > 0
        assert r[7] == "none"  # no heavy import

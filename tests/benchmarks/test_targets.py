"""Smoke test of benchmarks/targets.py: with `--quick` it runs both example studies
through the CLI as real subprocesses and writes both tables, the refusal of the file
without a task, and the `--proba` check. The full run measures and is not a test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_targets_quick_run_writes_both_tables(tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "targets.py"),
                             "--quick", "--out", str(out)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    text = (out / "targets.md").read_text(encoding="utf-8")
    assert "**QUICK RUN**" in text and "`python benchmarks/targets.py`" in text
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| 0 |")]
    regression, imbalanced = rows
    # The R² from `tuner predict`'s output is the card's.
    assert regression[3] == regression[10]
    assert float(regression[1]) + float(regression[2]) == 442
    assert imbalanced[3] == imbalanced[10] and imbalanced[8] in ("none", "balanced")
    assert float(imbalanced[11]) < 1e-6  # --proba rows sum to 1
    assert "exit 2, stderr:" in text and "holds 214 distinct numbers" in text
    assert text.count("**Verdict:**") == 2

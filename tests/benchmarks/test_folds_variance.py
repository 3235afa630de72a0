"""Smoke test of benchmarks/folds_variance.py: it runs end to end with `--quick` as a real
subprocess and writes its tables (spread over seeds, cost per trial, interleaved vs
sequential folds) and its verdict. The full run measures a shared machine and is not a
test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_folds_variance_quick_run_writes_both_tables(tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "folds_variance.py"),
                             "--quick", "--out", str(out)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    text = (out / "folds_variance.md").read_text(encoding="utf-8")
    assert "**QUICK RUN**" in text and "`python benchmarks/folds_variance.py`" in text
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith(("| breast_cancer", "| wine"))]
    spread, cost, design = rows[:4], rows[4:8], rows[8:]
    assert [(r[0], r[2]) for r in spread] == [
        ("breast_cancer", "val_accuracy"), ("breast_cancer", "val_loss"),
        ("wine", "val_accuracy"), ("wine", "val_loss")]
    assert [r[1] for r in spread] == ["300", "300", "178", "178"]
    for r in spread:
        assert float(r[4]) >= 0 and float(r[6]) >= 0  # the two standard deviations
    for r in cost:  # wall and CPU milliseconds of each set-up, and their ratios
        assert all(float(r[i]) > 0 for i in range(2, 9)), r
    assert [r[0] for r in design] == ["breast_cancer", "wine"]
    for r in design:  # interleaved vs one after the other
        assert float(r[1]) > 0 and float(r[2]) > 0
    assert "## Verdict" in text and "logical cores" in text.split("## Machine", 1)[1]

"""Smoke test of benchmarks/retune_decision.py: with `--quick` it sets up the two folders
(a champion in each), runs ticks that hold and ticks that re-tune on the same appended
rows, and writes the table, the breakdown of a hold tick and the verdict. The full run
measures a shared machine and is not a test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_retune_decision_quick_run_writes_the_ratio_and_the_breakdown(tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "retune_decision.py"),
                             "--quick", "--out", str(out)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    text = (out / "retune_decision.md").read_text(encoding="utf-8")
    assert "**QUICK RUN**" in text and "`python benchmarks/retune_decision.py --quick`" in text
    table = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
             if line.startswith("| 1,000 |")]
    assert len(table) == 1
    row = table[0]
    hold, retune = float(row[2]), float(row[3])
    assert 0 < hold and 0 < retune
    assert row[4].endswith("%") and row[5] in ("met", "**missed**")
    # The breakdown: each step measured, and the whole tick at least their sum.
    steps = {line.split("|")[1].strip(): float(line.split("|")[2])
             for line in text.split("## Where a hold tick's time goes", 1)[1].splitlines()
             if line.startswith("| ") and not line.startswith(("| step", "|---"))}
    whole = steps.pop("whole tick")
    assert steps["champion re-scored on the test rows"] > 0
    assert steps["drift (PSI per column)"] > 0
    assert steps["data fingerprint"] > 0
    assert sum(v for k, v in steps.items() if not k.startswith("the rest")) <= whole
    # The lines the ticks printed: the hold line and a re-tune's decision.
    assert " holds: accuracy " in text and "largest drift" in text
    assert "re-tune: decide/v3, 3 trials; " in text
    assert text.count("**Verdict:**") == 1 and "logical cores" in text

"""Smoke test: the speed benchmark runs end to end and writes its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_mlp_speed_quick_writes_the_result_table(tmp_path):
    out = tmp_path / "mlp_speed.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "mlp_speed.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert text.startswith("# MLP training speed")
    assert "| row | tuner f32 s/epoch | tuner f64 s/epoch | sklearn s/epoch |" in text
    rows = [line for line in text.splitlines() if line.startswith("| digits ")]
    assert [line.split(" | ")[0] for line in rows] == ["| digits 64x64 b64", "| digits 64x64 b256"]
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert all(float(c) > 0 for c in cells[1:4])  # seconds per epoch
    assert "numpy" in text and "BLAS" in text and "GFLOP/s" in text

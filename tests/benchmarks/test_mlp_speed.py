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


def test_mlp_speed_fused_adds_the_single_file_mlp_of_a_commit(tmp_path):
    # The fixture is the repository's own history: the commit before the layers were split.
    ref = "5acce29^"
    held = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{ref}:tuner/mlp.py"],
                          capture_output=True)
    assert held.returncode == 0, f"the benchmark reads {ref} from git history: clone it whole"
    out = tmp_path / "mlp_speed.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "mlp_speed.py"), "--quick", "--cpu-time",
         "--rows", "b256", "--fused", ref, "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    header = next(line for line in text.splitlines() if line.startswith("| row |"))
    cols = [c.strip() for c in header.strip("|").split("|")]
    (row,) = [line for line in text.splitlines() if line.startswith("| digits 64x64 b256")]
    cells = dict(zip(cols, (c.strip() for c in row.strip("|").split("|")), strict=True))
    assert float(cells["fused f32 s/epoch"]) > 0 and float(cells["fused / sklearn"]) > 0
    assert float(cells["f32 / fused"]) > 0
    assert f"single-file MLP at git commit {ref}" in text


def test_mlp_speed_fused_with_a_commit_without_the_file_is_one_line_and_exit_2(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "mlp_speed.py"), "--quick",
         "--fused", "no-such-commit", "--out", str(tmp_path / "x.md")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--fused no-such-commit: no tuner/mlp.py at that commit" in result.stderr
    assert not (tmp_path / "x.md").exists()

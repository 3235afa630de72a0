"""`python -m tuner.mlp.precompile` (tuner/mlp/precompile.py): the kernels it compiles are
the ones training asks for, in real processes with numba's real cache."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


def test_precompile_compiles_what_training_then_only_loads(tmp_path):
    """`python -m tuner.mlp.precompile` (the Docker image runs it) fills the cache with the
    signatures training calls: a later process training in both dtypes, with and without
    batch norm, compiles nothing."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    warm = subprocess.run([sys.executable, "-m", "tuner.mlp.precompile"], env=env,
                          capture_output=True, text=True)
    assert warm.returncode == 0, warm.stderr
    script = """
import numpy as np
from tuner.mlp import kernels
from tuner.mlp.model import MLPCore
X = np.random.default_rng(1).standard_normal((100, 6))
y = (X[:, 0] + X[:, 1] > 0).astype(int)
for dtype in ("float32", "float64"):
    for batchnorm in (True, False):
        MLPCore(hidden=(16, 8), epochs=2, batch_size=32, dtype=dtype,
                use_batchnorm=batchnorm).fit(X, y)
stats = [k.stats for k in kernels.KERNELS]
print(sum(s.cache_misses.total() for s in stats), sum(s.cache_hits.total() for s in stats))
"""
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "6"]

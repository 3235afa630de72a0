"""Compile the model's kernels (tuner/mlp/kernels.py) ahead of time, into numba's cache.

    python -m tuner.mlp.precompile

The Docker image runs this when it is built, so that a container's first training loads
the kernels instead of compiling them (1.5-2 s for each dtype).
"""

from __future__ import annotations

import numpy as np

from tuner.mlp.model import MLPCore

__all__ = ["warm_up"]


def warm_up() -> None:
    """Compile (or load from the cache) every kernel for float32 and float64, as training
    calls them: a few steps of a tiny network with batch norm in each dtype, through the
    real call path, so that the compiled signatures are the ones training asks for."""
    X = np.random.default_rng(0).standard_normal((40, 3))
    y = (X[:, 0] > 0).astype(int)
    for dtype in ("float32", "float64"):
        MLPCore(hidden=(4,), epochs=1, batch_size=16, dtype=dtype).fit(X, y)


if __name__ == "__main__":
    warm_up()

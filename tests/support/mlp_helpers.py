"""Helpers the MLP's tests share (tests/mlp/ and tests/test_model_file.py): a small
random problem, centred differences, and the relative error a gradient check compares."""

from __future__ import annotations

import numpy as np


def small_problem(seed=0, n=60, d=5, k=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.integers(0, k, n)
    y[:k] = np.arange(k)  # every class present
    return X, y


def relative_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


def numeric_gradient(loss, array, h=1e-6):
    """Centred differences of the scalar `loss()` with respect to each entry of `array`,
    which is moved by +-h in place and restored."""
    grad = np.zeros_like(array)
    for i in np.ndindex(array.shape):
        saved = array[i]
        array[i] = saved + h
        plus = loss()
        array[i] = saved - h
        minus = loss()
        array[i] = saved
        grad[i] = (plus - minus) / (2 * h)
    return grad

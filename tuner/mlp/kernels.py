"""Compiled loops for the training step's elementwise work: batch norm followed by ReLU,
forward and backward, and the momentum update.

Why compiled. At the sizes we tune, a mini-batch step's matmuls are fast enough that
the passes numpy makes over memory between them cost as much again: batch norm and
ReLU take about 16 numpy calls per hidden layer and step, each a full pass over an
(m, n) array. numpy cannot fuse them; numba compiles each loop nest below into one or
two passes (benchmarks/mlp_speed.py measures the step, and
benchmarks/results/mlp_speed.md has the figures).

What stays the reference. `tuner.mlp.layers` keeps the same layers as numpy
forward/backward pairs that read like the math, and tests/mlp/test_kernels.py checks
these kernels against them in float32 and float64; tests/mlp/test_network.py checks the
whole step's gradient against centred differences.

Conventions. Every kernel writes into arrays the caller allocated once per fit
(`Network.workspace`), in the arrays' own dtype; scalar arguments must have that dtype
too (``np.float32(eps)``), or a float32 loop computes in float64. Loops run over rows
outside and units inside, so the inner loop walks contiguous memory and vectorizes.

Compiling. numba compiles a kernel on its first call for each dtype (about a second
each) and caches the machine code on disk, next to this file or in the user's cache
folder (NUMBA_CACHE_DIR overrides both). Where no such folder is writable (a read-only
install with no home), the kernels compile once per process instead of failing.
numba itself takes about 0.4 s to import, so only training imports this module.
`python -m tuner.mlp.precompile` compiles every kernel ahead of time: the Docker image
does, so that a container's first training, a scheduled one included, only loads them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numba
import numpy as np

__all__ = ["KERNELS", "batchnorm_relu_backward", "batchnorm_relu_forward", "momentum_step"]


def _compiled(function: Callable) -> Callable:
    """`function` compiled by numba, its machine code cached on disk where it can be.

    error_model="numpy": a division by zero gives inf or NaN, as numpy's would, rather
    than a check per division that keeps the loop from vectorizing.
    """
    try:
        return numba.njit(cache=True, error_model="numpy")(function)
    except RuntimeError as error:
        if "no locator available" not in str(error):  # not the missing cache folder
            raise
        return numba.njit(cache=False, error_model="numpy")(function)


@_compiled
def batchnorm_relu_forward(
    z: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    eps: float,
    mean: np.ndarray,
    var: np.ndarray,
    inv_std: np.ndarray,
    a: np.ndarray,
) -> None:  # pragma: no cover - compiled: coverage cannot see inside
    """relu(batchnorm(z)) in training mode, in three passes over z.

    Args:
        z: pre-activations (m, n); overwritten with the centred zc = z - mean, which the
            backward pass reads.
        gamma, beta: BN's scale and shift, (n,).
        eps: added to the variance, in z's dtype.
        mean, var: receive the batch mean and biased variance, (n,).
        inv_std: receives 1 / sqrt(var + eps), (n,).
        a: receives the activation max(gamma * zc * inv_std + beta, 0), (m, n).
    """
    m, n = z.shape
    for j in range(n):
        mean[j] = 0.0
        var[j] = 0.0
    for i in range(m):
        for j in range(n):
            mean[j] += z[i, j]
    for j in range(n):
        mean[j] /= m
    for i in range(m):
        for j in range(n):
            centred = z[i, j] - mean[j]
            z[i, j] = centred
            var[j] += centred * centred
    for j in range(n):
        var[j] /= m
        inv_std[j] = 1.0 / math.sqrt(var[j] + eps)
    for i in range(m):
        for j in range(n):
            out = z[i, j] * (gamma[j] * inv_std[j]) + beta[j]
            a[i, j] = out if out > 0.0 else 0.0


@_compiled
def batchnorm_relu_backward(
    da: np.ndarray,
    a: np.ndarray,
    zc: np.ndarray,
    gamma: np.ndarray,
    inv_std: np.ndarray,
    dgamma: np.ndarray,
    dbeta: np.ndarray,
    coef: np.ndarray,
) -> None:  # pragma: no cover - compiled: coverage cannot see inside
    """Gradients of `batchnorm_relu_forward`, in two passes over da.

    With g = da where a > 0 (ReLU's derivative) and xhat = zc * inv_std, Ioffe and
    Szegedy's closed form is

        dbeta = sum_i g,  dgamma = sum_i g * xhat,
        dz = gamma * inv_std / m * (m * g - dbeta - xhat * dgamma),

    distributed as dz = s * g - (zc * c1 + c2) with s = gamma * inv_std,
    c1 = s / m * inv_std * dgamma and c2 = s / m * dbeta.

    Args:
        da: d loss / d a, (m, n); overwritten with dz, d loss / d z.
        a, zc, inv_std: the forward pass's activation, centred z and 1 / std.
        gamma: BN's scale, (n,).
        dgamma, dbeta: receive d loss / d gamma and d loss / d beta, (n,).
        coef: (2, n) scratch for c1 and c2.
    """
    m, n = da.shape
    for j in range(n):
        dgamma[j] = 0.0
        dbeta[j] = 0.0
    for i in range(m):
        for j in range(n):
            g = da[i, j] if a[i, j] > 0.0 else 0.0
            da[i, j] = g
            dbeta[j] += g
            dgamma[j] += g * zc[i, j]
    for j in range(n):
        dgamma[j] *= inv_std[j]
        k = gamma[j] * inv_std[j] / m
        coef[0, j] = k * inv_std[j] * dgamma[j]
        coef[1, j] = k * dbeta[j]
    for i in range(m):
        for j in range(n):
            da[i, j] = da[i, j] * (gamma[j] * inv_std[j]) - (zc[i, j] * coef[0, j] + coef[1, j])


@_compiled
def momentum_step(
    params: np.ndarray, velocity: np.ndarray, grad: np.ndarray, step: float, momentum: float
) -> None:  # pragma: no cover - compiled: coverage cannot see inside
    """velocity = momentum * velocity + step * grad; params -= velocity, in one pass.

    `step` and `momentum` must have the vectors' dtype (see the module's conventions).
    """
    for i in range(params.shape[0]):
        v = momentum * velocity[i] + step * grad[i]
        velocity[i] = v
        params[i] -= v


KERNELS = (batchnorm_relu_forward, batchnorm_relu_backward, momentum_step)


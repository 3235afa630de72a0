"""The compiled kernels (tuner/mlp/kernels.py) against the numpy layers they fuse, against
centred differences, and compiled where no cache folder is writable."""

from __future__ import annotations

import os
import subprocess
import sys

import numba
import numpy as np
import pytest

from mlp_helpers import numeric_gradient, relative_error
from tuner.mlp import batchnorm_backward, batchnorm_forward, kernels, relu_backward, relu_forward
from tuner.mlp.network import Network
from tuner.mlp.optimizer import SGDMomentum

pytestmark = pytest.mark.unit

EPS = 1e-5
# (rows, units): one row (variance 0), widths that are not a multiple of the SIMD width
SHAPES = [(1, 3), (7, 5), (64, 33), (256, 256)]
TOLERANCE = {np.float32: 2e-5, np.float64: 1e-12}


def _problem(m, n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal((m, n)) * 3 + rng.standard_normal(n)).astype(dtype)
    z[:, 0] = 1.5  # a constant unit: variance 0, xhat 0
    gamma = (1 + 0.3 * rng.standard_normal(n)).astype(dtype)
    beta = (0.5 * rng.standard_normal(n)).astype(dtype)
    da = rng.standard_normal((m, n)).astype(dtype)
    return z, gamma, beta, da


def _forward(z, gamma, beta):
    """The kernel's forward pass on copies: (a, zc, mean, var, inv_std)."""
    m, n = z.shape
    zc, a = z.copy(), np.full((m, n), np.nan, z.dtype)
    mean, var, inv_std = (np.full(n, np.nan, z.dtype) for _ in range(3))
    kernels.batchnorm_relu_forward(zc, gamma, beta, z.dtype.type(EPS), mean, var, inv_std, a)
    return a, zc, mean, var, inv_std


def _close(actual, expected, dtype):
    scale = max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(actual, expected, rtol=TOLERANCE[dtype],
                               atol=TOLERANCE[dtype] * scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("m", "n"), SHAPES)
def test_forward_is_batchnorm_then_relu(m, n, dtype):
    z, gamma, beta, _ = _problem(m, n, dtype)
    mean, var = np.empty(n, dtype), np.empty(n, dtype)
    out, (zc, _, std) = batchnorm_forward(z.copy(), gamma, beta, EPS, stats=(mean, var))
    expected, _ = relu_forward(out)

    a, zc_k, mean_k, var_k, inv_std = _forward(z, gamma, beta)
    for actual, wanted in [(a, expected), (zc_k, zc), (mean_k, mean), (var_k, var),
                           (inv_std, 1 / std)]:
        assert actual.dtype == dtype
        _close(actual, wanted, dtype)
    assert np.all(a >= 0) and np.any(a == 0) and np.any(a > 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("m", "n"), SHAPES)
def test_backward_is_relu_then_batchnorm_backward(m, n, dtype):
    z, gamma, beta, da = _problem(m, n, dtype)
    out, cache = batchnorm_forward(z.copy(), gamma, beta, EPS)
    a, mask = relu_forward(out)
    dz, dgamma, dbeta = batchnorm_backward(relu_backward(da, mask), cache)

    a_k, zc, _, _, inv_std = _forward(z, gamma, beta)
    dz_k, coef = da.copy(), np.empty((2, n), dtype)
    dgamma_k, dbeta_k = np.full(n, np.nan, dtype), np.full(n, np.nan, dtype)
    kernels.batchnorm_relu_backward(dz_k, a_k, zc, gamma, inv_std, dgamma_k, dbeta_k, coef)
    for actual, wanted in [(dz_k, dz), (dgamma_k, dgamma), (dbeta_k, dbeta)]:
        assert actual.dtype == dtype
        _close(actual, wanted, dtype)


def test_backward_is_the_gradient_of_forward():
    """Centred differences of sum(relu(bn(z)) * weights) in float64, for z, gamma, beta."""
    m, n = 6, 4
    z, gamma, beta, weights = _problem(m, n, np.float64, seed=5)
    z[:, 0] += np.linspace(-1, 1, m)  # every unit varies: the difference is smooth

    def loss():
        return float(np.sum(_forward(z, gamma, beta)[0] * weights))

    a, zc, _, _, inv_std = _forward(z, gamma, beta)
    dz, coef = weights.copy(), np.empty((2, n))
    dgamma, dbeta = np.empty(n), np.empty(n)
    kernels.batchnorm_relu_backward(dz, a, zc, gamma, inv_std, dgamma, dbeta, coef)
    for array, analytic in [(z, dz), (gamma, dgamma), (beta, dbeta)]:
        assert relative_error(analytic, numeric_gradient(loss, array)) < 1e-6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_momentum_step_is_the_formula(dtype):
    rng = np.random.default_rng(2)
    params, velocity, grad = (rng.standard_normal(1001).astype(dtype) for _ in range(3))
    step, momentum = dtype(0.05 * (1 - 0.9)), dtype(0.9)
    expected_v = momentum * velocity + step * grad
    expected_p = params - expected_v
    kernels.momentum_step(params, velocity, grad, step, momentum)
    _close(velocity, expected_v, dtype)
    _close(params, expected_p, dtype)
    assert params.dtype == velocity.dtype == dtype


def test_a_float32_step_compiles_float32_kernels_only():
    """A float32 network passes float32 scalars too, or numba would compile the loops in
    float64 and convert every element."""
    rng = np.random.default_rng(0)
    net = Network(5, (8, 8), 3, batchnorm=True, dtype=np.float32, eps=EPS)
    net.init_params(rng)
    X = rng.standard_normal((16, 5)).astype(np.float32)
    Y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 16)]
    optimizer = SGDMomentum(net.theta, 0.05, 0.9)
    net.forward_backward(X, Y, net.workspace(16))
    optimizer.step(net.grad)
    for kernel in (kernels.batchnorm_relu_forward, kernels.batchnorm_relu_backward,
                   kernels.momentum_step):
        float32 = [s for s in kernel.signatures if numba.float32 in _dtypes(s)]
        assert float32, kernel
        for signature in float32:
            assert _dtypes(signature) == {numba.float32}, (kernel, signature)


def _dtypes(signature):
    return {getattr(t, "dtype", t) for t in signature if t not in (numba.int64,)}


def test_kernels_compile_where_no_cache_folder_is_writable(tmp_path):
    """A read-only install with no home: numba's own cache=True refuses at import, and the
    kernels compile per process instead (a real subprocess, numba's real locators)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(blocker / "cache"),
           "NUMBA_CACHE_LOCATOR_CLASSES": "UserProvidedCacheLocator"}
    script = tmp_path / "train.py"
    script.write_text("""
import numba, numpy as np

def identity(x):
    return x

try:
    numba.njit(cache=True)(identity)
    print("numba caches")
except RuntimeError as error:
    print("numba refuses:", "no locator available" in str(error))
from tuner.mlp.model import MLPCore
X = np.random.default_rng(0).standard_normal((60, 4))
MLPCore(hidden=(8,), epochs=2, batch_size=16).fit(X, (X[:, 0] > 0).astype(int))
print("trained")
""")
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["numba refuses: True", "trained"]


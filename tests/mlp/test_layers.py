"""Each layer of tuner.mlp.layers on its own: gradients against centred differences,
and what batch norm's forward pass keeps.

Every check is in float64: the loss is `sum(out * weights)` for random weights (so
the upstream gradient is `weights`), every input entry is moved by +-h, and the
relative error between the analytic and the numeric gradient must stay below 1e-6.
The loss layer is the end of the network: its backward takes no upstream gradient
and is checked against differences of the loss itself.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlp_helpers import numeric_gradient, relative_error
from tuner.mlp import (
    affine_backward,
    affine_forward,
    batchnorm_backward,
    batchnorm_forward,
    linear_backward,
    linear_forward,
    relu_backward,
    relu_forward,
    softmax,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
    squared_error_backward,
    squared_error_forward,
)

pytestmark = pytest.mark.unit

H = 1e-6


def check(forward, backward, inputs, rng):
    """Compare backward's gradients with centred differences of sum(forward * weights)."""
    out, cache = forward(*inputs)
    weights = rng.standard_normal(out.shape)
    grads = backward(weights.copy(), cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert len(grads) == len(inputs)  # one gradient per input
    for analytic, array in zip(grads, inputs, strict=True):
        numeric = numeric_gradient(lambda: float(np.sum(forward(*inputs)[0] * weights)), array)
        assert analytic.shape == array.shape
        assert relative_error(analytic, numeric) < 1e-6


def test_linear_layer_gradients():
    rng = np.random.default_rng(0)
    x, W = rng.standard_normal((6, 4)), rng.standard_normal((4, 3))
    check(linear_forward, linear_backward, (x, W), rng)
    out, _ = linear_forward(x, W)
    np.testing.assert_allclose(out, x @ W)


def test_affine_layer_gradients():
    rng = np.random.default_rng(1)
    x, W, b = rng.standard_normal((6, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    check(affine_forward, affine_backward, (x, W, b), rng)
    out, _ = affine_forward(x, W, b)
    np.testing.assert_allclose(out, x @ W + b)


def test_affine_backward_can_skip_the_input_gradient():
    rng = np.random.default_rng(2)
    x, W, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    _, cache = affine_forward(x, W, b)
    dout = rng.standard_normal((5, 3))
    dx, dW, db = affine_backward(dout, cache, input_grad=False)
    full = affine_backward(dout, cache)
    assert dx is None
    np.testing.assert_allclose(dW, full[1])
    np.testing.assert_allclose(db, full[2])


def test_relu_layer_gradient():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 5))
    x[np.abs(x) < 10 * H] = 0.5  # no entry within h of the kink
    check(lambda x: relu_forward(x), relu_backward, (x,), rng)
    out, mask = relu_forward(x)
    np.testing.assert_array_equal(out, np.maximum(x, 0))
    dx = relu_backward(np.ones_like(x), mask)
    np.testing.assert_array_equal(dx, (x > 0).astype(float))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_in_place_with_preallocated_arrays(dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 3)).astype(dtype)
    expected = np.maximum(x, 0)
    width = np.int32 if dtype == np.float32 else np.int64
    mask = np.empty(x.shape, width)
    out, cache = relu_forward(x, out=x, zeros=np.zeros_like(x), mask=mask)
    assert out is x and cache is mask
    np.testing.assert_array_equal(out, expected)
    dout = rng.standard_normal(x.shape).astype(dtype)
    expected_dx = np.where(expected > 0, dout, 0)
    dx = relu_backward(dout, cache, out=dout)
    assert dx is dout and dx.dtype == dtype
    np.testing.assert_array_equal(dx, expected_dx)


def test_batchnorm_layer_gradients():
    rng = np.random.default_rng(5)
    m, n = 7, 4  # batch, units
    z = rng.standard_normal((m, n)) * [1.0, 3.0, 0.2, 10.0] + [0.0, -2.0, 5.0, 1.0]
    gamma, beta = rng.standard_normal(n), rng.standard_normal(n)
    forward = lambda z, g, b: batchnorm_forward(z, g, b, 1e-5)  # noqa: E731
    check(forward, batchnorm_backward, (z, gamma, beta), rng)


def one_hot(y, k):
    Y = np.zeros((y.shape[0], k))
    Y[np.arange(y.shape[0]), y] = 1.0
    return Y


@pytest.mark.parametrize("transposed", [False, True])
def test_softmax_cross_entropy_gradient_and_value(transposed):
    rng = np.random.default_rng(6)
    m, k = 9, 4
    logits = rng.standard_normal((m, k)) * 3
    if transposed:  # the layout the model uses: (k, m) in memory
        logits = np.ascontiguousarray(logits.T).T
    y = rng.integers(0, k, m)
    Y = one_hot(y, k)

    def loss():
        return softmax_cross_entropy_forward(logits, Y)[0]

    value, cache = softmax_cross_entropy_forward(logits, Y)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert value == pytest.approx(-log_p[np.arange(m), y].mean(), rel=1e-12)
    dlogits = softmax_cross_entropy_backward(cache)  # the true gradient: no upstream factor
    assert dlogits.shape == (m, k)
    assert relative_error(dlogits, numeric_gradient(loss, logits)) < 1e-6
    p = np.exp(log_p)
    np.testing.assert_allclose(dlogits, (p - Y) / m, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("transposed", [False, True])
def test_weighted_softmax_cross_entropy_gradient_and_value(transposed):
    rng = np.random.default_rng(16)
    m, k = 9, 3
    logits = rng.standard_normal((m, k)) * 3
    if transposed:
        logits = np.ascontiguousarray(logits.T).T
    y = rng.integers(0, k, m)
    Y, w = one_hot(y, k), rng.uniform(0.1, 5.0, m)

    def loss():
        return softmax_cross_entropy_forward(logits, Y, weights=w)[0]

    value, cache = softmax_cross_entropy_forward(logits, Y, weights=w)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert value == pytest.approx(-(w * log_p[np.arange(m), y]).sum() / m, rel=1e-12)
    dlogits = softmax_cross_entropy_backward(cache)
    assert relative_error(dlogits, numeric_gradient(loss, logits)) < 1e-6
    np.testing.assert_allclose(dlogits, w[:, None] * (np.exp(log_p) - Y) / m, rtol=1e-12,
                               atol=1e-15)
    # Weights of 1 are the unweighted loss.
    ones = softmax_cross_entropy_forward(logits, Y, weights=np.ones(m))[0]
    assert ones == pytest.approx(softmax_cross_entropy_forward(logits, Y)[0], rel=1e-12)


@pytest.mark.parametrize("k", [1, 3])
def test_squared_error_gradient_and_value(k):
    rng = np.random.default_rng(17)
    m = 8
    pred, y = rng.standard_normal((m, k)), rng.standard_normal((m, k))

    def loss():
        return squared_error_forward(pred, y)[0]

    value, cache = squared_error_forward(pred, y)
    assert value == pytest.approx(np.sum((pred - y) ** 2) / m, rel=1e-12)
    dpred = squared_error_backward(cache)
    assert dpred.shape == (m, k)
    assert relative_error(dpred, numeric_gradient(loss, pred)) < 1e-6
    np.testing.assert_allclose(dpred, 2 * (pred - y) / m, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_squared_error_in_place_keeps_the_dtype(dtype):
    rng = np.random.default_rng(18)
    pred = np.ascontiguousarray(rng.standard_normal((1, 10)).astype(dtype)).T  # (m, 1) view
    y = rng.standard_normal((10, 1)).astype(dtype)
    expected_value, expected_cache = squared_error_forward(pred.copy(), y)
    expected = squared_error_backward(expected_cache)
    value, cache = squared_error_forward(pred, y, overwrite_pred=True)
    dpred = squared_error_backward(cache, out=pred)
    assert value == pytest.approx(expected_value, rel=1e-6)
    assert dpred.dtype == dtype and np.shares_memory(dpred, pred)
    np.testing.assert_allclose(dpred, expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_in_place_keeps_the_dtype(dtype):
    rng = np.random.default_rng(7)
    m, k = 16, 5
    logits = np.ascontiguousarray((rng.standard_normal((m, k)) * 2).astype(dtype).T).T
    Y = one_hot(rng.integers(0, k, m), k).astype(dtype)
    same_layout = np.copy(logits)  # order "K": (k, m) in memory, like logits
    expected_value, expected_cache = softmax_cross_entropy_forward(same_layout, Y)
    expected = softmax_cross_entropy_backward(expected_cache)
    value, cache = softmax_cross_entropy_forward(logits, Y, overwrite_logits=True)
    dlogits = softmax_cross_entropy_backward(cache, out=logits)
    assert value == expected_value
    assert dlogits.dtype == dtype and np.shares_memory(dlogits, logits)
    np.testing.assert_array_equal(dlogits, expected)


def test_softmax_is_stable_for_huge_logits_and_sums_to_one():
    logits = np.array([[1000.0, 0.0, -1000.0], [5.0, 5.0, 5.0]])
    p = softmax(logits)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(p[1], 1 / 3)
    loss, _ = softmax_cross_entropy_forward(logits, one_hot(np.array([0, 1]), 3))
    assert loss == pytest.approx(np.log(3) / 2)


def test_batchnorm_backward_matches_centred_differences():
    rng = np.random.default_rng(1)
    m, n = 7, 4  # batch, units
    z = rng.standard_normal((m, n)) * [1.0, 3.0, 0.2, 10.0] + [0.0, -2.0, 5.0, 1.0]
    gamma = rng.standard_normal(n)
    beta = rng.standard_normal(n)
    weights = rng.standard_normal((m, n))  # loss = sum(out * weights), so dout = weights
    eps, h = 1e-5, 1e-6

    def loss(z, gamma, beta):
        return float(np.sum(batchnorm_forward(z, gamma, beta, eps)[0] * weights))

    _, cache = batchnorm_forward(z, gamma, beta, eps)
    dz, dgamma, dbeta = batchnorm_backward(weights, cache)

    for analytic, array in ((dz, z), (dgamma, gamma), (dbeta, beta)):
        numeric = np.zeros_like(array)
        for i in np.ndindex(array.shape):
            saved = array[i]
            array[i] = saved + h
            plus = loss(z, gamma, beta)
            array[i] = saved - h
            minus = loss(z, gamma, beta)
            array[i] = saved
            numeric[i] = (plus - minus) / (2 * h)
        assert relative_error(analytic, numeric) < 1e-6
    assert abs(dz.sum(axis=0)).max() < 1e-10  # BN's input gradient sums to 0 per unit


def test_batchnorm_forward_normalizes_per_unit_and_keeps_the_batch_statistics():
    rng = np.random.default_rng(2)
    z = rng.standard_normal((50, 3)) * [1.0, 4.0, 0.5] + [3.0, -1.0, 0.0]
    z_before = z.copy()
    mean, var = np.empty(3), np.empty(3)
    out, cache = batchnorm_forward(z, np.ones(3), np.zeros(3), 1e-5, stats=(mean, var))
    assert np.array_equal(z, z_before)  # the input is not touched by default
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), 1.0, rtol=1e-4)
    assert len(cache) == 3  # zc, scale, std: only what the backward pass reads
    np.testing.assert_allclose(mean, z.mean(axis=0))
    np.testing.assert_allclose(var, z.var(axis=0))


def test_batchnorm_of_a_constant_unit_is_beta_not_nan():
    z = np.ones((6, 2), dtype=np.float32) * np.float32([3.0, 0.0])
    gamma = np.array([2.0, 2.0], np.float32)
    beta = np.array([0.5, -0.5], np.float32)
    out, cache = batchnorm_forward(z, gamma, beta, 1e-5)
    np.testing.assert_array_equal(out, np.broadcast_to(beta, out.shape))
    dz, dgamma, dbeta = batchnorm_backward(np.ones_like(z), cache)
    assert all(np.isfinite(g).all() for g in (dz, dgamma, dbeta))
    assert out.dtype == dz.dtype == np.float32

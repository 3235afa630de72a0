"""One step of `SGDMomentum` (tuner/mlp/optimizer.py) against the course's formula."""

from __future__ import annotations

import numpy as np
import pytest

from tuner.mlp.network import Network
from tuner.mlp.optimizer import SGDMomentum

pytestmark = pytest.mark.unit


def one_hot(y, k):
    Y = np.zeros((y.shape[0], k))
    Y[np.arange(y.shape[0]), y] = 1.0
    return Y


def test_one_optimizer_step_is_the_course_formula():
    """v = momentum v + (1 - momentum) grad; p -= learning_rate v, on a tiny network's
    every parameter (W, gamma, beta, output W and b), by hand, twice (so the velocity
    carries over)."""
    rng = np.random.default_rng(8)
    net = Network(3, (4,), 2, batchnorm=True, dtype=np.float64, eps=1e-5)
    net.init_params(rng)
    X, Y = rng.standard_normal((5, 3)), one_hot(np.array([0, 1, 1, 0, 1]), 2)
    lr, momentum = 0.3, 0.8
    optimizer = SGDMomentum(net.theta, lr, momentum)
    p, v = net.theta.copy(), np.zeros_like(net.theta)
    for _ in range(2):
        net.forward_backward(X, Y, net.workspace(5))
        grad = net.grad.copy()
        assert np.any(grad != 0)
        v = momentum * v + (1 - momentum) * grad
        p = p - lr * v
        optimizer.step(net.grad)
        np.testing.assert_allclose(net.theta, p, rtol=1e-13, atol=1e-15)
    assert set(net.names) == {"W0", "gamma0", "beta0", "W_out", "b_out"}

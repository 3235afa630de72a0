"""The composed `Network` (tuner/mlp/network.py): its parameter layout, the true gradients
of forward/backward against centred differences, batch norm's running averages at inference."""

from __future__ import annotations

import numpy as np
import pytest

from mlp_helpers import numeric_gradient, relative_error, small_problem
from tuner.mlp import (
    MLPClassifierBN,
    MLPRegressorBN,
    batchnorm_forward,
    batchnorm_inference,
)
from tuner.mlp.fitting import one_hot

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("use_batchnorm", [True, False])
def test_network_gradients_match_centred_differences(use_batchnorm):
    X, y = small_problem(seed=3, n=12, d=4, k=3)
    clf = MLPClassifierBN(
        hidden=(6, 5), dtype="float64", epochs=2, batch_size=4, learning_rate=0.1,
        use_batchnorm=use_batchnorm,
    )  # fmt: skip
    clf.fit(X, y)  # a few steps, so gamma, beta and the biases are not at their init
    net = clf._network  # the network's own training pass, as fit runs it
    Y = one_hot(np.searchsorted(clf.classes_, y), 3, np.float64)
    workspace = net.workspace(X.shape[0])

    def loss_and_grads():
        loss = net.forward_backward(X, Y, workspace)
        return loss, {name: net.view(net.grad, name).copy() for name in net.names}

    loss, grads = loss_and_grads()
    names = {"W0", "W1", "W_out", "b_out"} | (
        {"gamma0", "beta0", "gamma1", "beta1"} if use_batchnorm else {"b0", "b1"}
    )
    assert set(grads) == names

    for name, analytic in grads.items():
        param = net.view(net.theta, name)  # a view: writing it moves the model
        numeric = numeric_gradient(lambda: loss_and_grads()[0], param)
        assert relative_error(analytic, numeric) < 1e-6, name
    assert loss_and_grads()[0] == loss


def _check_network_gradients(net, X, Y, weights=None):
    workspace = net.workspace(X.shape[0])

    def loss_and_grads():
        loss = net.forward_backward(X, Y, workspace, weights)
        return loss, {name: net.view(net.grad, name).copy() for name in net.names}

    loss, grads = loss_and_grads()
    for name, analytic in grads.items():
        param = net.view(net.theta, name)
        numeric = numeric_gradient(lambda: loss_and_grads()[0], param)
        assert relative_error(analytic, numeric) < 1e-6, name
    return loss


@pytest.mark.parametrize("use_batchnorm", [True, False])
def test_regression_network_gradients_match_centred_differences(use_batchnorm):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((12, 4))
    y = X @ rng.standard_normal(4) + 0.1 * rng.standard_normal(12)
    reg = MLPRegressorBN(hidden=(6, 5), dtype="float64", epochs=2, batch_size=4,
                         learning_rate=0.1, use_batchnorm=use_batchnorm).fit(X, y)
    net = reg._network
    assert net.loss == "squared_error" and net.view(net.theta, "W_out").shape == (5, 1)
    Y = ((y - reg.target_mean_) / reg.target_scale_).reshape(-1, 1)
    _check_network_gradients(net, X, Y)


def test_class_weighted_network_gradients_match_centred_differences():
    X, y = small_problem(seed=4, n=12, d=4, k=3)
    clf = MLPClassifierBN(hidden=(5,), dtype="float64", epochs=2, batch_size=4,
                          class_weight="balanced").fit(X, y)
    Y = one_hot(np.searchsorted(clf.classes_, y), 3, np.float64)
    weights = np.random.default_rng(0).uniform(0.2, 3.0, X.shape[0])
    _check_network_gradients(clf._network, X, Y, weights)


def test_prediction_uses_running_averages_not_the_batch(digits):
    X_train, X_val, y_train, _ = digits
    clf = MLPClassifierBN(epochs=3).fit(X_train, y_train)
    batch = clf.predict_proba(X_val[:50])
    for i in (0, 17, 49):
        alone = clf.predict_proba(X_val[i : i + 1])
        np.testing.assert_allclose(alone[0], batch[i], rtol=1e-5, atol=1e-6)
        assert alone[0].argmax() == batch[i].argmax()
    # the batch's own statistics are far from the running averages
    z = X_val[:50].astype(np.float32) @ clf.coefs_[0]
    assert not np.allclose(z.mean(axis=0), clf.running_mean_[0], atol=1e-2)
    expected = batchnorm_inference(
        z, clf.gammas_[0], clf.betas_[0], clf.running_mean_[0], clf.running_var_[0], clf.eps
    )
    with_batch_stats = batchnorm_forward(z, clf.gammas_[0], clf.betas_[0], clf.eps)[0]
    assert not np.allclose(expected, with_batch_stats, atol=1e-2)


def test_running_statistics_are_exponential_averages_of_batch_statistics(digits):
    X_train, _, y_train, _ = digits
    X = X_train[:200].astype(np.float32)
    y = y_train[:200]
    decay = 0.7
    snapshots = []

    def on_epoch(epoch, metrics):
        snapshots.append(
            (
                [p.copy() for p in clf.coefs_],
                [p.copy() for p in clf.gammas_],
                [p.copy() for p in clf.betas_],
                [r.copy() for r in clf.running_mean_],
                [r.copy() for r in clf.running_var_],
            )
        )

    # one batch per epoch: epoch e normalizes with the statistics of the whole data
    # under the weights left by epoch e - 1
    clf = MLPClassifierBN(hidden=(16, 8), epochs=3, batch_size=500, bn_decay=decay)
    clf.fit(X, y, on_epoch=on_epoch)
    for epoch in (1, 2):
        coefs, gammas, betas, _, _ = snapshots[epoch - 1]
        _, _, _, old_mean, old_var = snapshots[epoch - 1]
        _, _, _, new_mean, new_var = snapshots[epoch]
        a = X
        for layer in range(2):
            z = a @ coefs[layer]
            batch_mean, batch_var = np.empty((2, z.shape[1]), np.float32)
            out, _ = batchnorm_forward(
                z, gammas[layer], betas[layer], clf.eps, stats=(batch_mean, batch_var)
            )
            np.testing.assert_allclose(
                new_mean[layer], decay * old_mean[layer] + (1 - decay) * batch_mean,
                rtol=1e-4, atol=1e-5,
            )  # fmt: skip
            np.testing.assert_allclose(
                new_var[layer], decay * old_var[layer] + (1 - decay) * batch_var,
                rtol=1e-4, atol=1e-5,
            )  # fmt: skip
            assert not np.allclose(new_mean[layer], batch_mean, atol=1e-3)
            a = np.maximum(out, 0)


def test_hidden_layers_have_weights_and_no_bias_and_learn_gamma_and_beta(digits):
    X_train, _, y_train, _ = digits
    clf = MLPClassifierBN(hidden=(32, 16), epochs=2).fit(X_train, y_train)
    assert [W.shape for W in clf.coefs_] == [(64, 32), (32, 16), (16, 10)]
    assert [b.shape for b in clf.intercepts_] == [(10,)]  # the output layer's only
    assert [g.shape for g in clf.gammas_] == [(32,), (16,)]
    assert [b.shape for b in clf.betas_] == [(32,), (16,)]
    assert [r.shape for r in clf.running_mean_] == [(32,), (16,)]
    assert [r.shape for r in clf.running_var_] == [(32,), (16,)]
    for gamma, beta in zip(clf.gammas_, clf.betas_, strict=True):
        assert not np.allclose(gamma, 1.0)
        assert not np.allclose(beta, 0.0)


def test_without_batchnorm_hidden_layers_have_biases(digits):
    X_train, X_val, y_train, y_val = digits
    clf = MLPClassifierBN(use_batchnorm=False, epochs=10, learning_rate=0.05)
    clf.fit(X_train, y_train)
    assert [b.shape for b in clf.intercepts_] == [(64,), (64,), (10,)]
    assert clf.gammas_ == clf.betas_ == clf.running_mean_ == clf.running_var_ == []
    assert not np.allclose(clf.intercepts_[0], 0.0)
    assert clf.score(X_val, y_val) > 0.9

"""Tests of the numpy batch-norm MLP: gradients, batch norm, training, persistence."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from tuner.errors import TunerError
from tuner.mlp import (
    FORMAT_VERSION,
    DivergedError,
    MLPClassifierBN,
    ModelFormatError,
    NotFittedError,
    batchnorm_backward,
    batchnorm_forward,
    batchnorm_inference,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def digits():
    """Standardized digits, stratified 80/20 split: X_train, X_val, y_train, y_val."""
    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_val), y_train, y_val


def small_problem(seed=0, n=60, d=5, k=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.integers(0, k, n)
    y[:k] = np.arange(k)  # every class present
    return X, y


def relative_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


# ------------------------------------------------------------ gradient checks


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


@pytest.mark.parametrize("use_batchnorm", [True, False])
def test_network_gradients_match_centred_differences(use_batchnorm):
    X, y = small_problem(seed=3, n=12, d=4, k=3)
    clf = MLPClassifierBN(
        hidden=(6, 5), dtype="float64", epochs=2, batch_size=4, learning_rate=0.1,
        use_batchnorm=use_batchnorm,
    )  # fmt: skip
    clf.fit(X, y)  # a few steps, so gamma, beta and the biases are not at their init
    loss, grads = clf._loss_and_grads(X, y)
    names = {"W0", "W1", "W_out", "b_out"} | (
        {"gamma0", "beta0", "gamma1", "beta1"} if use_batchnorm else {"b0", "b1"}
    )
    assert set(grads) == names

    h = 1e-6
    for name, analytic in grads.items():
        param = clf._view(clf._theta, name)  # a view: writing it moves the model
        numeric = np.zeros_like(param)
        for i in np.ndindex(param.shape):
            saved = param[i]
            param[i] = saved + h
            plus = clf._loss_and_grads(X, y)[0]
            param[i] = saved - h
            minus = clf._loss_and_grads(X, y)[0]
            param[i] = saved
            numeric[i] = (plus - minus) / (2 * h)
        assert relative_error(analytic, numeric) < 1e-6, name
    assert clf._loss_and_grads(X, y)[0] == loss


# ------------------------------------------------------------ batch norm at inference


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


# ------------------------------------------------------------ training


def test_digits_reach_95_percent_validation_accuracy(digits):
    X_train, X_val, y_train, y_val = digits
    clf = MLPClassifierBN(hidden=(64, 64), learning_rate=0.1, momentum=0.9, epochs=20)
    clf.fit(X_train, y_train)
    assert clf.score(X_val, y_val) >= 0.95
    assert clf.n_epochs_ == 20 == len(clf.loss_curve_) == len(clf.history_)
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_float32_by_default_and_float64_on_request(digits):
    X_train, X_val, y_train, _ = digits
    # numpy float64 scalars as hyperparameters must not upcast the float32 model
    clf = MLPClassifierBN(
        epochs=1, learning_rate=np.float64(0.05), momentum=np.float64(0.9),
        eps=np.float64(1e-5), bn_decay=np.float64(0.9),
    ).fit(X_train, y_train)  # fmt: skip
    arrays = clf.coefs_ + clf.intercepts_ + clf.gammas_ + clf.betas_
    arrays += clf.running_mean_ + clf.running_var_
    assert {a.dtype for a in arrays} == {np.dtype(np.float32)}
    assert clf.predict_proba(X_val).dtype == np.float32
    clf64 = MLPClassifierBN(epochs=1, dtype="float64").fit(X_train, y_train)
    assert {a.dtype for a in clf64.coefs_ + clf64.gammas_} == {np.dtype(np.float64)}


def test_constant_input_column_trains_without_nan(digits):
    X_train, X_val, y_train, y_val = digits
    X_train = X_train.copy()
    X_train[:, 5] = 7.0  # constant, not standardized
    X_val = X_val.copy()
    X_val[:, 5] = 7.0
    X_val[:, 9] = -3.0  # constant in the validation set only
    seen = []
    clf = MLPClassifierBN(epochs=5).fit(
        X_train, y_train, X_val, y_val, on_epoch=lambda e, m: seen.append(m)
    )
    assert all(np.isfinite(list(m.values())).all() for m in seen)
    assert np.isfinite(clf.predict_proba(X_val)).all()
    assert clf.score(X_val, y_val) > 0.8


def test_identical_rows_in_a_batch_give_finite_training():
    X = np.repeat(np.array([[1.0, 2.0], [3.0, -1.0]]), 8, axis=0)
    y = np.repeat([0, 1], 8)
    clf = MLPClassifierBN(hidden=(4,), epochs=5, batch_size=4).fit(X, y)
    assert np.isfinite(clf._theta).all()
    assert np.isfinite(clf.loss_curve_).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_huge_learning_rate_raises_diverged(digits, dtype):
    X_train, _, y_train, _ = digits
    clf = MLPClassifierBN(learning_rate=1000, dtype=dtype, epochs=5)
    with pytest.raises(DivergedError, match="diverged in epoch") as info:
        clf.fit(X_train, y_train)
    error = info.value
    assert isinstance(error, TunerError) and isinstance(error, ArithmeticError)
    assert error.epoch >= 1
    assert not np.isfinite(error.loss) or error.loss > 100 * np.log(10)
    with pytest.raises(NotFittedError):  # never a NaN score from a diverged model
        clf.predict(X_train)


def test_same_seed_same_model_different_seed_different_model(digits):
    X_train, X_val, y_train, _ = digits
    first = MLPClassifierBN(epochs=2, seed=5).fit(X_train, y_train)
    second = MLPClassifierBN(epochs=2, seed=5).fit(X_train, y_train)
    other = MLPClassifierBN(epochs=2, seed=6).fit(X_train, y_train)
    assert np.array_equal(first.predict_proba(X_val), second.predict_proba(X_val))
    assert all(np.array_equal(a, b) for a, b in zip(first.coefs_, second.coefs_, strict=True))
    assert not np.array_equal(first.coefs_[0], other.coefs_[0])


def test_on_epoch_gets_metrics_and_can_stop_training(digits):
    X_train, X_val, y_train, y_val = digits
    calls = []

    def on_epoch(epoch, metrics):
        calls.append((epoch, metrics))
        # validation metrics are computed in inference mode, like score
        assert metrics["val_accuracy"] == clf.score(X_val, y_val)
        return epoch == 3

    clf = MLPClassifierBN(epochs=10)
    assert clf.fit(X_train, y_train, X_val, y_val, on_epoch=on_epoch) is clf
    assert [epoch for epoch, _ in calls] == [1, 2, 3]
    assert all(set(m) == {"train_loss", "val_loss", "val_accuracy"} for _, m in calls)
    assert clf.n_epochs_ == 3 == len(clf.history_) == len(clf.loss_curve_)
    assert [h["train_loss"] for h in clf.history_] == clf.loss_curve_
    assert clf.history_[2]["epoch"] == 3


def test_without_validation_data_only_the_train_loss_is_reported(digits):
    X_train, _, y_train, _ = digits
    calls = []
    MLPClassifierBN(epochs=2).fit(X_train, y_train, on_epoch=lambda e, m: calls.append(m))
    assert [set(m) for m in calls] == [{"train_loss"}, {"train_loss"}]


@pytest.mark.parametrize(
    "labels", [np.array(["cat", "dog", "emu"]), np.array([10, 20, 99]), np.array([-1.5, 0.0, 2.5])]
)
def test_labels_need_not_be_0_to_k(labels):
    X, y_index = small_problem(seed=4, n=90, d=4, k=3)
    X[np.arange(90), y_index] += 3.0  # make it learnable
    y = labels[y_index]
    clf = MLPClassifierBN(hidden=(8,), epochs=30, batch_size=16).fit(X, list(y))
    assert np.array_equal(clf.classes_, np.sort(labels))
    predicted = clf.predict(X)
    assert predicted.dtype.kind == labels.dtype.kind
    assert set(predicted) <= set(labels)
    assert clf.score(X, y) > 0.8


def test_empty_hidden_is_softmax_regression(digits):
    X_train, X_val, y_train, y_val = digits
    clf = MLPClassifierBN(hidden=(), epochs=10).fit(X_train, y_train)
    assert [W.shape for W in clf.coefs_] == [(64, 10)]
    assert clf.score(X_val, y_val) > 0.9


def test_batch_larger_than_the_data_is_one_batch():
    X, y = small_problem(n=20)
    clf = MLPClassifierBN(hidden=(4,), batch_size=1000, epochs=2).fit(X, y)
    assert clf.n_epochs_ == 2


# ------------------------------------------------------------ persistence


@pytest.mark.parametrize("labels", [np.array([3, 5, 8]), np.array(["a", "bb", "ccc"])])
def test_save_load_round_trip_is_exact(tmp_path, labels):
    X, y_index = small_problem(seed=7, n=80, d=6, k=3)
    clf = MLPClassifierBN(hidden=(7, 5), epochs=3, batch_size=16).fit(X, labels[y_index])
    path = tmp_path / "model.npz"
    clf.save(path, scaler_mean=np.arange(6.0), scaler_scale=np.ones(6))
    assert path.exists()  # the name is kept as given

    with np.load(path, allow_pickle=False) as npz:  # no pickles inside
        assert all(npz[name].dtype.kind != "O" for name in npz.files)

    loaded = MLPClassifierBN.load(path)
    assert np.array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert np.array_equal(loaded.predict(X), clf.predict(X))
    assert np.array_equal(loaded.classes_, clf.classes_)
    assert loaded.classes_.dtype == clf.classes_.dtype
    assert loaded.get_params() == clf.get_params()
    assert all(np.array_equal(a, b) for a, b in zip(loaded.running_var_, clf.running_var_,
                                                     strict=True))
    assert np.array_equal(loaded.extra_["scaler_mean"], np.arange(6.0))
    assert set(loaded.extra_) == {"scaler_mean", "scaler_scale"}
    assert loaded.n_epochs_ == 3 and loaded.loss_curve_ == clf.loss_curve_


def test_save_without_batchnorm_round_trips(tmp_path):
    X, y = small_problem(seed=8)
    clf = MLPClassifierBN(hidden=(5,), epochs=2, use_batchnorm=False, dtype="float64").fit(X, y)
    clf.save(tmp_path / "m.npz")
    loaded = MLPClassifierBN.load(tmp_path / "m.npz")
    assert np.array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert loaded.coefs_[0].dtype == np.float64


def test_load_refuses_a_file_that_is_not_a_tuner_model(tmp_path):
    other = tmp_path / "other.npz"
    np.savez(other, weights=np.ones(3))
    with pytest.raises(ModelFormatError, match="not a tuner model"):
        MLPClassifierBN.load(other)
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a tuner model"):
        MLPClassifierBN.load(text)


def rewrite(path, target, meta_changes=(), **arrays_changes):
    """Copy a saved model, changing metadata entries or arrays."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    meta = json.loads(str(arrays["__tuner_meta__"][()]))
    meta.update(meta_changes)
    arrays["__tuner_meta__"] = np.array(json.dumps(meta))
    arrays.update(arrays_changes)
    with open(target, "wb") as f:
        np.savez(f, **arrays)
    assert zipfile.is_zipfile(target)
    return target


def test_load_refuses_a_newer_format_version_and_a_foreign_format(tmp_path):
    X, y = small_problem()
    path = tmp_path / "model.npz"
    MLPClassifierBN(hidden=(3,), epochs=1).fit(X, y).save(path)
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(str(npz["__tuner_meta__"][()]))
    assert meta["format"] == "tuner.mlp" and meta["format_version"] == FORMAT_VERSION == 1
    assert meta["classes"] == [0, 1, 2] and meta["classes_kind"] == "i"
    assert meta["params"]["hidden"] == [3]

    newer = rewrite(path, tmp_path / "newer.npz", {"format_version": FORMAT_VERSION + 1})
    with pytest.raises(ValueError, match="format_version 2, newer than this tuner reads"):
        MLPClassifierBN.load(newer)
    other = rewrite(path, tmp_path / "other.npz", {"format": "someone.else"})
    with pytest.raises(ModelFormatError, match="is not a tuner.mlp model file"):
        MLPClassifierBN.load(other)
    pickled = rewrite(path, tmp_path / "pickled.npz", classes=np.array([object()], dtype=object))
    with pytest.raises(ModelFormatError, match="not a tuner model file"):
        MLPClassifierBN.load(pickled)
    damaged = rewrite(path, tmp_path / "damaged.npz", theta=np.zeros(2))
    with pytest.raises(ModelFormatError, match="damaged"):
        MLPClassifierBN.load(damaged)


def test_save_before_fit_is_refused(tmp_path):
    with pytest.raises(NotFittedError, match="not fitted"):
        MLPClassifierBN().save(tmp_path / "m.npz")


# ------------------------------------------------------------ bad input


X_OK, Y_OK = small_problem(seed=9, n=30)


def with_value_at_7(X, value):
    X = X.copy()
    X.flat[7] = value
    return X


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda X, y: (with_value_at_7(X, np.nan), y), "NaN or infinity"),
        (lambda X, y: (with_value_at_7(X, -np.inf), y), "NaN or infinity"),
        (lambda X, y: (X, y[:-1]), "different lengths"),
        (lambda X, y: (X, np.zeros_like(y)), "single class"),
        (lambda X, y: (X[:0], y[:0]), "empty"),
        (lambda X, y: (X[:, 0], y), "must be 2-D"),
        (lambda X, y: (X[:, :0], y), "0 features"),
        (lambda X, y: (X.astype(str), y), "numeric"),
        (lambda X, y: (X, y[:, None]), "1-D"),
    ],
)
def test_bad_data_is_refused_with_a_message(change, message):
    X, y = change(X_OK.copy(), Y_OK.copy())
    with pytest.raises(ValueError, match=message):
        MLPClassifierBN(hidden=(3,), epochs=1).fit(X, y)


def test_validation_data_must_come_in_pairs_and_match():
    clf = MLPClassifierBN(hidden=(3,), epochs=1)
    with pytest.raises(ValueError, match="X_val and y_val must be given together"):
        clf.fit(X_OK, Y_OK, X_val=X_OK)
    with pytest.raises(ValueError, match="X_val and y_val must be given together"):
        clf.fit(X_OK, Y_OK, y_val=Y_OK)
    with pytest.raises(ValueError, match="X_val has 4 features, but X has 5"):
        clf.fit(X_OK, Y_OK, X_OK[:, :4], Y_OK)
    with pytest.raises(ValueError, match="X_val contains NaN"):
        clf.fit(X_OK, Y_OK, np.full_like(X_OK, np.nan), Y_OK)
    with pytest.raises(ValueError, match="y_val has labels that are not in y"):
        clf.fit(X_OK, Y_OK, X_OK, Y_OK + 10)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"hidden": (0,)}, "hidden layer sizes must be positive integers"),
        ({"hidden": (8, -2)}, "hidden layer sizes must be positive integers"),
        ({"hidden": (2.5,)}, "hidden layer sizes must be positive integers"),
        ({"hidden": None}, "hidden must be a sequence"),
        ({"learning_rate": 0}, r"learning_rate must be > 0"),
        ({"learning_rate": -0.1}, r"learning_rate must be > 0"),
        ({"learning_rate": float("nan")}, r"learning_rate must be > 0"),
        ({"momentum": 1.0}, r"momentum must be \[0, 1\)"),
        ({"momentum": -0.1}, r"momentum must be \[0, 1\)"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"batch_size": 3.5}, "batch_size must be a positive integer"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"eps": 0.0}, "eps must be > 0"),
        ({"bn_decay": 1.0}, r"bn_decay must be \[0, 1\)"),
        ({"bn_decay": -0.5}, r"bn_decay must be \[0, 1\)"),
        ({"dtype": "float16"}, "dtype must be one of float32, float64"),
        ({"dtype": "banana"}, "dtype must be one of float32, float64"),
        ({"seed": "x"}, "seed must be an integer or None"),
    ],
)
def test_bad_hyperparameters_are_refused_by_fit(params, message):
    clf = MLPClassifierBN(**params)  # __init__ stores them as given
    for name, value in params.items():
        assert getattr(clf, name) is value
    with pytest.raises(ValueError, match=message):
        clf.fit(X_OK, Y_OK)


def test_predict_before_fit_and_with_wrong_features():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        MLPClassifierBN().predict(X_OK)
    assert issubclass(NotFittedError, ValueError)
    clf = MLPClassifierBN(hidden=(3,), epochs=1).fit(X_OK, Y_OK)
    with pytest.raises(ValueError, match="X has 4 features, but the model was fitted with 5"):
        clf.predict(X_OK[:, :4])
    with pytest.raises(ValueError, match="NaN or infinity"):
        clf.predict_proba(np.full_like(X_OK, np.inf))

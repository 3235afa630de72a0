"""`MLPCore` (tuner/mlp/model.py) as a whole: it learns digits, keeps its dtype and labels,
saves and loads, and refuses what it cannot do."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from mlp_helpers import small_problem
from tuner.mlp import (
    FORMAT_VERSION,
    MLPClassifierBN,
    MLPCore,
    ModelFormatError,
    NotFittedError,
)

pytestmark = pytest.mark.unit


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


@pytest.mark.parametrize(
    "labels", [np.array(["cat", "dog", "emu"]), np.array([10, 20, 99]), np.array([-1.5, 0.0, 2.5])]
)
def test_labels_need_not_be_0_to_k(labels):
    X, y_index = small_problem(seed=4, n=90, d=4, k=3)
    X[np.arange(90), y_index] += 3.0  # make it learnable
    y = labels[y_index]
    if labels.dtype.kind == "f":
        # Fractional labels are classes to MLPCore; scikit-learn's contract, which
        # MLPClassifierBN keeps, calls them a continuous target and refuses them.
        with pytest.raises(ValueError, match="Unknown label type: continuous"):
            MLPClassifierBN().fit(X, y)
    clf = MLPCore(hidden=(8,), epochs=30, batch_size=16).fit(X, list(y))
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
    # A classifier is still written as format 1 (an older tuner reads it); 2 adds regressors.
    assert meta["format"] == "tuner.mlp" and meta["format_version"] == 1
    assert FORMAT_VERSION == 2 and "task" not in meta and "class_weight" not in meta["params"]
    assert meta["classes"] == [0, 1, 2] and meta["classes_kind"] == "i"
    assert meta["params"]["hidden"] == [3]

    newer = rewrite(path, tmp_path / "newer.npz", {"format_version": FORMAT_VERSION + 1})
    with pytest.raises(ValueError, match="format_version 3, newer than this tuner reads"):
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


def test_predict_before_fit_and_with_wrong_features():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        MLPClassifierBN().predict(X_OK)
    assert issubclass(NotFittedError, ValueError)
    clf = MLPCore(hidden=(3,), epochs=1).fit(X_OK, Y_OK)
    with pytest.raises(ValueError, match="X has 4 features, but the model was fitted with 5"):
        clf.predict(X_OK[:, :4])
    with pytest.raises(ValueError, match="NaN or infinity"):
        clf.predict_proba(np.full_like(X_OK, np.inf))

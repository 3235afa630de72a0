"""Training (tuner/mlp/fitting.py): epochs of shuffled mini-batches, divergence,
`on_epoch`, odd data that must still train."""

from __future__ import annotations

import numpy as np
import pytest

from mlp_helpers import small_problem
from tuner.errors import TunerError
from tuner.mlp import (
    DivergedError,
    MLPClassifierBN,
    NotFittedError,
)

pytestmark = pytest.mark.unit


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
    assert np.isfinite(clf._network.theta).all()
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


def test_batch_larger_than_the_data_is_one_batch():
    X, y = small_problem(n=20)
    clf = MLPClassifierBN(hidden=(4,), batch_size=1000, epochs=2).fit(X, y)
    assert clf.n_epochs_ == 2


def test_epochs_stepped_one_at_a_time_train_as_fit_does(digits):
    """`fit_epochs` (what a cross-validated trial steps, tuner/folds.py) gives the model
    `fit` gives, and leaves numpy's error state alone between epochs."""
    X_train, X_val, y_train, y_val = digits
    kwargs = {"hidden": (16,), "learning_rate": 0.1, "epochs": 3, "seed": 4}
    whole = MLPClassifierBN(**kwargs).fit(X_train, y_train, X_val, y_val)
    stepped = MLPClassifierBN(**kwargs)
    before = np.geterr()
    seen = []
    for epoch, metrics in stepped.fit_epochs(X_train, y_train, X_val, y_val):
        assert np.geterr() == before, "the epoch's errstate does not leak to the caller"
        assert stepped.n_epochs_ == epoch
        seen.append(metrics["val_accuracy"])
    assert stepped.history_ == whole.history_
    assert seen == [h["val_accuracy"] for h in whole.history_]
    np.testing.assert_array_equal(stepped.coefs_[0], whole.coefs_[0])


def test_fit_epochs_checks_at_once_and_a_divergence_leaves_it_unfitted(digits):
    X_train, _, y_train, _ = digits
    with pytest.raises(ValueError, match="single class"):
        MLPClassifierBN().fit_epochs(X_train, np.zeros(len(X_train)))  # no next() needed
    clf = MLPClassifierBN(learning_rate=1e6, epochs=5)
    steps = clf.fit_epochs(X_train, y_train)
    with pytest.raises(DivergedError):
        for _ in steps:
            pass
    with pytest.raises(NotFittedError):
        clf.predict(X_train)

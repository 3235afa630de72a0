"""The regressor (tuner/mlp/regression.py): target standardization, learning, divergence,
its file, and class weights of the classifier beside it (tuner/mlp/model.py)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, make_classification
from sklearn.metrics import balanced_accuracy_score, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from tuner.mlp import (
    DivergedError,
    MLPClassifierBN,
    MLPCore,
    MLPRegressorBN,
    MLPRegressorCore,
    ModelFormatError,
)
from tuner.mlp.model import row_weights

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_val), y_train, y_val


def test_the_regressor_learns_diabetes_and_reports_its_metrics_in_the_targets_units(diabetes):
    X_train, X_val, y_train, y_val = diabetes
    seen = []
    reg = MLPRegressorCore(hidden=(16,), epochs=40, batch_size=32, learning_rate=0.01).fit(
        X_train, y_train, X_val, y_val, on_epoch=lambda e, m: seen.append(m),
        metrics=("val_rmse", "val_mae", "val_r2"))
    assert reg.target_mean_ == pytest.approx(y_train.mean())
    assert reg.target_scale_ == pytest.approx(y_train.std())
    pred = reg.predict(X_val)
    assert pred.dtype == np.float64 and pred.shape == y_val.shape
    last = seen[-1]
    assert set(last) == {"train_loss", "val_loss", "val_rmse", "val_mae", "val_r2"}
    assert last["val_rmse"] == pytest.approx(mean_squared_error(y_val, pred) ** 0.5, rel=1e-5)
    assert last["val_loss"] == pytest.approx(mean_squared_error(y_val, pred), rel=1e-5)
    assert last["val_r2"] == pytest.approx(r2_score(y_val, pred), rel=1e-4)
    assert reg.score(X_val, y_val) == pytest.approx(r2_score(y_val, pred), rel=1e-4)
    # Better than predicting the mean (R² 0), and the loss went down.
    assert last["val_r2"] > 0.3
    assert seen[-1]["train_loss"] < seen[0]["train_loss"]
    # train_loss is in the target's units squared too: the same order as val_loss.
    assert 0.3 < seen[-1]["train_loss"] / last["val_loss"] < 3


def test_standardizing_the_target_makes_its_units_not_matter(diabetes):
    """The network learns the standardized target: y * 1000 + 7 gives the same network,
    and predictions * 1000 + 7."""
    X_train, X_val, y_train, _ = diabetes
    params = {"hidden": (8,), "epochs": 5, "dtype": "float64"}
    a = MLPRegressorCore(**params).fit(X_train, y_train)
    b = MLPRegressorCore(**params).fit(X_train, y_train * 1000 + 7)
    np.testing.assert_allclose(b._network.theta, a._network.theta, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(b.predict(X_val), a.predict(X_val) * 1000 + 7, rtol=1e-6)


def test_a_constant_target_trains_toward_the_constant():
    """Its deviation is 0: the scale stays 1 (no division by zero), and training moves
    the predictions to the constant."""
    X = np.random.default_rng(0).standard_normal((40, 3))
    reg = MLPRegressorCore(hidden=(4,), epochs=30, batch_size=8).fit(X, np.full(40, 3.5))
    assert (reg.target_mean_, reg.target_scale_) == (3.5, 1.0)
    assert reg.loss_curve_[-1] < reg.loss_curve_[0] / 10
    assert np.abs(reg.predict(X) - 3.5).mean() < 0.2


def test_divergence_is_raised_and_leaves_the_regressor_unfitted(diabetes):
    X_train, _, y_train, _ = diabetes
    reg = MLPRegressorCore(hidden=(16,), learning_rate=1e4, momentum=0.0, epochs=5)
    with pytest.raises(DivergedError, match="diverged in epoch 1"):
        reg.fit(X_train, y_train)
    assert not hasattr(reg, "coefs_") and not hasattr(reg, "target_mean_")


def test_the_regressor_refuses_text_and_non_finite_targets():
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match="must hold numbers for a regressor"):
        MLPRegressorCore().fit(X, np.array(["a", "b", "c", "d"]))
    with pytest.raises(ValueError, match="NaN or infinity"):
        MLPRegressorCore().fit(X, np.array([1.0, np.nan, 2.0, 3.0]))
    with pytest.raises(ValueError, match="unknown metric 'val_accuracy'; valid: val_rmse"):
        MLPRegressorCore().fit(X, np.arange(4.0), X, np.arange(4.0), metrics=("val_accuracy",))
    assert not hasattr(MLPRegressorCore(), "predict_proba")


def test_a_regressor_file_round_trips_and_is_not_read_as_a_classifier(tmp_path, diabetes):
    X_train, X_val, y_train, _ = diabetes
    reg = MLPRegressorBN(hidden=(8,), epochs=3).fit(X_train, y_train)
    path = tmp_path / "reg.npz"
    reg.save(path, scaler_mean=np.zeros(3))
    back = MLPRegressorBN.load(path)
    np.testing.assert_array_equal(back.predict(X_val), reg.predict(X_val))
    assert (back.target_mean_, back.target_scale_) == (reg.target_mean_, reg.target_scale_)
    assert back.history_ == reg.history_ and set(back.extra_) == {"scaler_mean"}
    assert isinstance(MLPRegressorCore.load(path), MLPRegressorCore)
    with pytest.raises(ModelFormatError, match="holds a regression model, not a "
                                               "classification one"):
        MLPClassifierBN.load(path)
    clf_path = tmp_path / "clf.npz"
    MLPCore(hidden=(3,), epochs=1).fit(X_train, y_train > 150).save(clf_path)
    with pytest.raises(ModelFormatError, match="holds a classification model"):
        MLPRegressorCore.load(clf_path)


def test_a_damaged_target_scale_is_refused(tmp_path, diabetes):
    import json
    import zipfile

    X_train, _, y_train, _ = diabetes
    path = tmp_path / "reg.npz"
    MLPRegressorCore(hidden=(3,), epochs=1).fit(X_train, y_train).save(path)
    with np.load(path, allow_pickle=False) as npz:
        arrays = dict(npz)
    meta = json.loads(str(arrays["__tuner_meta__"][()]))
    meta["target_scale"] = -1.0
    arrays["__tuner_meta__"] = np.array(json.dumps(meta))
    bad = tmp_path / "bad.npz"
    with open(bad, "wb") as f:
        np.savez(f, **arrays)
    assert zipfile.is_zipfile(bad)
    with pytest.raises(ModelFormatError, match="target_scale must be a finite number"):
        MLPRegressorCore.load(bad)


# --- class weights --------------------------------------------------------------------------

def test_balanced_row_weights_are_scikit_learns_and_average_one():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2])
    classes = np.array([0, 1, 2])
    w = row_weights("balanced", classes, y)
    expected = compute_class_weight("balanced", classes=classes, y=y)[y]
    np.testing.assert_allclose(w, expected)
    assert w.mean() == pytest.approx(1.0)
    by_dict = row_weights({1: 3.0}, classes, y)  # class 0 and 2 weigh 1, then rescaled
    np.testing.assert_allclose(by_dict, np.array([1, 1, 1, 1, 1, 1, 3, 3, 1]) / (13 / 9))
    assert row_weights(None, classes, y) is None
    with pytest.raises(ValueError, match="names 5, which is not a class"):
        row_weights({5: 1.0}, classes, y)
    with pytest.raises(ValueError, match="class_weight must be None, 'balanced' or a dict"):
        MLPCore(class_weight="heavy").fit(np.zeros((9, 1)), y)


def test_balanced_class_weights_raise_the_balanced_accuracy_of_a_rare_class():
    X, y = make_classification(n_samples=3000, weights=[0.92], flip_y=0.02, class_sep=0.6,
                               random_state=3)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.3, stratify=y,
                                                      random_state=0)
    scores = {}
    for weight in (None, "balanced"):
        clf = MLPCore(hidden=(16,), epochs=15, class_weight=weight, seed=0)
        clf.fit(X_train, y_train)
        scores[weight] = balanced_accuracy_score(y_val, clf.predict(X_val))
    assert scores["balanced"] > scores[None] + 0.03, scores


def test_a_balanced_classifier_round_trips_its_class_weight(tmp_path):
    X, y = make_classification(n_samples=200, weights=[0.8], random_state=0)
    for weight in ("balanced", {0: 1.0, 1: 4.0}):
        clf = MLPClassifierBN(hidden=(4,), epochs=2, class_weight=weight).fit(X, y)
        clf.save(tmp_path / "m.npz")
        back = MLPClassifierBN.load(tmp_path / "m.npz")
        assert back.class_weight == weight
        np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))

"""MLPClassifierBN as a scikit-learn estimator: clone, cross-validation, grid search, and
scikit-learn's own `check_estimator` suite (`parametrize_with_checks`)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone, is_classifier
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from tuner.mlp import MLPClassifierBN, MLPRegressorBN

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def test_params_follow_sklearn_conventions():
    clf = MLPClassifierBN(hidden=(8,), learning_rate=0.1, seed=3)
    assert isinstance(clf, BaseEstimator) and isinstance(clf, ClassifierMixin)
    assert is_classifier(clf)
    params = clf.get_params(deep=True)
    assert params == clf.get_params(deep=False) == {
        "hidden": (8,), "learning_rate": 0.1, "momentum": 0.9, "epochs": 20,
        "batch_size": 64, "eps": 1e-5, "bn_decay": 0.9, "seed": 3, "dtype": "float32",
        "use_batchnorm": True, "class_weight": None,
    }  # fmt: skip
    assert clf.set_params(epochs=5, momentum=0.5) is clf
    assert (clf.epochs, clf.momentum) == (5, 0.5)
    with pytest.raises(ValueError, match="Invalid parameter 'alpha'"):
        clf.set_params(alpha=0.1)
    assert "learning_rate=0.1" in repr(clf)


def test_clone_gives_an_unfitted_copy_that_fits_to_the_same_model(iris):
    X, y = iris
    clf = MLPClassifierBN(hidden=(8,), epochs=15, batch_size=16, seed=1).fit(X, y)
    copy = clone(clf)
    assert copy is not clf and copy.get_params() == clf.get_params()
    assert not hasattr(copy, "classes_") and not hasattr(copy, "coefs_")
    copy.fit(X, y)
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))


def test_cross_val_score_in_a_pipeline_learns_iris(iris):
    X, y = iris
    model = make_pipeline(
        StandardScaler(), MLPClassifierBN(hidden=(16,), epochs=40, batch_size=16, learning_rate=0.1)
    )
    scores = cross_val_score(model, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=0))
    assert scores.shape == (5,)
    assert scores.mean() > 0.9  # a guess scores 1/3
    assert np.all(scores > 0.8)


def test_grid_search_picks_the_learning_rate_that_trains(iris):
    X, y = iris
    X = StandardScaler().fit_transform(X)
    search = GridSearchCV(
        MLPClassifierBN(hidden=(16,), epochs=30, batch_size=16),
        {"learning_rate": [1e-5, 0.1], "hidden": [(16,), (8, 8)]},
        cv=3,
    )
    search.fit(X, y)
    results = search.cv_results_
    assert len(results["params"]) == 4
    assert search.best_params_["learning_rate"] == 0.1  # 1e-5 barely moves in 30 epochs
    assert search.best_score_ > 0.9
    tiny = [s for s, p in zip(results["mean_test_score"], results["params"], strict=True)
            if p["learning_rate"] == 1e-5]  # fmt: skip
    assert max(tiny) < search.best_score_
    assert search.best_estimator_.score(X, y) > 0.9
    assert search.best_estimator_.n_epochs_ == 30


# --- scikit-learn's own contract ------------------------------------------------------------

# Small and quick: every check fits a few times on tiny data. No check is expected to fail
# (expected_failed_checks is empty); a new scikit-learn check that fails shows up here.
# Both train 20 epochs: check_regressors_train wants R² > 0.5 on its 200 rows, which 5
# epochs do not reach (0.29 measured; 20 epochs: 0.72), and check_class_weight_classifiers
# wants class_weight={0: 1000, ...} to predict class 0 on > 87 % of 50 noisy rows: 5
# epochs of 2 mini-batches move the output bias too little (0.60; 20 epochs: 1.0).
@parametrize_with_checks([MLPClassifierBN(hidden=(8,), epochs=20, batch_size=32),
                          MLPRegressorBN(hidden=(8,), epochs=20, batch_size=32)],
                         expected_failed_checks=lambda _estimator: {})
def test_scikit_learn_check_estimator(estimator, check):
    with warnings.catch_warnings():
        # The checks fit 5 epochs on noise: no model converges there, nor needs to.
        warnings.simplefilter("ignore", RuntimeWarning)
        check(estimator)


def test_errors_are_scikit_learns_own(iris):
    from scipy import sparse
    from sklearn.exceptions import DataConversionWarning
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    from tuner.errors import TunerError
    from tuner.mlp import NotFittedError

    X, y = iris
    clf = MLPClassifierBN(hidden=(8,), epochs=3)
    with pytest.raises(SklearnNotFittedError) as info:
        clf.predict(X)
    assert isinstance(info.value, NotFittedError) and isinstance(info.value, TunerError)
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        clf.fit(X, y + 0.5)
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        clf.fit(X, y.reshape(-1, 1))
    assert clf.predict(X).shape == (150,)
    with pytest.raises(TypeError, match="Sparse data was passed .* dense data is required"):
        clf.fit(sparse.csr_matrix(X), y)
    with pytest.raises(ValueError, match="X has 3 features, but MLPClassifierBN is "
                                         "expecting 4 features"):
        clf.predict(X[:, :3])
    with pytest.raises(ValueError, match="one class"):
        clf.fit(X[:10], y[:10])

"""MLPClassifierBN as a scikit-learn estimator: clone, cross-validation, grid search."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone, is_classifier
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tuner.mlp import MLPClassifierBN

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
        "use_batchnorm": True,
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

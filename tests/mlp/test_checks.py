"""What the classifier refuses (tuner/mlp/checks.py): bad data, unpaired validation
data, bad hyperparameters, each with a message that names the fix."""

from __future__ import annotations

import numpy as np
import pytest

from mlp_helpers import small_problem
from tuner.mlp import (
    MLPClassifierBN,
    MLPCore,
)

pytestmark = pytest.mark.unit


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
    # MLPCore's own messages (the tuning path); MLPClassifierBN checks the data
    # scikit-learn's way first (tests/mlp/test_estimator.py).
    X, y = change(X_OK.copy(), Y_OK.copy())
    with pytest.raises(ValueError, match=message):
        MLPCore(hidden=(3,), epochs=1).fit(X, y)


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

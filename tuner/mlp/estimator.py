"""`MLPClassifierBN` and `MLPRegressorBN`: `MLPCore` and `MLPRegressorCore` as
scikit-learn estimators.

A module of its own because `sklearn.base` imports scipy.stats (~0.5-2 s): the commands
that only train (`tuner study run`, `tuner worker`) use `MLPCore` and never pay it.

Here the data is checked scikit-learn's way before `MLPCore` checks it its own way, so the
estimator keeps scikit-learn's contract (tests/mlp/test_estimator.py runs scikit-learn's
`check_estimator` suite on it): its `validate_data` (sparse input refused with the
standard message, object arrays of numbers converted, feature counts and names checked
against `fit`), `column_or_1d` (a column-vector y is raveled with a
DataConversionWarning), `check_classification_targets` (a continuous y is refused as
"Unknown label type"), and scikit-learn's own `NotFittedError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d, validate_data

from tuner.mlp.checks import NotFittedError as TunerNotFittedError
from tuner.mlp.checks import check_X
from tuner.mlp.model import MLPCore
from tuner.mlp.regression import MLPRegressorCore

__all__ = ["MLPClassifierBN", "MLPRegressorBN", "NotFittedError"]


class NotFittedError(TunerNotFittedError, SklearnNotFittedError):
    """A model used before `fit`: tuner's error (a TunerError) and scikit-learn's
    (`sklearn.exceptions.NotFittedError`) at once. `MLPCore` raises tuner's alone:
    importing `sklearn.exceptions` imports all of scikit-learn (~1.2 s)."""


# MLPCore comes first so that its own `score` (with `sample_weight`) and everything else
# it defines win; scikit-learn adds get_params/set_params, the repr, the tags.
class MLPClassifierBN(MLPCore, ClassifierMixin, BaseEstimator):
    __doc__ = (MLPCore.__doc__ or "").replace(
        "Without scikit-learn's base classes (tuner trains this one); `MLPClassifierBN` is it\n"
        "    as a scikit-learn estimator: `clone`, `GridSearchCV` and `cross_val_score` work "
        "there.",
        "A scikit-learn estimator: `clone`, `GridSearchCV` and `cross_val_score` work on it.")

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None,
            on_epoch: Callable[[int, dict[str, float]], bool | None] | None = None,
            *, metrics: tuple[str, ...] | None = None) -> MLPClassifierBN:
        X, y = validate_data(self, X, y, accept_sparse=False, dtype="numeric")
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if np.unique(y).shape[0] < 2:
            raise ValueError(f"y has one class ({y[0]!r}) in {y.shape[0]} samples: a "
                             "classifier needs at least 2")
        super().fit(X, y, X_val, y_val, on_epoch, metrics=metrics)
        return self

    fit.__doc__ = MLPCore.fit.__doc__

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_epochs_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit (or load) first")

    def _check_fitted_X(self, X: Any) -> np.ndarray:
        self._check_fitted()
        X = validate_data(self, X, reset=False, accept_sparse=False, dtype="numeric")
        return check_X(X, self._p["dtype"])


class MLPRegressorBN(MLPRegressorCore, RegressorMixin, BaseEstimator):
    __doc__ = (MLPRegressorCore.__doc__ or "") + (
        "\n    A scikit-learn regressor: `clone`, `GridSearchCV` and `cross_val_score` "
        "work on it;\n    `score` is R².\n")

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None,
            on_epoch: Callable[[int, dict[str, float]], bool | None] | None = None,
            *, metrics: tuple[str, ...] | None = None) -> MLPRegressorBN:
        X, y = validate_data(self, X, y, accept_sparse=False, dtype="numeric",
                             y_numeric=True)
        y = column_or_1d(y, warn=True)
        super().fit(X, y, X_val, y_val, on_epoch, metrics=metrics)
        return self

    fit.__doc__ = MLPRegressorCore.fit.__doc__
    _check_fitted = MLPClassifierBN._check_fitted
    _check_fitted_X = MLPClassifierBN._check_fitted_X

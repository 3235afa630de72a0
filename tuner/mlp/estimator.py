"""`MLPClassifierBN`: `MLPCore` as a scikit-learn estimator.

A module of its own because `sklearn.base` imports scipy.stats (~0.5-2 s): the commands
that only train (`tuner study run`, `tuner worker`) use `MLPCore` and never pay it.
"""

from __future__ import annotations

from sklearn.base import BaseEstimator, ClassifierMixin

from tuner.mlp.model import MLPCore

__all__ = ["MLPClassifierBN"]


# MLPCore comes first so that its own `score` (with `sample_weight`) and everything else
# it defines win; scikit-learn adds get_params/set_params, the repr, the tags.
class MLPClassifierBN(MLPCore, ClassifierMixin, BaseEstimator):
    __doc__ = (MLPCore.__doc__ or "").replace(
        "Without scikit-learn's base classes (tuner trains this one); `MLPClassifierBN` is it\n"
        "    as a scikit-learn estimator: `clone`, `GridSearchCV` and `cross_val_score` work "
        "there.",
        "A scikit-learn estimator: `clone`, `GridSearchCV` and `cross_val_score` work on it.")

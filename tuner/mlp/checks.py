"""What `MLPClassifierBN` refuses: its hyperparameters and data, checked in one place,
and the errors it raises.

`__init__` stores hyperparameters as given (scikit-learn's convention); `fit` calls
these checks, and each error is a ValueError that names the argument and the fix.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tuner.errors import TunerError

__all__ = [
    "DTYPES",
    "DivergedError",
    "NotFittedError",
    "check_X",
    "check_params",
    "check_validation",
    "check_y",
]

DTYPES = ("float32", "float64")


class DivergedError(TunerError, ArithmeticError):
    """Training diverged: a loss became NaN or inf, or far worse than guessing.

    Attributes:
        epoch: the 1-based epoch in which it happened.
        loss: the offending loss (a mini-batch loss, or the epoch's mean loss).
    """

    def __init__(self, epoch: int, loss: float) -> None:
        self.epoch = epoch
        self.loss = loss
        super().__init__(
            f"training diverged in epoch {epoch} (loss {loss:.4g}): "
            "lower the learning rate or the momentum"
        )


class NotFittedError(TunerError, ValueError):
    """A model was used for prediction before `fit` (or `load`)."""


def check_params(estimator: Any) -> dict[str, Any]:
    """Check every hyperparameter of an `MLPClassifierBN` or `MLPRegressorBN`; return
    them normalized (Python scalars, the dtype a numpy dtype)."""

    def number(name: str, low: float, high: float, low_ok: bool) -> float:
        value = getattr(estimator, name)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise ValueError(f"{name} must be a number, got {value!r}")
        value = float(value)  # a Python float keeps float32 arrays float32
        too_low = value < low or (value == low and not low_ok)
        if not math.isfinite(value) or too_low or value >= high:
            bounds = f"{'[' if low_ok else '('}{low:g}, {high:g})"
            if math.isinf(high):
                bounds = f"{'>=' if low_ok else '>'} {low:g}"
            raise ValueError(f"{name} must be {bounds}, got {getattr(estimator, name)!r}")
        return value

    def positive_int(name: str) -> int:
        value = getattr(estimator, name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
        return int(value)

    hidden = estimator.hidden
    if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
        hidden = (hidden,)
    try:
        hidden = tuple(hidden)
    except TypeError:
        raise ValueError(
            f"hidden must be a sequence of layer sizes, got {estimator.hidden!r}"
        ) from None
    for units in hidden:
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(
                f"hidden layer sizes must be positive integers, got {estimator.hidden!r}"
            )
    try:
        dtype = None if estimator.dtype is None else np.dtype(estimator.dtype).name
    except TypeError:
        dtype = None
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {estimator.dtype!r}")
    if estimator.seed is not None and (
        isinstance(estimator.seed, bool) or not isinstance(estimator.seed, (int, np.integer))
    ):
        raise ValueError(f"seed must be an integer or None, got {estimator.seed!r}")
    extra = {}
    if hasattr(estimator, "class_weight"):  # the classifier's
        extra["class_weight"] = _class_weight(estimator.class_weight)
    return {
        "hidden": tuple(int(u) for u in hidden),
        "learning_rate": number("learning_rate", 0.0, math.inf, low_ok=False),
        "momentum": number("momentum", 0.0, 1.0, low_ok=True),
        "epochs": positive_int("epochs"),
        "batch_size": positive_int("batch_size"),
        "eps": number("eps", 0.0, math.inf, low_ok=False),
        "bn_decay": number("bn_decay", 0.0, 1.0, low_ok=True),
        "seed": None if estimator.seed is None else int(estimator.seed),
        "dtype": np.dtype(dtype),
        "use_batchnorm": bool(estimator.use_batchnorm),
        **extra,
    }


def _class_weight(value: Any) -> str | dict | None:
    """None, "balanced", or a dict {label: weight >= 0} (scikit-learn's forms)."""
    if value is None or (isinstance(value, str) and value == "balanced"):
        return value
    if isinstance(value, dict):
        for label, weight in value.items():
            if isinstance(weight, bool) or not isinstance(weight, (int, float, np.number)) \
                    or not math.isfinite(weight) or weight < 0:
                raise ValueError(f"class_weight of class {label!r} must be a finite number "
                                 f">= 0, got {weight!r}")
        return dict(value)
    raise ValueError(f"class_weight must be None, 'balanced' or a dict {{class: weight}}, "
                     f"got {value!r}")


def check_X(X: Any, dtype: np.dtype, name: str = "X") -> np.ndarray:
    """X as a C-contiguous 2-D array of dtype, or a ValueError saying what is wrong."""
    try:
        X = np.asarray(X)
    except Exception as e:  # ragged lists and the like
        raise ValueError(f"{name} could not be read as an array: {e}") from e
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (samples, features), got an array of shape {X.shape}"
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 samples")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has 0 features")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {X.dtype}")
    X = np.ascontiguousarray(X, dtype=dtype)
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return X


def check_y(y: Any, n: int, name: str = "y", X_name: str = "X") -> np.ndarray:
    """y as a 1-D array of n labels (never objects), or a ValueError."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per sample), got shape {y.shape}")
    if y.shape[0] != n:
        raise ValueError(
            f"{X_name} and {name} have different lengths: {n} samples vs {y.shape[0]} labels"
        )
    if y.dtype.kind == "O":
        y = y.astype(str)  # labels are saved as a unicode array, never objects
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return y


def check_validation(
    X_val: Any, y_val: Any, n_features: int, classes: np.ndarray, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    """Validation data checked against the training data: X_val and y_val's class indices."""
    X_val = check_X(X_val, dtype, "X_val")
    if X_val.shape[1] != n_features:
        raise ValueError(
            f"X_val has {X_val.shape[1]} features, but X has {n_features}"
        )
    y_val = check_y(y_val, X_val.shape[0], "y_val", "X_val")
    if y_val.dtype.kind != classes.dtype.kind and not (
        y_val.dtype.kind in "iu" and classes.dtype.kind in "iu"
    ):
        raise ValueError(
            f"y_val's labels ({y_val.dtype}) are not of the kind of y's ({classes.dtype})"
        )
    val_index = np.searchsorted(classes, y_val)
    val_index = np.minimum(val_index, classes.shape[0] - 1)
    unseen = classes[val_index] != y_val
    if unseen.any():
        raise ValueError(
            f"y_val has labels that are not in y: {np.unique(y_val[unseen])[:5].tolist()}"
        )
    return X_val, val_index

"""The metrics a study can tune on and `tuner train` reports, in numpy alone.

Classification (labels as class indices 0..k-1, probabilities (n, k)):

- ``val_accuracy``: share of rows whose most probable class is right;
- ``val_balanced_accuracy``: the mean over classes (those in the true labels) of the
  recall, so every class counts alike however rare: 0.5 is guessing on two classes;
- ``val_f1``: macro F1, the unweighted mean of each class's F1 over the classes in the
  true or predicted labels (0 for a class never predicted, as scikit-learn's default);
- ``val_roc_auc``: the area under the ROC curve of the positive class's probability
  (binary), or the mean over classes of each class against the rest (one-vs-rest,
  macro); a class without rows in the scored split is left out of the mean (0.5 if no
  class can be scored: too few rows to rank);
- ``val_loss``: log loss, the mean cross-entropy (probabilities clipped to the dtype's
  epsilon, as scikit-learn does).

Regression (true and predicted values, in the target's units):

- ``val_rmse``, ``val_mae``: root mean squared error and mean absolute error;
- ``val_r2``: coefficient of determination, 1 - SSE / SST (0 is predicting the mean;
  1.0 if the true values are constant and predicted exactly, else 0.0 then, as
  scikit-learn's ``force_finite``);
- ``val_loss``: the mean squared error, the loss the regressor minimizes.

Each metric has one direction (`DIRECTIONS`): the study's Optuna direction follows it.
The same functions score the validation split every epoch of a trial and the test split
in `tuner train`; tests/test_metrics.py checks them against scikit-learn's. No
scikit-learn here: the tuning path and `tuner predict` start without it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "CLASSIFICATION",
    "DIRECTIONS",
    "REGRESSION",
    "TASKS",
    "accuracy",
    "balanced_accuracy",
    "classification_scores",
    "describe_metric",
    "f1_macro",
    "log_loss",
    "mae",
    "metric_problem",
    "r2",
    "regression_scores",
    "rmse",
    "roc_auc",
]

TASKS = ("classification", "regression")
# The metrics of each task, the first one the default of a study.
CLASSIFICATION = ("val_accuracy", "val_balanced_accuracy", "val_f1", "val_roc_auc",
                  "val_loss")
REGRESSION = ("val_rmse", "val_mae", "val_r2", "val_loss")
DIRECTIONS: dict[str, str] = {
    "val_accuracy": "maximize", "val_balanced_accuracy": "maximize", "val_f1": "maximize",
    "val_roc_auc": "maximize", "val_rmse": "minimize", "val_mae": "minimize",
    "val_r2": "maximize", "val_loss": "minimize",
}
_BY_TASK = {"classification": CLASSIFICATION, "regression": REGRESSION}
# For people (the model card): what each metric measures, and which way is better.
_TEXT = {
    "val_accuracy": "accuracy: the fraction of rows whose predicted class is the true "
                    "class (higher is better)",
    "val_balanced_accuracy": "balanced accuracy: the mean over classes of the fraction of "
                             "each class's rows predicted right (higher is better)",
    "val_f1": "f1: the macro F1, the mean over classes of each class's F1 (higher is "
              "better)",
    "val_roc_auc": "roc_auc: the area under the ROC curve, one class against the rest and "
                   "averaged over classes if more than two (higher is better)",
    "val_rmse": "rmse: the root mean squared error, in the target's units (lower is "
                "better)",
    "val_mae": "mae: the mean absolute error, in the target's units (lower is better)",
    "val_r2": "r2: the coefficient of determination, 1 - squared error / variance of the "
              "target (higher is better; 0 is predicting the mean)",
}
_LOSS_TEXT = {
    "classification": "loss: the mean cross-entropy of the predicted class probabilities "
                      "(lower is better)",
    "regression": "loss: the mean squared error, in the target's units squared (lower is "
                  "better)",
}


def describe_metric(metric: str, task: str) -> str:
    """What ``metric`` measures in a ``task`` study, for people."""
    return _LOSS_TEXT[task] if metric == "val_loss" else _TEXT[metric]


def metric_problem(metric: str, task: str) -> str | None:
    """What is wrong with tuning ``task`` on ``metric``, naming the valid ones, or None."""
    valid = _BY_TASK[task]
    if metric in valid:
        return None
    if metric in DIRECTIONS:
        return f"{metric!r} is a metric of the other task; a {task} study takes one of " \
               f"{', '.join(valid)}"
    return f"unknown metric {metric!r}; a {task} study takes one of {', '.join(valid)}"


# --- classification -------------------------------------------------------------------------

def accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Share of rows with ``pred == y``."""
    return float(np.mean(pred == y))


def _confusion_diagonal(y: np.ndarray, pred: np.ndarray, k: int
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per class: true positives, rows of the class, rows predicted as it."""
    hits = np.bincount(y[pred == y], minlength=k)
    return hits, np.bincount(y, minlength=k), np.bincount(pred, minlength=k)


def balanced_accuracy(y: np.ndarray, pred: np.ndarray, k: int) -> float:
    """Mean recall over the classes present in ``y``."""
    hits, actual, _ = _confusion_diagonal(y, pred, k)
    present = actual > 0
    return float(np.mean(hits[present] / actual[present]))


def f1_macro(y: np.ndarray, pred: np.ndarray, k: int) -> float:
    """Macro F1 over the classes in ``y`` or ``pred``: 2 TP / (actual + predicted)."""
    hits, actual, predicted = _confusion_diagonal(y, pred, k)
    seen = (actual + predicted) > 0
    return float(np.mean(2.0 * hits[seen] / (actual[seen] + predicted[seen])))


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of x, ties sharing their average rank (Mann-Whitney's)."""
    n = x.shape[0]
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(xs[1:], xs[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], n)
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = ((starts + ends - 1) / 2.0 + 1.0)[np.cumsum(new) - 1]
    return ranks


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC of ``score`` for the boolean ``positive``; None without both kinds."""
    n_pos = int(positive.sum())
    n_neg = positive.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = _average_ranks(np.asarray(score, dtype=np.float64))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_auc(y: np.ndarray, proba: np.ndarray) -> float:
    """Binary ROC AUC of class 1's probability; one-vs-rest macro for k > 2."""
    k = proba.shape[1]
    if k == 2:
        auc = _binary_auc(y == 1, proba[:, 1])
        return 0.5 if auc is None else auc
    aucs = [a for c in range(k) if (a := _binary_auc(y == c, proba[:, c])) is not None]
    return float(np.mean(aucs)) if aucs else 0.5


def log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    """Mean -log p(true class), p clipped to [eps, 1 - eps] of its dtype."""
    eps = np.finfo(proba.dtype).eps if proba.dtype.kind == "f" else np.finfo(float).eps
    p = np.clip(proba[np.arange(y.shape[0]), y].astype(np.float64), eps, 1 - eps)
    return float(-np.mean(np.log(p)))


def classification_scores(y: np.ndarray, proba: np.ndarray,
                          names: Iterable[str] = CLASSIFICATION) -> dict[str, float]:
    """The classification metrics ``names`` of probabilities ``proba`` (n, k) against the
    class indices ``y`` (n,)."""
    y = np.asarray(y, dtype=np.int64)
    k = proba.shape[1]
    pred = proba.argmax(axis=1)
    compute: dict[str, Any] = {
        "val_accuracy": lambda: accuracy(y, pred),
        "val_balanced_accuracy": lambda: balanced_accuracy(y, pred, k),
        "val_f1": lambda: f1_macro(y, pred, k),
        "val_roc_auc": lambda: roc_auc(y, proba),
        "val_loss": lambda: log_loss(y, proba),
    }
    return {name: compute[name]() for name in names}


# --- regression -----------------------------------------------------------------------------

def rmse(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(pred - y))))


def mae(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - y)))


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    """1 - SSE / SST; for constant ``y``, 1.0 if predicted exactly, else 0.0."""
    sse = float(np.sum(np.square(pred - y)))
    sst = float(np.sum(np.square(y - np.mean(y))))
    if sst == 0.0:
        return 1.0 if sse == 0.0 else 0.0
    return 1.0 - sse / sst


def regression_scores(y: np.ndarray, pred: np.ndarray,
                      names: Iterable[str] = REGRESSION) -> dict[str, float]:
    """The regression metrics ``names`` of predictions ``pred`` against ``y`` (both (n,),
    in the target's units), computed in float64."""
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    pred = np.asarray(pred, dtype=np.float64).reshape(-1)
    compute: dict[str, Any] = {
        "val_rmse": lambda: rmse(y, pred), "val_mae": lambda: mae(y, pred),
        "val_r2": lambda: r2(y, pred), "val_loss": lambda: float(np.mean(np.square(pred - y))),
    }
    return {name: compute[name]() for name in names}

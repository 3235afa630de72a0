"""`MLPCore`: the classifier, as a scikit-learn-style estimator without scikit-learn.

It checks hyperparameters and data (`tuner.mlp.checks`), builds the `Network`
(tuner/mlp/network.py: parameter layout, forward/backward, logits), trains it
(tuner/mlp/fitting.py: epochs, shuffling, divergence, `on_epoch`; the optimizer is
tuner/mlp/optimizer.py), predicts, and saves and loads through tuner/mlp/io.py.

`MLPCore` imports nothing from scikit-learn, so the tuning path (`tuner.objective`)
starts without scikit-learn's import (~0.5-2 s: it pulls in scipy.stats).
`MLPClassifierBN` (tuner/mlp/estimator.py) is the same class with scikit-learn's
`BaseEstimator`/`ClassifierMixin` added, for `clone`, `GridSearchCV` and the public API
(``from tuner.mlp import MLPClassifierBN`` imports it on first use).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from tuner.metrics import CLASSIFICATION, classification_scores
from tuner.mlp.base import MLPBase
from tuner.mlp.checks import (
    DivergedError,
    NotFittedError,
    check_params,
    check_validation,
    check_X,
    check_y,
)
from tuner.mlp.fitting import one_hot, run_epochs
from tuner.mlp.layers import softmax, softmax_cross_entropy_forward

__all__ = ["DivergedError", "MLPCore", "NotFittedError", "check_metrics", "row_weights"]


class MLPCore(MLPBase):
    """MLP classifier: hidden layers Linear(no bias) -> BatchNorm -> ReLU, softmax out.

    Trained by mini-batch gradient descent with momentum on the mean cross-entropy:
    `v = momentum * v + (1 - momentum) * grad; p -= learning_rate * v` for every
    trainable array (hidden W, gamma, beta; output W and b; hidden b without BN).
    Without scikit-learn's base classes (tuner trains this one); `MLPClassifierBN` is it
    as a scikit-learn estimator: `clone`, `GridSearchCV` and `cross_val_score` work there.

    Args:
        hidden: units of each hidden layer; () is softmax regression.
        learning_rate: step size, > 0.
        momentum: in [0, 1).
        epochs: passes over the training data, > 0.
        batch_size: rows per mini-batch, > 0 (capped at the number of rows).
        eps: guards the division in batch norm, > 0.
        bn_decay: weight of the old value in the running averages, in [0, 1).
        seed: seeds the one generator that drives initialization and shuffling.
        dtype: "float32" (default, fast) or "float64".
        use_batchnorm: False gives hidden layers `a_prev @ W + b` -> ReLU instead.
        class_weight: None; "balanced": each row's cross-entropy weighted by
            n / (k * rows of its class) in the training rows, so every class weighs
            as much in the loss however rare (scikit-learn's "balanced"); or a dict
            {label: weight} (1 for a label left out). The row weights are rescaled to
            average 1 over the training rows, so the learning rate keeps its meaning.

    Fitted attributes (lists run from the first hidden layer to the output):
        coefs_: weight matrices, hidden then output.
        intercepts_: biases: the output layer's (and each hidden layer's without BN).
        gammas_, betas_: BN scale and shift per hidden layer ([] without BN).
        running_mean_, running_var_: BN running statistics per hidden layer.
        classes_: the sorted class labels.
        n_features_in_, n_epochs_, loss_curve_ (mean training loss per epoch),
        history_: one dict of metrics per epoch, as passed to `on_epoch`.
    """

    def __init__(
        self,
        hidden: tuple[int, ...] = (64, 64),
        learning_rate: float = 0.05,
        momentum: float = 0.9,
        epochs: int = 20,
        batch_size: int = 64,
        eps: float = 1e-5,
        bn_decay: float = 0.9,
        seed: int | None = 0,
        dtype: str = "float32",
        use_batchnorm: bool = True,
        class_weight: str | None = None,
    ) -> None:
        super().__init__(hidden, learning_rate, momentum, epochs, batch_size, eps, bn_decay,
                         seed, dtype, use_batchnorm)
        self.class_weight = class_weight

    def fit(
        self,
        X: Any,
        y: Any,
        X_val: Any = None,
        y_val: Any = None,
        on_epoch: Callable[[int, dict[str, float]], bool | None] | None = None,
        *,
        metrics: tuple[str, ...] | None = None,
    ) -> MLPCore:
        """Train from scratch.

        Args:
            X: training inputs, shape (n, d), finite numbers.
            y: labels, shape (n,): any sortable values (ints, strings), at least 2 classes.
            X_val, y_val: optional validation data, given together; scored each epoch
                in inference mode as `val_loss` (the mean cross-entropy, unweighted)
                and the ``metrics`` (default: `val_accuracy`).
            on_epoch: called after each epoch as `on_epoch(epoch, metrics)` with the
                1-based epoch and a dict holding `train_loss` (mean mini-batch loss of
                the epoch, per sample, class-weighted with `class_weight`) and, with
                validation data, `val_loss` and the chosen metrics; returning True
                stops training (Optuna pruning).
            metrics: the validation metrics to compute each epoch, names of
                `tuner.metrics.CLASSIFICATION`.

        Returns:
            self.

        Raises:
            ValueError: bad hyperparameters or data; the message says which.
            DivergedError: a loss became NaN or inf or far worse than guessing, or
                the parameters became non-finite; the model is left unfitted.
        """
        super().fit(X, y, X_val, y_val, on_epoch, metrics=metrics)
        return self

    def fit_epochs(
        self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, *,
        metrics: tuple[str, ...] | None = None,
    ) -> Iterator[tuple[int, dict[str, float]]]:
        """`fit`, one epoch per ``next()``: yields ``(epoch, metrics)`` as `fit` passes
        them to ``on_epoch``.

        Hyperparameters and data are checked here, at once; the network trains as the
        caller asks for epochs, so several models can be stepped in turn (the folds of a
        cross-validated trial, tuner/folds.py). After each epoch the model is fitted as
        far as it went; not asking for more is stopping early. `DivergedError` comes out
        of the ``next()`` whose epoch diverged, and leaves the model unfitted.
        """
        p = self._p = check_params(self)
        names = check_metrics(metrics, CLASSIFICATION, ("val_accuracy",))
        X = check_X(X, p["dtype"])
        y = check_y(y, X.shape[0])
        classes, y_index = np.unique(y, return_inverse=True)
        if classes.shape[0] < 2:
            raise ValueError(
                f"y has a single class ({classes[0]!r}): a classifier needs at least 2"
            )
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together")
        validation = score = None
        if X_val is not None:
            validation = check_validation(X_val, y_val, X.shape[1], classes, p["dtype"])
            score = _scorer(validation[1], classes.shape[0], p["dtype"], names)

        self._reset_fitted()
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        rng = np.random.default_rng(p["seed"])  # initialization, then shuffling
        self._new_network(X.shape[1], classes.shape[0])
        self._network.init_params(rng)
        self.loss_curve_, self.history_ = [], []
        steps = run_epochs(
            self._network, X, y_index, learning_rate=p["learning_rate"],
            momentum=p["momentum"], epochs=p["epochs"], batch_size=p["batch_size"],
            bn_decay=p["bn_decay"], rng=rng, validation=validation, score=score,
            sample_weight=row_weights(p.get("class_weight"), classes, y_index),
        )  # fmt: skip
        return self._recorded(steps)

    # ------------------------------------------------------------ prediction

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (m, k), columns in the order of `classes_`."""
        X = self._check_fitted_X(X)
        with np.errstate(over="ignore", under="ignore"):
            return softmax(self._network.logits(X), overwrite_logits=True)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class label of each row, shape (m,)."""
        X = self._check_fitted_X(X)
        return self.classes_[self._network.logits(X).argmax(axis=1)]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy of `predict(X)` against `y` (weighted by `sample_weight` if given)."""
        X = self._check_fitted_X(X)
        y = check_y(y, X.shape[0])
        hits = self.classes_[self._network.logits(X).argmax(axis=1)] == y
        return float(np.average(hits, weights=sample_weight))


def row_weights(class_weight: str | dict | None, classes: np.ndarray,
                y_index: np.ndarray) -> np.ndarray | None:
    """Each training row's weight in the loss under ``class_weight``, averaging 1; None
    for no weighting. "balanced" is n / (k * rows of the row's class), as scikit-learn's
    `compute_class_weight`, whose weights already average 1."""
    if class_weight is None:
        return None
    k = classes.shape[0]
    if class_weight == "balanced":
        per_class = y_index.shape[0] / (k * np.bincount(y_index, minlength=k))
    else:
        assert isinstance(class_weight, dict)
        labels = classes.tolist()
        unknown = [c for c in class_weight if c not in labels]
        if unknown:
            raise ValueError(f"class_weight names {unknown[0]!r}, which is not a class of y")
        per_class = np.array([float(class_weight.get(c, 1.0)) for c in labels])
    weights = per_class[y_index]
    total = float(weights.mean())
    if not total > 0:
        raise ValueError("class_weight gives every training row a weight of 0")
    return weights / total


def check_metrics(metrics: tuple[str, ...] | None, valid: tuple[str, ...],
                  default: tuple[str, ...]) -> tuple[str, ...]:
    """The validation metrics to compute each epoch: `val_loss` first, then ``metrics``
    (``default`` if None), each one of ``valid``."""
    names = default if metrics is None else tuple(metrics)
    for name in names:
        if name not in valid:
            raise ValueError(f"unknown metric {name!r}; valid: {', '.join(valid)}")
    return ("val_loss", *(n for n in dict.fromkeys(names) if n != "val_loss"))


def _scorer(val_index: np.ndarray, k: int, dtype: np.dtype, names: tuple[str, ...]
            ) -> Callable[[np.ndarray], dict[str, float]]:
    """The validation metrics of the logits: `val_loss` the exact mean cross-entropy of
    the logits (no clipping), the others from `tuner.metrics`."""
    Y_val = one_hot(val_index, k, dtype)
    others = names[1:]

    def score(logits: np.ndarray) -> dict[str, float]:
        scores: dict[str, float] = {}
        if others:
            # Only the ROC AUC ranks probabilities; the rest needs the argmax alone,
            # which the logits have.
            proba = logits
            if "val_roc_auc" in others:
                with np.errstate(over="ignore", under="ignore"):
                    proba = softmax(logits)
            scores = classification_scores(val_index, proba, others)
        loss, _ = softmax_cross_entropy_forward(logits, Y_val, overwrite_logits=True)
        return {"val_loss": loss, **scores}

    return score

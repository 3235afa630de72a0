"""`MLPRegressorCore`: the regressor, the classifier's network with a linear output and
the mean squared error, without scikit-learn (`MLPRegressorBN` in tuner/mlp/estimator.py
is it as a scikit-learn estimator).

The target is standardized on the training rows (``target_mean_``, ``target_scale_``,
stored in the model file) and the network learns the standardized values: every
target's scale then trains with the same learning rates, and divergence has one bound
(guessing the mean scores a squared error of 1). Predictions are mapped back to the
target's units; every metric is reported in them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from tuner.metrics import REGRESSION, regression_scores
from tuner.mlp.base import MLPBase
from tuner.mlp.checks import check_params, check_X, check_y
from tuner.mlp.fitting import run_epochs
from tuner.mlp.model import check_metrics

__all__ = ["MLPRegressorCore", "check_target"]


def check_target(y: Any, n: int, name: str = "y", X_name: str = "X") -> np.ndarray:
    """y as a 1-D float64 array of n finite numbers, or a ValueError."""
    y = check_y(y, n, name, X_name)
    if y.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers for a regressor, got dtype {y.dtype}")
    y = y.astype(np.float64)
    if not np.isfinite(y).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return y


class MLPRegressorCore(MLPBase):
    """MLP regressor: hidden layers Linear(no bias) -> BatchNorm -> ReLU, a linear output.

    Trained as `MLPCore` is (mini-batch gradient descent with momentum), on the mean
    squared error of the standardized target. The hyperparameters are `MLPCore`'s
    without ``class_weight``.

    Fitted attributes: those of `MLPCore` but ``classes_``, and
        target_mean_, target_scale_: the training target's mean and standard deviation
            (1.0 for a constant target): predictions are outputs * scale + mean.
    """

    _LOSS = "squared_error"
    _TASK = "regression"

    def fit(
        self,
        X: Any,
        y: Any,
        X_val: Any = None,
        y_val: Any = None,
        on_epoch: Callable[[int, dict[str, float]], bool | None] | None = None,
        *,
        metrics: tuple[str, ...] | None = None,
    ) -> MLPRegressorCore:
        """Train from scratch.

        Args:
            X: training inputs, shape (n, d), finite numbers.
            y: targets, shape (n,), finite numbers.
            X_val, y_val: optional validation data, given together; scored each epoch
                in inference mode as `val_loss` (mean squared error, in the target's
                units squared) and the ``metrics`` (default: `val_rmse`).
            on_epoch: `on_epoch(epoch, metrics)` after each epoch, ``metrics`` holding
                `train_loss` (mean squared error of the epoch's mini-batches, in the
                target's units squared) and the validation metrics; True stops.
            metrics: names of `tuner.metrics.REGRESSION`.

        Raises:
            ValueError: bad hyperparameters or data; the message says which.
            DivergedError: a loss became NaN or inf or far worse than guessing the
                mean; the model is left unfitted.
        """
        super().fit(X, y, X_val, y_val, on_epoch, metrics=metrics)
        return self

    def fit_epochs(
        self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, *,
        metrics: tuple[str, ...] | None = None,
    ) -> Iterator[tuple[int, dict[str, float]]]:
        """`fit`, one epoch per ``next()`` (as `MLPCore.fit_epochs`)."""
        p = self._p = check_params(self)
        names = check_metrics(metrics, REGRESSION, ("val_rmse",))
        X = check_X(X, p["dtype"])
        y = check_target(y, X.shape[0])
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together")
        validation = score = None
        mean = float(np.mean(y))
        scale = float(np.std(y))
        scale = scale if scale > 0 and np.isfinite(scale) else 1.0
        if X_val is not None:
            X_val = check_X(X_val, p["dtype"], "X_val")
            if X_val.shape[1] != X.shape[1]:
                raise ValueError(f"X_val has {X_val.shape[1]} features, but X has {X.shape[1]}")
            y_val = check_target(y_val, X_val.shape[0], "y_val", "X_val")
            validation = (X_val, y_val)
            score = _scorer(y_val, mean, scale, names)

        self._reset_fitted()
        self.n_features_in_ = X.shape[1]
        self.target_mean_, self.target_scale_ = mean, scale
        rng = np.random.default_rng(p["seed"])  # initialization, then shuffling
        self._new_network(X.shape[1], 1)
        self._network.init_params(rng)
        self.loss_curve_, self.history_ = [], []
        steps = run_epochs(
            self._network, X, (y - mean) / scale, learning_rate=p["learning_rate"],
            momentum=p["momentum"], epochs=p["epochs"], batch_size=p["batch_size"],
            bn_decay=p["bn_decay"], rng=rng, validation=validation, score=score,
        )  # fmt: skip
        return self._recorded(_in_units(steps, scale))

    # ------------------------------------------------------------ prediction

    def _outputs(self, X: np.ndarray) -> np.ndarray:
        out = self._network.logits(X)[:, 0].astype(np.float64)
        return out * self.target_scale_ + self.target_mean_

    def predict(self, X: Any) -> np.ndarray:
        """The predicted target of each row, shape (m,), float64, in the target's units."""
        return self._outputs(self._check_fitted_X(X))

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R² of `predict(X)` against `y` (weighted by `sample_weight` if given)."""
        X = self._check_fitted_X(X)
        y = check_target(y, X.shape[0])
        pred = self._outputs(X)
        w = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, float)
        sse = float(np.sum(w * np.square(y - pred)))
        sst = float(np.sum(w * np.square(y - np.average(y, weights=w))))
        if sst == 0.0:
            return 1.0 if sse == 0.0 else 0.0
        return 1.0 - sse / sst


def _in_units(steps: Iterator[dict[str, float]], scale: float
              ) -> Iterator[dict[str, float]]:
    """The epochs' metrics with `train_loss` in the target's units (squared)."""
    for metrics in steps:
        yield {**metrics, "train_loss": metrics["train_loss"] * scale * scale}


def _scorer(y_val: np.ndarray, mean: float, scale: float, names: tuple[str, ...]
            ) -> Callable[[np.ndarray], dict[str, float]]:
    def score(outputs: np.ndarray) -> dict[str, float]:
        pred = outputs[:, 0].astype(np.float64) * scale + mean
        return regression_scores(y_val, pred, names)

    return score

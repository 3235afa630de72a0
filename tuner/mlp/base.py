"""`MLPBase`: what the classifier (`MLPCore`, tuner/mlp/model.py) and the regressor
(`MLPRegressorCore`, tuner/mlp/regression.py) share: hyperparameters, the network, the
record of the epochs, the checks of fitted use, saving and loading.

A subclass says which output its network ends in (`_LOSS`: the softmax cross-entropy or
the squared error of a linear output), turns its targets into what the network learns,
and predicts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from tuner.mlp import io
from tuner.mlp.checks import DivergedError, NotFittedError, check_X
from tuner.mlp.network import Network

__all__ = ["MLPBase", "OnEpoch"]

OnEpoch = Callable[[int, dict[str, float]], "bool | None"]


class MLPBase:
    """The hyperparameters and the fitted state common to both tasks (see `MLPCore`)."""

    _LOSS = "cross_entropy"  # the network's loss: "cross_entropy" or "squared_error"
    _TASK = "classification"

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
    ) -> None:
        self.hidden = hidden
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.epochs = epochs
        self.batch_size = batch_size
        self.eps = eps
        self.bn_decay = bn_decay
        self.seed = seed
        self.dtype = dtype
        self.use_batchnorm = use_batchnorm

    # --------------------------------------------------------------- fitting

    def _new_network(self, n_features: int, n_outputs: int) -> None:
        """A fresh network for these hyperparameters, its arrays published as attributes."""
        p = self._p
        net = self._network = Network(
            n_features, p["hidden"], n_outputs,
            batchnorm=p["use_batchnorm"], dtype=p["dtype"], eps=p["eps"], loss=self._LOSS,
        )  # fmt: skip
        # The fitted attributes are views into the network's flat vectors: they move as
        # it trains (an `on_epoch` callback sees the current weights).
        self.coefs_, self.intercepts_ = net.coefs, net.intercepts
        self.gammas_, self.betas_ = net.gammas, net.betas
        self.running_mean_, self.running_var_ = net.running_mean, net.running_var

    def fit(
        self,
        X: Any,
        y: Any,
        X_val: Any = None,
        y_val: Any = None,
        on_epoch: OnEpoch | None = None,
        *,
        metrics: tuple[str, ...] | None = None,
    ) -> MLPBase:
        """Train from scratch; the subclass's `fit_epochs` says what is checked and
        reported. ``on_epoch(epoch, metrics)`` returning True stops training."""
        for epoch, scores in self.fit_epochs(X, y, X_val, y_val, metrics=metrics):
            if on_epoch is not None and on_epoch(epoch, dict(scores)):
                break
        return self

    def fit_epochs(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, *,
                   metrics: tuple[str, ...] | None = None
                   ) -> Iterator[tuple[int, dict[str, float]]]:
        raise NotImplementedError

    def _recorded(
        self, steps: Iterator[dict[str, float]]
    ) -> Iterator[tuple[int, dict[str, float]]]:
        try:
            for epoch, metrics in enumerate(steps, start=1):
                self.loss_curve_.append(metrics["train_loss"])
                self.history_.append({"epoch": epoch, **metrics})
                self.n_epochs_ = epoch
                yield epoch, metrics
        except DivergedError:
            self._reset_fitted()
            raise

    _FITTED = (
        "coefs_", "intercepts_", "gammas_", "betas_", "running_mean_", "running_var_",
        "classes_", "n_features_in_", "n_epochs_", "loss_curve_", "history_", "extra_",
        "target_mean_", "target_scale_",
    )

    def _reset_fitted(self) -> None:
        for name in self._FITTED:
            self.__dict__.pop(name, None)

    # ------------------------------------------------------------ prediction

    def _check_fitted_X(self, X: Any) -> np.ndarray:
        self._check_fitted()
        X = check_X(X, self._p["dtype"])
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but the model was fitted with {self.n_features_in_}"
            )
        return X

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_epochs_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit (or load) first"
            )

    # ---------------------------------------------------------- persistence

    def save(self, path: str | os.PathLike, **extra_arrays: np.ndarray) -> None:
        """Write the fitted model to `path` as an npz file, without pickles.

        The format is described in `tuner.mlp.io`.

        Args:
            path: the file to write, exactly (no ".npz" is appended).
            extra_arrays: more arrays to store beside the model, carried as they are
                (tuner's model file keeps its preprocessing there); `load` returns them
                in the model's `extra_` dict.
        """
        self._check_fitted()
        io.save(self, path, extra_arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Any:
        """Read a model written by `save`; extra arrays are in its `extra_` dict.

        Raises:
            ModelFormatError: the file is not a tuner model of this class's task, was
                written by a newer tuner, or is damaged or crafted (a ValueError and a
                TunerError).
        """
        return io.load(cls, path)

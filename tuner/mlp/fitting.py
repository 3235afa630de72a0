"""Training a `Network`: epochs of shuffled mini-batches, divergence, `on_epoch`.

Each step runs `Network.forward_backward` on one mini-batch, hands the gradient to the
optimizer (`tuner.mlp.optimizer`) and moves the running averages of batch norm. The
data are shuffled once per epoch with one gather, and sliced per batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

from tuner.mlp.checks import DivergedError
from tuner.mlp.layers import softmax_cross_entropy_forward
from tuner.mlp.network import Network, Workspace
from tuner.mlp.optimizer import SGDMomentum

__all__ = ["DIVERGENCE_FACTOR", "OnEpoch", "Scorer", "evaluate", "one_hot", "run_epochs",
           "train"]

# A mean training loss this many times worse than guessing uniformly is divergence.
DIVERGENCE_FACTOR = 100.0

# on_epoch(epoch, metrics) after each epoch, 1-based; returning True stops training.
OnEpoch = Callable[[int, dict[str, float]], "bool | None"]


def one_hot(y_index: np.ndarray, k: int, dtype: np.dtype) -> np.ndarray:
    """Class indices 0..k-1 as one-hot rows, shape (m, k)."""
    Y = np.zeros((y_index.shape[0], k), dtype=dtype)
    Y[np.arange(y_index.shape[0]), y_index] = 1.0
    return Y


def evaluate(
    network: Network, X: np.ndarray, y_index: np.ndarray, Y: np.ndarray
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy in inference mode; Y is y_index one-hot."""
    logits = network.logits(X)
    accuracy = float(np.mean(logits.argmax(axis=1) == y_index))
    loss, _ = softmax_cross_entropy_forward(logits, Y, overwrite_logits=True)
    return loss, accuracy


# score(outputs of X_val in inference mode) -> validation metrics; a non-finite
# `val_loss` among them is divergence.
Scorer = Callable[[np.ndarray], dict[str, float]]


def _default_scorer(network: Network, val_index: np.ndarray) -> Scorer:
    """`val_loss` and `val_accuracy` of a classifier (what `train` reports by default)."""
    Y_val = one_hot(val_index, network.n_classes, network.dtype)

    def score(logits: np.ndarray) -> dict[str, float]:
        accuracy = float(np.mean(logits.argmax(axis=1) == val_index))
        loss, _ = softmax_cross_entropy_forward(logits, Y_val, overwrite_logits=True)
        return {"val_loss": loss, "val_accuracy": accuracy}

    return score


def _batches(
    network: Network, Xs: np.ndarray, YsT: np.ndarray, ws: np.ndarray | None, batch: int
) -> list[tuple[np.ndarray, np.ndarray, Workspace, int, np.ndarray | None]]:
    """(rows, targets (m, k), workspace, size, row weights) of each mini-batch: views of
    the shuffled copies, so that one gather per epoch reshuffles them all."""
    n = Xs.shape[0]
    full = network.workspace(batch)
    batches = []
    for start in range(0, n, batch):
        size = min(batch, n - start)
        workspace = full if size == batch else network.workspace(size, larger=full)
        weights = None if ws is None else ws[start : start + size]
        batches.append((Xs[start : start + size], YsT[:, start : start + size].T, workspace,
                        size, weights))
    return batches


def train(
    network: Network,
    X: np.ndarray,
    y_index: np.ndarray,
    *,
    learning_rate: float,
    momentum: float,
    epochs: int,
    batch_size: int,
    bn_decay: float,
    rng: np.random.Generator,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    on_epoch: OnEpoch | None = None,
    sample_weight: np.ndarray | None = None,
    score: Scorer | None = None,
) -> None:
    """Train `network` in place for up to `epochs` epochs.

    Args:
        network: initialized; its parameters move.
        X: inputs (n, d) in the network's dtype, C-contiguous.
        y_index: class indices 0..k-1, shape (n,) (a regressor: the targets, as the
            network learns them).
        rng: shuffles the rows each epoch.
        validation: (X_val, val_index), scored in inference mode after each epoch
            by ``score`` (default: a classifier's `val_loss` and `val_accuracy`).
        sample_weight: optional (n,) weight of each row in a classifier's loss.
        score: the validation metrics of the network's outputs on X_val.
        on_epoch: called after each epoch with the 1-based epoch and a dict holding
            `train_loss` (the mean mini-batch loss of the epoch, per sample) and,
            with validation data, `val_loss` and `val_accuracy`; True stops.

    Raises:
        DivergedError: a loss became NaN or inf or far worse than guessing, or the
            parameters became non-finite.
    """
    steps = run_epochs(network, X, y_index, learning_rate=learning_rate, momentum=momentum,
                       epochs=epochs, batch_size=batch_size, bn_decay=bn_decay, rng=rng,
                       validation=validation, sample_weight=sample_weight, score=score)
    for epoch, metrics in enumerate(steps, start=1):
        if on_epoch is not None and on_epoch(epoch, metrics):
            break


def run_epochs(
    network: Network,
    X: np.ndarray,
    y_index: np.ndarray,
    *,
    learning_rate: float,
    momentum: float,
    epochs: int,
    batch_size: int,
    bn_decay: float,
    rng: np.random.Generator,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    sample_weight: np.ndarray | None = None,
    score: Scorer | None = None,
) -> Iterator[dict[str, float]]:
    """`train` one epoch per ``next()``: yields each epoch's metrics (the dict `train`
    passes to ``on_epoch``), so a caller can step several networks in turn (the folds of
    a cross-validated trial, tuner/folds.py). Stopping early is simply not asking for
    the next epoch. Raises `DivergedError` from the ``next()`` of the epoch that diverged.
    """
    dtype, n, k = network.dtype, X.shape[0], network.n_classes
    batch = min(batch_size, n)
    if network.loss == "squared_error":  # targets as the outputs lie: (k, n)
        YT = np.ascontiguousarray(y_index.reshape(n, k).T, dtype=dtype)
        # Guessing the mean of standardized targets scores 1.
        bound = DIVERGENCE_FACTOR * 1.0
    else:
        YT = np.zeros((k, n), dtype=dtype)  # one-hot, transposed as the logits: (k, n)
        YT[y_index, np.arange(n)] = 1.0
        bound = DIVERGENCE_FACTOR * math.log(k) * (
            1.0 if sample_weight is None else float(np.max(sample_weight)))
    Xs, YsT = np.empty_like(X), np.empty_like(YT)  # shuffled copies, rewritten each epoch
    W = None if sample_weight is None else np.ascontiguousarray(sample_weight, dtype=dtype)
    Ws = None if W is None else np.empty_like(W)
    batches = _batches(network, Xs, YsT, Ws, batch)
    if validation is not None:
        X_val, val_index = validation
        if score is None:
            score = _default_scorer(network, val_index)
    optimizer = SGDMomentum(network.theta, learning_rate, momentum)
    forward_backward, grad = network.forward_backward, network.grad

    for epoch in range(1, epochs + 1):
        # The error state is set per epoch, never across a yield: the caller (and the
        # other generators it steps) must not run with this one's settings.
        with np.errstate(all="ignore"):  # overflow is divergence, handled below
            perm = rng.permutation(n)
            np.take(X, perm, axis=0, out=Xs, mode="clip")  # clip: unbuffered
            np.take(YT, perm, axis=1, out=YsT, mode="clip")
            if W is not None:
                np.take(W, perm, out=Ws, mode="clip")
            total = 0.0
            for rows, labels, workspace, size, weights in batches:
                loss = forward_backward(rows, labels, workspace, weights)
                if not math.isfinite(loss):
                    raise DivergedError(epoch, loss)
                total += loss * size
                optimizer.step(grad)
                network.update_running_statistics(bn_decay)
            train_loss = total / n
            if not train_loss <= bound or not np.isfinite(network.theta).all():
                raise DivergedError(epoch, train_loss)

            metrics = {"train_loss": train_loss}
            if validation is not None:
                scored = score(network.logits(X_val))
                val_loss = scored.get("val_loss", 0.0)
                if not math.isfinite(val_loss):
                    raise DivergedError(epoch, val_loss)
                metrics.update(scored)
        yield metrics

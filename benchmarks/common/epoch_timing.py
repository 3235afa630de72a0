"""Training time per epoch, the same architecture and optimizer steps for everyone:
tuner's MLPClassifierBN, scikit-learn's MLPClassifier and PyTorch (when importable)."""

from __future__ import annotations

import contextlib
import io
import statistics
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ALPHA, BETA = 0.05, 0.9  # tuner's default learning rate and momentum


@dataclass
class EpochTimes:
    """Seconds of each epoch but the first (the warm-up), and the validation accuracy."""

    seconds: list[float]
    val_accuracy: float

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def per_epoch(start: float, stamps: Sequence[float]) -> list[float]:
    """Durations of the epochs after the first (the first is the warm-up)."""
    times = np.diff([start, *stamps])
    return list(times[1:]) if len(times) > 1 else list(times)


def time_tuner(X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, *,
               hidden: Sequence[int], batch_size: int, epochs: int, dtype: str = "float32",
               alpha: float = ALPHA, beta: float = BETA, seed: int = 0) -> EpochTimes:
    """tuner's MLPClassifierBN; the data are converted to ``dtype`` outside the clock."""
    from tuner.mlp import MLPClassifierBN

    X, X_val = X.astype(dtype), X_val.astype(dtype)
    stamps: list[float] = []
    clf = MLPClassifierBN(hidden=tuple(hidden), learning_rate=alpha, momentum=beta,
                          epochs=epochs, batch_size=batch_size, seed=seed, dtype=dtype)
    start = time.perf_counter()
    clf.fit(X, y, on_epoch=lambda epoch, metrics: stamps.append(time.perf_counter()))
    return EpochTimes(per_epoch(start, stamps), clf.score(X_val, y_val))


def sklearn_mlp(*, hidden: Sequence[int], batch_size: int, epochs: int, alpha: float = ALPHA,
                beta: float = BETA, seed: int | None = 0, verbose: bool = False):
    """scikit-learn's MLPClassifier taking tuner's steps: tuner's velocity
    ``v = beta v + (1 - beta) g; p -= alpha v`` is sklearn's with learning rate
    ``alpha (1 - beta)`` (sklearn's does not scale the gradient by 1 - beta). No L2, no
    early stopping, every epoch run; no batch norm (sklearn has none)."""
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        hidden_layer_sizes=tuple(hidden), solver="sgd", momentum=beta,
        nesterovs_momentum=False, alpha=0.0, learning_rate="constant",
        learning_rate_init=alpha * (1 - beta), batch_size=batch_size, max_iter=epochs,
        shuffle=True, tol=0.0, n_iter_no_change=epochs + 1, early_stopping=False,
        random_state=seed, verbose=verbose)


class _EpochClock(io.TextIOBase):
    """Stands in for stdout while sklearn fits verbosely: stamps each epoch's line."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def write(self, text: str) -> int:
        if text.startswith("Iteration"):
            self.stamps.append(time.perf_counter())
        return len(text)


def time_sklearn(X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, *,
                 hidden: Sequence[int], batch_size: int, epochs: int, alpha: float = ALPHA,
                 beta: float = BETA, seed: int = 0) -> EpochTimes:
    from sklearn.exceptions import ConvergenceWarning

    clf = sklearn_mlp(hidden=hidden, batch_size=batch_size, epochs=epochs, alpha=alpha,
                      beta=beta, seed=seed, verbose=True)
    clock = _EpochClock()
    with warnings.catch_warnings(), contextlib.redirect_stdout(clock):
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        clf.fit(X, y)
    return EpochTimes(per_epoch(start, clock.stamps), clf.score(X_val, y_val))


def torch_or_none():
    """The torch module, or None where it is not importable (never installed here)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def time_torch(X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, *,
               hidden: Sequence[int], batch_size: int, epochs: int, alpha: float = ALPHA,
               beta: float = BETA, seed: int = 0) -> EpochTimes:
    """PyTorch on the CPU, float32: Linear(bias=False) + BatchNorm1d + ReLU per hidden
    layer, ``SGD(lr=alpha (1 - beta), momentum=beta)``: tuner's steps. Call
    ``torch.set_num_threads`` first to match the others' BLAS threads."""
    import torch

    torch.manual_seed(seed)
    layers: list = []
    fan_in = X.shape[1]
    for units in hidden:
        layers += [torch.nn.Linear(fan_in, units, bias=False),
                   torch.nn.BatchNorm1d(units, eps=1e-5, momentum=0.1),  # = bn_decay 0.9
                   torch.nn.ReLU()]
        fan_in = units
    layers.append(torch.nn.Linear(fan_in, int(y.max()) + 1))
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.SGD(model.parameters(), lr=alpha * (1 - beta), momentum=beta)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    yt = torch.from_numpy(y.astype(np.int64))
    generator = torch.Generator().manual_seed(seed)
    n = Xt.shape[0]
    stamps: list[float] = []
    start = time.perf_counter()
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=generator)
        Xs, ys = Xt[perm], yt[perm]
        for i in range(0, n, batch_size):
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(Xs[i:i + batch_size]), ys[i:i + batch_size]).backward()
            optimizer.step()
        stamps.append(time.perf_counter())
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(np.ascontiguousarray(X_val, dtype=np.float32)))
    return EpochTimes(per_epoch(start, stamps), float(np.mean(pred.argmax(1).numpy() == y_val)))

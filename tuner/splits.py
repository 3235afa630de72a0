"""What loading data gives: the three splits (and, for a table source, the summary of its
rows that the data fingerprint hashes).

Its own module, below tuner.data and tuner.table, so that tuner.data can dispatch to a
table source and tuner.table can build `Splits` without an import cycle; tuner.data
re-exports `Splits` and `DataError` (which lives in tuner.errors).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner.errors import DataError

if TYPE_CHECKING:
    from sklearn.preprocessing import StandardScaler

    from tuner.cache import Scaler
    from tuner.preprocess import Preprocessing

__all__ = ["DataError", "Fold", "Splits", "TableSummary"]


@dataclass(frozen=True)
class TableSummary:
    """A file or database source's rows as the data fingerprint sees them: the content
    hash of the rows (`tuner.table`) and the counts shown beside it."""

    digest: str
    n_rows: int
    n_columns: int         # the features and the target
    n_dropped: int         # rows without a target
    target: str
    classes: tuple[Any, ...]
    origin: str            # where the rows came from, for people


@dataclass(frozen=True)
class Fold:
    """One fold of a cross-validated study ([data] folds, tuner/folds.py): model inputs
    of the train + validation rows, preprocessing fitted on this fold's training rows."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray


@dataclass(frozen=True)
class Splits:
    """Train, validation and held-out test arrays, standardized with the training scaler."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    # The fitted scaler itself, in float64: new raw rows scaled with it come out bit for
    # bit like these arrays did (`tuner predict` relies on it).
    scaler: StandardScaler | Scaler | None = None
    # A file or database source (tuner/table.py): the fitted preprocessing, which
    # `tuner predict` re-applies from the model file, and the summary of the rows the data
    # fingerprint hashes. None for the built-in datasets.
    preprocessing: Preprocessing | None = None
    table: TableSummary | None = None
    # [data] folds = K: the K folds of train + validation, built on the first call (only
    # a trial needs them; `tuner train` and `fingerprint` use the splits alone).
    folds: Callable[[], tuple[Fold, ...]] | None = None

    @property
    def n_classes(self) -> int:
        """The classes in training: the network's outputs (1 for a regression target)."""
        if self.y_train.dtype.kind == "f":
            return 1
        return int(np.unique(self.y_train).size)

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array by name, in a fixed order (what the data fingerprint hashes)."""
        return {
            "X_train": self.X_train, "y_train": self.y_train,
            "X_val": self.X_val, "y_val": self.y_val,
            "X_test": self.X_test, "y_test": self.y_test,
        }

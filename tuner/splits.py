"""What loading data gives: the three splits, and the error a source that cannot be
loaded raises.

Its own module, below tuner.data, tuner.sources and tuner.table, so that tuner.data can
dispatch to a table source and tuner.table can build `Splits` without an import cycle;
tuner.data re-exports both names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tuner.errors import TunerError

if TYPE_CHECKING:
    from sklearn.preprocessing import StandardScaler

    from tuner.cache import Scaler
    from tuner.preprocess import Preprocessing
    from tuner.table import Table

__all__ = ["DataError", "Splits"]


class DataError(TunerError, ValueError):
    """A dataset name or parameter that cannot be loaded."""


@dataclass(frozen=True)
class Splits:
    """Train, validation and held-out test arrays, standardized with the training scaler."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    scaler_mean: np.ndarray
    scaler_scale: np.ndarray
    # The fitted scaler itself, in float64: new raw rows scaled with it come out bit for
    # bit like these arrays did (`tuner predict` relies on it).
    scaler: StandardScaler | Scaler | None = None
    # A file or database source (tuner/table.py): the fitted preprocessing, which
    # `tuner predict` re-applies from the model file, and the rows with their content
    # fingerprint. None for the built-in datasets.
    preprocessing: Preprocessing | None = None
    table: Table | None = None

    @property
    def n_classes(self) -> int:
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

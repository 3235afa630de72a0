"""`Splits`: the three splits a loader returns, their counts, and the fixed order of
arrays the data fingerprint and the splits cache hash."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tuner.data import load_splits
from tuner.errors import DataError
from tuner.splits import DataError as SplitsDataError
from tuner.splits import Splits

pytestmark = pytest.mark.unit


def test_counts_come_from_the_training_split_and_the_arrays_keep_their_order() -> None:
    s = load_splits("wine", seed=0)
    assert isinstance(s, Splits)
    assert (s.n_classes, s.n_features) == (3, 13)
    arrays = s.arrays()
    assert list(arrays) == ["X_train", "y_train", "X_val", "y_val", "X_test", "y_test"]
    assert all(arrays[name] is getattr(s, name) for name in arrays)
    one_class = dataclasses.replace(s, y_train=np.zeros_like(s.y_train))
    assert one_class.n_classes == 1, "counted on the training labels, not the others"


def test_splits_are_frozen_and_share_the_one_data_error() -> None:
    s = load_splits("iris", seed=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.X_train = s.X_val  # type: ignore[misc]
    assert SplitsDataError is DataError

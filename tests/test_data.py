"""Built-in datasets split three ways: sizes, stratification, a test split that stays put
while the tuning split moves, standardization fitted on the training split only."""

from __future__ import annotations

import numpy as np
import pytest

from tuner.data import DataError, fraction_problem, load_splits, load_xy, synthetic_problem

pytestmark = pytest.mark.unit


def test_iris_splits_into_stratified_train_validation_and_test() -> None:
    s = load_splits("iris", test_fraction=0.2, validation_fraction=0.25, seed=3)
    # 150 rows: 30 held out, then a quarter of the remaining 120 for validation.
    assert (len(s.y_test), len(s.y_val), len(s.y_train)) == (30, 30, 90)
    assert s.n_classes == 3 and s.n_features == 4
    for y in (s.y_train, s.y_val, s.y_test):
        assert np.bincount(y).tolist() == [len(y) // 3] * 3, "stratified: equal classes"
    X, _ = load_xy("iris")
    rows = {tuple(np.round(r, 6)) for r in s.scaler.inverse_transform(
        np.vstack([s.X_train, s.X_val, s.X_test]).astype(np.float64))}
    assert rows == {tuple(np.round(r, 6)) for r in X}, "every row lands in one split"


def test_standardized_with_the_training_split_only_and_in_the_asked_dtype() -> None:
    s = load_splits("wine", seed=0)
    assert s.X_train.dtype == np.float32 and s.X_test.dtype == np.float32
    assert np.allclose(s.X_train.mean(axis=0), 0, atol=1e-5)
    assert np.allclose(s.X_train.std(axis=0), 1, atol=1e-4)
    assert not np.allclose(s.X_test.mean(axis=0), 0, atol=1e-3), "test rows not refitted"
    assert load_splits("wine", seed=0, dtype="float64").X_val.dtype == np.float64
    with pytest.raises(DataError, match="dtype='float16' must be 'float32' or 'float64'"):
        load_splits("wine", dtype="float16")


def test_the_test_split_follows_test_seed_not_seed() -> None:
    def raw_test_rows(seed: int, test_seed: int) -> tuple[np.ndarray, np.ndarray]:
        s = load_splits("breast_cancer", seed=seed, test_seed=test_seed, dtype="float64")
        return s.scaler.inverse_transform(s.X_test), s.y_train

    (a, a_train), (b, b_train), (c, _) = raw_test_rows(1, 7), raw_test_rows(2, 7), \
        raw_test_rows(1, 8)
    assert np.allclose(a, b), "the same held-out rows, whatever the tuning seed"
    assert not np.array_equal(a_train, b_train), "the tuning split moves with seed"
    assert a.shape == c.shape and not np.allclose(a, c)


def test_synthetic_data_takes_its_parameters_and_the_others_take_none() -> None:
    X, y = load_xy("synthetic", seed=0, params={"n_samples": 60, "n_features": 5,
                                                "n_informative": 3, "n_classes": 3})
    assert X.shape == (60, 5) and sorted(set(y.tolist())) == [0, 1, 2]
    with pytest.raises(DataError, match="synthetic: unknown parameter 'rows'"):
        load_xy("synthetic", params={"rows": 5})
    with pytest.raises(DataError, match="iris: takes no parameters"):
        load_xy("iris", params={"n_samples": 5})
    with pytest.raises(DataError, match="unknown dataset 'mnist'; choose one of: digits"):
        load_xy("mnist")


def test_the_one_check_of_synthetic_parameters_and_fractions() -> None:
    assert synthetic_problem({}) is None
    assert synthetic_problem({"n_features": 0}) == (
        "n_features", "must be a positive integer, got 0")
    assert synthetic_problem({"n_features": 4, "n_informative": 5}) == (
        "n_informative", "5 must not exceed n_features=4")
    assert fraction_problem(0.5) is None
    assert fraction_problem(1) == "must be strictly between 0 and 1, got 1"


def test_a_split_too_small_for_a_class_says_so() -> None:
    with pytest.raises(DataError, match="iris: cannot split 150 samples with test_fraction=0.01"):
        load_splits("iris", test_fraction=0.01)



def test_the_built_in_shapes_are_the_datasets_own() -> None:
    """The shapes the memory and split checks assume are what the loaders return: rows,
    features, classes (1: the one output of a regression), the smallest class's rows."""
    from tuner.data import DATASET_TASKS, load_xy
    from tuner.spec.limits import DATASET_SHAPES

    for name, (n, d, k, smallest) in DATASET_SHAPES.items():
        X, y = load_xy(name)
        assert X.shape == (n, d), name
        if DATASET_TASKS[name] == "regression":
            assert (k, smallest) == (1, n) and y.dtype.kind == "f", name
        else:
            counts = np.bincount(y)
            assert (k, smallest) == (len(counts), counts.min()), name


def test_regression_datasets_are_numbers_split_without_stratifying() -> None:
    from tuner.data import DATASET_TASKS

    assert {n for n, t in DATASET_TASKS.items() if t == "regression"} == {"diabetes",
                                                                          "friedman1"}
    X, y = load_xy("friedman1", seed=5)
    X0, y0 = load_xy("friedman1", seed=0)
    np.testing.assert_array_equal(y, y0)  # fixed rows; the seed moves the split
    splits = load_splits("diabetes", seed=3)
    assert splits.y_train.dtype.kind == "f" and splits.n_classes == 1
    total = len(splits.y_train) + len(splits.y_val) + len(splits.y_test)
    assert total == 442 and len(splits.y_test) == 89

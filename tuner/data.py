"""Named datasets, split three ways and standardized, ready for the MLP.

The held-out test split is carved off first, with its own seed, and no trial ever sees it;
the rest is split into train and validation, stratified. The scaler is fitted on the
training part only, so validation and test are scaled the way unseen data would be.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from tuner.errors import DataError
from tuner.splits import Splits

if TYPE_CHECKING:
    from tuner.spec.schema import StudySpec

# scikit-learn is imported where data is loaded, not here: every command reads study
# files through this module, and `--help` or a status query should not wait ~1 s for it.

__all__ = ["DATASETS", "DATASET_TASKS", "SYNTHETIC_DEFAULTS", "DataError", "Splits",
           "feature_names", "fraction_problem", "load_splits", "load_xy", "spec_splits",
           "split_indices", "synthetic_problem"]


SYNTHETIC_DEFAULTS: dict[str, int] = {
    "n_samples": 2000,
    "n_features": 20,
    "n_informative": 10,
    "n_classes": 3,
}


def synthetic_problem(params: Mapping[str, int]) -> tuple[str, str] | None:
    """What is wrong with the parameters of the synthetic dataset (the defaults stand in
    for those not given), as (key, what is wrong), or None.

    The one check of them: the study file's [data] (whose error names the key) and
    `load_xy` (a Python caller) both make it, so the two never disagree.
    """
    p = {**SYNTHETIC_DEFAULTS, **params}
    for key in SYNTHETIC_DEFAULTS:
        if p[key] <= 0:
            return key, f"must be a positive integer, got {p[key]}"
    if p["n_informative"] > p["n_features"]:
        return "n_informative", (f"{p['n_informative']} must not exceed "
                                 f"n_features={p['n_features']}")
    if p["n_classes"] < 2:
        return "n_classes", "must be at least 2"
    # make_classification puts two clusters per class on the corners of a hypercube of
    # n_informative dimensions: it needs 2 * n_classes <= 2**n_informative corners.
    corners_bits = (2 * p["n_classes"] - 1).bit_length()
    if p["n_informative"] < corners_bits:
        return "n_classes", f"{p['n_classes']} classes need n_informative >= {corners_bits}"
    if p["n_samples"] < 10 * p["n_classes"]:
        return "n_samples", (f"{p['n_samples']} is too small for {p['n_classes']} classes "
                             f"(need at least {10 * p['n_classes']})")
    return None


def fraction_problem(value: float) -> str | None:
    """What is wrong with a test or validation fraction, or None: the one check of them,
    for the study file's [data] and for `load_splits`."""
    return None if 0 < value < 1 else f"must be strictly between 0 and 1, got {value}"


def _synthetic(seed: int, n_samples: int, n_features: int, n_informative: int,
               n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    problem = synthetic_problem({"n_samples": n_samples, "n_features": n_features,
                                 "n_informative": n_informative, "n_classes": n_classes})
    if problem is not None:
        raise DataError(f"synthetic: {problem[0]}: {problem[1]}")
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=n_samples, n_features=n_features, n_informative=n_informative,
        n_redundant=min(2, n_features - n_informative), n_classes=n_classes,
        random_state=seed,
    )
    return X, y


def _bundled(loader: str) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    def load(seed: int) -> tuple[np.ndarray, np.ndarray]:
        from sklearn import datasets

        return getattr(datasets, loader)(return_X_y=True)
    return load


FRIEDMAN1_ROWS = 2000


def _friedman1(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Friedman's regression problem #1: 10 uniform features, 5 of them in
    10 sin(pi x0 x1) + 20 (x2 - 0.5)^2 + 10 x3 + 5 x4, plus unit normal noise. The rows
    are fixed (random_state 0), whatever the study's seed: the seed moves the split."""
    from sklearn.datasets import make_friedman1

    return make_friedman1(n_samples=FRIEDMAN1_ROWS, n_features=10, noise=1.0, random_state=0)


# Every loader works offline: the five real datasets ship inside scikit-learn.
DATASETS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "digits": _bundled("load_digits"),
    "breast_cancer": _bundled("load_breast_cancer"),
    "wine": _bundled("load_wine"),
    "iris": _bundled("load_iris"),
    "synthetic": _synthetic,
    "diabetes": _bundled("load_diabetes"),  # 442 patients, disease progression after a year
    "friedman1": _friedman1,
}
# What each built-in dataset's target is; a study of it takes this task.
DATASET_TASKS: dict[str, str] = {
    **dict.fromkeys(("digits", "breast_cancer", "wine", "iris", "synthetic"),
                    "classification"),
    "diabetes": "regression", "friedman1": "regression",
}

# The loaders the cache (tuner/cache.py) may serve: a loader put into DATASETS later
# (a plug-in, a test) reads whatever it reads, which no cache key can describe.
_BUILT_IN = dict(DATASETS)


def load_xy(name: str, *, seed: int = 0, params: Mapping[str, int] | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """The whole dataset ``name`` as float64 features and integer labels (a regression
    dataset: float64 targets)."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    params = dict(params or {})
    if name == "synthetic":
        unknown = set(params) - set(SYNTHETIC_DEFAULTS)
        if unknown:
            raise DataError(f"synthetic: unknown parameter {sorted(unknown)[0]!r}; "
                            f"valid: {', '.join(SYNTHETIC_DEFAULTS)}")
        return _synthetic(seed, **{**SYNTHETIC_DEFAULTS, **params})
    if params:
        raise DataError(f"{name}: takes no parameters (got {', '.join(sorted(params))}); "
                        "only 'synthetic' does")
    return DATASETS[name](seed)


def _check_fraction(key: str, value: float) -> None:
    if (problem := fraction_problem(value)) is not None:
        raise DataError(f"{key}: {problem}")


def load_splits(name: str, *, test_fraction: float = 0.2, validation_fraction: float = 0.2,
                seed: int = 0, test_seed: int | None = None, dtype: str = "float32",
                params: Mapping[str, int] | None = None) -> Splits:
    """Load ``name`` and split it into train / validation / test.

    ``validation_fraction`` is a share of what remains after the test split. The test split
    uses ``test_seed`` (default ``seed``) so it can stay fixed while the tuning split moves.
    """
    _check_fraction("test_fraction", test_fraction)
    _check_fraction("validation_fraction", validation_fraction)
    if dtype not in ("float32", "float64"):
        raise DataError(f"dtype={dtype!r} must be 'float32' or 'float64'")
    from sklearn.preprocessing import StandardScaler

    X, y = load_xy(name, seed=seed, params=params)
    train, val, test = split_indices(y, test_fraction=test_fraction,
                                     validation_fraction=validation_fraction, seed=seed,
                                     test_seed=test_seed, name=name,
                                     stratify=DATASET_TASKS.get(name) != "regression")
    X_train, X_val, X_test = X[train], X[val], X[test]
    y_train, y_val, y_test = y[train], y[val], y[test]
    scaler = StandardScaler().fit(X_train)
    cast = np.dtype(dtype)

    def scale(A: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(scaler.transform(A), dtype=cast)

    return Splits(
        X_train=scale(X_train), y_train=y_train, X_val=scale(X_val), y_val=y_val,
        X_test=scale(X_test), y_test=y_test, scaler=scaler,
    )


def split_indices(y: np.ndarray, *, test_fraction: float, validation_fraction: float,
                  seed: int, test_seed: int | None = None, name: str = "the dataset",
                  stratify: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of a built-in dataset's train, validation and test splits: the test
    split carved off first with ``test_seed`` (default ``seed``), then train / validation,
    both stratified by class (not for a regression target), so `tuner split` writes the
    same rows the trials see."""
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(y))
    try:
        rest, test = train_test_split(
            positions, test_size=test_fraction, stratify=y if stratify else None,
            random_state=seed if test_seed is None else test_seed)
        train, val = train_test_split(rest, test_size=validation_fraction,
                                      stratify=y[rest] if stratify else None,
                                      random_state=seed)
    except ValueError as e:
        raise DataError(f"{name}: cannot split {len(y)} samples with test_fraction="
                        f"{test_fraction} and validation_fraction={validation_fraction}: {e}"
                        ) from e
    return train, val, test


def feature_names(name: str, n_features: int) -> list[str]:
    """The feature names scikit-learn gives dataset ``name`` (x0, x1, ... for synthetic)."""
    if name in ("digits", "breast_cancer", "wine", "iris", "diabetes"):
        from sklearn import datasets

        names = [str(n) for n in getattr(datasets, f"load_{name}")().feature_names]
        if len(names) == n_features:
            return names
    return [f"x{i}" for i in range(n_features)]


def spec_splits(spec: StudySpec) -> Splits:
    """The splits a study file's trials train and score on: its [data] and [model] dtype.

    A dispatcher on the source: a file / database table (tuner/table.py: read, typed,
    each row's split a hash of the row or its key (tuner/holdout.py), preprocessing
    fitted on the training split only), or a built-in dataset, whose
    splits come from the on-disk cache when nothing they depend on changed
    (tuner/cache.py), which spares the command the scikit-learn import. With ``[data]
    folds`` the splits carry the folds of train + validation (tuner/folds.py).
    """
    if spec.data.is_table:
        return _table_splits(spec)
    splits = _dataset_splits(spec)
    if spec.data.folds is None:
        return splits
    from tuner.folds import with_folds

    return with_folds(spec, splits)


def _dataset_splits(spec: StudySpec) -> Splits:
    from tuner.cache import cached_splits

    def compute() -> Splits:
        return load_splits(spec.data.dataset, dtype=spec.model.dtype,
                           **spec.data.loader_kwargs())

    name = spec.data.dataset
    if name is None or name not in _BUILT_IN or DATASETS.get(name) is not _BUILT_IN[name]:
        return compute()  # a loader registered in DATASETS by its user: its own business
    return cached_splits(spec, compute, Splits)


def _table_splits(spec: StudySpec) -> Splits:
    from tuner.table import load_table, table_splits

    data = spec.data
    table = load_table(data, spec.path, spec.task if spec.task_stated else None)
    splits = table_splits(table, test_fraction=data.test_fraction,
                          validation_fraction=data.validation_fraction, seed=data.seed,
                          test_seed=data.test_seed, dtype=spec.model.dtype)
    if data.folds is None:
        return splits
    from tuner.folds import with_folds

    return with_folds(spec, splits, table)

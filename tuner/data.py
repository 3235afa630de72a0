"""Named datasets, split three ways and standardized, ready for the MLP.

The held-out test split is carved off first, with its own seed, and no trial ever sees it;
the rest is split into train and validation, stratified. The scaler is fitted on the
training part only, so validation and test are scaled the way unseen data would be.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from tuner.splits import DataError, Splits

if TYPE_CHECKING:
    from tuner.spec import StudySpec

# scikit-learn is imported where data is loaded, not here: every command reads study
# files through this module, and `--help` or a status query should not wait ~1 s for it.

__all__ = ["DATASETS", "SYNTHETIC_DEFAULTS", "DataError", "Splits", "load_splits", "load_xy",
           "spec_splits"]


SYNTHETIC_DEFAULTS: dict[str, int] = {
    "n_samples": 2000,
    "n_features": 20,
    "n_informative": 10,
    "n_classes": 3,
}


def _synthetic(seed: int, n_samples: int, n_features: int, n_informative: int,
               n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    if n_samples < 10 * n_classes:
        raise DataError(f"synthetic: n_samples={n_samples} is too small for "
                        f"{n_classes} classes (need at least {10 * n_classes})")
    if not 1 <= n_informative <= n_features:
        raise DataError(f"synthetic: n_informative={n_informative} must be between 1 and "
                        f"n_features={n_features}")
    if n_classes < 2:
        raise DataError(f"synthetic: n_classes={n_classes} must be at least 2")
    if n_classes * 2 > 2**n_informative:
        raise DataError(f"synthetic: n_classes={n_classes} needs n_informative >= "
                        f"{int(np.ceil(np.log2(n_classes * 2)))}")
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


# Every loader works offline: the four real datasets ship inside scikit-learn.
DATASETS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "digits": _bundled("load_digits"),
    "breast_cancer": _bundled("load_breast_cancer"),
    "wine": _bundled("load_wine"),
    "iris": _bundled("load_iris"),
    "synthetic": _synthetic,
}

# The loaders the cache (tuner/cache.py) may serve: a loader put into DATASETS later
# (a plug-in, a test) reads whatever it reads, which no cache key can describe.
_BUILT_IN = dict(DATASETS)


def load_xy(name: str, *, seed: int = 0, params: Mapping[str, int] | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """The whole dataset ``name`` as float64 features and integer labels."""
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
    if not 0.0 < value < 1.0:
        raise DataError(f"{key}={value} must be strictly between 0 and 1")


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
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_xy(name, seed=seed, params=params)
    try:
        X_rest, X_test, y_rest, y_test = train_test_split(
            X, y, test_size=test_fraction, stratify=y,
            random_state=seed if test_seed is None else test_seed)
        X_train, X_val, y_train, y_val = train_test_split(
            X_rest, y_rest, test_size=validation_fraction, stratify=y_rest,
            random_state=seed)
    except ValueError as e:
        raise DataError(f"{name}: cannot split {len(y)} samples with test_fraction="
                        f"{test_fraction} and validation_fraction={validation_fraction}: {e}"
                        ) from e
    scaler = StandardScaler().fit(X_train)
    cast = np.dtype(dtype)

    def scale(A: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(scaler.transform(A), dtype=cast)

    return Splits(
        X_train=scale(X_train), y_train=y_train, X_val=scale(X_val), y_val=y_val,
        X_test=scale(X_test), y_test=y_test,
        scaler_mean=scaler.mean_.astype(cast), scaler_scale=scaler.scale_.astype(cast),
        scaler=scaler,
    )



def spec_splits(spec: StudySpec) -> Splits:
    """The splits a study file's trials train and score on: its [data] and [model] dtype.

    A dispatcher on the source: a file / database table (tuner/table.py: read, typed,
    split in a canonical order of its rows so the split is a function of content and
    seeds, preprocessing fitted on the training split only), or a built-in dataset, whose
    splits come from the on-disk cache when nothing they depend on changed
    (tuner/cache.py), which spares the command the scikit-learn import.
    """
    if spec.data.is_table:
        return _table_splits(spec)
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
    return table_splits(load_table(data, spec.path), test_fraction=data.test_fraction,
                        validation_fraction=data.validation_fraction, seed=data.seed,
                        test_seed=data.test_seed, dtype=spec.model.dtype)

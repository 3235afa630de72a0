"""Cross-validation for small data: ``[data] folds = K``.

Each trial trains K models, one per fold of the train + validation rows (the test split
stays held out, as always), and reports the MEAN of the K models' validation metrics
after every epoch, so a pruner judges a cross-validated trial epoch by epoch as it judges
a plain one. The K models are stepped in turn, one epoch each (`MLPCore.fit_epochs`),
then the mean is reported: the pruner sees epoch e's mean once all K models did epoch e,
and a pruned or diverged trial stops all K at once. Stepping them in turn costs what
training them one after the other does (benchmarks/results/folds_variance.md: CPU time
ratio 0.98-1.01). Stacking the K models on a leading axis of one network was the other
design: benchmarks/results/stacking.md measured at most ~1.2x for K models sharing their
mini-batches, and folds do not even share their rows.

Folds are stratified (scikit-learn's `StratifiedKFold`, shuffled with the data seed; a
regression study's are plain `KFold`),
over the train + validation rows in the order their split gives them, so they are a
function of the content, the seeds and K. Preprocessing is fitted on each fold's training
rows only, never on the rows it is scored on:

- a file or database table: the whole `Preprocessing` (median imputer, scaler,
  one-hot categories) is fitted again per fold, on the table's own rows;
- a built-in dataset: its arrays are standardized with the scaler of the original
  training split; standardizing is affine, so standardizing those arrays again with the
  mean and deviation of a fold's training rows gives exactly the arrays that scaling the
  raw values with that fold's statistics would (up to float rounding): no row of the
  fold's validation part leaks into them.

scikit-learn is imported only when a study sets ``folds``: `StratifiedKFold` pulls in
``sklearn.base`` (measured ~1 s), which a plain `tuner study run` of a built-in dataset
avoids; a study of K models per trial pays it once per process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner.errors import DataError
from tuner.mlp import MLPCore
from tuner.mlp.base import MLPBase
from tuner.splits import Fold, Splits

if TYPE_CHECKING:
    from tuner.spec.schema import StudySpec
    from tuner.table import Table

__all__ = ["Fold", "FoldsError", "check_folds", "fit_folds", "fold_indices", "with_folds"]


class FoldsError(DataError):
    """``folds`` that these rows cannot be cut into (a class with fewer than K rows)."""


def check_folds(spec: StudySpec, y: np.ndarray, classes: tuple[Any, ...] | None = None
                ) -> None:
    """Refuse ``[data] folds = K`` when some class has fewer than K rows in train +
    validation (``y``): a stratified fold would then miss it. ``classes`` names the
    labels when ``y`` holds class indices (a table)."""
    k = spec.data.folds
    assert k is not None
    if spec.task == "regression":  # no classes: K folds need K rows
        if len(y) < k:
            raise FoldsError(f"{spec.path}: [data] folds: {k} folds need at least {k} rows "
                             f"in train + validation; there are {len(y)}")
        return
    labels, counts = np.unique(y, return_counts=True)
    rarest = int(np.argmin(counts))
    n = int(counts[rarest])
    if n < k:
        label = labels[rarest] if classes is None else classes[int(labels[rarest])]
        label = label.item() if isinstance(label, np.generic) else label
        fix = (f"set folds to at most {n}" if n >= 2 else
               "cross-validation needs at least 2 rows of each class: leave folds out, "
               "or get more rows of it")
        raise FoldsError(f"{spec.path}: [data] folds: {k} folds need at least {k} rows "
                         f"of each class in train + validation ({len(y)} rows); class "
                         f"{label!r} has {n}: {fix}")


def fold_indices(y: np.ndarray, k: int, seed: int, *, stratify: bool = True
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training positions, validation positions) of each of ``k`` stratified folds of
    ``y``, shuffled with ``seed``: the same for the same labels, ``k`` and ``seed``.
    A regression target is not stratified (``stratify=False``: plain `KFold`)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    cv = (StratifiedKFold if stratify else KFold)(n_splits=k, shuffle=True, random_state=seed)
    return list(cv.split(np.zeros((len(y), 1)), y))


def with_folds(spec: StudySpec, splits: Splits, table: Table | None = None) -> Splits:
    """``splits`` with the K folds of ``spec``'s ``[data] folds`` attached, built on
    first use (`Splits.folds`). A ``table`` source's folds refit its preprocessing per
    fold; without one, the arrays are standardized again per fold (see the module)."""
    k, seed = spec.data.folds, spec.data.seed
    assert k is not None
    y = np.concatenate([splits.y_train, splits.y_val])
    check_folds(spec, y, None if table is None else table.classes)

    def build() -> tuple[Fold, ...]:
        positions = fold_indices(y, k, seed, stratify=spec.task == "classification")
        if table is None:
            X = np.concatenate([splits.X_train, splits.X_val])
            return tuple(_standardized(X, y, tr, va) for tr, va in positions)
        rows = _train_val_rows(spec, table, y)
        return tuple(_table_fold(spec, table, rows, tr, va) for tr, va in positions)

    return replace(splits, folds=cache(build))


def _standardized(X: np.ndarray, y: np.ndarray, train: np.ndarray, val: np.ndarray
                  ) -> Fold:
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X[train].astype(np.float64))

    def scale(rows: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(scaler.transform(X[rows].astype(np.float64)),
                                    dtype=X.dtype)

    return Fold(X_train=scale(train), y_train=y[train], X_val=scale(val), y_val=y[val])


def _train_val_rows(spec: StudySpec, table: Table, y: np.ndarray) -> np.ndarray:
    """The table's row indices of the train + validation splits, in the order of the
    splits' arrays (``y`` is their labels), which the fold positions index."""
    from tuner.table import split_rows

    data = spec.data
    train, val, _ = split_rows(table, test_fraction=data.test_fraction,
                               validation_fraction=data.validation_fraction,
                               seed=data.seed, test_seed=data.test_seed)
    rows = np.concatenate([train, val])
    if not np.array_equal(table.y[rows], y):  # the split code and the splits disagree
        raise RuntimeError("the rows of train + validation do not match the splits")
    return rows


def _table_fold(spec: StudySpec, table: Table, rows: np.ndarray, train: np.ndarray,
                val: np.ndarray) -> Fold:
    """One fold of a table's train + validation ``rows``, its preprocessing fitted on
    this fold's training rows only."""
    from tuner.preprocess import Preprocessing

    pre = Preprocessing.fit(table.frame, rows=rows[train], numeric=table.numeric,
                            categorical=table.categorical, target=table.target,
                            classes=table.classes)

    def inputs(at: np.ndarray) -> np.ndarray:
        return pre.transform(table.frame, rows=rows[at], dtype=spec.model.dtype,
                             where=table.origin, row_numbers=table.source_rows)

    return Fold(X_train=inputs(train), y_train=table.y[rows[train]],
                X_val=inputs(val), y_val=table.y[rows[val]])


def fit_folds(params: Mapping[str, Any], folds: tuple[Fold, ...],
              on_epoch: Callable[[int, dict[str, float]], bool | None], *,
              model: type[MLPBase] = MLPCore, metrics: tuple[str, ...] | None = None,
              ) -> list[dict[str, float]]:
    """Train one ``model`` (`MLPCore`, or `MLPRegressorCore` for a regression study) with
    ``params`` per fold, reporting the validation ``metrics``, one epoch of each in turn,
    and call
    ``on_epoch(epoch, mean)`` with every metric averaged over the folds once all of them
    did the epoch; True from it stops all of them. Returns each fold's metrics of the
    last epoch trained.

    Raises:
        DivergedError: any fold diverged (the trial diverges: no mean of K-1 models).
    """
    runs = [model(**params).fit_epochs(f.X_train, f.y_train, f.X_val, f.y_val,
                                       metrics=metrics)
            for f in folds]
    last: list[dict[str, float]] = []
    try:
        for epoch in range(1, int(params["epochs"]) + 1):
            last = [next(run)[1] for run in runs]
            mean = {key: float(np.mean([m[key] for m in last])) for key in last[0]}
            if on_epoch(epoch, mean):
                break
    finally:
        for run in runs:
            run.close()
    return last

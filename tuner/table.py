"""The rows a study trains on: chosen columns, typed, hashed, and split by their content.

`load_table` reads a `[data]` source (tuner/sources.py) and `prepare_table` turns the raw
frame into a `Table`:

1. Columns: the target, then ``features`` (default: every other column) less ``drop``.
   A numeric column stays numeric; ``categorical`` names the categorical ones (default:
   text, boolean and category columns). Anything else -- dates, or a column of numbers
   with a stray word in it -- is a one-line error naming the column (and the row).
2. Rows whose target is missing are dropped and counted; none left, or one class, is an
   error. The target is classes or, in a regression study, numbers (tuner/target.py,
   which also refuses a numeric target that looks like a quantity when the study file
   does not say its task).
3. Each row is hashed (values, column names, column types; 64 bits per row) and the
   table's fingerprint is a hash of the *sorted* row hashes: the multiset of rows. A
   database that returns rows in another order gives the same fingerprint; one more row,
   one changed value or a renamed column gives another.
4. Each row's split is a hash of the row as read, or of its ``key`` columns
   (tuner/holdout.py): a row keeps its split when rows are appended or reordered.
   `split_rows` lists each split's rows in the canonical order, the order of the row
   hashes, so the arrays are the same whatever order the rows arrived in.

`table_splits` then fits the preprocessing (tuner/preprocess.py) on the training rows
and turns each split into model inputs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner.cells import MISSING, category_labels, numeric_values
from tuner.columns import check_cardinality, check_flat, column_role, select_features
from tuner.errors import TableError
from tuner.hashing import mix64, text_hash64
from tuner.holdout import SPLITS, assign, check_key, class_counts, train_problem
from tuner.holdout import row_hashes as split_hashes
from tuner.preprocess import Preprocessing
from tuner.splits import Splits, TableSummary
from tuner.target import target_values

if TYPE_CHECKING:
    import pandas as pd

    from tuner.spec.schema import DataSpec

__all__ = ["Table", "TableError", "load_table", "prepare_table", "read_table",
           "row_hashes", "split_rows", "table_class_counts", "table_splits"]


def _split_counts(y: np.ndarray, part: np.ndarray, classes: Sequence[Any]
                  ) -> dict[str, dict[str, int]]:
    """Rows of each class in each split; a regression target's rows as one count."""
    if not classes:
        return {name: {"rows": int(np.sum(part == k))} for k, name in enumerate(SPLITS)}
    return class_counts(y, part, classes)


@dataclass(frozen=True, eq=False)
class Table:
    """Typed feature columns and the target, rows in source order plus a canonical order.

    ``frame`` holds the feature columns only: numeric ones as float64 (NaN where missing),
    categorical ones as pandas Categoricals of text labels. ``y[i]`` is the class index
    of row ``i``; ``classes`` are the labels as the source wrote them (str, int or bool),
    sorted. A regression target: ``y`` holds the float64 values and ``classes`` is ().
    ``frame.take(order)`` is the table in canonical (content) order.
    """

    frame: pd.DataFrame
    y: np.ndarray
    classes: tuple[Any, ...]
    target: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    order: np.ndarray
    digest: str
    n_dropped: int
    origin: str
    # 1-based row numbers in the source of the rows kept (None: every row was kept), so a
    # message about a kept row names the row the user sees in the file.
    source_rows: np.ndarray | None = None
    # Each row's hash for its split (tuner/holdout.py): of its values as read, or its key.
    split_hash: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        return len(self.y)

    @property
    def n_columns(self) -> int:
        """Columns hashed and used: the features and the target."""
        return len(self.numeric) + len(self.categorical) + 1

    @property
    def summary(self) -> TableSummary:
        """What the data fingerprint needs of the rows (`tuner.fingerprint`)."""
        return TableSummary(digest=self.digest, n_rows=self.n_rows, n_columns=self.n_columns,
                            n_dropped=self.n_dropped, target=self.target,
                            classes=self.classes, origin=self.origin)


# --- hashing ------------------------------------------------------------------------------

def _numeric_bits(x: np.ndarray) -> np.ndarray:
    """float64 values as uint64 bit patterns, with -0.0 as 0.0 and one NaN for all."""
    bits = x + 0.0  # a copy; -0.0 + 0.0 is +0.0
    bits[np.isnan(bits)] = np.nan
    return bits.view(np.uint64)


def _code_hashes(codes: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Hash of each row's label, looked up by code (-1, missing, hashes as MISSING's own)."""
    table = np.array([text_hash64("v:" + s) for s in labels] + [text_hash64("missing:" +
                                                                         MISSING)],
                     dtype=np.uint64)
    return table[codes]  # code -1 reads the last entry


def row_hashes(frame: pd.DataFrame, y: np.ndarray, classes: Sequence[Any], target: str,
               kinds: dict[str, str]) -> tuple[np.ndarray, list[str]]:
    """One 64-bit hash per row over every column (values, name, type), and the column
    descriptors that were hashed. Columns are combined in order of name, so the order of
    columns in the source does not matter, only their names. A regression target (no
    ``classes``) is hashed as its numbers, under its own descriptor: the same column read
    as classes or as numbers is other data."""
    n = len(y)
    h = np.zeros(n, dtype=np.uint64)
    described = []
    for name in sorted([*frame.columns, target]):
        if name == target and not classes:
            descriptor = f"{name}\x00target-number"
            col = _numeric_bits(y)
        elif name == target:
            descriptor = f"{name}\x00target"
            col = _code_hashes(y, [json.dumps(c) for c in classes])
        elif kinds[name] == "numeric":
            descriptor = f"{name}\x00numeric"
            col = _numeric_bits(frame[name].to_numpy())
        else:
            descriptor = f"{name}\x00categorical"
            cat = frame[name].array
            col = _code_hashes(np.asarray(cat.codes, dtype=np.int64), list(cat.categories))
        described.append(descriptor)
        h ^= col
        h ^= text_hash64(descriptor)
        mix64(h)
    return h, described


def _digest(sorted_hashes: np.ndarray, described: list[str]) -> str:
    """Hash of the multiset of row hashes (sorted, so row order drops out) and columns."""
    d = hashlib.blake2b(digest_size=32)
    d.update(json.dumps({"columns": described, "rows": len(sorted_hashes)}).encode())
    d.update(sorted_hashes.tobytes())
    return d.hexdigest()


# --- building a Table ---------------------------------------------------------------------

def prepare_table(raw: pd.DataFrame, data: DataSpec, *, where: str, origin: str,
                  task: str | None = None) -> Table:
    """Select, type and hash the rows of ``raw`` as ``data`` says.

    ``where`` starts every message ("studies/churn.toml: [data]"); ``origin`` names the
    source in it ("data/churn.csv", "table churn"). ``task``: the study file's [study]
    task, None if it says none (tuner/target.py).
    """
    import pandas as pd
    from pandas.api import types

    features = select_features(raw, data, where, origin)
    assert data.target is not None
    for name in (data.target, *features):
        check_flat(raw[name], name, f"{where}: {origin}")
    missing_target = raw[data.target].isna().to_numpy()
    n_dropped = int(missing_target.sum())
    keep = ~missing_target
    if not len(raw):
        raise TableError(f"{where}: {origin} has no rows")
    if not keep.any():
        raise TableError(f"{where} target: column {data.target!r} is empty in all "
                         f"{len(raw)} rows of {origin}")
    y, classes = target_values(raw[data.target], keep, data.target, where, task)
    if task != "regression" and len(classes) < 2:
        raise TableError(f"{where} target: column {data.target!r} has one class "
                         f"({classes[0]!r}) in all {int(keep.sum())} rows; a classifier "
                         "needs at least two")
    if data.key:
        check_key(raw, data.key, where=where, origin=origin)
    split_hash = split_hashes(raw, data.key or (data.target, *features))
    declared = None if data.categorical is None else frozenset(data.categorical)
    kinds: dict[str, str] = {}
    columns: dict[str, Any] = {}
    for name in features:
        values = raw[name]
        factorized = None
        if not types.is_numeric_dtype(values.dtype) or types.is_bool_dtype(values.dtype):
            # Text, boolean, category, ...: typed and labelled from one factorization.
            factorized = pd.factorize(values, use_na_sentinel=True)
        kind = column_role(values, name, declared, f"{where}: {origin}", factorized)
        if kind == "categorical":
            check_cardinality(values, name, listed=declared is not None and name in declared,
                              where=f"{where}: {origin}", factorized=factorized)
        kinds[name] = kind
        # Typed before the rows without a target go, so an error's row number is the
        # source's own.
        if kind == "numeric":
            typed = numeric_values(values, where=f"{where}: {origin}: column {name!r}")
            columns[name] = typed[keep] if n_dropped else typed
        else:
            if factorized is not None and n_dropped:
                factorized = (factorized[0][keep], factorized[1])
            columns[name] = category_labels(values[keep] if n_dropped else values,
                                            factorized)
    frame = pd.DataFrame(columns, index=pd.RangeIndex(len(y)), copy=False)
    hashes, described = row_hashes(frame, y, classes, data.target, kinds)
    # numpy's default (SIMD quick) sort: ~10x faster than a stable one on 1M uint64
    # keys. Rows with equal hashes are equal rows, so whichever comes first, every split
    # gets bit-identical arrays: the split stays a function of content and seeds.
    order = np.argsort(hashes)
    digest = _digest(hashes[order], described)
    return Table(frame=frame, y=y, classes=classes, target=data.target,
                 numeric=tuple(n for n in features if kinds[n] == "numeric"),
                 categorical=tuple(n for n in features if kinds[n] == "categorical"),
                 order=order, digest=digest, n_dropped=n_dropped, origin=origin,
                 source_rows=np.flatnonzero(keep) + 1 if n_dropped else None,
                 split_hash=split_hash[keep] if n_dropped else split_hash)


def load_table(data: DataSpec, study_path: Path, task: str | None = None) -> Table:
    """Read ``data``'s source (relative to ``study_path``) and prepare its rows for
    ``task`` (the study file's; None if it says none)."""
    return read_table(data, study_path, task)[1]


def read_table(data: DataSpec, study_path: Path, task: str | None = None
               ) -> tuple[pd.DataFrame, Table]:
    """`load_table`, with the rows as read (every column, every row) beside it."""
    from tuner.sources import describe, read_source, resolve_path

    raw = read_source(data, study_path)
    origin = (str(resolve_path(data.path, study_path)) if data.path is not None
              else describe(data))
    return raw, prepare_table(raw, data, where=f"{study_path}: [data]", origin=origin,
                              task=task)


# --- splits -------------------------------------------------------------------------------

def split_rows(table: Table, *, test_fraction: float, validation_fraction: float, seed: int,
               test_seed: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of ``table.frame`` for train, validation and test.

    Each row's split is drawn from its own hash (tuner/holdout.py), so it depends on the
    row and the seeds only; each split lists its rows in canonical order. A split that
    leaves a class out of train, or an empty validation or test split, is an error.
    """
    assert table.split_hash is not None
    part = assign(table.split_hash, test_fraction=test_fraction,
                  validation_fraction=validation_fraction, seed=seed, test_seed=test_seed)
    problem = train_problem(_split_counts(table.y, part, table.classes))
    if problem is not None:
        raise TableError(f"{table.origin}: {table.n_rows} rows (test_fraction="
                         f"{test_fraction}, validation_fraction={validation_fraction}, "
                         f"seed={seed}): {problem}")
    ordered = part[table.order]
    train, val, test = (table.order[ordered == k] for k in range(3))
    return train, val, test


def table_class_counts(table: Table, data: DataSpec) -> dict[str, dict[str, int]]:
    """Rows of each class in train, validation and test under ``data``'s split settings
    (an error if the split is unusable, as `split_rows`); a regression target's rows."""
    train, val, test = split_rows(table, test_fraction=data.test_fraction,
                                  validation_fraction=data.validation_fraction,
                                  seed=data.seed, test_seed=data.test_seed)
    part = np.zeros(table.n_rows, dtype=np.int8)
    part[val], part[test] = 1, 2
    return _split_counts(table.y, part, table.classes)


def table_splits(table: Table, *, test_fraction: float = 0.2,
                 validation_fraction: float = 0.2, seed: int = 0,
                 test_seed: int | None = None, dtype: str = "float32") -> Splits:
    """Train / validation / test model inputs, preprocessing fitted on train only.

    All three go through `Preprocessing.transform`, the code `tuner predict` runs.
    """
    train, val, test = split_rows(table, test_fraction=test_fraction,
                                  validation_fraction=validation_fraction, seed=seed,
                                  test_seed=test_seed)
    pre = Preprocessing.fit(table.frame, rows=train, numeric=table.numeric,
                            categorical=table.categorical, target=table.target,
                            classes=table.classes)

    def inputs(rows: np.ndarray) -> np.ndarray:
        return pre.transform(table.frame, rows=rows, dtype=dtype, where=table.origin,
                             row_numbers=table.source_rows)

    return Splits(
        X_train=inputs(train), y_train=table.y[train],
        X_val=inputs(val), y_val=table.y[val],
        X_test=inputs(test), y_test=table.y[test],
        preprocessing=pre, table=table.summary)

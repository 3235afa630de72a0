"""The rows a study trains on: chosen columns, typed, hashed, and split by their content.

`load_table` reads a `[data]` source (tuner/sources.py) and `prepare_table` turns the raw
frame into a `Table`:

1. Columns: the target, then ``features`` (default: every other column) less ``drop``.
   A numeric column stays numeric; ``categorical`` names the categorical ones (default:
   text, boolean and category columns). Anything else -- dates, or a column of numbers
   with a stray word in it -- is a one-line error naming the column (and the row).
2. Rows whose target is missing are dropped and counted; none left, or one class, is an
   error.
3. Each row is hashed (values, column names, column types; 64 bits per row) and the
   table's fingerprint is a hash of the *sorted* row hashes: the multiset of rows. A
   database that returns rows in another order gives the same fingerprint; one more row,
   one changed value or a renamed column gives another.
4. The canonical row order is the order of those row hashes. `split_rows` splits in that
   order, so for a given fingerprint and seed the split is the same whatever order the
   rows arrived in.

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

from tuner.preprocess import (
    MISSING,
    Preprocessing,
    category_labels,
    first_row,
    numeric_values,
)
from tuner.splits import DataError, Splits

if TYPE_CHECKING:
    import pandas as pd

    from tuner.spec import DataSpec

__all__ = ["Table", "TableError", "load_table", "prepare_table", "row_hashes",
           "split_rows", "table_splits"]


class TableError(DataError):
    """Rows that cannot be trained on as they are: a missing column, one class, no rows."""


@dataclass(frozen=True, eq=False)
class Table:
    """Typed feature columns and class labels, rows in source order plus a canonical order.

    ``frame`` holds the feature columns only: numeric ones as float64 (NaN where missing),
    categorical ones as pandas Categoricals of text labels. ``y[i]`` is the class index
    of row ``i``; ``classes`` are the labels as the source wrote them (str, int or bool),
    sorted. ``frame.take(order)`` is the table in canonical (content) order.
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

    @property
    def n_rows(self) -> int:
        return len(self.y)

    @property
    def n_columns(self) -> int:
        """Columns hashed and used: the features and the target."""
        return len(self.numeric) + len(self.categorical) + 1

    def summary(self) -> dict[str, Any]:
        """What `tuner fingerprint` / `study show` print about the rows."""
        return {"source": self.origin, "rows": self.n_rows, "columns": self.n_columns,
                "dropped_rows": self.n_dropped, "target": self.target,
                "classes": list(self.classes), "numeric": list(self.numeric),
                "categorical": list(self.categorical), "content": self.digest}


# --- columns and their roles --------------------------------------------------------------

def _closest(name: str, names: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, [str(n) for n in names], n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    shown = ", ".join(str(n) for n in names[:12]) + (", ..." if len(names) > 12 else "")
    return f"; it has {shown}"


def _select(frame: pd.DataFrame, data: DataSpec, where: str, origin: str) -> list[str]:
    """The feature columns, after checking that every named column exists."""
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        dup = next(c for c in columns if columns.count(c) > 1)
        raise TableError(f"{where}: {origin} has two columns named {dup!r}")
    assert data.target is not None
    if data.target not in columns:
        raise TableError(f"{where} target: no column {data.target!r} in {origin}"
                         f"{_closest(data.target, columns)}")
    for key in ("features", "drop", "categorical"):
        for name in getattr(data, key) or ():
            if name not in columns:
                raise TableError(f"{where} {key}: no column {name!r} in {origin}"
                                 f"{_closest(name, columns)}")
    if data.features is not None:
        features = [c for c in data.features if c not in data.drop]
    else:
        features = [c for c in columns if c != data.target and c not in data.drop]
    if not features:
        raise TableError(f"{where}: {origin} has no feature column besides the target "
                         f"{data.target!r}")
    return features


def _role(values: pd.Series, name: str, declared: frozenset[str] | None, where: str,
          factorized: tuple[np.ndarray, Any] | None = None) -> str:
    """"numeric" or "categorical" for one feature column, or an error saying why neither.

    ``factorized`` is ``pandas.factorize(values)``, computed here if needed and not given.
    """
    import pandas as pd
    from pandas.api import types

    dtype = values.dtype
    if declared is not None and name in declared:
        return "categorical"
    if types.is_bool_dtype(dtype):
        return "categorical" if declared is None else "numeric"
    if types.is_numeric_dtype(dtype) and not types.is_complex_dtype(dtype):
        return "numeric"
    text_like = (types.is_string_dtype(dtype) or types.is_object_dtype(dtype)
                 or isinstance(dtype, pd.CategoricalDtype))
    if not text_like:
        raise TableError(f"{where}: column {name!r} is {dtype}, neither numeric nor "
                         "categorical: list it in categorical, or in drop")
    kind = _text_kind(factorized or pd.factorize(values, use_na_sentinel=True))
    if kind == "boolean":
        return "categorical" if declared is None else "numeric"
    if kind == "numbers":
        return "numeric"
    if kind.startswith("mostly-numbers:"):
        row = int(kind.split(":")[1])
        raise TableError(f"{where}: column {name!r} row {row} holds "
                         f"{values.iloc[row - 1]!r}, not a number; fix that value, or list "
                         "the column in categorical")
    if declared is not None:
        row = first_row(values.notna().to_numpy())
        raise TableError(f"{where}: column {name!r} holds text ({values.iloc[row - 1]!r} "
                         f"in row {row}) but is not in categorical; list it there, or in "
                         "drop")
    return "categorical"


def _text_kind(factorized: tuple[np.ndarray, Any]) -> str:
    """What a text/object column holds: "boolean", "numbers", "mostly-numbers:ROW" (more
    than half the values are numbers; ROW is the first that is not) or "text".

    Decided on the distinct values (from ``pandas.factorize`` of the column), weighted by
    how often each occurs.
    """
    import pandas as pd

    codes, uniques = factorized
    if len(uniques) == 0:
        return "text"
    distinct = np.asarray(uniques, dtype=object)
    if all(isinstance(u, (bool, np.bool_)) for u in distinct):
        return "boolean"
    parsed = (pd.to_numeric(pd.Series(distinct), errors="coerce").notna().to_numpy()
              & np.array([not isinstance(u, (bool, np.bool_)) for u in distinct]))
    counts = np.bincount(codes[codes >= 0], minlength=len(distinct))
    numbers = counts[parsed].sum()
    if numbers == counts.sum():
        return "numbers"
    if numbers * 2 > counts.sum():
        bad_code = np.flatnonzero(~parsed)
        return f"mostly-numbers:{first_row(np.isin(codes, bad_code))}"
    return "text"


def _labels(values: pd.Series, keep: np.ndarray, name: str, where: str
            ) -> tuple[np.ndarray, tuple[Any, ...]]:
    """Class index of each row where ``keep`` holds (the target is not missing), and the
    classes as the source wrote them (sorted)."""
    import pandas as pd
    from pandas.api import types

    from tuner.preprocess import plain_label

    dtype = values.dtype
    if types.is_float_dtype(dtype):
        v = values.to_numpy(dtype=np.float64, na_value=np.nan)
        fractional = keep & (v != np.round(v))
        if fractional.any():
            raise TableError(f"{where} target: column {name!r} row {first_row(fractional)} "
                             f"holds {float(v[fractional][0])!r}: tuner trains a classifier, so "
                             "the target must hold classes (text or whole numbers)")
        values = pd.Series(v[keep].astype(np.int64))
    elif not keep.all():
        values = values[keep]
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    labels = [plain_label(u) for u in np.asarray(uniques, dtype=object)]
    # Sort the classes (numbers before text if both occur) and merge equal labels.
    order = sorted(set(labels), key=lambda c: (isinstance(c, str), c))
    index = {c: k for k, c in enumerate(order)}
    remap = np.array([index[c] for c in labels], dtype=np.int64)
    return remap[codes], tuple(order)


# --- hashing ------------------------------------------------------------------------------

def _mix(h: np.ndarray) -> None:
    """splitmix64's finalizer, in place: every input bit moves every output bit."""
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)


def _text_hash(text: str) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(),
                                    "little"))


def _numeric_bits(x: np.ndarray) -> np.ndarray:
    """float64 values as uint64 bit patterns, with -0.0 as 0.0 and one NaN for all."""
    bits = x + 0.0  # a copy; -0.0 + 0.0 is +0.0
    bits[np.isnan(bits)] = np.nan
    return bits.view(np.uint64)


def _code_hashes(codes: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Hash of each row's label, looked up by code (-1, missing, hashes as MISSING's own)."""
    table = np.array([_text_hash("v:" + s) for s in labels] + [_text_hash("missing:" +
                                                                         MISSING)],
                     dtype=np.uint64)
    return table[codes]  # code -1 reads the last entry


def row_hashes(frame: pd.DataFrame, y: np.ndarray, classes: Sequence[Any], target: str,
               kinds: dict[str, str]) -> tuple[np.ndarray, list[str]]:
    """One 64-bit hash per row over every column (values, name, type), and the column
    descriptors that were hashed. Columns are combined in order of name, so the order of
    columns in the source does not matter, only their names."""
    n = len(y)
    h = np.zeros(n, dtype=np.uint64)
    described = []
    for name in sorted([*frame.columns, target]):
        if name == target:
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
        h ^= _text_hash(descriptor)
        _mix(h)
    return h, described


def _digest(sorted_hashes: np.ndarray, described: list[str]) -> str:
    """Hash of the multiset of row hashes (sorted, so row order drops out) and columns."""
    d = hashlib.blake2b(digest_size=32)
    d.update(json.dumps({"columns": described, "rows": len(sorted_hashes)}).encode())
    d.update(sorted_hashes.tobytes())
    return d.hexdigest()


# --- building a Table ---------------------------------------------------------------------

def prepare_table(raw: pd.DataFrame, data: DataSpec, *, where: str, origin: str) -> Table:
    """Select, type and hash the rows of ``raw`` as ``data`` says.

    ``where`` starts every message ("studies/churn.toml: [data]"); ``origin`` names the
    source in it ("data/churn.csv", "table churn").
    """
    import pandas as pd
    from pandas.api import types

    features = _select(raw, data, where, origin)
    assert data.target is not None
    target_values = raw[data.target]
    missing_target = target_values.isna().to_numpy()
    n_dropped = int(missing_target.sum())
    keep = ~missing_target
    if not len(raw):
        raise TableError(f"{where}: {origin} has no rows")
    if not keep.any():
        raise TableError(f"{where} target: column {data.target!r} is empty in all "
                         f"{len(raw)} rows of {origin}")
    y, classes = _labels(target_values, keep, data.target, where)
    if len(classes) < 2:
        raise TableError(f"{where} target: column {data.target!r} has one class "
                         f"({classes[0]!r}) in all {int(keep.sum())} rows; a classifier "
                         "needs at least two")
    declared = None if data.categorical is None else frozenset(data.categorical)
    kinds: dict[str, str] = {}
    columns: dict[str, Any] = {}
    for name in features:
        values = raw[name]
        factorized = None
        if not types.is_numeric_dtype(values.dtype) or types.is_bool_dtype(values.dtype):
            # Text, boolean, category, ...: typed and labelled from one factorization.
            factorized = pd.factorize(values, use_na_sentinel=True)
        kind = _role(values, name, declared, f"{where}: {origin}", factorized)
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
                 source_rows=np.flatnonzero(keep) + 1 if n_dropped else None)


def load_table(data: DataSpec, study_path: Path) -> Table:
    """Read ``data``'s source (relative to ``study_path``) and prepare its rows."""
    from tuner.sources import describe, read_source, resolve_path

    raw = read_source(data, study_path)
    origin = (str(resolve_path(data.path, study_path)) if data.path is not None
              else describe(data))
    return prepare_table(raw, data, where=f"{study_path}: [data]", origin=origin)


# --- splits -------------------------------------------------------------------------------

def split_rows(table: Table, *, test_fraction: float, validation_fraction: float, seed: int,
               test_seed: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of ``table.frame`` for train, validation and test, stratified.

    Split in canonical order, so the result depends on the rows' content and the seeds,
    never on the order the source returned them in. The test split uses ``test_seed``
    (default ``seed``), as for the built-in datasets.
    """
    from sklearn.model_selection import train_test_split

    y = table.y[table.order]
    positions = np.arange(table.n_rows)
    try:
        rest, test = train_test_split(
            positions, test_size=test_fraction, stratify=y,
            random_state=seed if test_seed is None else test_seed)
        train, val = train_test_split(rest, test_size=validation_fraction,
                                      stratify=y[rest], random_state=seed)
    except ValueError as e:
        counts = np.bincount(table.y)
        rarest = table.classes[int(np.argmin(counts))]
        raise TableError(f"{table.origin}: cannot split {table.n_rows} rows into "
                         f"train/validation/test (test_fraction={test_fraction}, "
                         f"validation_fraction={validation_fraction}); the rarest class "
                         f"{rarest!r} has {counts.min()} rows: {e}") from None
    return table.order[train], table.order[val], table.order[test]


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
        # What the old scaler fields mean for a table: the numeric block's statistics, in
        # float64 (a column of huge values has a mean and scale float32 cannot hold).
        scaler_mean=pre.mean, scaler_scale=pre.scale,
        preprocessing=pre, table=table)

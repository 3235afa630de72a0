"""A table's columns: which are features, and whether each is numeric or categorical.

`tuner.table` builds a `Table` from a source's raw frame; this module decides, column by
column, what that frame's columns are, and refuses in one line what cannot be a feature:
a name that is not there (with a "did you mean"), a column neither numeric nor text, a
column of numbers with a stray word, nested values (lists, structs), and a categorical
column that would one-hot encode into an input per row (an identifier, free text).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner.cells import first_row
from tuner.errors import TableError, shown

if TYPE_CHECKING:
    import pandas as pd

    from tuner.spec.schema import DataSpec

__all__ = ["FEW_DOZEN", "IDENTIFIER_SHARE", "MAX_CATEGORIES", "check_cardinality",
           "check_flat", "column_role", "select_features"]


def _closest(name: str, names: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, [str(n) for n in names], n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    shown = ", ".join(str(n) for n in names[:12]) + (", ..." if len(names) > 12 else "")
    return f"; it has {shown}"


def select_features(frame: pd.DataFrame, data: DataSpec, where: str, origin: str) -> list[str]:
    """The feature columns, after checking that every named column exists."""
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        dup = next(c for c in columns if columns.count(c) > 1)
        raise TableError(f"{where}: {origin} has two columns named {dup!r}")
    assert data.target is not None
    if data.target not in columns:
        raise TableError(f"{where} target: no column {data.target!r} in {origin}"
                         f"{_closest(data.target, columns)}")
    for key in ("features", "drop", "categorical", "key"):
        for name in getattr(data, key) or ():
            if name not in columns:
                raise TableError(f"{where} {key}: no column {name!r} in {origin}"
                                 f"{_closest(name, columns)}")
    if data.features is not None:
        features = [c for c in data.features if c not in data.drop]
    else:
        # A key identifies rows: a feature only if listed in features.
        features = [c for c in columns if c != data.target and c not in data.drop
                    and c not in data.key]
    if not features:
        raise TableError(f"{where}: {origin} has no feature column besides the target "
                         f"{data.target!r}" + (" and the key (a key column is a feature "
                                               "only if listed in features)"
                                               if data.key else ""))
    return features


def column_role(values: pd.Series, name: str, declared: frozenset[str] | None, where: str,
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
                         f"{shown(values.iloc[row - 1])}, not a number; fix that value, or list "
                         "the column in categorical")
    if declared is not None:
        row = first_row(values.notna().to_numpy())
        raise TableError(f"{where}: column {name!r} holds text ({shown(values.iloc[row - 1])} "
                         f"in row {row}) but is not in categorical; list it there, or in "
                         "drop")
    return "categorical"


# A categorical column is one-hot encoded: one input per category. Past these, a column
# is an identifier or free text, not a category (docs/data.md says so).
MAX_CATEGORIES = 1000
FEW_DOZEN = 50  # no column with this many distinct values or fewer is refused
IDENTIFIER_SHARE = 0.9  # distinct values per row of a text column that is an identifier


def check_cardinality(values: pd.Series, name: str, *, listed: bool, where: str,
                       factorized: tuple[np.ndarray, Any] | None) -> None:
    """Refuse a categorical column that would one-hot encode into an input per row: a
    text column whose values are nearly all distinct (an identifier, a name), or any
    categorical column with more than `MAX_CATEGORIES` distinct values or more than
    half as many as it has values."""
    import pandas as pd

    codes, uniques = factorized or pd.factorize(values, use_na_sentinel=True)
    distinct, present = len(uniques), int((codes >= 0).sum())
    if distinct <= FEW_DOZEN:
        return
    counted = f"{distinct} distinct values in {present} rows"
    if not listed and distinct >= IDENTIFIER_SHARE * present:
        raise TableError(f"{where}: column {name!r} looks like an identifier ({counted}): "
                         "list it in drop (or in key, if it identifies the rows)")
    if distinct > MAX_CATEGORIES or 2 * distinct > present:
        raise TableError(f"{where}: column {name!r} has too many categories to one-hot "
                         f"encode ({counted}; at most {MAX_CATEGORIES}, and at most half "
                         "the rows): list it in drop, or group its values into fewer "
                         "categories")


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


def check_flat(values: pd.Series, name: str, where: str) -> None:
    """Refuse a column of nested values (Parquet list, struct or map; a database's json or
    array): tuner trains on numbers and text, and hashing one would fail on the first."""
    if values.dtype != object:
        return
    nested = values.map(lambda v: isinstance(v, (list, tuple, dict, set, np.ndarray)),
                        na_action="ignore").fillna(False).to_numpy(dtype=bool)
    if nested.any():
        row = first_row(nested)
        value = values.iloc[row - 1]
        kind = "structs" if isinstance(value, dict) else "lists"
        raise TableError(f"{where}: column {name!r} holds {kind} ({type(value).__name__} "
                         f"{shown(value)} in row {row}); tuner trains on numbers and text: "
                         "flatten it into plain columns, or list it in drop")

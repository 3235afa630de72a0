"""What one cell of a table holds, typed the same way wherever rows are read: a number,
a category label, or a class label.

`tuner.table` types a source's columns with these when it loads the rows a study trains
on; `tuner.preprocess` types the columns of new rows with the same functions when it
applies a fitted preprocessing (`tuner predict`), so a value means the same thing in
both. Categorical values are compared as text labels: 3, 3.0 and "3" are one category.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tuner.errors import TunerError, shown

if TYPE_CHECKING:
    import pandas as pd

# pandas is imported inside the functions: `tuner predict` and every command that only
# reads a study import this module and should not wait for it.

__all__ = ["FEATURE_MAX", "MISSING", "PreprocessError", "category_labels",
           "checked_numbers", "first_row", "numeric_values", "plain_label"]

MISSING = "<missing>"  # the category a missing categorical value becomes
# The largest magnitude a feature may hold: the scaler sums squared deviations, and
# (2e100)**2 times any row count stays finite in float64 (1e308 squared does not); scaled
# values are then z-scores, well inside float32.
FEATURE_MAX = 1e100


class PreprocessError(TunerError, ValueError):
    """Rows that cannot be turned into the model's inputs, or a malformed saved state."""


def _label(value: Any) -> str:
    """The text of one category value: integral floats as integers (3.0 -> "3")."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def category_labels(values: pd.Series, factorized: tuple[np.ndarray, Any] | None = None
                    ) -> pd.Categorical:
    """``values`` as a Categorical of text labels; missing values stay missing.

    Works on the distinct values only (factorize, then label each once), so a column of a
    million rows with a few categories costs one pass in C, not a million `str` calls.
    ``factorized`` is ``pandas.factorize(values)`` if the caller already has it. A
    Categorical of text (what tuner/table.py makes) is returned as it is.
    """
    import pandas as pd

    if isinstance(values.dtype, pd.CategoricalDtype) and factorized is None and \
            all(isinstance(c, str) for c in values.dtype.categories):
        return values.array
    codes, uniques = factorized or pd.factorize(values, use_na_sentinel=True)
    labels = np.array([_label(u) for u in np.asarray(uniques, dtype=object)], dtype=object)
    # Two values may share a label (3 and "3" in one object column): merge them.
    categories, inverse = np.unique(labels.astype(str), return_inverse=True)
    codes = np.where(codes >= 0, inverse[np.maximum(codes, 0)] if len(inverse) else -1, -1)
    return pd.Categorical.from_codes(codes.astype(np.int64), categories=categories.tolist())


def first_row(mask: np.ndarray) -> int:
    """1-based number of the first data row where ``mask`` holds (what a user counts)."""
    return int(np.flatnonzero(mask)[0]) + 1


def numeric_values(values: pd.Series, *, where: str) -> np.ndarray:
    """``values`` as float64, missing as NaN; text that is not a number is an error.

    ``where`` names the file and column for the message, e.g. "new.csv: column 'age'".
    """
    import pandas as pd
    from pandas.api import types

    if types.is_bool_dtype(values.dtype) or types.is_numeric_dtype(values.dtype):
        out = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        converted = pd.to_numeric(values, errors="coerce")
        bad = (converted.isna() & values.notna()).to_numpy()
        if bad.any():
            row = first_row(bad)
            raise PreprocessError(f"{where}: row {row} holds {shown(values.iloc[row - 1])}, "
                                  "not a number")
        out = converted.to_numpy(dtype=np.float64, na_value=np.nan)
    return checked_numbers(out, where=where)


def checked_numbers(out: np.ndarray, *, where: str) -> np.ndarray:
    """``out`` (float64, NaN where missing) if no value is infinite or beyond
    `FEATURE_MAX`; else the error naming the first such row."""
    infinite = np.isinf(out)
    if infinite.any():
        raise PreprocessError(f"{where}: row {first_row(infinite)} holds an infinite value")
    huge = np.abs(out) > FEATURE_MAX
    if huge.any():
        row = first_row(huge)
        raise PreprocessError(f"{where}: row {row} holds {out[row - 1]:.3g}, beyond "
                              f"+-{FEATURE_MAX:.0e}: standardizing squares the values, and "
                              "the square of a larger one overflows; rescale the column")
    return out


def plain_label(value: Any) -> Any:
    """A class label as a JSON-able Python scalar (numpy ints and bools unwrapped)."""
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return value if isinstance(value, (str, int)) else str(value)

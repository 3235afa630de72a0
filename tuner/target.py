"""The target column of a file or table source: the classes of a classification study, the
numbers of a regression study, and the refusal of a target whose task the study file
leaves unsaid but the values contradict.

Without ``[study] task`` a study is a classification, and its target must look like
classes. A numeric target is refused, in one line naming the column, its count of
distinct values and both fixes, when

- a value is not a whole number (1.5, 151.3: a measurement, not a class), or
- it holds more than `IMPLICIT_CLASSES_MAX` (20) distinct whole numbers: years of
  education 0-20 or a count is more likely a quantity than 21 classes.

A text or boolean target is never refused: its values are labels. ``task =
"classification"`` insists (every distinct whole number is a class; a fractional value
is still refused), ``task = "regression"`` takes the numbers as they are.

The rule is about the distinct values alone, not their share of the rows: a 5 % rule
would refuse 6 classes in a table of 100 rows, and 20 classes are already more than
the studies tuner is tried on have.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tuner.cells import first_row, plain_label
from tuner.errors import DataError, shown

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["IMPLICIT_CLASSES_MAX", "TargetError", "class_labels", "regression_values",
           "target_values"]

IMPLICIT_CLASSES_MAX = 20
_FIX = ('set task = "regression" in [study] to predict the number, or '
        'task = "classification" to treat each value as a class')


class TargetError(DataError):
    """A target column that does not fit the study's task."""


def target_values(values: pd.Series, keep: np.ndarray, name: str, where: str,
                  task: str | None) -> tuple[np.ndarray, tuple[Any, ...]]:
    """The target of the rows where ``keep`` holds (the target is not missing): class
    indices and the classes (``task`` "classification", or None: not stated), or float64
    values and no classes ("regression")."""
    if task == "regression":
        return regression_values(values, keep, name, where), ()
    if task is None:
        _refuse_a_quantity(values, keep, name, where)
    return class_labels(values, keep, name, where)


def _refuse_a_quantity(values: pd.Series, keep: np.ndarray, name: str, where: str) -> None:
    """Refuse a numeric target that looks like a quantity (see the module)."""
    from pandas.api import types

    if types.is_bool_dtype(values.dtype) or not types.is_numeric_dtype(values.dtype):
        return
    v = values.to_numpy(dtype=np.float64, na_value=np.nan)[keep]
    distinct = np.unique(v).shape[0]
    fractional = v != np.round(v)
    head = f"{where} target: column {name!r} holds {distinct} distinct numbers"
    if fractional.any():
        full = values.to_numpy(dtype=np.float64, na_value=np.nan)
        at = first_row(keep & (full != np.round(full)))
        raise TargetError(f"{head}, not all whole ({float(v[fractional][0])!r} in row {at}):"
                          f" it looks like a quantity, not classes; {_FIX}")
    if distinct > IMPLICIT_CLASSES_MAX:
        raise TargetError(f"{head} (whole numbers, more than {IMPLICIT_CLASSES_MAX}): it "
                          f"looks like a quantity, not classes; {_FIX}")


def class_labels(values: pd.Series, keep: np.ndarray, name: str, where: str
                 ) -> tuple[np.ndarray, tuple[Any, ...]]:
    """Class index of each row where ``keep`` holds, and the classes as the source wrote
    them (sorted; numbers before text if both occur)."""
    import pandas as pd
    from pandas.api import types

    dtype = values.dtype
    if types.is_float_dtype(dtype):
        v = values.to_numpy(dtype=np.float64, na_value=np.nan)
        fractional = keep & (v != np.round(v))
        if fractional.any():
            raise TargetError(f"{where} target: column {name!r} row {first_row(fractional)} "
                              f"holds {float(v[fractional][0])!r}: a classification target "
                              "must hold classes (text or whole numbers); set task = "
                              "\"regression\" in [study] to predict the number")
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


def regression_values(values: pd.Series, keep: np.ndarray, name: str, where: str
                      ) -> np.ndarray:
    """The target of the kept rows as finite float64 numbers, or the error naming the
    first row that is not one."""
    import pandas as pd
    from pandas.api import types

    if types.is_bool_dtype(values.dtype):
        raise TargetError(f"{where} target: column {name!r} holds true/false values: a "
                          "regression target must hold numbers; set task = "
                          "\"classification\" in [study]")
    if types.is_numeric_dtype(values.dtype):
        v = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        converted = pd.to_numeric(values, errors="coerce")
        bad = (converted.isna() & values.notna()).to_numpy() & keep
        if bad.any():
            row = first_row(bad)
            raise TargetError(f"{where} target: column {name!r} row {row} holds "
                              f"{shown(values.iloc[row - 1])}: a regression target must "
                              "hold numbers; set task = \"classification\" in [study] for "
                              "classes")
        v = converted.to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = keep & np.isinf(v)
    if infinite.any():
        raise TargetError(f"{where} target: column {name!r} row {first_row(infinite)} "
                          "holds an infinite value")
    y = v[keep]
    if np.unique(y).shape[0] < 2:
        raise TargetError(f"{where} target: column {name!r} holds one value ({y[0]:g}) in "
                          f"all {y.shape[0]} rows: there is nothing to predict")
    return y

"""tuner/target.py: a target's task, decided and refused in one line naming the column,
its distinct values and the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tuner.target import IMPLICIT_CLASSES_MAX, TargetError, target_values

pytestmark = pytest.mark.unit

FIX = ('set task = "regression" in [study] to predict the number, or task = '
       '"classification" to treat each value as a class')


def values_of(series: pd.Series, task: str | None):
    keep = series.notna().to_numpy()
    return target_values(series, keep, "y", "s.toml: [data]", task)


def refusal(series: pd.Series, task: str | None = None) -> str:
    with pytest.raises(TargetError) as info:
        values_of(series, task)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_fractional_target_without_a_task_is_refused_naming_column_count_and_fix():
    y = pd.Series(np.r_[np.nan, np.linspace(25.0, 346.0, 214)])  # diabetes-like
    assert refusal(y) == (
        "s.toml: [data] target: column 'y' holds 214 distinct numbers, not all whole "
        f"({float(y[2])!r} in row 3): it looks like a quantity, not classes; {FIX}")


def test_more_than_twenty_whole_numbers_without_a_task_are_refused():
    years = pd.Series(np.arange(0, 21).repeat(5))  # years of education 0-20: 21 values
    assert refusal(years) == (
        "s.toml: [data] target: column 'y' holds 21 distinct numbers (whole numbers, more "
        f"than {IMPLICIT_CLASSES_MAX}): it looks like a quantity, not classes; {FIX}")
    # 20 distinct whole numbers are classes; so are floats that are whole.
    y, classes = values_of(pd.Series(np.arange(20).repeat(3).astype(float)), None)
    assert classes == tuple(range(20)) and y.dtype == np.int64


def test_stating_the_task_decides():
    years = pd.Series(np.arange(0, 21).repeat(5))
    y, classes = values_of(years, "classification")  # insisting: 21 classes
    assert len(classes) == 21
    y, classes = values_of(years, "regression")
    assert classes == () and y.dtype == np.float64 and y[-1] == 20.0
    # Text is never a quantity; as a regression target it is refused.
    text = pd.Series(["a", "b", None, "a"])
    assert values_of(text, None)[1] == ("a", "b")
    assert refusal(text, "regression") == (
        "s.toml: [data] target: column 'y' row 1 holds 'a': a regression target must hold "
        "numbers; set task = \"classification\" in [study] for classes")
    assert refusal(pd.Series([True, False, True]), "regression").endswith(
        "holds true/false values: a regression target must hold numbers; set task = "
        "\"classification\" in [study]")


def test_a_regression_target_keeps_its_rows_and_refuses_infinity_and_a_constant():
    y, _ = values_of(pd.Series([1.5, None, "2.25", 3]), "regression")  # text numbers too
    np.testing.assert_array_equal(y, [1.5, 2.25, 3.0])
    assert refusal(pd.Series([1.0, np.inf, 2.0]), "regression") == (
        "s.toml: [data] target: column 'y' row 2 holds an infinite value")
    assert refusal(pd.Series([4.0, 4.0, None]), "regression") == (
        "s.toml: [data] target: column 'y' holds one value (4) in all 2 rows: there is "
        "nothing to predict")

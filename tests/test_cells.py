"""One cell typed one way: numbers (with the row a bad one is on), category labels where
3, 3.0 and "3" are one category, class labels as plain JSON-able scalars."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tuner.cells import (
    FEATURE_MAX,
    PreprocessError,
    category_labels,
    first_row,
    numeric_values,
    plain_label,
)

pytestmark = pytest.mark.unit


def test_numbers_in_text_are_read_and_missing_ones_become_nan() -> None:
    out = numeric_values(pd.Series(["1.5", None, "-2", "1e3"]), where="a.csv: column 'x'")
    assert out.dtype == np.float64
    assert np.isnan(out[1]) and out[[0, 2, 3]].tolist() == [1.5, -2.0, 1000.0]
    flags = numeric_values(pd.Series([True, False]), where="w")
    assert flags.tolist() == [1.0, 0.0]


@pytest.mark.parametrize(("values", "message"), [
    (["1", "2", "three"], "a.csv: column 'x': row 3 holds 'three', not a number"),
    ([1.0, float("inf")], "a.csv: column 'x': row 2 holds an infinite value"),
    ([0.0, 1.0, -3e100], "a.csv: column 'x': row 3 holds -3e+100, beyond +-1e+100"),
])
def test_a_cell_that_is_no_usable_number_names_its_row(values: list, message: str) -> None:
    with pytest.raises(PreprocessError) as info:
        numeric_values(pd.Series(values), where="a.csv: column 'x'")
    assert str(info.value).startswith(message)
    assert numeric_values(pd.Series([FEATURE_MAX, -FEATURE_MAX]), where="x").tolist() == \
        [FEATURE_MAX, -FEATURE_MAX], "the bound itself is allowed"


def test_equal_looking_categories_are_one_and_missing_stays_missing() -> None:
    labels = category_labels(pd.Series([3, 3.0, "3", "red", None, b"red", True],
                                       dtype=object))
    assert list(labels.categories) == ["3", "True", "red"]
    assert labels[0] == labels[1] == labels[2] == "3" and labels[3] == labels[5] == "red"
    assert pd.isna(labels[4])
    assert category_labels(pd.Series([2.0, 1.0, 2.0])).tolist() == ["2", "1", "2"]


def test_a_categorical_of_text_comes_back_as_it_is() -> None:
    column = pd.Series(["b", "a", "b"], dtype="category")
    assert category_labels(column) is column.array


def test_first_row_counts_from_one_like_a_user() -> None:
    assert first_row(np.array([False, False, True, True])) == 3


def test_class_labels_become_plain_json_scalars() -> None:
    values = [np.int64(4), np.bool_(True), np.float32(2.0), 2.5, "yes", 7]
    plain = [plain_label(v) for v in values]
    assert plain == [4, True, 2, "2.5", "yes", 7]
    assert [type(v) for v in plain] == [int, bool, int, str, str, int]
    assert json.loads(json.dumps(plain)) == plain

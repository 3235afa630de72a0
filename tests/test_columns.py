"""A table's columns (tuner/columns.py) through `load_table`: a name that is not there, a
column neither numeric nor text, a stray word in numbers, identifiers and columns with too
many categories, each one line naming the column."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from test_table import churn, error_of, load, write

pytestmark = pytest.mark.unit


def test_missing_target_column(tmp_path: Path):
    write(churn(20), tmp_path, "c.csv")
    message = error_of(tmp_path, "c.csv", target="churn")
    assert message == (f"{tmp_path / 'study.toml'}: [data] target: no column 'churn' in "
                       f"{tmp_path / 'c.csv'} (did you mean 'churned'?)")
    message = error_of(tmp_path, "c.csv", features=("tenure", "balance"))
    assert "[data] features: no column 'balance' in" in message


def test_column_neither_numeric_nor_categorical(tmp_path: Path):
    df = churn(30).assign(signed_up=pd.date_range("2024-01-01", periods=30))
    write(df, tmp_path, "c.parquet")
    assert re.search(r"c\.parquet: column 'signed_up' is datetime64\[\w+\], neither numeric "
                     r"nor categorical: list it in categorical, or in drop$",
                     error_of(tmp_path, "c.parquet"))
    write(churn(30), tmp_path, "c.csv")
    assert error_of(tmp_path, "c.csv", categorical=("paperless",)).endswith(
        "c.csv: column 'plan' holds text ('pro' in row 2) but is not in categorical; list "
        "it there, or in drop")


def test_a_word_in_a_numeric_column_names_the_row(tmp_path: Path):
    df = churn(30).astype({"charges": object})
    df.loc[12, "charges"] = "unknown"
    write(df, tmp_path, "c.csv")
    assert error_of(tmp_path, "c.csv").endswith(
        "column 'charges' row 13 holds 'unknown', not a number; fix that value, or list the "
        "column in categorical")
    # Declared categorical, the same column is fine.
    assert "charges" in load(tmp_path, "c.csv", categorical=("charges", "plan")).categorical


def test_an_identifier_text_column_is_refused_naming_drop(tmp_path: Path):
    # 837 passenger names (issue 21) would have become 837 one-hot inputs.
    df = churn(837).assign(name=[f"Passenger {i}, Mr." for i in range(837)])
    write(df, tmp_path, "c.csv")
    assert error_of(tmp_path, "c.csv").endswith(
        "c.csv: column 'name' looks like an identifier (837 distinct values in 837 rows): "
        "list it in drop (or in key, if it identifies the rows)")
    assert "name" not in load(tmp_path, "c.csv", drop=("customer", "name")).categorical
    # A few dozen distinct labels are a category, however many rows there are.
    small = churn(40).assign(name=[f"p{i}" for i in range(40)])
    write(small, tmp_path, "s.csv")
    assert "name" in load(tmp_path, "s.csv").categorical


def test_a_categorical_column_with_too_many_categories_is_refused(tmp_path: Path):
    rng = np.random.default_rng(0)
    # Listed in categorical: not an identifier, but ~300 categories in 500 rows.
    df = churn(500).assign(city=[f"c{k}" for k in rng.integers(0, 450, 500)])
    write(df, tmp_path, "c.csv")
    message = error_of(tmp_path, "c.csv", categorical=("plan", "paperless", "city"))
    assert re.search(r"c\.csv: column 'city' has too many categories to one-hot encode "
                     r"\(\d+ distinct values in 500 rows; at most 1000, and at most half the "
                     r"rows\): list it in drop, or group its values into fewer categories$",
                     message), message
    # More than 1000 distinct values, fewer than half the rows: refused too.
    codes = np.repeat(np.arange(1200), 3)
    big = churn(3600).assign(zip=codes)
    write(big, tmp_path, "b.csv")
    assert "1200 distinct values in 3600 rows; at most 1000" in error_of(
        tmp_path, "b.csv", categorical=("plan", "paperless", "zip"))
    # 100 categories in 500 rows: kept.
    ok = churn(500).assign(city=[f"c{k}" for k in rng.integers(0, 100, 500)])
    write(ok, tmp_path, "ok.csv")
    assert "city" in load(tmp_path, "ok.csv").categorical

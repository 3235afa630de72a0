"""Preprocessing exported to arrays + JSON and applied without scikit-learn objects."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tuner.preprocess import (
    MISSING,
    PreprocessError,
    Preprocessing,
    column_transformer,
    nan_median,
    sklearn_input,
)

pytestmark = pytest.mark.unit

NUMERIC = ("age", "income", "visits")
CATEGORICAL = ("plan", "region", "tier")


def frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "age": rng.integers(18, 90, n).astype(float),
        "income": rng.lognormal(10, 1, n),
        "visits": rng.integers(0, 30, n),
        "plan": rng.choice(["basic", "plus", "pro"], n),
        "region": rng.choice(["north", "south", "east", "west"], n),
        "tier": rng.integers(1, 4, n),  # numbers, declared categorical
    })
    df.loc[rng.random(n) < 0.1, "age"] = np.nan
    df.loc[rng.random(n) < 0.1, "income"] = np.nan
    df.loc[rng.random(n) < 0.1, "plan"] = None
    return df


def fitted(train: pd.DataFrame):
    ct = column_transformer(NUMERIC, CATEGORICAL)
    ct.fit(sklearn_input(train, NUMERIC, CATEGORICAL))
    return ct


def new_rows() -> pd.DataFrame:
    """Unseen categories, missing values everywhere, shuffled and extra columns."""
    df = frame(200, seed=7)
    df.loc[df.index[:5], "plan"] = "enterprise"  # never seen in training
    df.loc[df.index[5:10], "region"] = None  # training had no missing region
    df.loc[df.index[10:15], "visits"] = np.nan  # training had no missing visits
    df.loc[df.index[15:20], "tier"] = 9  # unseen number
    df["unrelated"] = "ignored"
    return df[["unrelated", *reversed(df.columns.drop("unrelated"))]]


def test_exported_then_applied_equals_the_fitted_column_transformer():
    train = frame(500, seed=1)
    ct = fitted(train)
    pre = Preprocessing.from_fitted(ct, target="churned", classes=["no", "yes"])
    new = new_rows()
    expected = ct.transform(sklearn_input(new, NUMERIC, CATEGORICAL))
    got = pre.transform(new)
    assert got.shape == expected.shape == (200, 3 + 4 + 4 + 3)
    assert np.array_equal(got, expected)  # bit for bit, not approximately
    # The unseen category and the unseen number encode as all zeros in their block.
    plan = slice(3, 3 + len(pre.categories[0]))
    assert not got[:5, plan].any() and got[5:, plan].sum(axis=1).min() == 1
    assert pre.categories[0] == (MISSING, "basic", "plus", "pro")
    assert pre.categories[2] == ("1", "2", "3")


def test_fast_fit_learns_what_the_column_transformer_learns():
    train = frame(1001, seed=2)
    reference = Preprocessing.from_fitted(fitted(train), target="t", classes=[0, 1])
    fast = Preprocessing.fit(train, numeric=NUMERIC, categorical=CATEGORICAL, target="t",
                             classes=[0, 1])
    assert fast == reference
    rows = np.arange(0, 1001, 3)
    on_rows = Preprocessing.fit(train, rows=rows, numeric=NUMERIC, categorical=CATEGORICAL,
                                target="t", classes=[0, 1])
    assert on_rows == Preprocessing.from_fitted(fitted(train.iloc[rows]), target="t",
                                                classes=[0, 1])
    assert np.array_equal(on_rows.transform(train, rows=rows[:50]),
                          on_rows.transform(train.iloc[rows[:50]]))


@pytest.mark.parametrize("n", [10, 11, 1000, 1001])
def test_nan_median_is_simple_imputers_median(n):
    from sklearn.impute import SimpleImputer

    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, 4))
    X[rng.random((n, 4)) < 0.3] = np.nan
    X[:, 3] = np.nan  # a column with no value at all
    imputer = SimpleImputer(strategy="median", keep_empty_features=True).fit(X)
    assert np.array_equal(nan_median(X), imputer.statistics_)


def test_saved_without_pickle_and_reloaded(tmp_path: Path):
    train = frame(300, seed=3)
    pre = Preprocessing.fit(train, numeric=NUMERIC, categorical=CATEGORICAL,
                            target="churned", classes=["no", "yes"])
    np.savez(tmp_path / "model.npz", W=np.zeros(3), **pre.to_arrays())
    (tmp_path / "model.json").write_text(json.dumps({"preprocessing": pre.to_json()}))
    with np.load(tmp_path / "model.npz", allow_pickle=False) as arrays:
        meta = json.loads((tmp_path / "model.json").read_text())["preprocessing"]
        loaded = Preprocessing.from_saved(dict(arrays), meta)
    assert loaded == pre
    new = new_rows()
    assert np.array_equal(loaded.transform(new, dtype="float32"),
                          pre.transform(new).astype(np.float32))
    assert loaded.feature_names()[:4] == ["age", "income", "visits", f"plan={MISSING}"]


def test_classes_come_back_as_written():
    pre = Preprocessing.fit(frame(50, 4), numeric=NUMERIC, categorical=(), target="y",
                            classes=[np.int64(3), np.int64(7)])
    assert pre.classes == (3, 7) and type(pre.classes[0]) is int
    assert list(pre.decode(np.array([1, 0, 1]))) == [7, 3, 7]
    text = Preprocessing.fit(frame(50, 4), numeric=(), categorical=("plan",), target="y",
                             classes=["churned", "stayed"])
    assert list(text.decode(np.array([0, 1]))) == ["churned", "stayed"]


def test_integral_floats_and_integers_are_one_category():
    """A column with gaps is read as floats in training (2.0) and as integers later (2)."""
    train = pd.DataFrame({"tier": [1.0, 2.0, np.nan, 2.0]})
    pre = Preprocessing.fit(train, numeric=(), categorical=("tier",), target="y",
                            classes=[0, 1])
    assert pre.categories == (("1", "2", MISSING),)  # scikit-learn's sorted order
    later = pd.DataFrame({"tier": [2, 1, 5, None]})
    assert pre.transform(later).tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 0], [0, 0, 1]]


def test_missing_column_and_bad_values_name_them():
    pre = Preprocessing.fit(frame(100, 5), numeric=NUMERIC, categorical=CATEGORICAL,
                            target="y", classes=[0, 1])
    with pytest.raises(PreprocessError, match=r"^new.csv: no column 'income'; the model "
                       r"needs age, income, visits, plan, region, tier$"):
        pre.transform(frame(5, 6).drop(columns="income"), where="new.csv")
    bad = frame(5, 6).astype({"age": object})
    bad.loc[3, "age"] = "n/a"
    with pytest.raises(PreprocessError, match=r"^new.csv: column 'age': row 4 holds 'n/a', "
                       "not a number$"):
        pre.transform(bad, where="new.csv")
    with pytest.raises(PreprocessError, match="unreadable preprocessing state"):
        Preprocessing.from_saved({}, {**pre.to_json()})


def test_a_value_beyond_float32_after_scaling_is_refused_naming_column_and_row():
    """Issue 13 item 5 on the table side: 1e40 is finite in float64 and infinity in a
    float32 model input; float64 inputs take it."""
    train = frame(300, seed=1)
    pre = Preprocessing.fit(train, numeric=NUMERIC, categorical=CATEGORICAL, target="t",
                            classes=("a", "b"))
    new = frame(20, seed=2)
    new.loc[6, "income"] = 1e45  # income scale ~3e4: 1e40 would still fit
    with pytest.raises(PreprocessError, match=r"new\.csv: column 'income' row 7: the value "
                                              r"scales to .*float32"):
        pre.transform(new, dtype="float32", where="new.csv")
    assert np.isfinite(pre.transform(new, dtype="float64")).all()
    # Rows picked by position and numbered as the source numbers them (rows without a
    # target dropped before): the message names the source's row.
    with pytest.raises(PreprocessError, match=r"row 19:"):
        pre.transform(new, rows=np.array([0, 6]), dtype="float32",
                      row_numbers=np.arange(20) * 3 + 1)

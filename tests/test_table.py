"""Study data from CSV and Parquet files: typing, content fingerprint, split, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tuner.data import DataError
from tuner.fingerprint import data_fingerprint, table_fingerprint
from tuner.spec import DataSpec
from tuner.table import load_table, table_splits

pytestmark = pytest.mark.unit


def churn(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "customer": np.arange(n),
        "tenure": rng.integers(1, 72, n).astype(float),
        "charges": rng.normal(70, 20, n).round(2),
        "plan": rng.choice(["basic", "plus", "pro"], n),
        "paperless": rng.choice([True, False], n),
        "churned": rng.choice(["no", "yes"], n, p=[0.7, 0.3]),
    })
    df.loc[::17, "tenure"] = np.nan
    df.loc[::23, "plan"] = None
    return df


def spec(path: str, **kw) -> DataSpec:
    return DataSpec(dataset=None, path=path, target=kw.pop("target", "churned"),
                    drop=kw.pop("drop", ("customer",)), **kw)


def write(df: pd.DataFrame, folder: Path, name: str) -> Path:
    path = folder / name
    if name.endswith(".parquet"):
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


def load(folder: Path, name: str, **kw):
    return load_table(spec(name, **kw), folder / "study.toml")


@pytest.mark.parametrize("name", ["churn.csv", "churn.csv.gz", "churn.parquet"])
def test_fingerprint_moves_with_the_rows_and_only_then(tmp_path: Path, name: str):
    df = churn()
    write(df, tmp_path, name)
    base = load(tmp_path, name)
    assert (base.n_rows, base.n_columns, base.n_dropped) == (300, 5, 0)
    assert base.numeric == ("tenure", "charges")
    assert base.categorical == ("plan", "paperless")
    assert base.classes == ("no", "yes")

    def digest_of(frame: pd.DataFrame) -> str:
        write(frame, tmp_path, name)
        return load(tmp_path, name).digest

    # Same rows, other orders (rows and columns): same fingerprint.
    assert digest_of(df.sample(frac=1, random_state=1)) == base.digest
    assert digest_of(df[list(reversed(df.columns))]) == base.digest
    # A dropped column may change freely.
    assert digest_of(df.assign(customer=df.customer + 1000)) == base.digest
    # One appended row, one changed value, a renamed column, a duplicated row: new ones.
    moved = {
        "appended": pd.concat([df, df.iloc[[5]].assign(charges=1.5)]),
        "changed": df.assign(charges=df.charges.where(df.index != 42, 99.99)),
        "duplicated": pd.concat([df, df.iloc[[7]]]),
        "label": df.assign(churned=df.churned.where(df.index != 3, "maybe")),
    }
    digests = {what: digest_of(frame) for what, frame in moved.items()}
    write(df.rename(columns={"plan": "product"}), tmp_path, name)
    digests["renamed"] = load_table(spec(name), tmp_path / "study.toml").digest
    assert base.digest not in digests.values()
    assert len(set(digests.values())) == len(digests)


def test_duplicate_rows_count_as_a_multiset(tmp_path: Path):
    """Two copies of row A plus one of B differ from one A plus two B."""
    df = churn(40)
    a, b = df.iloc[[0]], df.iloc[[1]]
    rest = df.iloc[2:]
    one = pd.concat([rest, a, a, b])
    two = pd.concat([rest, a, b, b])
    write(one, tmp_path, "one.csv")
    write(two, tmp_path, "two.csv")
    assert load(tmp_path, "one.csv").digest != load(tmp_path, "two.csv").digest


def test_csv_and_parquet_same_rows_split_the_same(tmp_path: Path):
    df = churn(500)
    write(df, tmp_path, "a.csv")
    write(df.sample(frac=1, random_state=3), tmp_path, "b.csv")
    first = table_splits(load(tmp_path, "a.csv"), seed=4)
    second = table_splits(load(tmp_path, "b.csv"), seed=4)
    for name, array in first.arrays().items():
        assert np.array_equal(array, second.arrays()[name]), name
    assert first.preprocessing == second.preprocessing
    other_seed = table_splits(load(tmp_path, "a.csv"), seed=5)
    assert not np.array_equal(other_seed.X_train, first.X_train)


def test_splits_preprocessing_is_fitted_on_the_training_rows(tmp_path: Path):
    write(churn(400), tmp_path, "churn.csv")
    table = load(tmp_path, "churn.csv")
    splits = table_splits(table, dtype="float64")
    pre = splits.preprocessing
    n = table.n_rows
    assert len(splits.y_train) + len(splits.y_val) + len(splits.y_test) == n
    assert splits.X_train.dtype == np.float64
    assert pre.feature_names() == ["tenure", "charges", "plan=<missing>", "plan=basic",
                                   "plan=plus", "plan=pro", "paperless=False",
                                   "paperless=True"]
    # The scaler centred the training rows, not all rows.
    assert np.allclose(splits.X_train[:, :2].mean(axis=0), 0, atol=1e-12)
    assert not np.allclose(splits.X_test[:, :2].mean(axis=0), 0, atol=1e-3)
    # Labels are class indices into the classes as written.
    assert set(np.unique(splits.y_train)) == {0, 1} and pre.classes == ("no", "yes")


def test_table_fingerprint_shows_rows_and_columns(tmp_path: Path):
    df = churn(200)
    df.loc[[3, 9, 12], "churned"] = None
    write(df, tmp_path, "churn.csv")
    data = spec("churn.csv")
    splits = table_splits(load_table(data, tmp_path / "study.toml"))
    fp = data_fingerprint(splits, data)
    shown = fp.components
    assert (shown["rows"], shown["columns"], shown["dropped_rows"]) == (197, 5, 3)
    assert shown["content"] == splits.table.digest
    assert table_fingerprint(splits.table, data).digest == fp.digest  # no split needed
    counts = shown["class_counts"]
    assert table_fingerprint(splits.table, data, counts) == fp
    assert counts["train"]["yes"] == int((splits.y_train == 1).sum())
    assert sum(n for part in counts.values() for n in part.values()) == 197
    # A row with no target is not trained on: adding one changes the count, not the hash.
    with_gap = pd.concat([df, df.iloc[[0]].assign(churned=None)])
    write(with_gap, tmp_path, "churn.csv")
    again = data_fingerprint(table_splits(load_table(data, tmp_path / "study.toml")), data)
    assert again.digest == fp.digest and again.components["dropped_rows"] == 4
    # The split settings are part of the data a study trains on.
    other = DataSpec(**{**data.__dict__, "seed": 1})
    assert data_fingerprint(splits, other).digest != fp.digest


def test_integer_labels_and_declared_categorical_numbers(tmp_path: Path):
    df = churn(120).assign(churned=lambda d: (d.churned == "yes").astype(int) + 2)
    write(df, tmp_path, "c.csv")
    table = load(tmp_path, "c.csv", categorical=("plan", "tenure"))
    assert table.classes == (2, 3) and type(table.classes[0]) is int
    assert table.categorical == ("tenure", "plan")
    # paperless is boolean and not declared: numeric 0/1 once categorical is explicit
    assert table.numeric == ("charges", "paperless")


def test_path_is_relative_to_the_study_file(tmp_path: Path, monkeypatch):
    (tmp_path / "studies").mkdir()
    (tmp_path / "data").mkdir()
    write(churn(50), tmp_path / "data", "churn.csv")
    monkeypatch.chdir(tmp_path / "data")  # anywhere but the study's folder
    table = load_table(spec("../data/churn.csv"), tmp_path / "studies" / "churn.toml")
    assert table.n_rows == 50


# --- bad input: one line naming the file, the column or the row ------------------------

def error_of(tmp_path: Path, name: str, **kw) -> str:
    with pytest.raises(DataError) as info:
        load(tmp_path, name, **kw)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path: Path):
    message = error_of(tmp_path, "nope.csv")
    assert message == (f"{tmp_path / 'study.toml'}: [data] path: {tmp_path / 'nope.csv'}: "
                       "no such file")


def test_ragged_csv_names_the_line(tmp_path: Path):
    (tmp_path / "r.csv").write_text("a,b,churned\n1,2,no\n3,4,yes,5\n6,7,no\n")
    assert error_of(tmp_path, "r.csv").endswith(
        "r.csv: not a well-formed CSV file: Expected 3 fields in line 3, saw 4")


def test_unreadable_files(tmp_path: Path):
    (tmp_path / "e.csv").write_text("")
    assert error_of(tmp_path, "e.csv").endswith("e.csv: is empty (no header, no rows)")
    (tmp_path / "bin.csv").write_bytes(b"a,churned\n\xff\xfe,no\n")
    assert "not UTF-8 text" in error_of(tmp_path, "bin.csv")
    (tmp_path / "bad.csv.gz").write_bytes(b"not gzip at all")
    assert "bad.csv.gz: cannot read it" in error_of(tmp_path, "bad.csv.gz")
    (tmp_path / "p.parquet").write_text("a,b\n1,2\n")
    assert "p.parquet: not a readable Parquet file" in error_of(tmp_path, "p.parquet")
    (tmp_path / "d.csv").mkdir()
    assert error_of(tmp_path, "d.csv").endswith("d.csv: is a folder, not a csv file")


def test_no_rows(tmp_path: Path):
    (tmp_path / "h.csv").write_text("a,b,churned\n")
    assert error_of(tmp_path, "h.csv", drop=()).endswith("h.csv has no rows")
    (tmp_path / "g.csv").write_text("a,churned\n1,\n2,\n")
    assert error_of(tmp_path, "g.csv", drop=()) == (
        f"{tmp_path / 'study.toml'}: [data] target: column 'churned' is empty in all 2 rows "
        f"of {tmp_path / 'g.csv'}")


def test_one_class_target(tmp_path: Path):
    write(churn(30).assign(churned="no"), tmp_path, "c.csv")
    assert error_of(tmp_path, "c.csv").endswith(
        "[data] target: column 'churned' has one class ('no') in all 30 rows; a "
        "classifier needs at least two")


def test_fractional_target(tmp_path: Path):
    df = churn(30).assign(churned=np.r_[np.nan, 1.0, 0.0, 2.5, np.ones(26)])
    write(df, tmp_path, "c.csv")
    assert error_of(tmp_path, "c.csv").endswith(
        "[data] target: column 'churned' holds 3 distinct numbers, not all whole (2.5 in "
        "row 4): it looks like a quantity, not classes; set task = \"regression\" in "
        "[study] to predict the number, or task = \"classification\" to treat each value "
        "as a class")
    # Insisting on classes still refuses a fraction, which is no class.
    with pytest.raises(DataError, match="row 4 holds 2.5: a classification target must "
                                        "hold classes"):
        load_table(spec("c.csv"), tmp_path / "study.toml", "classification")


def test_a_key_is_no_feature_unless_listed(tmp_path: Path):
    write(churn(120), tmp_path, "c.csv")
    keyed = load(tmp_path, "c.csv", drop=(), key=("customer",))
    assert "customer" not in keyed.numeric + keyed.categorical
    listed = load(tmp_path, "c.csv", drop=(), key=("customer",),
                  features=("customer", "tenure"))
    assert listed.numeric == ("customer", "tenure")
    # the key alone decides the split: values elsewhere may change
    other = churn(120).assign(charges=0.0)
    write(other, tmp_path, "d.csv")
    again = load(tmp_path, "d.csv", drop=(), key=("customer",))
    assert np.array_equal(again.split_hash, keyed.split_hash)
    only = pd.DataFrame({"customer": range(30), "churned": ["no", "yes"] * 15})
    write(only, tmp_path, "o.csv")
    assert error_of(tmp_path, "o.csv", drop=(), key=("customer",)).endswith(
        "has no feature column besides the target 'churned' and the key (a key column is a "
        "feature only if listed in features)")

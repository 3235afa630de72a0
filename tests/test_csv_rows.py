"""New rows read from a CSV file without pandas (`tuner.csv_rows`) give the model exactly
the inputs the pandas path gives: `Preprocessing.transform_text` of `read_columns`
against `Preprocessing.transform` of `pandas.read_csv`, on the shipped churn file and on
cells that pandas types in less obvious ways."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tuner.cells import PreprocessError
from tuner.csv_rows import NA_TOKENS, column_labels, column_numbers, read_columns
from tuner.errors import DataError
from tuner.preprocess import Preprocessing
from tuner.spec.schema import DataSpec
from tuner.table import prepare_table, table_splits

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]


def both_ways(pre, path: Path) -> tuple[np.ndarray, np.ndarray, dict, dict]:
    """The model inputs of ``path`` by the pandas path and by the csv module."""
    unseen_pd: dict[str, int] = {}
    unseen_csv: dict[str, int] = {}
    by_pandas = pre.transform(pd.read_csv(path), where=str(path), unseen=unseen_pd)
    columns = read_columns(path, pre.columns, where=str(path))
    by_csv = pre.transform_text(columns.cells, columns.n_rows, where=str(path),
                                unseen=unseen_csv)
    return by_pandas, by_csv, unseen_pd, unseen_csv


def test_na_tokens_are_pandas_own() -> None:
    from pandas._libs.parsers import STR_NA_VALUES

    assert set(STR_NA_VALUES) == NA_TOKENS


def test_the_churn_file_reads_the_same_without_pandas(tmp_path: Path) -> None:
    raw = pd.read_csv(ROOT / "data" / "churn.csv")
    table = prepare_table(raw, DataSpec(path="churn.csv", target="churned",
                                        drop=("customer_id",)), where="t", origin="churn")
    pre = table_splits(table).preprocessing
    # Reordered columns, the target gone, unseen categories and blanks added.
    new = pd.read_csv(ROOT / "data" / "churn.csv", dtype=str, keep_default_na=False)[:300]
    new = new[list(reversed(new.columns.drop("churned")))]
    new.loc[:4, "contract"] = "lifetime"
    new.loc[5:7, "payment"] = ""
    new.loc[8:9, "tenure_months"] = "NA"
    path = tmp_path / "new.csv"
    new.to_csv(path, index=False)
    by_pandas, by_csv, unseen_pd, unseen_csv = both_ways(pre, path)
    assert np.array_equal(by_pandas, by_csv), "bit for bit"
    assert unseen_csv == unseen_pd and unseen_csv["contract"] == 5


def test_cells_pandas_types_in_less_obvious_ways(tmp_path: Path) -> None:
    train = tmp_path / "train.csv"
    train.write_text(
        "code,grade,flag,score,yes,label\n"
        "3,2.5,True,1.5,true,a\n"
        "07,2.50,False,,false,b\n"
        "3,1,True,1e3,TRUE,a\n"
        ",4,False,-2,False,b\n")
    data = DataSpec(path="train.csv", target="label", categorical=("code", "grade", "flag"))
    table = prepare_table(pd.read_csv(train), data, where="t", origin="train")
    assert table.numeric == ("score", "yes")  # a true/false column not listed: numbers
    pre = Preprocessing.fit(table.frame, numeric=table.numeric, categorical=table.categorical,
                            target=table.target, classes=table.classes)
    new = tmp_path / "new.csv"
    new.write_text(
        "yes,score,flag,grade,code\n"
        "False,  2.5 ,TRUE,2.5,3.0\n"
        "true,NaN,false,1.0,007\n"
        "NULL,-inf,True,4,\n".replace("-inf", "1E2"))
    by_pandas, by_csv, unseen_pd, unseen_csv = both_ways(pre, new)
    assert np.array_equal(by_pandas, by_csv)
    assert unseen_csv == unseen_pd


def test_a_column_is_labelled_as_a_whole() -> None:
    assert column_labels(["3", "3.0", "03", ""]) == ["3", "3", "3", None]
    assert column_labels(["2.50", "1"]) == ["2.5", "1"]
    assert column_labels(["TRUE", "false", "NA"]) == ["True", "False", None]
    assert column_labels(["3", "x", "True"]) == ["3", "x", "True"]  # text: as written
    assert column_numbers(["true", "False", ""], where="w").tolist()[:2] == [1.0, 0.0]


@pytest.mark.parametrize(("cells", "message"), [
    (["1", "abc"], "w: row 2 holds 'abc', not a number"),
    (["1_000"], "w: row 1 holds '1_000', not a number"),  # Python's float takes it; pandas not
    (["1", "inf"], "w: row 2 holds an infinite value"),
    (["1e200"], r"w: row 1 holds 1e\+200, beyond"),
])
def test_a_bad_number_is_named_by_row(cells: list[str], message: str) -> None:
    with pytest.raises(PreprocessError, match=message):
        column_numbers(cells, where="w")


def test_read_columns_refuses_ragged_and_empty_files(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n\n3\n")
    with pytest.raises(DataError, match=r"x.csv: line 4 has 1 fields; the header has 2"):
        read_columns(path, ["a"], where=str(path))
    path.write_text("")
    with pytest.raises(DataError, match="is empty"):
        read_columns(path, ["a"], where=str(path))
    path.write_text("a,a\n1,2\n")
    with pytest.raises(DataError, match="duplicate column names: 'a'"):
        read_columns(path, ["a"], where=str(path))
    path.write_bytes(b"a,b\n\xff,1\n")
    with pytest.raises(DataError, match="not UTF-8"):
        read_columns(path, ["a"], where=str(path))
    path.write_text("b,a\n1,2\n3,4\n")
    got = read_columns(path, ["a", "zzz"], where=str(path))
    assert got.cells == {"a": ["2", "4"]} and got.n_rows == 2 and got.header == ("b", "a")


TOKENS = ["1", "2", "03", "-0", "+5", "2.5", "2.50", ".5", "5.", "1e3", "1E-2", " 4", "4 ",
          "True", "false", "TRUE", "", "NA", "null", "nan", "None", "n/a", "abc", "x y",
          "inf", "-inf", "1_000", "0x10", "1e400"]


@pytest.fixture(scope="module")
def tricky(tmp_path_factory: pytest.TempPathFactory):
    """A preprocessing fitted on columns whose categories are numbers, floats, true/false
    and text, with gaps."""
    folder = tmp_path_factory.mktemp("tricky")
    train = folder / "train.csv"
    rows = ["n,m,c_int,c_float,c_bool,c_text,label"]
    for i in range(40):
        rows.append(f"{i % 7},{'' if i % 5 == 0 else 0.5 * i},{i % 4 if i % 9 else ''},"
                    f"{[2.5, 1.0, 4.25][i % 3]},{['True', 'False'][i % 2]},"
                    f"{['abc', 'x y', '3', ''][i % 4]},{i % 2}")
    train.write_text("\n".join(rows) + "\n")
    data = DataSpec(path="train.csv", target="label",
                    categorical=("c_int", "c_float", "c_bool", "c_text"))
    table = prepare_table(pd.read_csv(train), data, where="t", origin="train")
    return Preprocessing.fit(table.frame, numeric=table.numeric,
                             categorical=table.categorical, target=table.target,
                             classes=table.classes)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.sampled_from(TOKENS), min_size=6, max_size=6), min_size=1,
                max_size=5))
def test_any_cells_read_the_same_with_and_without_pandas(tricky, tmp_path: Path,
                                                         table: list[list[str]]) -> None:
    """Whatever the cells, both paths give the same inputs and unseen counts, or both
    refuse the file (a word in a numeric column, an infinite value)."""
    path = tmp_path / "new.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["c_text", "c_bool", "c_float", "c_int", "m", "n"])
        writer.writerows(table)
    outcomes = []
    for way in ("pandas", "csv"):
        unseen: dict[str, int] = {}
        try:
            if way == "pandas":
                X = tricky.transform(pd.read_csv(path), where="w", unseen=unseen)
            else:
                columns = read_columns(path, tricky.columns, where="w")
                X = tricky.transform_text(columns.cells, columns.n_rows, where="w",
                                          unseen=unseen)
        except PreprocessError as e:
            outcomes.append(("refused", str(e).split(":")[1]))  # the column
            continue
        outcomes.append(("read", X.tobytes(), unseen))
    event(outcomes[0][0])
    assert outcomes[0] == outcomes[1], (table, outcomes)


def test_a_long_field_is_read_and_the_limit_restored(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(f"a,notes\n1,{'x' * 1_000_000}\n")
    before = csv.field_size_limit()
    assert read_columns(path, ["a"], where="w").cells == {"a": ["1"]}
    assert csv.field_size_limit() == before

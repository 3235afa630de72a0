"""The row-hash split: a row keeps its split when rows are appended or reordered, whatever
dtype pandas gives its columns; fractions met; keys checked."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tuner.errors import DataError
from tuner.holdout import SPLITS, assign, check_key, class_counts, row_hashes, train_problem

pytestmark = pytest.mark.unit

FRACTIONS = {"test_fraction": 0.2, "validation_fraction": 0.25, "seed": 3}


def parts(frame: pd.DataFrame, columns=None, **kw) -> np.ndarray:
    return assign(row_hashes(frame, columns or list(frame.columns)), **{**FRACTIONS, **kw})


def via_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as tuner reads it back from a CSV file: pandas picks the dtypes again."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return pd.read_csv(io.StringIO(buffer.getvalue()))


# A cell of a column that starts as integers, floats, booleans or text; the appended rows
# may hold a blank (an int column turns float) or a word (a number column turns text).
ints = st.integers(-10**6, 10**6)
floats = st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: round(x, 3))
words = st.sampled_from(["red", "green", "blue", "n/a?", "x y"])
row = st.fixed_dictionaries({"n": ints, "x": floats, "flag": st.booleans(), "color": words,
                             "label": st.sampled_from(["no", "yes"])})
odd_row = st.fixed_dictionaries({
    "n": st.one_of(ints, st.none(), st.just("unknown")),
    "x": st.one_of(floats, st.none(), st.just("bad")),
    "flag": st.one_of(st.booleans(), st.none(), st.just("maybe")),
    "color": st.one_of(words, st.none(), ints),
    "label": st.sampled_from(["no", "yes", "maybe"])})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.lists(row, min_size=1, max_size=30),
       more=st.lists(odd_row, min_size=1, max_size=10), seed=st.integers(0, 2**31 - 1))
def test_appending_rows_never_moves_an_existing_row(base, more, seed):
    before = via_csv(pd.DataFrame(base))
    after = via_csv(pd.DataFrame(base + more))
    first = parts(before, seed=seed)
    # The old rows, re-read with whatever dtypes the appended rows forced on the columns
    # (int64 -> float64 after a blank, -> text after a word; bool -> object), keep theirs.
    assert np.array_equal(parts(after, seed=seed)[:len(base)], first)


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(odd_row, min_size=2, max_size=30), order=st.randoms(use_true_random=False))
def test_reordering_rows_or_columns_never_moves_a_row(rows, order):
    frame = via_csv(pd.DataFrame(rows))
    shuffled = list(range(len(rows)))
    order.shuffle(shuffled)
    columns = list(frame.columns)
    order.shuffle(columns)
    moved = via_csv(pd.DataFrame(rows).iloc[shuffled][columns])
    assert np.array_equal(parts(moved, list(frame.columns)), parts(frame)[shuffled])


def test_one_value_whatever_its_dtype():
    """1, 1.0, "1", "1.0" and 1e0 are one value; true/True/"TRUE" one; all missing one."""
    cases = {
        "int": [pd.Series([1, 2, 3]), pd.Series([1.0, 2.0, 3.0]), pd.Series(["1", "2.0", "3e0"]),
                pd.Series([1, 2, 3], dtype="Int64"), pd.Series([1, 2, 3], dtype="category"),
                pd.Series([1, 2, 3], dtype=np.uint8), pd.Series([1, 2.0, "3"], dtype=object)],
        "bool": [pd.Series([True, False, True]), pd.Series(["true", "False", "TRUE"]),
                 pd.Series([True, False, True], dtype="boolean")],
        "missing": [pd.Series([np.nan, np.nan, 1.5]), pd.Series([None, pd.NA, "1.5"]),
                    pd.Series([pd.NA, None, 1.5], dtype="Float64")],
    }
    for name, variants in cases.items():
        hashes = [row_hashes(pd.DataFrame({"a": v}), ["a"]) for v in variants]
        for h in hashes[1:]:
            assert np.array_equal(h, hashes[0]), name
    # and different values differ
    h = row_hashes(pd.DataFrame({"a": [1, 1.5, "1.5x", "true", None, 0, -0.0]}), ["a"])
    assert len(set(h[:-1].tolist())) == 6 and h[-1] == h[-2]


def test_numbers_written_as_text_hash_as_the_numbers():
    """A column read as text (a word appended to it) hashes its numbers as numbers."""
    text = ["+5", " 7 ", "1e3", "-0", "007", ".5", "5.", "1.5E-3", "-Infinity", "inf", "nan",
            "TRUE", "0x10", "1_0"]
    typed = [5, 7, 1000, 0, 7, 0.5, 5.0, 1.5e-3, float("-inf"), float("inf"), None,
             True, "0x10", "1_0"]
    assert np.array_equal(row_hashes(pd.DataFrame({"a": text}), ["a"]),
                          row_hashes(pd.DataFrame({"a": typed}), ["a"]))
    # "0x10" and "1_0" are words to a CSV reader, so they are not 16 and 10
    words = row_hashes(pd.DataFrame({"a": ["0x10", "1_0"]}), ["a"])
    assert not set(words.tolist()) & set(row_hashes(pd.DataFrame({"a": [16, 10]}),
                                                    ["a"]).tolist())


def test_a_long_decimal_read_two_ways_hashes_alike():
    """pandas' CSV parser and Python's float() may round a 17-digit decimal differently;
    a column read as numbers once and as text once (a word appended) must agree."""
    text = "x\n" + "\n".join(f"0.{i:017d}" for i in range(1, 2000, 7)) + "\n"
    numbers = pd.read_csv(io.StringIO(text))
    words = pd.read_csv(io.StringIO(text + "oops\n"))
    assert numbers.x.dtype.kind == "f" and words.x.dtype.kind != "f"
    assert np.array_equal(row_hashes(numbers, ["x"]), row_hashes(words, ["x"])[:-1])


def test_fractions_are_met_on_10k_rows():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=10_000), "b": rng.integers(0, 5, 10_000)})
    part = parts(frame, test_fraction=0.2, validation_fraction=0.25)
    share = np.bincount(part, minlength=3) / len(part)
    expected = np.array([0.8 * 0.75, 0.8 * 0.25, 0.2])
    # four standard deviations of a binomial share: fails by chance about once in 15,000
    assert np.all(np.abs(share - expected) < 4 * np.sqrt(expected * (1 - expected) / 10_000))
    # another seed draws other rows, in the same shares
    other = parts(frame, seed=4)
    assert (other != part).mean() > 0.3


def test_test_seed_keeps_the_test_rows_while_seed_moves_the_rest():
    frame = pd.DataFrame({"a": np.arange(2000)})
    one = parts(frame, seed=1, test_seed=7)
    two = parts(frame, seed=2, test_seed=7)
    assert np.array_equal(one == 2, two == 2)
    assert (one[one < 2] != two[two < 2]).any()


def test_a_key_decides_alone_and_duplicates_without_one_stay_together():
    frame = pd.DataFrame({"id": np.arange(500), "v": np.zeros(500)})
    keyed = parts(frame, ["id"])
    # Values change, the key does not: no row moves. Without a key, rows move.
    changed = frame.assign(v=np.arange(500) * 1.5)
    assert np.array_equal(parts(changed, ["id"]), keyed)
    assert not np.array_equal(parts(changed, ["id", "v"]), parts(frame, ["id", "v"]))
    # Identical rows without a key: one split.
    twins = pd.DataFrame({"v": [1.5, 2.5] * 200})
    part = parts(twins)
    assert len(set(part[::2])) == 1 and len(set(part[1::2])) == 1


def test_bad_keys_are_one_line_naming_the_rows():
    frame = pd.DataFrame({"id": [1, 2, 3, 2], "shop": ["a", "b", "a", "b"],
                          "gap": [1.0, None, 2.0, 3.0]})

    def error(key):
        with pytest.raises(DataError) as info:
            check_key(frame, key, where="s.toml: [data]", origin="d.csv")
        return str(info.value)

    assert error(["id"]) == ("s.toml: [data] key: id = 2 is in rows 2 and 4 of d.csv; a key "
                             "must be unique: add a column to it, or remove the duplicate")
    assert error(["id", "shop"]).startswith("s.toml: [data] key: (id, shop) = (2, 'b') is in "
                                            "rows 2 and 4 of d.csv")
    assert error(["gap"]) == ("s.toml: [data] key: column 'gap' is empty in row 2 of d.csv; "
                              "a key must identify every row")
    check_key(frame.iloc[:3], ["id"], where="", origin="")  # unique and complete: fine


def test_class_counts_and_the_problems_they_show():
    y = np.array([0, 0, 1, 1, 1, 0])
    part = np.array([0, 1, 2, 0, 0, 2])
    counts = class_counts(y, part, ("no", "yes"))
    assert counts == {"train": {"no": 1, "yes": 2}, "validation": {"no": 1, "yes": 0},
                      "test": {"no": 1, "yes": 1}}
    assert train_problem(counts) is None
    counts = class_counts(y, np.array([1, 2, 0, 0, 0, 2]), ("no", "yes"))
    assert train_problem(counts).startswith(
        "the split leaves class 'no' with no row in train (train/validation/test rows of it: "
        "0/1/2)")
    assert train_problem(class_counts(y, np.zeros(6, int), "ab")).startswith(
        "the validation split is empty (6 train rows)")
    assert SPLITS == ("train", "validation", "test")

"""Which split a row of a file or table falls in: a hash of the row, or of its key.

Each row's split (train / validation / test) is a function of that row alone, so the
holdout stays put as data grows: an existing row never changes split when rows are
appended, removed or reordered, and appended rows spread by the same rule.

1. The row's values (the target and the features; with ``[data] key``, the key columns
   only) are hashed in a canonical form that does not depend on how pandas typed the
   column: 1, 1.0 and "1" are one value (an integer column turns float when a blank
   appears in it, and text when a word does), true/True/"TRUE" are one, every kind of
   missing (blank, NaN, None, NA) is one. Columns are combined in order of name, so
   their order in the source does not matter.
2. The test draw hashes that with ``test_seed`` (default ``seed``) and the validation
   draw with ``seed``; each gives a number in [0, 1). A row is test if its test draw is
   below ``test_fraction``; otherwise validation if its validation draw is below
   ``validation_fraction`` (a share of what is not test, as for the built-in datasets);
   otherwise train.

Identical rows without a key hash alike and land in one split. A row whose values change
may move split; a key prevents that.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner.cells import first_row, plain_label
from tuner.errors import DataError, shown
from tuner.hashing import mix64, text_hash64

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RULE", "SPLITS", "assign", "check_key", "class_counts", "row_hashes",
           "train_problem"]

SPLITS = ("train", "validation", "test")
# The name of this rule, in the data fingerprint of a file or table: a study tuned on
# splits drawn by another rule was tuned on other data.
RULE = "row-hash-v1"

_MISSING = text_hash64("missing")
_TRUE, _FALSE = text_hash64("bool:true"), text_hash64("bool:false")
_INT = text_hash64("int")
_FLOAT = text_hash64("float")
_INT64_END = 2.0**63
# A decimal number as text (what Python's float() reads, but "_"): 1.5, -.5, 2e-3, inf
_NUMBER = r"(?i)[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?|inf(inity)?|nan)"


def _int_tokens(v: np.ndarray) -> np.ndarray:
    h = v.astype(np.int64).view(np.uint64) ^ _INT
    mix64(h)
    return h


def _float_tokens(x: np.ndarray) -> np.ndarray:
    """Whole numbers hash as integers (1.0 as 1); NaN as missing; other floats by their
    bits, the last 8 of the 52 mantissa bits rounded away: pandas' CSV parser and Python's
    ``float`` may disagree on the last bit of a long decimal, and a column read as numbers
    once and as text once (after a word was appended) must hash alike."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full(len(x), _MISSING, dtype=np.uint64)
    nan = np.isnan(x)
    with np.errstate(invalid="ignore"):
        whole = ~nan & (np.abs(x) < _INT64_END) & (x == np.floor(x))
    out[whole] = _int_tokens(x[whole].astype(np.int64))
    rest = ~nan & ~whole
    h = ((x[rest].view(np.uint64) + np.uint64(0x80)) & ~np.uint64(0xFF)) ^ _FLOAT
    mix64(h)
    out[rest] = h
    return out


def _text_tokens(texts: list[str]) -> np.ndarray:
    """Tokens of text values, vectorized (a key of a million distinct strings): a
    whole number as an integer, another number as a float, true/false as a boolean, any
    other text by its BLAKE2b."""
    import hashlib

    import pandas as pd

    out = np.empty(len(texts), dtype=np.uint64)
    t = pd.Series(texts, dtype="string[pyarrow]").str.strip()  # Arrow's vectorized kernels
    low = t.str.lower()
    true, false = (low == "true").to_numpy(), (low == "false").to_numpy()
    out[true], out[false] = _TRUE, _FALSE
    # up to 18 digits: within int64 ("_" never matches: Python reads "1_000", a CSV
    # reader does not)
    whole = t.str.fullmatch(r"[+-]?[0-9]{1,18}").to_numpy(dtype=bool) & ~true & ~false
    out[whole] = _int_tokens(t[whole].str.removeprefix("+").astype(np.int64).to_numpy())
    number = ~whole & t.str.fullmatch(_NUMBER).to_numpy(dtype=bool)
    # Arrow's cast, like Python's float(), rounds correctly; "inf" and "nan" too
    out[number] = _float_tokens(t[number].str.lower().astype(np.float64).to_numpy())
    words = np.flatnonzero(~(true | false | whole | number))
    out[words] = np.array(
        [int.from_bytes(hashlib.blake2b(("text:" + texts[i]).encode(), digest_size=8)
                        .digest(), "little") for i in words], dtype=np.uint64)
    return out


def _value_tokens(values: Sequence[Any]) -> np.ndarray:
    """The token of each Python value (the distinct values of a text or mixed column)."""
    import pandas as pd

    out = np.empty(len(values), dtype=np.uint64)
    ints: list[tuple[int, int]] = []
    floats: list[tuple[int, float]] = []
    texts: list[tuple[int, str]] = []
    for i, v in enumerate(values):
        if v is None or v is pd.NA or v is pd.NaT:
            out[i] = _MISSING
        elif isinstance(v, (bool, np.bool_)):
            out[i] = _TRUE if v else _FALSE
        elif isinstance(v, (int, np.integer)):
            if -2**63 <= int(v) < 2**63:
                ints.append((i, int(v)))
            else:
                out[i] = text_hash64(f"int:{int(v)}")
        elif isinstance(v, (float, np.floating)):
            floats.append((i, float(v)))
        elif isinstance(v, Decimal):  # a database's NUMERIC
            whole = v.is_finite() and v == v.to_integral_value() and abs(v) < 2**63
            if whole:
                ints.append((i, int(v)))
            else:
                floats.append((i, float(v)))
        elif isinstance(v, str):
            texts.append((i, v))
        elif isinstance(v, bytes):
            texts.append((i, v.decode("utf-8", "replace")))
        else:  # a date or time from a database, say: its text
            out[i] = text_hash64(f"other:{v}")
    if ints:
        at, v = zip(*ints, strict=True)
        out[list(at)] = _int_tokens(np.array(v, dtype=np.int64))
    if floats:
        at, v = zip(*floats, strict=True)
        out[list(at)] = _float_tokens(np.array(v, dtype=np.float64))
    if texts:
        at, v = zip(*texts, strict=True)
        out[list(at)] = _text_tokens(list(v))
    return out


def _column_tokens(values: pd.Series) -> np.ndarray:
    """One token per cell of a column, the same whatever dtype pandas gave it."""
    import pandas as pd

    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        return np.where(values.to_numpy(), _TRUE, _FALSE).astype(np.uint64)
    if dtype.kind in "iu" and not (dtype.kind == "u" and dtype.itemsize == 8):
        missing = values.isna().to_numpy()
        tokens = _int_tokens(values.to_numpy(dtype=np.int64, na_value=0))
        tokens[missing] = _MISSING
        return tokens
    if dtype.kind == "f":
        return _float_tokens(values.to_numpy(dtype=np.float64, na_value=np.nan))
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    distinct = list(np.asarray(uniques, dtype=object))
    if pd.api.types.infer_dtype(distinct, skipna=False) == "string":  # text only
        tokens = _text_tokens(distinct)
    else:
        tokens = _value_tokens(distinct)
    table = np.append(tokens, _MISSING)
    return table[codes]  # code -1 (missing) reads the last entry


def row_hashes(raw: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """One 64-bit hash per row of ``raw`` over ``columns`` (their names and canonical
    values), independent of the columns' order and dtypes."""
    h = np.zeros(len(raw), dtype=np.uint64)
    for name in sorted(set(columns)):
        h ^= _column_tokens(raw[name])
        h ^= text_hash64("column:" + name)
        mix64(h)
    return h


def _draw(hashes: np.ndarray, salt: str) -> np.ndarray:
    """A number in [0, 1) per row: the top 53 bits of the salted hash."""
    h = hashes ^ text_hash64(salt)
    mix64(h)
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53


def assign(hashes: np.ndarray, *, test_fraction: float, validation_fraction: float,
           seed: int, test_seed: int | None = None) -> np.ndarray:
    """The split of each row as an index into `SPLITS` (0 train, 1 validation, 2 test)."""
    test = _draw(hashes, f"test:{seed if test_seed is None else test_seed}") < test_fraction
    val = _draw(hashes, f"validation:{seed}") < validation_fraction
    return np.where(test, 2, np.where(val, 1, 0)).astype(np.int8)


def class_counts(y: np.ndarray, part: np.ndarray, classes: Sequence[Any]
                 ) -> dict[str, dict[str, int]]:
    """Rows of each class in each split: {"train": {"no": 120, "yes": 51}, ...}."""
    return {name: {str(c): int(n) for c, n in
                   zip(classes, np.bincount(y[part == k], minlength=len(classes)),
                       strict=True)}
            for k, name in enumerate(SPLITS)}


def train_problem(counts: dict[str, dict[str, int]]) -> str | None:
    """What makes a split unusable, or None: a class with no row in train, or an empty
    validation or test split."""
    for name in ("validation", "test"):
        if not sum(counts[name].values()):
            return (f"the {name} split is empty ({sum(counts['train'].values())} train "
                    "rows); give more rows, or a larger test_fraction or "
                    "validation_fraction")
    for c, n in counts["train"].items():
        if not n:
            return (f"the split leaves class {c!r} with no row in train "
                    f"(train/validation/test rows of it: "
                    f"{'/'.join(str(counts[s][c]) for s in SPLITS)}); give more rows of "
                    "it, or change test_fraction, validation_fraction or seed")
    return None


def check_key(raw: pd.DataFrame, key: Sequence[str], *, where: str, origin: str) -> None:
    """Refuse a key with a missing value or a value that two rows share. ``where`` starts
    the message ("studies/churn.toml: [data]"); the columns exist (checked before)."""
    cols = raw[list(key)]
    named = key[0] if len(key) == 1 else "(" + ", ".join(key) + ")"
    empty = cols.isna().any(axis=1).to_numpy()
    if empty.any():
        row = first_row(empty)
        column = next(k for k in key if cols[k].isna().iloc[row - 1])
        raise DataError(f"{where} key: column {column!r} is empty in row {row} of {origin}; "
                        "a key must identify every row")
    again = cols.duplicated(keep="first").to_numpy()
    if again.any():
        second = first_row(again)
        value = cols.iloc[second - 1]
        first = first_row((cols == value).all(axis=1).to_numpy())
        values = [shown(plain_label(v)) for v in value]
        shown_value = values[0] if len(key) == 1 else "(" + ", ".join(values) + ")"
        raise DataError(f"{where} key: {named} = {shown_value} is in rows {first} and "
                        f"{second} of {origin}; a key must be unique: add a column to it, "
                        "or remove the duplicate")

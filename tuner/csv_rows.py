"""New rows from a CSV file, typed as pandas would type them, without pandas.

`tuner predict` on a model of a file or table needs a handful of named columns of a CSV
file: numbers for the numeric ones, text labels for the categorical ones. pandas' import
alone costs ~0.35 s, several times what predicting six rows takes, so a CSV file is read
here with the standard library's csv module; Parquet still goes through pandas
(tuner/sources.py).

The typing follows what ``pandas.read_csv`` (default options) then `tuner.cells` make of
a column, so a value means the same thing as in training: pandas' missing-value
tokens (an empty cell, ``NA``, ``null``, ...) are missing; a numeric column's cells are
numbers (``True``/``False`` as 1/0 when the whole column is true/false); a categorical
column is labelled as a whole: whole numbers as integers (``3.0`` and ``03`` are ``3``),
other numbers as floats, true/false as ``True``/``False``, anything else as written.
tests/test_csv_rows.py checks the result against the pandas path.
"""

from __future__ import annotations

import csv
import gzip
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuner.cells import PreprocessError, checked_numbers
from tuner.errors import DataError, shown

__all__ = ["NA_TOKENS", "CSVColumns", "column_labels", "column_numbers", "read_columns"]

# pandas.read_csv's default missing-value tokens (pandas._libs.parsers.STR_NA_VALUES);
# tests/test_csv_rows.py checks they still agree.
NA_TOKENS = frozenset({
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
    "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})
FIELD_MAX = 2**31 - 1  # the largest field csv accepts (a C long on every platform)
_TRUE = frozenset({"True", "TRUE", "true"})
_FALSE = frozenset({"False", "FALSE", "false"})
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
# What pandas' float parser takes (Python's float() also takes "1_000", which pandas
# reads as text).
_FLOAT = re.compile(r"\s*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|infinity)\s*",
                    re.IGNORECASE)


@dataclass(frozen=True)
class CSVColumns:
    """The cells of the columns asked for, as text, one list per column, data rows only."""

    header: tuple[str, ...]
    cells: dict[str, list[str]]
    n_rows: int


def read_columns(path: Path, needed: Sequence[str], *, where: str) -> CSVColumns:
    """The text of the columns ``needed`` that the CSV file (or .csv.gz) has, by name.

    The first non-blank record is the header; blank lines are skipped; a record with
    more or fewer cells than the header is an error naming its line (as
    `tuner.sources.check_row_lengths` says it). Columns not in the header are left out
    of ``cells``: the caller names what is missing.
    """
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    header: list[str] | None = None
    wanted: list[tuple[str, int]] = []
    cells: dict[str, list[str]] = {}
    n = 0
    line = 0
    # csv refuses a field over 128 KiB by default; pandas reads one (a long free-text
    # column the model ignores must not stop a prediction).
    limit = csv.field_size_limit(FIELD_MAX)
    try:
        with opener(path, "rt", newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            for record in reader:
                line = reader.line_num
                if not record:
                    continue  # a blank line, skipped by pandas too
                if header is None:
                    header = record
                    names = [c.strip() for c in header]
                    twice = sorted({c for c in names if names.count(c) > 1})
                    if twice:
                        raise DataError(f"{where}: duplicate column names: "
                                        f"{', '.join(shown(c) for c in twice[:5])}; give each "
                                        "column its own name")
                    wanted = [(c, header.index(c)) for c in needed if c in header]
                    cells = {c: [] for c, _ in wanted}
                    continue
                if len(record) != len(header):
                    raise DataError(f"{where}: line {line} has {len(record)} fields; the "
                                    f"header has {len(header)}")
                for name, j in wanted:
                    cells[name].append(record[j])
                n += 1
    except UnicodeDecodeError as e:
        raise DataError(f"{where}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise DataError(f"{where}: line {line + 1}: not a well-formed CSV file: {e}") from None
    except (OSError, EOFError) as e:
        raise DataError(f"{where}: cannot read it ({e})") from None
    finally:
        csv.field_size_limit(limit)
    if header is None:
        raise DataError(f"{where}: is empty (no header, no rows)")
    return CSVColumns(header=tuple(header), cells=cells, n_rows=n)


def _is_bool_column(present: Sequence[str]) -> bool:
    return bool(present) and all(c in _TRUE or c in _FALSE for c in present)


def column_numbers(cells: Sequence[str], *, where: str) -> np.ndarray:
    """A numeric column's cells as float64, missing as NaN (`tuner.cells.numeric_values`
    on the column pandas would read)."""
    present = [c for c in cells if c not in NA_TOKENS]
    if _is_bool_column(present):
        values = [math.nan if c in NA_TOKENS else float(c in _TRUE) for c in cells]
        return np.array(values, dtype=np.float64)
    out = np.empty(len(cells), dtype=np.float64)
    for i, cell in enumerate(cells):
        if cell in NA_TOKENS:
            out[i] = math.nan
        elif _FLOAT.fullmatch(cell):
            out[i] = float(cell)
        else:
            raise PreprocessError(f"{where}: row {i + 1} holds {shown(cell)}, not a number")
    return checked_numbers(out, where=where)


def column_labels(cells: Sequence[str]) -> list[str | None]:
    """A categorical column's cells as text labels (`tuner.cells.category_labels` of the
    column pandas would read), None where missing."""
    present = [c for c in cells if c not in NA_TOKENS]
    if present and all(_INTEGER.fullmatch(c) for c in present):
        label = lambda c: str(int(c))  # noqa: E731 - one of three ways to label a cell
    elif present and all(_FLOAT.fullmatch(c) for c in present):
        def label(c: str) -> str:
            value = float(c)
            return str(int(value)) if value.is_integer() else str(value)
    elif _is_bool_column(present):
        label = lambda c: "True" if c in _TRUE else "False"  # noqa: E731
    else:
        label = str
    return [None if c in NA_TOKENS else label(c) for c in cells]

"""Property-based fuzz of `tuner predict` inputs (issue 13, item 5 and the fuzz bullet):
CSV files with ragged rows, wrong column counts, empty files, non-numeric cells, huge
values (1e40, beyond float32; 1e309, beyond float64), NaN, inf, headers, stray quotes and
bytes that are not UTF-8. Every file either predicts (exit 0, one label per row) or is
refused with exit 2 in one line; never a traceback or exit 1.

Black-box through the CLI (click's CliRunner in this process), so it keeps checking the
property whatever `predict` reads CSVs with.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from fuzz_helpers import assert_predicts_or_refuses, predict, train_model

pytestmark = pytest.mark.e2e

N_FEATURES = 4  # iris


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_model(tmp_path_factory.mktemp("predict-fuzz"))


cells = st.one_of(
    st.sampled_from(["5.1", "3.5", "1.4", "0.2", "0", "-1", "1e40", "-1e40", "3.4e38",
                     "1e308", "1e309", "-1e309", "1e-320", "nan", "NaN", "inf", "-inf",
                     "Infinity", "", " ", "abc", "0x10", "1_000", "1,5", '"2.0"', '"',
                     "1e", "--1", "+.5", "٣", "\u202e1", "1\x00", "sepal_length"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(max_size=6),
)
rows = st.lists(st.lists(cells, min_size=0, max_size=N_FEATURES + 2), max_size=6)
separators = st.sampled_from([",", ",", ",", ";", "\t"])


def csv_text(table: list[list[str]], sep: str, header: bool) -> str:
    lines = [sep.join(row) for row in table]
    if header:
        lines.insert(0, sep.join(["a", "b", "c", "d"][:N_FEATURES]))
    return "\n".join(lines) + ("\n" if lines else "")


@settings(max_examples=250, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows, separators, st.booleans())
# The hand-found cases: always tried first.
@example([["1e40", "3.5", "1.4", "0.2"]], ",", False)       # beyond float32 (item 5)
@example([["5.1", "3.5", "1.4", "0.2"]], ",", True)         # a valid header and row
@example([["5.1", "3.5", "1.4"], ["5.1", "3.5", "1.4", "0.2", "9"]], ",", False)  # ragged
@example([], ",", False)                                    # empty file
@example([["nan", "inf", "-inf", "1e309"]], ",", False)
@example([["5.1", "abc", "1.4", "0.2"]], ",", False)
def test_every_csv_predicts_or_is_refused_in_one_line(model: Path, table: list[list[str]],
                                                      sep: str, header: bool) -> None:
    text = csv_text(table, sep, header)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.csv"
        data.write_text(text, encoding="utf-8", errors="surrogatepass")
        result = predict(model, data)
    event(f"exit {result.exit_code}")
    assert_predicts_or_refuses(result, text)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200))
@example(b"\xff\xfe5\x001\x00")                            # UTF-16
@example(b"5.1,3.5,1.4,0.2\n\x80\x81,1,2,3\n")              # not UTF-8 in a row
def test_every_byte_string_predicts_or_is_refused_in_one_line(model: Path, raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.csv"
        data.write_bytes(raw)
        result = predict(model, data)
    event(f"exit {result.exit_code}")
    assert_predicts_or_refuses(result, raw)

"""Property-based fuzz of `tuner predict` inputs (issue 13, item 5 and the fuzz bullet):
CSV files with ragged rows, wrong column counts, empty files, non-numeric cells, huge
values (1e40, beyond float32; 1e309, beyond float64), NaN, inf, headers, stray quotes and
bytes that are not UTF-8. Every file either predicts (exit 0, one label per row) or is
refused with exit 2 in one line; never a traceback or exit 1.

Black-box through the CLI (click's CliRunner in this process), so it keeps checking the
property whatever `predict` reads CSVs with.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
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


# --- special files, and a model trained on a CSV file (read by its header) -----------------

@pytest.mark.parametrize("side", ["model", "data"])
@pytest.mark.parametrize("kind", ["fifo", "symlink to /dev/zero", "/dev/zero"])
def test_a_special_file_is_refused_not_read(model: Path, tmp_path: Path, side: str,
                                            kind: str) -> None:
    special = tmp_path / ("m.npz" if side == "model" else "d.csv")
    if kind == "fifo":
        os.mkfifo(special)  # open() would wait for a writer forever
    elif kind == "symlink to /dev/zero":
        special.symlink_to("/dev/zero")  # endless bytes
    else:
        special = Path("/dev/zero")
    data = tmp_path / "rows.csv"
    data.write_text("5.1,3.5,1.4,0.2\n")
    result = predict(special, data) if side == "model" else predict(model, special)
    assert_predicts_or_refuses(result, (side, kind))
    assert result.exit_code == 2 and "not a regular file" in result.stderr, result.stderr


TABLE_STUDY = """
[study]
name = "fuzztable"
n_trials = 1

[data]
path = "train.csv"
target = "y"

[model]
hidden = [4]
epochs = 2
batch_size = 32

[search]
alpha = { prior = "log-uniform", low = 1e-3, high = 1.0 }
"""


@pytest.fixture(scope="module")
def table_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from click.testing import CliRunner

    from tuner.cli import cli

    folder = tmp_path_factory.mktemp("table-model")
    rng = np.random.default_rng(0)
    lines = ["a,b,c,y"] + [f"{x:.3f},{z:.3f},{'pq'[i % 2]},{i % 2}" for i, (x, z) in
                           enumerate(rng.standard_normal((120, 2)))]
    (folder / "train.csv").write_text("\n".join(lines) + "\n")
    (folder / "s.toml").write_text(TABLE_STUDY)
    db = f"sqlite:///{folder / 'tuner.db'}"
    runner = CliRunner()
    assert runner.invoke(cli, ["-q", "study", "run", str(folder / "s.toml"), "--storage",
                               db]).exit_code == 0
    model = folder / "m.npz"
    trained = runner.invoke(cli, ["-q", "train", str(folder / "s.toml"), "--storage", db,
                                  "-o", str(model), "--no-upload"])
    assert trained.exit_code == 0, trained.stderr
    return model


table_cells = st.one_of(st.sampled_from(["0.5", "-1", "1e308", "-1e308", "1e100", "1e101",
                                         "1e40", "", "p", "q", "zz", "nan", "inf"]),
                        st.floats(allow_nan=False, allow_infinity=False).map(repr))
headers = st.lists(st.sampled_from(["a", "b", "c", "y", "a", "extra"]), min_size=1,
                   max_size=5)


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(headers, st.lists(st.lists(table_cells, min_size=1, max_size=6), max_size=5))
@example(["a", "b", "c"], [["0.5", "1"]])                   # a short row
@example(["a", "b", "c"], [["0.5", "1", "p", "9"]])         # a long row
@example(["a", "b", "c", "c"], [["0.5", "1", "p", "q"]])    # a duplicated name
@example(["a", "b", "c"], [["1e308", "1", "p"]])            # finite, its square not
def test_every_csv_for_a_table_model_predicts_or_is_refused(table_model: Path,
                                                            header: list[str],
                                                            table: list[list[str]]) -> None:
    text = "\n".join([",".join(header), *(",".join(row) for row in table)]) + "\n"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.csv"
        data.write_text(text, encoding="utf-8")
        result = predict(table_model, data)
    event(f"exit {result.exit_code}")
    assert_predicts_or_refuses(result, text)
    widths = {len(row) for row in table}
    if result.exit_code == 0:  # only whole rows under distinct names are read
        assert widths <= {len(header)} and len(set(header)) == len(header), text

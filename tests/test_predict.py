"""`tuner predict`'s library side: a model from a real `tuner train`, raw rows read from a
CSV file (header and blank lines skipped, every bad cell named by row and column), labels
written whole, never over the model or the data. (The command line and damaged model
files: tests/test_train.py and tests/fuzz/.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers import invoke, write_study
from tuner.data import load_xy
from tuner.errors import TunerError
from tuner.predict import CSVError, predict_csv, predict_file, read_csv

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model of the tiny iris study, trained the way a user trains one."""
    folder = tmp_path_factory.mktemp("model")
    study = write_study(folder, n_trials=2)
    url = f"sqlite:///{folder / 'tuner.db'}"
    assert invoke("study", "run", study, "--storage", url).exit_code == 0
    path = folder / "iris.npz"
    trained = invoke("train", study, "--storage", url, "-o", path, "--no-upload")
    assert trained.exit_code == 0, trained.output
    return path


def _iris_csv(path: Path, rows: slice, header: bool = True) -> Path:
    X, _ = load_xy("iris")
    lines = (["a,b,c,d"] if header else []) + [",".join(repr(float(v)) for v in r) for r in X[rows]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_labels_of_raw_rows_as_text_and_written_whole(model: Path, tmp_path: Path) -> None:
    data = _iris_csv(tmp_path / "new.csv", slice(0, 150, 10))
    labels = predict_csv(model, data)
    assert labels.shape == (15,) and set(labels.tolist()) <= {0, 1, 2}
    text, n = predict_file(model, data)
    assert n == 15 and text == "".join(f"{v}\n" for v in labels.tolist())
    out = tmp_path / "labels.txt"
    assert predict_file(model, data, out) == (text, 15)
    assert out.read_text(encoding="utf-8") == text
    no_header = _iris_csv(tmp_path / "bare.csv", slice(0, 150, 10), header=False)
    assert np.array_equal(predict_csv(model, no_header), labels)


def test_the_output_may_be_neither_the_model_nor_the_data(model: Path, tmp_path: Path) -> None:
    data = _iris_csv(tmp_path / "new.csv", slice(0, 3))
    before = (model.read_bytes(), data.read_bytes())
    for output, what in ((model, "the model"), (data, "the data")):
        with pytest.raises(TunerError, match=f"is {what}"):
            predict_file(model, data, output)
    with pytest.raises(TunerError, match="folder .*nowhere does not exist"):
        predict_file(model, data, tmp_path / "nowhere" / "labels.txt")
    assert (model.read_bytes(), data.read_bytes()) == before


def test_read_csv_skips_a_header_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("x,y\n1,2\n\n3.5,-4e2\n", encoding="utf-8")
    assert read_csv(path, 2).tolist() == [[1.0, 2.0], [3.5, -400.0]]


@pytest.mark.parametrize(("text", "message"), [
    ("x,y\n1,2\n3\n", "row 3 has 1 columns; the model takes 2 features, in training order"),
    ("x,y,z\n1,2,3\n", "row 1 (header) has 3 columns; the model takes 2 features"),
    ("1,2\n3,abc\n", "row 2, column 2: 'abc' is not a number"),
    ("1, \n", "row 1, column 2: empty cell"),
    ("1,nan\n", "row 1, column 2: NaN is not a feature value"),
    ("inf,1\n", "row 1, column 1: 'inf' is not a finite number"),
    ("x,y\n\n", "no data rows"),
])
def test_read_csv_names_the_row_and_column_of_what_it_refuses(tmp_path: Path, text: str,
                                                               message: str) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CSVError) as info:
        read_csv(path, 2)
    assert str(info.value) == f"{path}: {message}"

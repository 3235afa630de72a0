"""Predicting with a saved model: `tuner predict MODEL.npz DATA.csv`.

A model file carries everything prediction needs (the float64 scaler of a built-in
dataset, or the fitted preprocessing of a file or table: column names and order,
imputer statistics, scaler, categories, classes), so neither the study nor its data is
read. Rows of a table model are matched to the CSV's header by column name; every
refusal is one line that names the file, the row and the column. `predict_rows` gives
labels or, with ``proba``, a probability per class, and counts unseen categories.

Nothing here imports scikit-learn, pandas or Optuna on the way to a CSV's predictions
(the model loads as an `MLPCore`; a table model's CSV is read by `tuner.csv_rows`):
`tuner predict` starts in a small multiple of numpy's own import
(benchmarks/predict_startup.py, tests/system/test_predict_cli.py).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner import model_file
from tuner.errors import TunerError, shown
from tuner.files import not_a_regular_file
from tuner.mlp import MLPCore

if TYPE_CHECKING:
    from tuner.preprocess import Preprocessing

__all__ = ["CSVError", "Predicted", "predict_csv", "predict_file", "predict_raw",
           "predict_rows", "read_csv"]


class CSVError(TunerError):
    """A CSV file whose rows cannot be fed to the model."""


# --- predicting -----------------------------------------------------------------------------

def _check_range(X: np.ndarray, dtype: np.dtype, row_names: Callable[[int], str],
                 column_names: Callable[[int], str], where: str) -> None:
    """Refuse an input the model's float32 cannot hold (1e40 is finite in float64 and
    infinity in float32, which would silently turn into NaN scores)."""
    if np.dtype(dtype) != np.float32:
        return
    big = np.abs(X) > np.finfo(np.float32).max
    if big.any():
        i, j = np.argwhere(big)[0]
        raise CSVError(f"{where}: {row_names(int(i))}, {column_names(int(j))}: the value "
                       f"scales to {X[i, j]:.3g}, beyond the model's float32 range "
                       f"(+-{np.finfo(np.float32).max:.3g})")


def _cell(text: str, row: int, column: int, where: str) -> float:
    cell = text.strip()
    if not cell:
        raise CSVError(f"{where}: row {row}, column {column}: empty cell")
    try:
        value = float(cell)
    except ValueError:
        raise CSVError(f"{where}: row {row}, column {column}: {cell[:40]!r} is not a "
                       "number") from None
    if math.isnan(value):
        raise CSVError(f"{where}: row {row}, column {column}: NaN is not a feature value")
    if math.isinf(value):
        raise CSVError(f"{where}: row {row}, column {column}: {shown(cell)} is not a finite "
                       "number")
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_csv(path: str | Path, n_features: int) -> np.ndarray:
    """Rows of raw feature values, shape (rows, n_features), float64.

    A first row in which no cell is a number is a header and is skipped; blank lines are
    skipped. Rows are numbered as lines of the file (the header is row 1), columns from 1.

    Raises:
        CSVError: a row with the wrong number of cells, an empty, non-numeric, NaN or
            infinite cell, or no data row at all (the message names the row and column).
    """
    return _read_rows(path, n_features)[0]


def _read_rows(path: str | Path, n_features: int) -> tuple[np.ndarray, list[int]]:
    """`read_csv`'s rows and the line number of each."""
    path = Path(path)
    where = str(path)
    problem = not_a_regular_file(path)
    if problem is not None:
        raise CSVError(f"{where}: {problem}")
    rows: list[list[float]] = []
    lines: list[int] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            first = True
            for cells in reader:
                row = reader.line_num
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue  # a blank line
                if first:
                    first = False
                    if not any(_is_number(c) for c in cells):
                        if len(cells) != n_features:
                            raise CSVError(f"{where}: row {row} (header) has {len(cells)} "
                                           f"columns; the model takes {n_features} features")
                        continue
                if len(cells) != n_features:
                    raise CSVError(f"{where}: row {row} has {len(cells)} columns; the model "
                                   f"takes {n_features} features, in training order")
                rows.append([_cell(c, row, j, where) for j, c in enumerate(cells, 1)])
                lines.append(row)
    except UnicodeDecodeError as e:
        raise CSVError(f"{where}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise CSVError(f"{where}: row {reader.line_num}: {e}") from None
    except OSError as e:
        raise CSVError(f"{where}: {e.strerror or e}") from None
    if not rows:
        raise CSVError(f"{where}: no data rows")
    return np.array(rows, dtype=np.float64), lines


def predict_raw(clf: MLPCore, X_raw: np.ndarray) -> np.ndarray:
    """Labels for raw (unscaled) rows, scaled exactly as the training rows were."""
    return clf.predict(model_file.scaled(clf, X_raw))


@dataclass
class Predicted:
    """What a model made of a file's rows: ``values`` are one prediction per row, or with
    ``proba`` one row of probabilities per row, a column per class of ``columns`` (the
    labels as the user wrote them); ``unseen`` counts, per categorical column, the rows
    holding a category the model never saw."""

    values: np.ndarray
    columns: list[Any] | None = None
    unseen: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        """CSV text: one value a line, or a header of class labels and one row of
        probabilities a line (9 significant digits: float32's round trip)."""
        if self.columns is None:
            return "".join(f"{v}\n" for v in self.values.tolist())
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows([f"{p:.9g}" for p in row] for row in self.values.tolist())
        return buffer.getvalue()

    def warning(self, where: str) -> str | None:
        """One line counting the cells of categories the model never saw, or None."""
        if not self.unseen:
            return None
        total = sum(self.unseen.values())
        per = ", ".join(f"{c}: {k}" for c, k in self.unseen.items())
        cells = "cell holds a category" if total == 1 else "cells hold categories"
        return (f"{where}: {total} {cells} the model never saw ({per}); each encodes as "
                "none of the known categories")


def _inputs(clf: MLPCore, model: str | Path, data: str | Path,
            unseen: dict[str, int]) -> tuple[np.ndarray, Preprocessing | None]:
    """The model's inputs for the rows of ``data`` and the preprocessing that made them
    (None for a built-in dataset's model)."""
    dtype = np.dtype(clf.dtype)
    where = str(data)
    pre = model_file.preprocessing(clf, model)
    if pre is None:
        X_raw, lines = _read_rows(data, clf.n_features_in_)
        X = model_file.scaled(clf, X_raw)
        _check_range(X, dtype, lambda i: f"row {lines[i]}", lambda j: f"column {j + 1}",
                     where)
        return X, None
    from tuner.sources import SourceError, file_format, read_file

    path = Path(data)
    fmt = file_format(path)
    if fmt == "csv":
        # The standard library's csv module, not pandas: its import alone is several times
        # what the rest of `tuner predict` costs (benchmarks/predict_startup.py).
        from tuner.csv_rows import read_columns

        problem = not_a_regular_file(path)
        if problem is not None:
            raise SourceError(f"{where}: {problem}")
        columns = read_columns(path, pre.columns, where=where)
        if columns.n_rows == 0:
            raise CSVError(f"{where}: no data rows")
        X = pre.transform_text(columns.cells, columns.n_rows, header=columns.header,
                               dtype="float64", where=where, unseen=unseen)
    else:
        frame = read_file(path, where="predict")  # Parquet (or an unknown extension)
        if frame.empty:
            raise CSVError(f"{where}: no data rows")
        X = pre.transform(frame, dtype="float64", where=where, unseen=unseen)
    names = pre.feature_names()
    _check_range(X, dtype, lambda i: f"row {i + 1}",
                 lambda j: f"column {names[j]!r}", where)
    return X, pre


def predict_rows(model: str | Path, data: str | Path, *, proba: bool = False) -> Predicted:
    """What the model file ``model`` predicts for every data row of ``data``: labels (as
    the user wrote them), or with ``proba`` the probability of each class.

    A model trained on a file or table reads ``data`` (CSV or Parquet) by its header:
    columns by name (order free, extra columns ignored), its own imputing, scaling and
    one-hot encoding (an unseen category encodes as none of the known ones, and is
    counted). A model of a built-in dataset reads a CSV of raw numbers in training order.
    """
    clf = model_file.load(model, estimator=False)
    if proba and not hasattr(clf, "predict_proba"):
        raise TunerError(f"--proba: {model} predicts numbers, not classes: it has no "
                         "probabilities")
    unseen: dict[str, int] = {}
    X, pre = _inputs(clf, model, data, unseen)
    if proba:
        classes = list(pre.classes) if pre is not None else clf.classes_.tolist()
        return Predicted(clf.predict_proba(X), classes, unseen)
    predicted = clf.predict(X)
    if pre is not None and getattr(clf, "classes_", None) is not None:
        # The network's classes are 0..k-1; the user wrote the labels.
        predicted = pre.decode(predicted)
    return Predicted(predicted, None, unseen)


def predict_csv(model: str | Path, data: str | Path) -> np.ndarray:
    """Predicted labels, one per data row of ``data``, by the model file ``model``
    (`predict_rows`)."""
    return predict_rows(model, data).values


def predict_file(model: str | Path, data: str | Path, output: str | Path | None = None, *,
                 proba: bool = False, on_warning: Callable[[str], None] | None = None
                 ) -> tuple[str, int]:
    """`tuner predict`: the predictions for ``data``'s rows as text, one per line (with
    ``proba``: a CSV with a column per class), and how many rows.

    With ``output`` they are also written there, whole or not at all (into a folder that
    exists); without it the caller prints them. ``on_warning`` receives the one line
    counting categories the model never saw, if there are any.
    """
    from tuner.files import atomic_write, same_file

    if output is not None:
        for what, path in (("the model", model), ("the data", data)):
            if same_file(output, path):
                raise TunerError(f"-o {output}: is {what} ({path}); write the labels elsewhere")
    predicted = predict_rows(model, data, proba=proba)
    text = predicted.text()
    line = predicted.warning(str(data))
    if line is not None and on_warning is not None:
        on_warning(line)
    if output is not None:
        folder = Path(output).parent
        if not folder.is_dir():
            raise TunerError(f"-o {output}: folder {folder} does not exist")
        try:
            atomic_write(output, text)
        except OSError as e:
            raise TunerError(f"-o {output}: cannot write in folder {folder}: "
                             f"{e.strerror or e}") from None
    return text, len(predicted.values)

"""Predicting with a saved model: `tuner predict MODEL.npz DATA.csv`.

A model file carries everything prediction needs (the float64 scaler of a built-in
dataset, or the fitted preprocessing of a file or table: column names and order,
imputer statistics, scaler, categories, classes), so neither the study nor its data is
read. Rows of a table model are matched to the CSV's header by column name; every
refusal is one line that names the file, the row and the column.
"""

from __future__ import annotations

import csv
import json
import math
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tuner.errors import TunerError, first_line
from tuner.mlp import MLPCore, ModelFormatError

if TYPE_CHECKING:
    from tuner.mlp.estimator import MLPClassifierBN

if TYPE_CHECKING:
    from tuner.preprocess import Preprocessing

from tuner.train import PREPROCESSING_KEY, SCALER_KEYS

__all__ = ["CSVError", "load_model", "predict_csv", "predict_raw", "preprocessing", "read_csv"]


class CSVError(TunerError):
    """A CSV file whose rows cannot be fed to the model."""


# --- predicting -----------------------------------------------------------------------------

def load_model(path: str | Path) -> MLPClassifierBN:
    """A model written by `tuner train`, read without ever unpickling anything.

    Raises:
        ModelFormatError: not a tuner model, one from a newer tuner, or one without the
            scaler `predict` needs.
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        # Checked first: numpy's own message for a non-npz file suggests loading it with
        # pickle enabled, which is the last thing to do with a file of unknown origin.
        raise ModelFormatError(f"{path} is not a tuner model file (not an npz archive): "
                               "pass the model.npz written by `tuner train`")
    try:
        from tuner.mlp.estimator import MLPClassifierBN

        clf = MLPClassifierBN.load(path)
    except ModelFormatError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, EOFError, OSError,
            zipfile.BadZipFile) as e:
        # A damaged or foreign npz: object arrays (refused by allow_pickle=False),
        # missing or misshapen arrays, metadata that is not what `save` writes.
        raise ModelFormatError(f"{path} is not a tuner model file ({type(e).__name__}: "
                               f"{first_line(str(e))})") from e
    extra = getattr(clf, "extra_", {})
    if PREPROCESSING_KEY in extra:
        preprocessing(clf, path)  # refuses an unreadable or inconsistent state now
        return clf
    missing = [k for k in SCALER_KEYS if k not in extra]
    if missing:
        raise ModelFormatError(f"{path} holds a model but no scaler ({', '.join(missing)}): "
                               "`tuner predict` takes raw rows and needs the scaler that "
                               "`tuner train` saves")
    for key in SCALER_KEYS:
        a = extra[key]
        if a.shape != (clf.n_features_in_,) or a.dtype.kind != "f":
            raise ModelFormatError(f"{path}: {key} has shape {a.shape} and dtype {a.dtype}; "
                                   f"expected ({clf.n_features_in_},) floats")
    return clf


def preprocessing(clf: MLPClassifierBN, where: str | Path = "model") -> Preprocessing | None:
    """The preprocessing a model trained on a file or table carries; None for a model of
    a built-in dataset (which carries a scaler instead)."""
    from tuner.preprocess import PreprocessError, Preprocessing

    extra = getattr(clf, "extra_", {})
    if PREPROCESSING_KEY not in extra:
        return None
    raw = extra[PREPROCESSING_KEY]
    try:
        if raw.dtype.kind != "U" or raw.shape != ():
            raise ValueError(f"a {raw.dtype} array of shape {raw.shape}, not a JSON string")
        meta = json.loads(str(raw[()]))
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
        classes = meta.get("classes")
        # Labels as a user writes them: text, whole numbers, true/false -- nothing nested.
        if not isinstance(classes, list) or not all(
                isinstance(c, (str, int, bool)) for c in classes):
            raise ValueError("classes must be a list of text, integer or boolean labels")
    except ValueError as e:
        raise ModelFormatError(f"{where}: unreadable preprocessing state ({e})") from None
    try:
        pre = Preprocessing.from_saved(extra, meta, where=str(where))
    except PreprocessError as e:
        raise ModelFormatError(str(e)) from None
    if pre.n_outputs != clf.n_features_in_ or len(pre.classes) != len(clf.classes_):
        raise ModelFormatError(f"{where}: the preprocessing makes {pre.n_outputs} inputs "
                               f"and {len(pre.classes)} classes; the model takes "
                               f"{clf.n_features_in_} and has {len(clf.classes_)}")
    return pre


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
        raise CSVError(f"{where}: row {row}, column {column}: {cell!r} is not a finite "
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
    return clf.predict(_scaled(clf, X_raw))


def _scaled(clf: MLPClassifierBN, X_raw: np.ndarray) -> np.ndarray:
    return (np.asarray(X_raw, dtype=np.float64) - clf.extra_["scaler_mean"]) \
        / clf.extra_["scaler_scale"]


def predict_csv(model: str | Path, data: str | Path) -> np.ndarray:
    """Predicted labels, one per data row of the CSV ``data``, by the model file ``model``.

    A model trained on a file or table reads ``data`` by its header: columns by name
    (order free, extra columns ignored), its own imputing, scaling and one-hot encoding
    (an unseen category encodes as none of the known ones), labels as the user wrote
    them. A model of a built-in dataset reads raw numbers in training order.
    """
    clf = load_model(model)
    dtype = np.dtype(clf.dtype)
    where = str(data)
    pre = preprocessing(clf, model)
    if pre is None:
        X_raw, lines = _read_rows(data, clf.n_features_in_)
        X = _scaled(clf, X_raw)
        _check_range(X, dtype, lambda i: f"row {lines[i]}", lambda j: f"column {j + 1}",
                     where)
        return clf.predict(X)
    from tuner.sources import read_file

    frame = read_file(Path(data), where="predict")
    if frame.empty:
        raise CSVError(f"{where}: no data rows")
    X = pre.transform(frame, dtype="float64", where=where)
    names = pre.feature_names()
    _check_range(X, dtype, lambda i: f"row {i + 1}",
                 lambda j: f"column {names[j]!r}", where)
    return pre.decode(clf.predict(X))

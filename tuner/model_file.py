"""The model file `tuner train` writes and `tuner predict` reads: its keys, its writing
and its validation, in one place.

A model is two files:

- ``model.npz``: the network's own file (`tuner.mlp.io`: weights, running statistics,
  classes, hyperparameters, history, no pickle) and, as its extra arrays, what turns
  raw rows into the network's inputs:
  - a built-in dataset: ``scaler_mean`` and ``scaler_scale``, the float64 scaler;
  - a file or table: ``pre_median``, ``pre_mean``, ``pre_scale`` (float64 statistics of
    the numeric columns) and ``preprocessing``, a 0-d JSON string: column names and
    order, categories, the classes as the user wrote them (`tuner.preprocess`);
- ``model.json`` beside it, the card: where the model comes from and how good it is,
  for people (`CARD_FORMAT`); it holds the sha256 of ``model.npz``.

A model file may come from anywhere, so `load` trusts nothing in it: `tuner.mlp.io`
checks the network's part, this module the rest, and every refusal is one
`ModelFormatError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner.errors import first_line
from tuner.files import atomic_path, not_a_regular_file
from tuner.mlp import MLPCore, MLPRegressorCore, ModelFormatError, io
from tuner.mlp.base import MLPBase

if TYPE_CHECKING:
    from tuner.preprocess import Preprocessing
    from tuner.splits import Splits

__all__ = [
    "CARD_FORMAT",
    "MODEL_MAX_BYTES",
    "PREPROCESSING_KEY",
    "PREPROCESSING_PREFIX",
    "SCALER_KEYS",
    "card_path",
    "extra_arrays",
    "load",
    "preprocessing",
    "scaled",
    "write",
]

CARD_FORMAT = "tuner.model-card"
SCALER_MEAN, SCALER_SCALE = "scaler_mean", "scaler_scale"
SCALER_KEYS = (SCALER_MEAN, SCALER_SCALE)
PREPROCESSING_KEY = "preprocessing"  # extra array: the JSON of a table's preprocessing
PREPROCESSING_PREFIX = "pre_"  # extra arrays: the preprocessing's statistics
# A model file is read whole. 16,384 units a layer (the study file's limit) in float64
# make about 2 GiB a layer pair; a file beyond 8 GiB is not one tuner wrote.
MODEL_MAX_BYTES = 8 * 2**30


def card_path(model_path: str | Path) -> Path:
    """``model.npz`` -> ``model.json``, beside it."""
    return Path(model_path).with_suffix(".json")


# --- writing --------------------------------------------------------------------------------

def extra_arrays(splits: Splits) -> dict[str, np.ndarray]:
    """What `predict` needs to turn raw rows into the model's inputs, as plain arrays.

    A built-in dataset: the float64 scaler. A file or table: the imputer medians and the
    scaler (float64 arrays) and, as a 0-d JSON string, the column names and order, the
    categories and the classes as the user wrote them -- so `predict` needs neither the
    study nor the data, and nothing is pickled.
    """
    pre = splits.preprocessing
    if pre is None:
        scaler = splits.scaler
        return {SCALER_MEAN: np.asarray(scaler.mean_, dtype=np.float64),
                SCALER_SCALE: np.asarray(scaler.scale_, dtype=np.float64)}
    return {**pre.to_arrays(PREPROCESSING_PREFIX),
            PREPROCESSING_KEY: np.array(json.dumps(pre.to_json()))}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write(path: str | Path, model: MLPBase, splits: Splits,
          card: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``model`` with the preprocessing of ``splits`` to ``path`` and ``card`` to
    `card_path` (``path``); the card as written, with ``model_sha256``.

    Both are written to temporary names and renamed only when both are written (the
    card first, then the model): a failure leaves any earlier model where it was.
    """
    path = Path(path)
    card = dict(card)
    with atomic_path(path) as tmp_model, atomic_path(card_path(path)) as tmp_card:
        model.save(tmp_model, **extra_arrays(splits))
        card["model_sha256"] = _sha256(tmp_model)
        tmp_card.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return card


# --- reading --------------------------------------------------------------------------------

def load(path: str | Path, *, estimator: bool = True) -> MLPBase:
    """A model written by `write`, read without ever unpickling anything and checked:
    the network (`tuner.mlp.io`), then the scaler or the preprocessing it carries.

    An `MLPClassifierBN` or `MLPRegressorBN` (scikit-learn estimators), as the file's
    task says; with ``estimator=False`` the same model as an `MLPCore` or
    `MLPRegressorCore`, without importing scikit-learn (`tuner predict`'s start-up).

    Raises:
        ModelFormatError: not a tuner model, one from a newer tuner, one without the
            scaler or preprocessing `predict` needs, or one whose arrays are damaged.
    """
    path = Path(path)
    problem = not_a_regular_file(path, max_bytes=MODEL_MAX_BYTES)
    if problem is not None:
        raise ModelFormatError(f"{path}: {problem}")
    if not zipfile.is_zipfile(path):
        # Checked first: numpy's own message for a non-npz file suggests loading it with
        # pickle enabled, which is the last thing to do with a file of unknown origin.
        raise ModelFormatError(f"{path} is not a tuner model file (not an npz archive): "
                               "pass the model.npz written by `tuner train`")
    try:
        if estimator:
            from tuner.mlp.estimator import MLPClassifierBN, MLPRegressorBN

            clf = io.load({"classification": MLPClassifierBN, "regression": MLPRegressorBN},
                          path)
        else:
            clf = io.load({"classification": MLPCore, "regression": MLPRegressorCore}, path)
    except ModelFormatError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, EOFError, OSError,
            zipfile.BadZipFile) as e:
        # A damaged or foreign npz: object arrays (refused by allow_pickle=False),
        # missing or misshapen arrays, metadata that is not what `save` writes.
        raise ModelFormatError(f"{path} is not a tuner model file ({type(e).__name__}: "
                               f"{first_line(str(e))})") from e
    if PREPROCESSING_KEY in clf.extra_:
        preprocessing(clf, path)  # refuses an unreadable or inconsistent state now
    else:
        _check_scaler(clf, path)
    return clf


def _check_scaler(clf: MLPBase, path: Path) -> None:
    """The scaler of a built-in dataset's model: one finite float per feature, and a
    scale that divides by no zero."""
    extra = clf.extra_
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
        if not np.isfinite(a).all():
            raise ModelFormatError(f"{path} is a damaged tuner model file: {key} holds NaN "
                                   "or infinity")
    if not (extra[SCALER_SCALE] > 0).all():
        raise ModelFormatError(f"{path} is a damaged tuner model file: {SCALER_SCALE} has "
                               "a zero or negative entry")


def preprocessing(clf: MLPBase, where: str | Path = "model") -> Preprocessing | None:
    """The preprocessing a model trained on a file or table carries, checked against the
    network; None for a model of a built-in dataset (which carries a scaler instead)."""
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
    except ValueError as e:
        raise ModelFormatError(f"{where}: unreadable preprocessing state ({e})") from None
    try:
        pre = Preprocessing.from_saved(extra, meta, prefix=PREPROCESSING_PREFIX,
                                       where=str(where))
    except PreprocessError as e:
        raise ModelFormatError(str(e)) from None
    n_classes = len(getattr(clf, "classes_", ()))  # a regressor has none
    if pre.n_outputs != clf.n_features_in_ or len(pre.classes) != n_classes:
        raise ModelFormatError(f"{where}: the preprocessing makes {pre.n_outputs} inputs "
                               f"and {len(pre.classes)} classes; the model takes "
                               f"{clf.n_features_in_} and has {n_classes}")
    return pre


def scaled(clf: MLPBase, X_raw: np.ndarray) -> np.ndarray:
    """Raw rows of a built-in dataset's model scaled by its saved float64 scaler, exactly
    as the training rows were."""
    extra = clf.extra_
    return (np.asarray(X_raw, dtype=np.float64) - extra[SCALER_MEAN]) / extra[SCALER_SCALE]

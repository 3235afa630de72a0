"""The network's file: an npz archive without pickles, written and read here
(`MLPCore.save` and `MLPCore.load` are `save` and `load`).

A file holds `theta`, every parameter in one flat vector (see
`tuner.mlp.network.parameter_shapes`), `running`, the BN running statistics (mean0,
var0, mean1, ...), `classes`, the labels (a unicode array for strings), the caller's
extra arrays under `extra/NAME`, carried as they are (what they mean is the caller's
business: `tuner.model_file` keeps the application's preprocessing there), and
`__tuner_meta__`, a 0-d unicode array of JSON: format name and version,
hyperparameters, labels and their kind, the training history.

Format version 2 adds regressors: metadata ``task = "regression"`` with the target's
``target_mean`` and ``target_scale``, an empty ``classes`` array and one output. A
classifier is still written as version 1 (its file is unchanged, and an older tuner
reads it); a file without ``task`` is a classifier.

A model file may come from anywhere, so `read` trusts nothing in it: every array's
size is read from its header and checked against the bytes the archive really holds
and against the metadata before any array is loaded or any model allocated, and a
file that is not what `write` writes is refused with one `ModelFormatError`.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from tuner.errors import TunerError
from tuner.mlp.checks import check_params
from tuner.mlp.network import parameter_shapes

# An `MLPCore` (tuner/mlp/model.py) or a subclass; not imported, even for type hints:
# the model imports this module.
Model = TypeVar("Model")

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ModelFile",
    "ModelFormatError",
    "load",
    "read",
    "save",
    "write",
]

FORMAT_NAME = "tuner.mlp"
FORMAT_VERSION = 2  # the newest this reads; a classifier is written as 1
META_KEY = "__tuner_meta__"
EXTRA_PREFIX = "extra/"
_FLOATS = ("float32", "float64")


class ModelFormatError(TunerError, ValueError):
    """A file is not a model saved by `MLPClassifierBN.save`, or is too new to read."""


@dataclass(frozen=True)
class ModelFile:
    """What `read` found in a model file, checked for consistency."""

    params: dict[str, Any]
    n_features_in: int
    classes: np.ndarray
    theta: np.ndarray
    running: np.ndarray
    n_epochs: int
    history: list[dict[str, Any]]
    extra: dict[str, np.ndarray]
    task: str = "classification"
    target: tuple[float, float] | None = None  # a regressor's target mean and scale


def write(
    path: str | os.PathLike,
    *,
    theta: np.ndarray,
    running: np.ndarray,
    classes: np.ndarray,
    params: Mapping[str, Any],
    n_features_in: int,
    n_epochs: int,
    history: list[dict[str, Any]],
    extra: Mapping[str, Any],
    target: tuple[float, float] | None = None,
) -> None:
    """Write a model to `path` exactly (no ".npz" appended); `params` JSON-ready.
    ``target``: a regressor's target mean and scale (then ``classes`` is empty)."""
    if classes.dtype.kind not in "biufU":
        raise ValueError(f"cannot save class labels of dtype {classes.dtype}")
    arrays = {"theta": theta, "running": running, "classes": classes}
    for name, value in extra.items():
        value = np.asarray(value)
        if value.dtype.kind == "O":
            raise ValueError(
                f"extra array {name!r} has object dtype: it cannot be saved without pickle"
            )
        arrays[EXTRA_PREFIX + name] = value
    meta = {
        "format": FORMAT_NAME,
        "format_version": 1 if target is None else 2,
        "params": dict(params),
        "n_features_in": int(n_features_in),
        "classes": classes.tolist(),
        "classes_kind": classes.dtype.kind,
        "n_epochs": int(n_epochs),
        "history": history,
    }
    if target is not None:
        meta.update(task="regression", target_mean=float(target[0]),
                    target_scale=float(target[1]))
    arrays[META_KEY] = np.array(json.dumps(meta))
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _headers(zf: zipfile.ZipFile, where: str) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array, from the npy headers alone (no data is read).

    An array's size must be what its member really holds, stored uncompressed as
    `np.savez` writes it: a crafted header cannot make `np.load` allocate more than
    the file's own bytes.
    """
    found = {}
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            continue
        name = info.filename[: -len(".npy")]
        with zf.open(info) as f:
            try:
                version = np.lib.format.read_magic(f)
                read_header = {
                    (1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0,
                }[version]
                shape, _, dtype = read_header(f)
            except (KeyError, ValueError, EOFError) as e:
                raise ModelFormatError(f"{where} is not a tuner model file: {name}: {e!r}") from e
            start = f.tell()
        if dtype.hasobject:
            raise ModelFormatError(
                f"{where} is not a tuner model file: {name} is an object array, "
                "which cannot be loaded without pickle"
            )
        if info.compress_type != zipfile.ZIP_STORED or (
            start + math.prod(shape) * dtype.itemsize != info.file_size
        ):
            raise ModelFormatError(
                f"{where} is a damaged tuner model file: {name}'s header claims "
                f"shape {shape}, not what the archive holds"
            )
        found[name] = (shape, dtype)
    return found


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check_meta(meta: Any, where: str) -> None:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelFormatError(f"{where} is not a {FORMAT_NAME} model file")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFormatError(
            f"{where} is a damaged tuner model file: metadata key format_version must be "
            f"a positive integer, got {type(version).__name__} {version!r}"[:300]
        )
    if version > FORMAT_VERSION:
        raise ModelFormatError(
            f"{where} has format_version {version}, newer than this tuner reads "
            f"({FORMAT_VERSION}): upgrade tuner to load it"
        )


def _expected_shapes(meta: dict, arrays: dict, where: str) -> dict[str, tuple[int, ...]]:
    """The shapes of theta, running and classes that the metadata implies."""

    def damaged(why: str) -> ModelFormatError:
        return ModelFormatError(f"{where} is a damaged tuner model file: {why}")

    params = meta.get("params")
    if not isinstance(params, dict):
        raise damaged("no hyperparameters")
    hidden = params.get("hidden")
    if not isinstance(hidden, list) or not all(_positive_int(u) for u in hidden):
        raise damaged(f"hidden must be a list of positive integers, got {hidden!r}")
    if params.get("dtype") not in _FLOATS or not isinstance(params.get("use_batchnorm"), bool):
        raise damaged("dtype or use_batchnorm is not what tuner writes")
    n_features = meta.get("n_features_in")
    if not _positive_int(n_features):
        raise damaged(f"n_features_in must be a positive integer, got {n_features!r}")
    for name in ("theta", "running", "classes"):
        if name not in arrays:
            raise damaged(f"no {name} array")
    classes_shape = arrays["classes"][0]
    task = meta.get("task", "classification")
    if task == "regression":
        if meta["format_version"] < 2 or classes_shape != (0,):
            raise damaged("a regressor's file must be format 2 with no classes")
        for key in ("target_mean", "target_scale"):
            value = meta.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    math.isfinite(value)) or (key == "target_scale" and value <= 0):
                raise damaged(f"{key} must be a finite number (a positive scale), got "
                              f"{value!r}"[:300])
        n_outputs = 1
    elif task == "classification":
        if len(classes_shape) != 1 or classes_shape[0] < 2:
            raise damaged(f"classes must be a 1-D array of 2 or more labels, got shape "
                          f"{classes_shape}")
        n_outputs = classes_shape[0]
    else:
        raise damaged(f"task must be 'classification' or 'regression', got {task!r}"[:300])
    batchnorm = params["use_batchnorm"]
    shapes = parameter_shapes(n_features, hidden, n_outputs, batchnorm)
    return {
        "theta": (sum(math.prod(shape) for _, shape in shapes),),
        "running": (2 * sum(hidden) if batchnorm else 0,),
        "classes": classes_shape,
    }


def read(path: str | os.PathLike) -> ModelFile:
    """Read and check a model file written by `write`.

    Raises:
        ModelFormatError: the file is not a tuner model, was written by a newer tuner,
            or holds anything `write` would not have written (wrong or absurd sizes,
            non-finite weights); the extra arrays are not looked into.
    """
    where = os.fspath(path)
    try:
        with zipfile.ZipFile(path) as zf:
            meta, arrays = _read(zf, where)
    except ModelFormatError:
        raise
    except (OSError, EOFError, zipfile.BadZipFile, ValueError) as e:  # a truncated archive...
        raise ModelFormatError(f"{where} is not a tuner model file: {e}") from e
    return _checked(meta, arrays, where)


def _read(zf: zipfile.ZipFile, where: str) -> tuple[dict, dict[str, np.ndarray]]:
    """The metadata and the arrays, each array's size checked before it is read."""
    headers = _headers(zf, where)
    if META_KEY not in headers:
        raise ModelFormatError(f"{where} is not a tuner model file (no {FORMAT_NAME} metadata)")
    try:
        with zf.open(META_KEY + ".npy") as f:
            meta = json.loads(str(np.lib.format.read_array(f, allow_pickle=False)[()]))
    except (ValueError, TypeError) as e:
        raise ModelFormatError(f"{where} is not a tuner model file: bad metadata ({e})") from e
    _check_meta(meta, where)
    for name, expected in _expected_shapes(meta, headers, where).items():
        if headers[name][0] != expected:
            raise ModelFormatError(
                f"{where} is a damaged tuner model file: {name} has shape "
                f"{headers[name][0]}, but the metadata describes {expected}"
            )
    arrays = {}
    for name in headers:
        with zf.open(name + ".npy") as f:
            arrays[name] = np.lib.format.read_array(f, allow_pickle=False)
    return meta, arrays


def _checked(meta: dict, arrays: dict[str, np.ndarray], where: str) -> ModelFile:
    """The model file, once its values are checked: finite, and usable as they are."""

    def damaged(why: str) -> ModelFormatError:
        return ModelFormatError(f"{where} is a damaged tuner model file: {why}")

    params = meta["params"]
    theta, running, classes = arrays["theta"], arrays["running"], arrays["classes"]
    if theta.dtype.kind != "f" or running.dtype.kind != "f":
        raise damaged("theta and running must be float arrays")
    if not (np.isfinite(theta).all() and np.isfinite(running).all()):
        raise damaged("the weights or running statistics hold NaN or infinity")
    if params["use_batchnorm"]:  # running is [mean0, var0, mean1, var1, ...]
        start = 0
        for units in params["hidden"]:
            if (running[start + units : start + 2 * units] < 0).any():
                raise damaged("a running variance is negative")
            start += 2 * units
    if classes.size and classes.dtype.kind not in "biufU":
        raise damaged(f"class labels of dtype {classes.dtype}")
    if classes.dtype.kind == "f" and not np.isfinite(classes).all():
        raise damaged("a class label is NaN or infinity")
    extra = {
        name[len(EXTRA_PREFIX) :]: value
        for name, value in arrays.items()
        if name.startswith(EXTRA_PREFIX)
    }
    n_epochs, history = meta.get("n_epochs"), meta.get("history")
    if not _positive_int(n_epochs) or not isinstance(history, list) or not all(
        isinstance(h, dict) and isinstance(h.get("train_loss"), (int, float)) for h in history
    ):
        raise damaged("n_epochs or history is not what tuner writes")
    task = meta.get("task", "classification")
    target = None
    if task == "regression":
        target = (float(meta["target_mean"]), float(meta["target_scale"]))
    return ModelFile(
        params=params, n_features_in=meta["n_features_in"], classes=classes, theta=theta,
        running=running, n_epochs=n_epochs, history=history, extra=extra, task=task,
        target=target,
    )  # fmt: skip


# --- the estimator's side ---------------------------------------------------------------


def save(model: Any, path: str | os.PathLike, extra: Mapping[str, Any]) -> None:
    """Write a fitted `MLPCore` or `MLPRegressorCore` (its network, classes or target
    scaling, and history) and `extra`."""
    p, net = model._p, model._network
    params = {**p, "hidden": list(p["hidden"]), "dtype": p["dtype"].name}
    if params.get("class_weight") is None:
        params.pop("class_weight", None)  # unweighted: the file an older tuner reads
    elif isinstance(params["class_weight"], dict):  # JSON keys are text: keep the labels
        params["class_weight"] = [[_plain(c), float(w)] for c, w in
                                  params["class_weight"].items()]
    regressor = model._TASK == "regression"
    classes = np.zeros(0) if regressor else model.classes_
    target = (model.target_mean_, model.target_scale_) if regressor else None
    write(
        path, theta=net.theta, running=net.running, classes=classes,
        params=params, n_features_in=model.n_features_in_, n_epochs=model.n_epochs_,
        history=model.history_, extra=extra, target=target,
    )  # fmt: skip


def _plain(label: Any) -> Any:
    return label.item() if isinstance(label, np.generic) else label


def load(cls: type[Model] | Mapping[str, type[Model]], path: str | os.PathLike) -> Model:
    """A fitted model from a file `save` wrote; the extra arrays are in its `extra_`
    dict. ``cls`` is the class (`MLPCore`, `MLPRegressorCore` or a subclass), or a
    mapping from the task ("classification", "regression") to the class to make.

    Raises:
        ModelFormatError: also when the file holds a model of another task than ``cls``.
    """
    f = read(path)
    where = os.fspath(path)
    if isinstance(cls, Mapping):
        cls = cls[f.task]
    elif getattr(cls, "_TASK", "classification") != f.task:
        raise ModelFormatError(f"{where} holds a {f.task} model, not a "
                               f"{cls._TASK} one: load it with the {f.task} class")
    try:
        params = dict(f.params, hidden=tuple(f.params["hidden"]))
        if f.task == "regression":
            params.pop("class_weight", None)
        elif isinstance(params.get("class_weight"), list):
            params["class_weight"] = {c: w for c, w in params["class_weight"]}
        clf = cls(**params)
        clf._p = check_params(clf)
    except (TypeError, ValueError) as e:
        raise ModelFormatError(f"{where} is a damaged tuner model file: {e}") from e
    if f.task == "regression":
        assert f.target is not None
        clf._new_network(f.n_features_in, 1)
        clf.target_mean_, clf.target_scale_ = f.target
    else:
        clf._new_network(f.n_features_in, f.classes.shape[0])
        clf.classes_ = f.classes
    clf._network.theta[...] = f.theta
    clf._network.running[...] = f.running
    clf.n_features_in_ = f.n_features_in
    clf.n_epochs_ = f.n_epochs
    clf.history_ = f.history
    clf.loss_curve_ = [h["train_loss"] for h in f.history]
    clf.extra_ = f.extra
    return clf

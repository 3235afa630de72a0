"""The prepared splits of a built-in dataset, kept on disk between commands.

Loading digits, splitting it and fitting the scaler costs little by itself, but it needs
scikit-learn, whose import (it pulls in scipy.stats) is most of a `study run`'s start-up.
So the finished arrays are stored once, as an ``.npz`` in the user's cache folder, and the
next command with the same inputs reads them back in about a millisecond without
importing scikit-learn.

The cache is never wrong, only missed: the key is every input of the split (dataset,
its parameters, fractions, seeds, dtype) plus the versions of Python, numpy,
scikit-learn and tuner and a hash of the code that makes the splits (tuner/data.py), so
any change is a new key. The file stores its key and a content hash of its arrays and
is read only when both match; a write goes to a temporary file renamed into place, so
concurrent workers never see half a file. A folder that cannot be written is not an
error: the splits are then computed every time, as before.

``TUNER_CACHE_DIR`` picks the folder (empty: no cache); otherwise
``$XDG_CACHE_HOME/tuner`` or ``~/.cache/tuner``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner import machine
from tuner.hashing import arrays_digest

if TYPE_CHECKING:
    from tuner.spec.schema import StudySpec

# tuner.data calls this module, so it is not imported here (no cycle): `cached_splits`
# gets the computing and the building of a `tuner.data.Splits` from its caller.
Splits = Any

__all__ = ["FORMAT", "Scaler", "cache_dir", "cached_splits", "splits_key"]

FORMAT = 1  # of the cache file; part of the key
_ARRAYS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")


@dataclass(frozen=True)
class Scaler:
    """A fitted standardization in float64, as `StandardScaler` has it after ``fit``.

    ``transform`` does the same two float64 operations as scikit-learn's, so rows scaled
    with it come out bit for bit like those scaled with the original scaler.
    """

    mean_: np.ndarray
    scale_: np.ndarray

    def transform(self, X: Any) -> np.ndarray:
        out = np.array(X, dtype=np.float64, copy=True)
        out -= self.mean_
        out /= self.scale_
        return out


def cache_dir() -> Path | None:
    """Where prepared splits are kept, or None when ``TUNER_CACHE_DIR`` is set empty."""
    explicit = os.environ.get("TUNER_CACHE_DIR")
    if explicit is not None:
        return Path(explicit).expanduser() if explicit.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tuner"


@cache
def _versions() -> dict[str, str]:
    versions = machine.software_versions(("numpy", "scikit-learn", "tuner"))
    # The code that makes the splits, so an edit without a version bump is a miss too.
    source = Path(__file__).with_name("data.py")
    versions["tuner/data.py"] = hashlib.sha256(source.read_bytes()).hexdigest()
    return versions


def splits_key(spec: StudySpec) -> dict[str, Any]:
    """Everything the prepared splits of ``spec`` depend on."""
    data = spec.data
    return {"format": FORMAT, "dataset": data.dataset, "params": sorted(data.params),
            "test_fraction": data.test_fraction,
            "validation_fraction": data.validation_fraction, "seed": data.seed,
            "test_seed": data.test_seed, "dtype": spec.model.dtype, **_versions()}


def _content_hash(arrays: dict[str, np.ndarray]) -> str:
    return arrays_digest({name: arrays[name] for name in sorted(arrays)})


def _read(path: Path, key_text: str, build: Callable[..., Splits]) -> Splits | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {name: f[name] for name in f.files if name != "__meta__"}
            meta = json.loads(str(f["__meta__"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # missing, partial or foreign: a miss, computed again
    if meta.get("key") != key_text or meta.get("content") != _content_hash(arrays):
        return None
    try:
        scaler = Scaler(arrays.pop("scaler_mean64"), arrays.pop("scaler_scale64"))
        return build(**{name: arrays[name] for name in _ARRAYS}, scaler=scaler)
    except KeyError:
        return None


def _write(path: Path, key_text: str, splits: Splits) -> None:
    arrays = {name: np.ascontiguousarray(a) for name, a in splits.arrays().items()}
    arrays["scaler_mean64"] = np.asarray(splits.scaler.mean_, dtype=np.float64)
    arrays["scaler_scale64"] = np.asarray(splits.scaler.scale_, dtype=np.float64)
    meta = json.dumps({"key": key_text, "content": _content_hash(arrays)})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".splits-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, __meta__=np.array(meta), **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass  # a read-only or full cache folder: the splits were computed anyway


def cached_splits(spec: StudySpec, compute: Callable[[], Splits],
                  build: Callable[..., Splits]) -> Splits:
    """The splits of ``spec``'s built-in dataset from the cache, or ``compute()`` stored.

    ``build(**arrays, scaler=)`` makes the splits of a hit
    (`tuner.data.Splits`).
    """
    folder = cache_dir()
    if folder is None or spec.data.is_table:
        return compute()
    key_text = json.dumps(splits_key(spec), sort_keys=True)
    name = hashlib.sha256(key_text.encode()).hexdigest()[:32]
    path = folder / "splits" / f"{name}.npz"
    hit = _read(path, key_text, build)
    if hit is not None:
        return hit
    splits = compute()
    if splits.scaler is not None:
        _write(path, key_text, splits)
    return splits

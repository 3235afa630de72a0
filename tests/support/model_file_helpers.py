"""Ways to damage a saved model (the `saved` fixture, in tests/conftest.py), for the tests
of the model file and of the network's own arrays (`tuner.model_file`, `tuner.mlp.io`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def arrays_of(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def rewrite(path: Path, target: Path, meta=(), **arrays_changes: np.ndarray) -> Path:
    """Copy a saved model, changing metadata entries or arrays."""
    arrays = arrays_of(path)
    changed = json.loads(str(arrays["__tuner_meta__"][()]))
    changed.update(meta)
    arrays["__tuner_meta__"] = np.array(json.dumps(changed))
    arrays.update(arrays_changes)
    with open(target, "wb") as f:
        np.savez(f, **arrays)
    return target


def with_nan(a: np.ndarray, value: float = np.nan, at: int = 0) -> np.ndarray:
    a = a.copy()
    a.flat[at] = value
    return a

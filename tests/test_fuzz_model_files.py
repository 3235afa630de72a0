"""`tuner predict` against mutated model files (issue 13, items 8 and 11): every file is
either used or refused with one line and exit 2, never a traceback or exit 1.

Black-box through the CLI (click's CliRunner, in this process: a subprocess per example
would cost ~2 s), so it holds whatever `predict` reads the CSV with.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tuner.mlp import MLPClassifierBN


def saved_model(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = np.arange(60) % 3
    path = folder / "model.npz"
    MLPClassifierBN(hidden=(5,), epochs=2, batch_size=16).fit(X, y).save(
        path, scaler_mean=np.zeros(4), scaler_scale=np.ones(4))
    return path


def with_meta(path: Path, target: Path, **changes: object) -> Path:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    meta = json.loads(str(arrays["__tuner_meta__"][()]))
    meta.update(changes)
    arrays["__tuner_meta__"] = np.array(json.dumps(meta))
    with open(target, "wb") as f:
        np.savez(f, **arrays)
    return target


@pytest.mark.unit
@pytest.mark.parametrize("version", ["1", 1.0, True, None, 0, -3, [1]])
def test_format_version_that_is_not_a_positive_integer_is_refused(
        tmp_path: Path, version: object) -> None:
    """Before: a string "1" was reported as "newer than this tuner reads (1)"."""
    from tuner.mlp import ModelFormatError
    from tuner.mlp.io import read

    bad = with_meta(saved_model(tmp_path), tmp_path / "bad.npz", format_version=version)
    with pytest.raises(ModelFormatError) as refused:
        read(bad)
    message = str(refused.value)
    assert "format_version must be a positive integer" in message, message
    assert "newer" not in message and "\n" not in message, message

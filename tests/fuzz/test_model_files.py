"""`tuner predict` against mutated model files (issue 13, items 8 and 11): every file is
either used or refused with one line and exit 2, never a traceback or exit 1.

Black-box through the CLI (click's CliRunner, in this process: a subprocess per example
would cost ~2 s), so it holds whatever `predict` reads the CSV with.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from fuzz_helpers import assert_predicts_or_refuses, predict, train_model
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


# --- property-based fuzz: mutated model files through `tuner predict` ---------------------

IRIS_ROWS = "5.1,3.5,1.4,0.2\n6.2,2.9,4.3,1.3\n7.7,3.0,6.1,2.3\n"
ARRAYS = ["theta", "running", "classes", "extra/scaler_mean", "extra/scaler_scale"]
META_KEYS = ["format", "format_version", "params", "n_features_in", "classes",
             "classes_kind", "n_epochs", "history"]
PARAM_KEYS = ["hidden", "dtype", "learning_rate", "momentum", "epochs", "batch_size", "eps",
              "bn_decay", "use_batchnorm", "seed"]

hostile = st.one_of(
    st.sampled_from([None, True, False, 0, -1, 1, 2, 3, 4, 2**31, 2**63, 10**9, 1e40,
                     float("nan"), float("inf"), -0.0, "1", "", "float16", "object", "U",
                     "O", [], [0], [4, 3], [10**9], [-1], {}, {"train_loss": "x"}]),
    st.integers(min_value=-5, max_value=70),
    st.lists(st.integers(min_value=-2, max_value=8), max_size=3),
)
arrays = st.one_of(
    st.sampled_from(["0d", "empty", "nan", "inf", "huge", "zeros", "negative", "strings",
                     "bool", "complex", "int", "2d", "float16", "void"]),
)


def replacement(kind: str, like: np.ndarray) -> np.ndarray:
    """An array in place of ``like``: the same shape with bad values, or a bad shape."""
    f = like.astype(np.float64) if like.dtype.kind in "iuf" else np.zeros(like.shape)
    return {
        "0d": lambda: np.array(1.0),
        "empty": lambda: np.zeros(0),
        "nan": lambda: np.full(like.shape, np.nan),
        "inf": lambda: np.full(like.shape, np.inf),
        "huge": lambda: np.full(like.shape, 1e300),
        "zeros": lambda: np.zeros(like.shape),
        "negative": lambda: -np.abs(f) - 1,
        "strings": lambda: np.full(like.shape, "x"),
        "bool": lambda: np.ones(like.shape, dtype=bool),
        "complex": lambda: f.astype(np.complex128),
        "int": lambda: f.astype(np.int64),
        "2d": lambda: np.stack([f, f]),
        "float16": lambda: f.astype(np.float16),
        "void": lambda: np.zeros(like.shape, dtype="V3"),
    }[kind]()


mutation = st.one_of(
    st.tuples(st.just("meta"), st.sampled_from(META_KEYS), hostile),
    st.tuples(st.just("param"), st.sampled_from(PARAM_KEYS), hostile),
    st.tuples(st.just("drop-meta"), st.sampled_from(META_KEYS), st.none()),
    st.tuples(st.just("array"), st.sampled_from(ARRAYS), arrays),
    st.tuples(st.just("drop-array"), st.sampled_from(ARRAYS), st.none()),
)


def mutated(model: Path, target: Path, mutations: list[tuple]) -> Path:
    with np.load(model, allow_pickle=False) as npz:
        found = {name: npz[name] for name in npz.files}
    meta = json.loads(str(found["__tuner_meta__"][()]))
    for kind, key, value in mutations:
        if kind == "meta":
            meta[key] = value
        elif kind == "param" and isinstance(meta.get("params"), dict):
            meta["params"][key] = value
        elif kind == "drop-meta":
            meta.pop(key, None)
        elif kind == "array" and key in found:
            found[key] = replacement(value, found[key])
        elif kind == "drop-array":
            found.pop(key, None)
    found["__tuner_meta__"] = np.array(json.dumps(meta))
    with open(target, "wb") as f:
        np.savez(f, **found)
    return target


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_model(tmp_path_factory.mktemp("model-fuzz"))


@pytest.mark.e2e
@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(mutation, min_size=1, max_size=3))
# The hand-found cases of issue 13 (items 8 and 11), always tried first.
@example([("array", "classes", "0d")])
@example([("meta", "n_features_in", 10**9)])
@example([("array", "extra/scaler_scale", "zeros")])
@example([("array", "theta", "nan")])
@example([("meta", "format_version", "1")])
def test_every_mutated_model_file_predicts_or_is_refused_in_one_line(
        trained: Path, mutations: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        model = mutated(trained, Path(tmp) / "model.npz", mutations)
        data = Path(tmp) / "data.csv"
        data.write_text(IRIS_ROWS, encoding="utf-8")
        result = predict(model, data)
    event(f"exit {result.exit_code}")
    assert_predicts_or_refuses(result, mutations)


@pytest.mark.e2e
@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.data())
def test_every_damaged_archive_predicts_or_is_refused_in_one_line(trained: Path,
                                                                 data: st.DataObject) -> None:
    """Bytes of the archive flipped or cut short (a broken disk, a partial download)."""
    raw = bytearray(trained.read_bytes())
    how = data.draw(st.sampled_from(["truncate", "flip", "flip3"]))
    if how == "truncate":
        raw = raw[: data.draw(st.integers(min_value=0, max_value=len(raw) - 1))]
    else:
        for _ in range(1 if how == "flip" else 3):
            at = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
            raw[at] ^= data.draw(st.integers(min_value=1, max_value=255))
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model.npz"
        model.write_bytes(bytes(raw))
        csv_file = Path(tmp) / "data.csv"
        csv_file.write_text(IRIS_ROWS, encoding="utf-8")
        result = predict(model, csv_file)
    event(f"exit {result.exit_code}")
    assert_predicts_or_refuses(result, how)

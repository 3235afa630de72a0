"""The prepared-splits cache (tuner/cache.py): a hit is bit-identical, any change a miss."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import write_study
from tuner import cache
from tuner.data import Splits, load_splits, spec_splits
from tuner.spec import load_spec


def cached_files(folder: Path) -> list[Path]:
    return sorted((folder / "splits").glob("*.npz"))


def computed(spec) -> Splits:
    return load_splits(spec.data.dataset, dtype=spec.model.dtype, **spec.data.loader_kwargs())


def refuse() -> Splits:
    raise AssertionError("computed although the cache holds these splits")


@pytest.fixture
def cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("TUNER_CACHE_DIR", str(folder))
    return folder


@pytest.mark.unit
@pytest.mark.parametrize("dataset", ["digits", "synthetic"])
def test_a_hit_gives_bit_identical_arrays_and_scaler(tmp_path: Path, cache_folder: Path,
                                                     dataset: str) -> None:
    spec = load_spec(write_study(tmp_path, dataset=dataset))
    first = spec_splits(spec)  # a miss: computed and stored
    assert len(cached_files(cache_folder)) == 1
    hit = cache.cached_splits(spec, refuse, Splits)
    fresh = computed(spec)
    for name, array in fresh.arrays().items():
        for other in (first, hit):
            got = other.arrays()[name]
            assert got.dtype == array.dtype and got.shape == array.shape
            assert got.tobytes() == array.tobytes(), name
    assert hit.scaler.mean_.tobytes() == fresh.scaler.mean_.tobytes()
    assert hit.scaler.scale_.tobytes() == fresh.scaler.scale_.tobytes()
    # The stored scaler scales new raw rows exactly as scikit-learn's fitted one does.
    raw = np.random.default_rng(0).normal(size=(7, fresh.n_features)) * 5
    assert hit.scaler.transform(raw).tobytes() == fresh.scaler.transform(raw).tobytes()


@pytest.mark.unit
@pytest.mark.parametrize("change", [
    {"seed": 1}, {"test_fraction": 0.25}, {"validation_fraction": 0.3}, {"test_seed": 5},
    {"params": (("n_samples", 500),)}, {"params": (("n_features", 12),)},
])
def test_a_changed_dataset_parameter_is_a_miss(tmp_path: Path, cache_folder: Path,
                                               change: dict) -> None:
    spec = load_spec(write_study(tmp_path, dataset="synthetic"))
    spec_splits(spec)
    changed = dataclasses.replace(spec, data=dataclasses.replace(spec.data, **change))
    got = spec_splits(changed)
    assert len(cached_files(cache_folder)) == 2, "a changed parameter must not hit"
    want = computed(changed)
    for name, array in want.arrays().items():
        assert got.arrays()[name].tobytes() == array.tobytes(), name


@pytest.mark.unit
def test_another_dtype_or_dataset_is_a_miss(tmp_path: Path, cache_folder: Path) -> None:
    spec = load_spec(write_study(tmp_path, dataset="iris"))
    spec_splits(spec)
    f64 = dataclasses.replace(spec, model=dataclasses.replace(spec.model, dtype="float64"))
    assert spec_splits(f64).X_train.dtype == np.float64
    wine = dataclasses.replace(spec, data=dataclasses.replace(spec.data, dataset="wine"))
    assert spec_splits(wine).n_features == 13
    assert len(cached_files(cache_folder)) == 3


@pytest.mark.unit
@pytest.mark.parametrize("package", ["numpy", "scikit-learn", "tuner", "python",
                                     "tuner/data.py"])
def test_another_library_version_is_a_miss(tmp_path: Path, cache_folder: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           package: str) -> None:
    spec = load_spec(write_study(tmp_path, dataset="iris"))
    spec_splits(spec)
    versions = dict(cache._versions())
    monkeypatch.setattr(cache, "_versions", lambda: {**versions, package: "0.0-other"})
    computed_again: list[int] = []

    def compute() -> Splits:
        computed_again.append(1)
        return computed(spec)

    cache.cached_splits(spec, compute, Splits)
    assert computed_again == [1]
    assert len(cached_files(cache_folder)) == 2


@pytest.mark.unit
def test_a_damaged_or_foreign_file_is_a_miss_never_a_wrong_hit(
        tmp_path: Path, cache_folder: Path) -> None:
    spec = load_spec(write_study(tmp_path, dataset="iris"))
    spec_splits(spec)
    (path,) = cached_files(cache_folder)
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # a torn file
    assert spec_splits(spec).X_train.tobytes() == computed(spec).X_train.tobytes()
    # The same file name holding another key's arrays (a collision, or a copied file).
    other = dataclasses.replace(spec, data=dataclasses.replace(spec.data, seed=3))
    spec_splits(other)
    (other_path,) = [p for p in cached_files(cache_folder) if p != path]
    path.write_bytes(other_path.read_bytes())
    assert spec_splits(spec).X_train.tobytes() == computed(spec).X_train.tobytes()


@pytest.mark.unit
def test_an_empty_cache_dir_turns_the_cache_off(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNER_CACHE_DIR", "")
    assert cache.cache_dir() is None
    spec = load_spec(write_study(tmp_path, dataset="iris"))
    assert spec_splits(spec).X_train.tobytes() == computed(spec).X_train.tobytes()


@pytest.mark.integration
def test_a_hit_does_not_import_scikit_learn(tmp_path: Path, cache_folder: Path) -> None:
    file = write_study(tmp_path, dataset="digits")
    spec_splits(load_spec(file))
    code = ("import sys; from tuner.spec import load_spec; from tuner.data import spec_splits;"
            f"s = spec_splits(load_spec({str(file)!r})); import tuner.run;"
            "print(sorted(m for m in ('sklearn', 'scipy.stats') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"TUNER_CACHE_DIR": str(cache_folder),
                                          "PATH": "/usr/bin:/bin"}).stdout
    assert out.strip() == "[]"


@pytest.mark.unit
def test_a_loader_registered_in_datasets_is_never_cached(
        tmp_path: Path, cache_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.datasets import load_iris

    import tuner.data

    spec = load_spec(write_study(tmp_path, dataset="iris"))
    before = spec_splits(spec)

    def moved(seed: int):
        X, y = load_iris(return_X_y=True)
        return X + 1.0, y

    monkeypatch.setitem(tuner.data.DATASETS, "iris", moved)
    after = spec_splits(spec)
    assert after.scaler.mean_.tobytes() != before.scaler.mean_.tobytes()
    assert len(cached_files(cache_folder)) == 1

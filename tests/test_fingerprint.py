"""Data and hardware fingerprints: what moves them, what does not, and that they are the
same in another process."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

import tuner.fingerprint
from conftest import invoke, run_tuner, write_study
from tuner.data import spec_splits
from tuner.fingerprint import (
    data_fingerprint,
    hardware_fingerprint,
    software_versions,
    study_fingerprints,
)
from tuner.spec import load_spec


@pytest.fixture
def iris(tmp_path: Path):
    spec = load_spec(write_study(tmp_path))
    return spec, spec_splits(spec)


@pytest.mark.unit
def test_one_value_moves_the_data_fingerprint(iris) -> None:
    spec, splits = iris
    base = data_fingerprint(splits, spec.data)
    for name in ("X_train", "X_val", "X_test"):
        a = getattr(splits, name).copy()
        a[3, 1] = np.nextafter(a[3, 1], np.inf)  # the smallest change a float can make
        moved = data_fingerprint(dataclasses.replace(splits, **{name: a}), spec.data)
        assert moved.digest != base.digest, name
    y = splits.y_val.copy()
    y[0] = (y[0] + 1) % 3
    assert data_fingerprint(dataclasses.replace(splits, y_val=y), spec.data).digest != base.digest


@pytest.mark.unit
def test_same_values_same_fingerprint_shape_and_dtype_count(iris) -> None:
    spec, splits = iris
    base = data_fingerprint(splits, spec.data)
    # A copy, or the same values in Fortran order, is the same data.
    same = dataclasses.replace(splits, X_train=np.asfortranarray(splits.X_train.copy()))
    assert data_fingerprint(same, spec.data) == base
    # The same bytes read as another shape or dtype are not.
    X = splits.X_train
    reshaped = dataclasses.replace(splits, X_train=X.reshape(X.shape[0] // 2, -1))
    assert data_fingerprint(reshaped, spec.data).digest != base.digest
    as_int = dataclasses.replace(splits, X_train=X.view(np.int32))
    assert data_fingerprint(as_int, spec.data).digest != base.digest
    relabelled = dataclasses.replace(splits, y_train=splits.y_train + 10)
    assert data_fingerprint(relabelled, spec.data).digest != base.digest


@pytest.mark.unit
def test_dataset_parameters_count(tmp_path: Path) -> None:
    file = write_study(tmp_path, dataset="synthetic")
    text = file.read_text()
    digests = set()
    for n in (300, 400):
        file.write_text(text.replace('dataset = "synthetic"',
                                     f'dataset = "synthetic"\nn_samples = {n}'))
        fp = study_fingerprints(load_spec(file))
        assert fp["data"]["components"]["n_samples"] == n
        digests.add(fp["data"]["hash"])
    assert len(digests) == 2
    float32 = study_fingerprints(load_spec(file))["data"]
    file.write_text(file.read_text().replace("batch_size = 64",
                                             'batch_size = 64\ndtype = "float64"'))
    assert study_fingerprints(load_spec(file))["data"]["hash"] != float32["hash"]


@pytest.mark.unit
def test_hardware_label_and_software(monkeypatch: pytest.MonkeyPatch) -> None:
    base = hardware_fingerprint()
    details = {"cpu", "machine", "logical_cores", "memory_gib", "blas", "gpus", "label"}
    assert set(base.components) == details | {"hashed"}
    assert set(base.components["hashed"]) == details
    assert base.components["label"] == "" and base.components["logical_cores"] >= 1
    assert isinstance(base.components["memory_gib"], int)
    assert hardware_fingerprint() == base, "nothing flickers between two calls"
    monkeypatch.setenv("TUNER_HARDWARE_LABEL", "pool-a")
    a = hardware_fingerprint()
    assert a.components["label"] == "pool-a" and a.digest != base.digest
    assert a.components["hashed"] == ["label"] and a.components["cpu"] == base.components["cpu"]
    monkeypatch.setenv("TUNER_HARDWARE_LABEL", " pool-a ")
    assert hardware_fingerprint() == a
    monkeypatch.setenv("TUNER_HARDWARE_LABEL", "pool-b")
    assert hardware_fingerprint().digest != a.digest
    # A machine of the same pool with a little more memory shares the study; without a
    # label it is new hardware.
    monkeypatch.setattr(tuner.fingerprint, "_memory_gib", lambda: 10_000)
    monkeypatch.setenv("TUNER_HARDWARE_LABEL", "pool-a")
    bigger = hardware_fingerprint()
    assert bigger.digest == a.digest and bigger.components["memory_gib"] == 10_000
    monkeypatch.delenv("TUNER_HARDWARE_LABEL")
    assert hardware_fingerprint().digest != base.digest
    # Versions are recorded beside it, never inside it: an upgrade is not a new machine.
    versions = software_versions()
    assert {"numpy", "optuna", "python"} <= set(versions)
    assert not set(versions) & set(a.components)


@pytest.mark.integration
def test_same_fingerprints_in_another_process(tmp_path: Path) -> None:
    file = write_study(tmp_path)
    here = study_fingerprints(load_spec(file))
    runs = [run_tuner("fingerprint", file, "--json") for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    there = [json.loads(r.stdout) for r in runs]
    for fp in there:
        assert fp["data"]["hash"] == here["data"]["hash"]
        assert fp["hardware"]["hash"] == here["hardware"]["hash"]
        assert fp["spec_hash"] == here["spec_hash"]
        assert fp["data"]["short"] == fp["data"]["hash"][:12]
    labelled = run_tuner("fingerprint", file, "--json", env={"TUNER_HARDWARE_LABEL": "gpu-a"})
    other = json.loads(labelled.stdout)
    assert other["hardware"]["components"]["label"] == "gpu-a"
    assert other["hardware"]["hash"] != here["hardware"]["hash"]
    assert other["data"]["hash"] == here["data"]["hash"]


@pytest.mark.unit
def test_fingerprint_command_shows_components(tmp_path: Path) -> None:
    file = write_study(tmp_path)
    result = invoke("fingerprint", file)
    assert result.exit_code == 0
    fp = study_fingerprints(load_spec(file))
    assert f"data       {fp['data']['short']}" in result.stdout
    assert f"hardware   {fp['hardware']['short']}" in result.stdout
    assert "  X_train_shape: [96, 4]" in result.stdout and "  labels: ['0', '1', '2']" in \
        result.stdout
    assert "software (recorded, not part of the hardware fingerprint)" in result.stdout
    missing = invoke("fingerprint", tmp_path / "nope.toml")
    assert missing.exit_code == 2 and "no such study file" in missing.stderr

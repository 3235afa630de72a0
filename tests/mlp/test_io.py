"""Crafted model files (issue 13, item 8): each refused with one ModelFormatError.

Every file here is a real npz written the way an attacker or a broken disk would;
the loader must say it is damaged rather than crash (IndexError), allocate what the
metadata asks for (MemoryError), or accept numbers that make NaN predictions.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from conftest import run_tuner
from model_file_helpers import arrays_of, rewrite, with_nan
from tuner.mlp import MLPClassifierBN, ModelFormatError

pytestmark = pytest.mark.unit


def test_the_untouched_file_loads(saved):
    clf = MLPClassifierBN.load(saved)
    assert set(clf.extra_) == {"scaler_mean", "scaler_scale"}


def test_zero_dimensional_classes_are_refused(saved, tmp_path):
    bad = rewrite(saved, tmp_path / "m.npz", classes=np.array(3))
    with pytest.raises(ModelFormatError, match="classes must be a 1-D array"):
        MLPClassifierBN.load(bad)


def test_a_single_class_is_refused(saved, tmp_path):
    bad = rewrite(saved, tmp_path / "m.npz", classes=np.array([7]))
    with pytest.raises(ModelFormatError, match="2 or more labels"):
        MLPClassifierBN.load(bad)


@pytest.mark.parametrize(
    "meta",
    [
        {"n_features_in": 10**9},  # ~60 GiB of weights, before the check
        {"n_features_in": 1e9},  # not even an integer
        {"n_features_in": -5},
        {"params": {"hidden": [10**6, 10**6], "dtype": "float32", "use_batchnorm": True}},
        {"params": {"hidden": [0], "dtype": "float32", "use_batchnorm": True}},
    ],
)
def test_absurd_sizes_in_the_metadata_are_refused_before_allocating(saved, tmp_path, meta):
    if "params" in meta:
        params = json.loads(str(arrays_of(saved)["__tuner_meta__"][()]))["params"]
        meta = {"params": {**params, **meta["params"]}}
    bad = rewrite(saved, tmp_path / "m.npz", meta)
    with pytest.raises(ModelFormatError, match="damaged tuner model file"):
        MLPClassifierBN.load(bad)


def write_npz_with_lying_header(source, target, name, shape):
    """Copy an npz, replacing one array's npy header by one that claims `shape`
    while the member keeps its few real bytes."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == name + ".npy":
                header = io.BytesIO()
                np.lib.format.write_array_header_1_0(
                    header, {"descr": "<f4", "fortran_order": False, "shape": shape}
                )
                data = header.getvalue() + b"\0" * 64
            zout.writestr(info.filename, data)
    return target


def test_an_array_header_claiming_more_than_the_file_holds_is_refused(saved, tmp_path):
    # metadata and theta's header agree on 10**9 features; the bytes are not there
    n_features = 10**9
    meta = rewrite(saved, tmp_path / "meta.npz", {"n_features_in": n_features})
    size = n_features * 4 + 4 + 4 * 3 + 3 * 3 + 3 + 3 * 3 + 3  # W0, gamma0, beta0, ...
    bad = write_npz_with_lying_header(meta, tmp_path / "m.npz", "theta", (size,))
    with pytest.raises(ModelFormatError, match="theta's header claims shape"):
        MLPClassifierBN.load(bad)


@pytest.mark.parametrize(("name", "value"), [("theta", np.nan), ("theta", -np.inf),
                                             ("running", np.nan)])  # fmt: skip
def test_nan_or_infinite_weights_are_refused(saved, tmp_path, name, value):
    bad = rewrite(saved, tmp_path / "m.npz", **{name: with_nan(arrays_of(saved)[name], value, 5)})
    with pytest.raises(ModelFormatError, match="hold NaN or infinity"):
        MLPClassifierBN.load(bad)


def test_a_negative_running_variance_is_refused(saved, tmp_path):
    running = arrays_of(saved)["running"].copy()
    running[4] = -1.0  # layer 0 has 4 units: [mean0 (4), var0 (4), ...]
    bad = rewrite(saved, tmp_path / "m.npz", running=running)
    with pytest.raises(ModelFormatError, match="running variance is negative"):
        MLPClassifierBN.load(bad)


def test_tuner_predict_refuses_a_crafted_file_in_one_line(saved, tmp_path):
    bad = rewrite(saved, tmp_path / "m.npz", classes=np.array(3))
    data = tmp_path / "rows.csv"
    data.write_text("a,b,c,d,e\n1,2,3,4,5\n")
    r = run_tuner("predict", bad, data)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert str(bad) in lines[0] and "classes must be a 1-D array" in lines[0]

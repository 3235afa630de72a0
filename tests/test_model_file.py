"""The model file `tuner train` writes (tuner/model_file.py): a scaler it cannot use is refused,
though the network's own loader carries extra arrays as they are."""

from __future__ import annotations

import numpy as np
import pytest

from model_file_helpers import arrays_of, rewrite, with_nan
from tuner import model_file
from tuner.mlp import MLPClassifierBN, ModelFormatError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("value", [0.0, -1.0, np.nan, np.inf])
def test_a_scaler_scale_that_is_zero_negative_or_not_finite_is_refused(saved, tmp_path, value):
    scale = with_nan(arrays_of(saved)["extra/scaler_scale"], value, at=2)
    bad = rewrite(saved, tmp_path / "m.npz", **{"extra/scaler_scale": scale})
    # the network's loader carries extra arrays as they are; the model file's refuses
    np.testing.assert_array_equal(MLPClassifierBN.load(bad).extra_["scaler_scale"], scale)
    with pytest.raises(ModelFormatError, match="scaler_scale"):
        model_file.load(bad)


def test_a_non_finite_scaler_mean_is_refused(saved, tmp_path):
    mean = with_nan(arrays_of(saved)["extra/scaler_mean"], np.inf)
    bad = rewrite(saved, tmp_path / "m.npz", **{"extra/scaler_mean": mean})
    with pytest.raises(ModelFormatError, match="scaler_mean holds NaN or infinity"):
        model_file.load(bad)

"""tuner.footprint: the one memory and work estimate of a trial, shared by the study-file
limits and `--jobs auto`."""

from __future__ import annotations

import pytest

from tuner.footprint import trial_footprint
from tuner.spec.schema import ModelSpec, ParamSpec

pytestmark = pytest.mark.unit


def test_a_fixed_model_by_hand() -> None:
    fp = trial_footprint(ModelSpec(hidden=(8, 4), batch_size=16), (), n_samples=100,
                         n_features=5, n_classes=3)
    assert (fp.layers, fp.batch, fp.widest_key) == ((5, 8, 4, 3), 16, "[model] hidden")
    weights = (5 * 8 + 16) + (8 * 4 + 8) + (4 * 3 + 6)
    assert fp.data_bytes == 100 * 5 * (16 + 4)
    assert fp.model_bytes == 4 * weights * 4 + 6 * 16 * 20 * 4 + 2 * 100 * 20 * 4
    assert fp.total_bytes == fp.data_bytes + fp.model_bytes
    assert fp.flops_per_step == 6 * 16 * (5 * 8 + 8 * 4 + 4 * 3)
    wide = trial_footprint(ModelSpec(hidden=(8, 4), dtype="float64"), (), n_samples=100,
                           n_features=5, n_classes=3)
    assert wide.model_bytes > fp.model_bytes and wide.data_bytes == 100 * 5 * 24


def test_the_largest_the_search_can_ask_for() -> None:
    model = ModelSpec(hidden=(8, 8), batch_size=16)
    units = trial_footprint(model, (ParamSpec("units", "log-int", 4, 256),
                                    ParamSpec("batch_size", "int", 8, 512)),
                            n_samples=1000, n_features=5, n_classes=3)
    assert (units.layers, units.batch, units.widest_key) == \
        ((5, 256, 256, 3), 512, "[search] units")
    hidden = trial_footprint(model, (ParamSpec("hidden", "categorical",
                                               choices=((16,), (32, 32, 32))),),
                             n_samples=1000, n_features=5, n_classes=3)
    assert (hidden.layers, hidden.widest_key) == ((5, 32, 32, 32, 3), "[search] hidden")
    # A batch larger than the data holds only the data's rows in memory.
    few = trial_footprint(model, (ParamSpec("batch_size", "int", 8, 512),), n_samples=10,
                          n_features=5, n_classes=3)
    assert few.batch == 512 and few.model_bytes < units.model_bytes


def test_folds_count_k_models_and_k_copies_of_the_rows() -> None:
    model = ModelSpec(hidden=(8, 4), batch_size=16)
    one = trial_footprint(model, (), n_samples=100, n_features=5, n_classes=3)
    five = trial_footprint(model, (), n_samples=100, n_features=5, n_classes=3, folds=5)
    assert five.model_bytes == 5 * one.model_bytes
    assert five.data_bytes == one.data_bytes + 5 * 100 * 5 * 4
    assert five.flops_per_step == one.flops_per_step  # one step is still one model's

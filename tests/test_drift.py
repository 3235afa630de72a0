"""Drift (`tuner.drift`): the population stability index against hand-computed values,
numeric and categorical columns, missing values, the label, and a profile that survives
JSON (it lives in the model card)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from tuner.drift import FLOOR, OTHER, largest, profile, psi, psi_of_shares

pytestmark = pytest.mark.unit


def test_psi_of_two_distributions_by_hand() -> None:
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5)
    expected = -0.25 * math.log(0.5) + 0.25 * math.log(1.5)
    assert psi_of_shares([0.5, 0.5], [0.25, 0.75]) == pytest.approx(expected)
    assert expected == pytest.approx(0.27465, abs=1e-5)
    assert psi_of_shares([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0


def test_an_empty_bin_counts_as_the_floor_not_infinity() -> None:
    value = psi_of_shares([1.0, 0.0], [0.5, 0.5])
    by_hand = (0.5 - 1.0) * math.log(0.5 / 1.0) + (0.5 - FLOOR) * math.log(0.5 / FLOOR)
    assert value == pytest.approx(by_hand)


def test_numeric_column_in_deciles_of_the_training_rows() -> None:
    old = pd.DataFrame({"x": np.arange(100.0)})
    saved = profile(old, numeric=["x"], categorical=[])
    col = saved["columns"]["x"]
    assert len(col["edges"]) == 9 and len(col["shares"]) == 11  # 10 bins, then missing
    assert col["shares"][:10] == pytest.approx([0.1] * 10) and col["shares"][10] == 0.0
    assert psi(saved, old)["x"] == pytest.approx(0.0)
    # Every new row above the top edge: one bin holds all of them.
    shifted = pd.DataFrame({"x": np.full(50, 1000.0)})
    by_hand = psi_of_shares([0.1] * 10 + [0.0], [0.0] * 9 + [1.0, 0.0])
    assert psi(saved, shifted)["x"] == pytest.approx(by_hand)


def test_missing_values_are_a_bin_of_their_own() -> None:
    old = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    saved = profile(old, numeric=["x"], categorical=[])
    col = saved["columns"]["x"]
    assert col["edges"] == pytest.approx([1.3, 1.6, 1.9, 2.2, 2.5, 2.8, 3.1, 3.4, 3.7])
    old_shares = [0.25, 0, 0, 0.25, 0, 0, 0.25, 0, 0, 0.25, 0.0]  # 1, 2, 3, 4; none missing
    assert col["shares"] == pytest.approx(old_shares)
    new = pd.DataFrame({"x": [1.0, 2.0, np.nan, np.nan]})
    new_shares = [0.25, 0, 0, 0.25, 0, 0, 0, 0, 0, 0, 0.5]
    assert psi(saved, new)["x"] == pytest.approx(psi_of_shares(old_shares, new_shares))


def test_categorical_column_with_an_unseen_category_and_the_label() -> None:
    old = pd.DataFrame({"plan": ["a"] * 6 + ["b"] * 4, "y": ["no"] * 5 + ["yes"] * 5})
    saved = profile(old, numeric=[], categorical=["plan"], target="y")
    new = pd.DataFrame({"plan": ["a"] * 4 + ["b"] * 4 + ["c"] * 2, "y": ["no"] * 2 + ["yes"] * 8})
    got = psi(saved, new)
    assert got["plan"] == pytest.approx(psi_of_shares([0.6, 0.4, 0.0], [0.4, 0.4, 0.2]))
    assert got["y"] == pytest.approx(psi_of_shares([0.5, 0.5], [0.2, 0.8]))
    assert list(got) == sorted(got, key=lambda k: -got[k])  # largest first
    assert largest(got) == ("plan", got["plan"])  # "c": a share of 0.2 where there was none
    assert largest({}) is None


def test_many_categories_pool_the_rare_ones() -> None:
    values = [f"c{i}" for i in range(40)] * 2 + ["c0"] * 20
    saved = profile(pd.DataFrame({"k": values}), numeric=[], categorical=["k"])
    shares = saved["columns"]["k"]["shares"]
    assert len(shares) == 31 and OTHER in shares
    assert sum(shares.values()) == pytest.approx(1.0)
    # The same rows again: no drift, the pooled ones included.
    assert psi(saved, pd.DataFrame({"k": values}))["k"] == pytest.approx(0.0, abs=1e-12)


def test_a_profile_survives_json_and_a_missing_column_is_left_out() -> None:
    rng = np.random.default_rng(0)
    old = pd.DataFrame({"x": rng.normal(size=500), "c": rng.choice(["u", "v"], 500)})
    saved = json.loads(json.dumps(profile(old, numeric=["x"], categorical=["c"])))
    same = pd.DataFrame({"x": rng.normal(size=500), "c": rng.choice(["u", "v"], 500)})
    got = psi(saved, same)
    assert got["x"] < 0.1 and got["c"] < 0.1  # a sample of the same distribution
    moved = psi(saved, pd.DataFrame({"x": rng.normal(1.0, size=500)}))
    assert set(moved) == {"x"} and moved["x"] > 0.2

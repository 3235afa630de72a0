"""The report's words: Optuna's ``one_minus_beta`` shown in course notation, alpha and
beta first, a legend label per kind of finished trial."""

from __future__ import annotations

import pytest

from tuner.report.vocabulary import (
    KINDS,
    course_name,
    is_complement,
    kind_label,
    param_label,
    param_order,
)

pytestmark = pytest.mark.unit


def test_a_complement_is_named_as_the_course_names_it() -> None:
    assert is_complement("one_minus_beta") and not is_complement("alpha")
    assert course_name("one_minus_beta") == "beta" and course_name("units") == "units"
    assert param_label("one_minus_beta") == "beta (as 1-beta)"
    assert param_label("one_minus_beta", axis=True) == "1 - beta"
    assert param_label("alpha", axis=True) == "alpha"


def test_alpha_and_beta_come_first_then_the_rest_by_name() -> None:
    assert param_order(["units", "one_minus_beta", "batch_size", "alpha"]) == \
        ["alpha", "one_minus_beta", "batch_size", "units"]
    assert param_order(["units", "epochs"]) == ["epochs", "units"]


def test_every_kind_has_its_legend_label() -> None:
    assert [kind_label(k) for k in KINDS] == [
        "complete", "pruned (last reported value)", "diverged (last reported value, or worst)"]

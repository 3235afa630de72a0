"""Parameter importances of a real in-memory study: normalized, most important first,
in course notation, and a note (never an exception) when the study is too small."""

from __future__ import annotations

import optuna
import pytest

from tuner.report.importance import param_importance
from tuner.report.vocabulary import ReportError

pytestmark = pytest.mark.unit


def _study(n_trials: int) -> optuna.Study:
    """A score that depends on alpha only: alpha must rank first."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("alpha", 0, 1) * 10
                   + 0 * t.suggest_float("one_minus_beta", 0.001, 0.1, log=True),
                   n_trials=n_trials)
    return study


def test_the_parameter_that_matters_ranks_first_and_the_values_sum_to_one() -> None:
    result = param_importance(_study(30))
    assert list(result.values)[0] == "alpha"
    assert sum(result.values.values()) == pytest.approx(1.0)
    assert result.n_trials == 30 and result.note is None
    assert result.rows()[-1][:2] == ("one_minus_beta", "beta (as 1-beta)")
    as_dict = result.as_dict()
    assert as_dict["evaluator"] == "ped-anova" and as_dict["n_complete_trials"] == 30
    assert as_dict["importances"][0]["param"] == "alpha"


def test_a_study_without_complete_trials_gets_a_note_or_an_error_when_asked() -> None:
    empty = optuna.create_study(study_name="empty")
    result = param_importance(empty)
    assert (result.values, result.n_trials, result.note) == ({}, 0, "no complete trial yet")
    with pytest.raises(ReportError, match="study 'empty' has no complete trial yet"):
        param_importance(empty, need_trials=True)
    few = param_importance(_study(3))
    assert few.note and "3 complete trials" in few.note


def test_an_unknown_evaluator_names_the_known_ones() -> None:
    with pytest.raises(ReportError, match="unknown importance evaluator 'gini'; choose one "
                                          "of ped-anova, fanova"):
        param_importance(_study(2), "gini")

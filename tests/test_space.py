"""The search space in Optuna's terms: suggestions, the log priors' scale, grids, samplers."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from spec_helpers import BASE, write
from tuner.space import grid_space, make_sampler, suggest, to_course
from tuner.spec import load_spec

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]

def test_beta_samples_lie_in_range_and_split_evenly_by_decade() -> None:
    """The point of the log scale: as many betas in [0.99, 0.999] as in [0.9, 0.99]."""
    spec = load_spec(ROOT / "studies" / "digits-momentum.toml")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    betas = []
    for _ in range(200):
        trial = study.ask()
        values = suggest(trial, spec.search)
        assert trial.user_attrs["beta"] == values["beta"]
        betas.append(values["beta"])
        study.tell(trial, 0.0)
    assert all(0.9 <= b <= 0.999 for b in betas)
    high = sum(b >= 0.99 for b in betas) / len(betas)
    assert 0.4 <= high <= 0.6, high  # a uniform prior would put ~9% there
    stored = study.trials[0].distributions["one_minus_beta"]
    assert stored.log



def test_to_course_translates_back() -> None:
    spec = load_spec(ROOT / "studies" / "breast-cancer.toml")
    assert to_course({"one_minus_beta": 0.01, "units": 16}, spec.search) == \
        {"beta": 0.99, "units": 16}
    assert to_course({"one_minus_beta": 0.25})["beta"] == 0.75



def test_categorical_hidden_choices_round_trip(tmp_path: Path) -> None:
    hidden = 'hidden = { prior = "categorical", choices = [[32], [64, 64]] }\n'
    spec = load_spec(write(tmp_path, BASE + hidden))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(10):
        trial = study.ask()
        seen.add(suggest(trial, spec.search)["hidden"])
        study.tell(trial, 0.0)
    assert seen == {(32,), (64, 64)}



def test_grid_uses_the_prior_scale_and_explicit_values(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, BASE.replace(
        "high = 1.0 }", "high = 1.0, grid = [0.01, 0.1] }")))
    space = grid_space(spec.search, points=3)
    assert space["alpha"] == [0.01, 0.1]
    assert [round(v, 6) for v in space["one_minus_beta"]] == [0.001, 0.01, 0.1]
    sampler = make_sampler(spec)
    assert isinstance(sampler, optuna.samplers.TPESampler)

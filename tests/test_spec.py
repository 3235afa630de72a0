"""Study files: parsing, validation messages, spec_hash stability, priors in Optuna."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest

from tuner.space import distribution, grid_space, make_sampler, optuna_name, suggest, to_course
from tuner.spec import SpecError, load_spec

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
STUDIES = sorted((ROOT / "studies").glob("*.toml"))

BASE = """
[study]
name = "t"
n_trials = 5

[search]
alpha = { prior = "log-uniform", low = 1e-4, high = 1.0 }
beta = { prior = "complement-log-uniform", low = 0.9, high = 0.999 }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.name)
def test_shipped_study_files_parse(path: Path) -> None:
    spec = load_spec(path)
    assert spec.n_trials > 0 and spec.search


def test_digits_momentum_declares_the_log_priors() -> None:
    spec = load_spec(ROOT / "studies" / "digits-momentum.toml")
    alpha, beta = spec.param("alpha"), spec.param("beta")
    assert (alpha.prior, alpha.low, alpha.high) == ("log-uniform", 1e-2, 10.0)
    assert (beta.prior, beta.low, beta.high) == ("complement-log-uniform", 0.9, 0.999)
    dist = distribution(beta)
    assert optuna_name(beta) == "one_minus_beta"
    assert dist.log and math.isclose(dist.low, 0.001) and math.isclose(dist.high, 0.1)


def test_defaults_fill_in(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, BASE))
    assert spec.direction == "maximize" and spec.metric == "val_accuracy"
    assert spec.data.dataset == "digits" and spec.model.hidden == (64, 64)
    assert spec.sampler.name == "tpe" and spec.pruner.name == "median"


def test_spec_hash_ignores_comments_order_and_spelling(tmp_path: Path) -> None:
    a = load_spec(write(tmp_path, BASE))
    reordered = """
# a comment
[search]
beta = { high = 0.999, prior = "complement-log-uniform", low = 0.9 }   # momentum
alpha = { prior = "log-uniform", low = 0.0001, high = 1 }

[study]
n_trials = 50          # the budget is not part of the definition
name = "t"
"""
    b = load_spec(write(tmp_path, reordered))
    assert a.spec_hash == b.spec_hash
    changed = load_spec(write(tmp_path, BASE.replace("high = 1.0", "high = 0.5")))
    assert changed.spec_hash != a.spec_hash
    other_data = load_spec(write(tmp_path, BASE + '\n[data]\ndataset = "wine"\n'))
    assert other_data.spec_hash != a.spec_hash


@pytest.mark.parametrize("text, expected", [
    ("[study\nname = 1", "malformed TOML"),
    (BASE + "\n[serch]\n", "unknown section (did you mean [search]?)"),
    (BASE.replace("n_trials = 5", "n_trails = 5"),
     "unknown key 'n_trails' (did you mean 'n_trials'?)"),
    (BASE.replace('name = "t"\n', ""), "[study] name: missing required key"),
    (BASE.replace("n_trials = 5", 'n_trials = "five"'), "[study] n_trials: must be an integer"),
    (BASE.replace("n_trials = 5", "n_trials = 0"), "[study] n_trials: must be a positive integer"),
    (BASE.replace("low = 1e-4, high = 1.0", "low = 1.0, high = 1e-4"),
     "[search] alpha: low (1.0) must be less than high"),
    (BASE.replace("low = 1e-4", "low = 0"), "[search] alpha.low: must be > 0 for a log prior"),
    (BASE.replace("high = 0.999", "high = 1.5"), "complement-log-uniform needs 0 < low < high < 1"),
    (BASE + '\n[data]\ndataset = "mnist"\n', "unknown key 'mnist'"),
    (BASE + '\n[sampler]\nname = "bayes"\n', "[sampler] name: unknown key 'bayes'"),
    (BASE + '\n[pruner]\nname = "medain"\n', "did you mean 'median'?"),
    (BASE.replace('name = "t"', 'name = "t"\nmetric = "accuracy"'), "[study] metric"),
    (BASE.replace('name = "t"', 'name = "t"\nmetric = "val_loss"\ndirection = "maximize"'),
     "contradicts metric 'val_loss'"),
    (BASE.replace('prior = "log-uniform"', 'prior = "loguniform"'), "did you mean 'log-uniform'?"),
    (BASE + 'batch_size = { prior = "uniform", low = 16, high = 64 }\n', "is an integer"),
    (BASE + '\n[model]\nhidden = [64, 0]\n',
     "[model] hidden: must be a non-empty list of positive"),
])
def test_bad_input_is_one_line_naming_file_and_key(tmp_path: Path, text: str,
                                                    expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert expected in message, message
    assert "\n" not in message


def test_malformed_toml_gives_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[study]\nname = \"t\"\nn_trials = = 3\n")
    with pytest.raises(SpecError, match=r"line 3"):
        load_spec(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such study file"):
        load_spec(tmp_path / "nope.toml")


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

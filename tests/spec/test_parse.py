"""Study files: parsing, validation messages, defaults, priors as Optuna sees them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from spec_helpers import BASE, write
from tuner.space import distribution, optuna_name
from tuner.spec import SpecError, load_spec

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
STUDIES = sorted((ROOT / "studies").glob("*.toml"))

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
    # Upper bounds: a typo, never a plan, and each would exhaust memory or the storage.
    (BASE.replace("n_trials = 5", "n_trials = 100000000000000000000000000"),
     "[study] n_trials: must be at most 1000000"),
    (BASE + '\n[model]\nhidden = [100000000000000000000000000]\n',
     "[model] hidden: must be at most 16384 units per layer"),
    (BASE + 'units = { prior = "log-int", low = 8, high = 100000000000000000000000000 }\n',
     "[search] units: must be at most 16384 units per layer"),
    (BASE + 'hidden = { prior = "categorical", choices = [[8], [16385]] }\n',
     "[search] hidden.choices: must be at most 16384 units per layer"),
    # tomllib recurses once per level of nesting.
    (BASE + "deep = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    (BASE + "deep = " + "{ a = " * 5000 + "1" + " }" * 5000 + "\n", "nested too deeply"),
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


# --- tasks, metrics, class weights ------------------------------------------------------------

def with_study(extra: str, rest: str = "") -> str:
    return BASE.replace('name = "t"', 'name = "t"\n' + extra) + rest


def test_a_built_in_dataset_knows_its_task_and_the_metric_and_direction_follow(
        tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, BASE + '\n[data]\ndataset = "diabetes"\n'))
    assert (spec.task, spec.task_stated) == ("regression", False)
    assert (spec.metric, spec.direction) == ("val_rmse", "minimize")
    spec = load_spec(write(tmp_path, with_study('metric = "val_r2"',
                                                '\n[data]\ndataset = "friedman1"\n')))
    assert (spec.task, spec.metric, spec.direction) == ("regression", "val_r2", "maximize")
    spec = load_spec(write(tmp_path, with_study('metric = "val_balanced_accuracy"')))
    assert (spec.task, spec.direction) == ("classification", "maximize")
    spec = load_spec(write(tmp_path, with_study(
        'task = "regression"', '\n[data]\npath = "d.csv"\ntarget = "y"\n')))
    assert (spec.task, spec.task_stated, spec.metric) == ("regression", True, "val_rmse")


@pytest.mark.parametrize("extra, rest, expected", [
    ('task = "ranking"', "", "[study] task: unknown key 'ranking'; valid: classification, "
                             "regression"),
    ('metric = "val_r2"', "",
     "[study] metric: 'val_r2' is a metric of the other task; a classification study takes "
     "one of val_accuracy, val_balanced_accuracy, val_f1, val_roc_auc, val_loss (set task = "
     "\"regression\" in [study] for a regression study)"),
    ('task = "regression"\nmetric = "val_f1"', '\n[data]\npath = "d.csv"\ntarget = "y"\n',
     "[study] metric: 'val_f1' is a metric of the other task; a regression study takes one "
     "of val_rmse, val_mae, val_r2, val_loss"),
    ('metric = "val_auc"', "",
     "[study] metric: unknown metric 'val_auc'; a classification study takes one of "
     "val_accuracy, val_balanced_accuracy, val_f1, val_roc_auc, val_loss"),
    ('metric = "val_rmse"\ndirection = "maximize"', '\n[data]\ndataset = "diabetes"\n',
     "contradicts metric 'val_rmse', which must be minimized"),
    ('task = "classification"', '\n[data]\ndataset = "diabetes"\n',
     "[study] task: 'classification', but dataset 'diabetes' is a regression dataset: "
     "remove task, or choose a classification dataset"),
    ("", '\n[data]\ndataset = "diabetes"\n[model]\nclass_weight = "balanced"\n',
     "[model] class_weight: weighs classes in a classifier's loss; a regression study has "
     "no classes: remove it"),
    ("", '\n[model]\nclass_weight = "heavy"\n',
     "[model] class_weight: must be one of 'none', 'balanced', got 'heavy'"),
])
def test_task_metric_and_class_weight_are_refused_in_one_line(
        tmp_path: Path, extra: str, rest: str, expected: str) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, with_study(extra, rest)))
    assert str(info.value).endswith(expected), str(info.value)
    assert "\n" not in str(info.value)


def test_class_weight_is_searched_as_a_categorical_only(tmp_path: Path) -> None:
    searched = '\nclass_weight = { prior = "categorical", choices = ["none", "balanced"] }\n'
    spec = load_spec(write(tmp_path, BASE + searched))
    assert spec.param("class_weight").choices == ("none", "balanced")
    with pytest.raises(SpecError, match="'class_weight' can only be searched with prior "
                                        "'categorical'"):
        load_spec(write(tmp_path, BASE + '\nclass_weight = { prior = "uniform", low = 0, '
                                         'high = 1 }\n'))
    with pytest.raises(SpecError, match=r"\[search\] class_weight: weighs classes"):
        load_spec(write(tmp_path, BASE + searched + '\n[data]\ndataset = "friedman1"\n'))

"""objective(trial) on a real in-memory Optuna study: every epoch reported, the value the
study file's metric, course notation turned into the model's, a diverging trial PRUNED
with its epoch, a stop request ending the trial as `Interrupted`."""

from __future__ import annotations

import threading
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from helpers import write_study
from tuner import keys
from tuner.data import spec_splits
from tuner.objective import Interrupted, make_objective, model_params
from tuner.spec import load_spec

pytestmark = pytest.mark.unit


def _spec(tmp_path: Path, *, high: str = "1.0"):
    file = write_study(tmp_path, epochs=4)
    file.write_text(file.read_text().replace("high = 1.0", f"high = {high}"))
    spec = load_spec(file)
    return spec, spec_splits(spec)


def test_course_notation_becomes_the_models_keywords(tmp_path: Path) -> None:
    spec, _ = _spec(tmp_path)
    params = model_params(spec, {"alpha": 0.05, "beta": 0.95})
    assert (params["learning_rate"], params["momentum"]) == (0.05, 0.95)
    assert params["hidden"] == (16,) and params["epochs"] == 4
    assert model_params(spec, {"alpha": 0.1, "beta": 0.9, "units": 32})["hidden"] == (32,)


def test_every_epoch_is_reported_and_the_value_is_the_last_metric(tmp_path: Path) -> None:
    spec, splits = _spec(tmp_path)
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(make_objective(spec, splits), n_trials=2)
    for t in study.trials:
        assert t.state == TrialState.COMPLETE
        assert sorted(t.intermediate_values) == [1, 2, 3, 4]
        assert t.value == t.intermediate_values[4] and 0.0 <= t.value <= 1.0
        assert t.user_attrs[keys.TRAIN_SECONDS] >= 0
        assert set(t.params) == {"alpha", "one_minus_beta"}


def test_a_diverging_trial_is_pruned_with_its_epoch_never_a_nan(tmp_path: Path) -> None:
    spec, splits = _spec(tmp_path, high="1e4")
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"alpha": 1e4, "one_minus_beta": 0.01})  # alpha at the edge
    trial = study.ask()
    with pytest.raises(optuna.TrialPruned, match="diverged at epoch"):
        make_objective(spec, splits)(trial)
    attrs = study.trials[0].user_attrs
    assert attrs[keys.DIVERGED] is True and attrs[keys.DIVERGED_EPOCH] in (1, 2, 3, 4)
    assert attrs[keys.DIVERGED_EPOCH] not in study.trials[0].intermediate_values


def test_a_stop_request_ends_the_trial_at_the_end_of_its_epoch(tmp_path: Path) -> None:
    spec, splits = _spec(tmp_path)
    stop = threading.Event()
    stop.set()
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    with pytest.raises(Interrupted, match=f"trial {trial.number} interrupted at epoch 1"):
        make_objective(spec, splits, stop=stop)(trial)
    assert list(study.trials[0].intermediate_values) == [1], "one epoch, then stopped"


def test_the_chosen_metric_is_reported_and_every_metric_recorded_at_the_end(
        tmp_path: Path) -> None:
    """A study on val_balanced_accuracy with class_weight searched: its metric is what
    each epoch reports (so pruners judge it), the class weight reaches the model, and
    the trial records every metric of the task at its last epoch (what `train` shows)."""
    file = write_study(tmp_path, epochs=3)
    file.write_text(file.read_text()
                    .replace('name = "', 'metric = "val_balanced_accuracy"\nname = "', 1)
                    .replace("[sampler]", 'class_weight = { prior = "categorical", '
                             'choices = ["none", "balanced"] }\n\n[sampler]'))
    spec = load_spec(file)
    assert (spec.metric, spec.direction) == ("val_balanced_accuracy", "maximize")
    splits = spec_splits(spec)
    assert model_params(spec, {"class_weight": "balanced"})["class_weight"] == "balanced"
    assert model_params(spec, {"class_weight": "none"})["class_weight"] is None
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(make_objective(spec, splits), n_trials=3)
    for t in study.trials:
        assert sorted(t.intermediate_values) == [1, 2, 3]
        recorded = t.user_attrs[keys.VAL_METRICS]
        assert set(recorded) == {"val_accuracy", "val_balanced_accuracy", "val_f1",
                                 "val_roc_auc", "val_loss"}
        assert t.value == t.intermediate_values[3] == pytest.approx(
            recorded["val_balanced_accuracy"])
    assert {t.params["class_weight"] for t in study.trials} <= {"none", "balanced"}


def test_a_regression_study_reports_its_metric_in_the_targets_units(tmp_path: Path) -> None:
    file = write_study(tmp_path, epochs=3, dataset="diabetes")
    spec = load_spec(file)
    assert (spec.task, spec.metric, spec.direction) == ("regression", "val_rmse", "minimize")
    assert "class_weight" not in model_params(spec, {})
    splits = spec_splits(spec)
    study = optuna.create_study(direction="minimize")
    study.optimize(make_objective(spec, splits), n_trials=1)
    t = study.trials[0]
    assert t.state == TrialState.COMPLETE and sorted(t.intermediate_values) == [1, 2, 3]
    recorded = t.user_attrs[keys.VAL_METRICS]
    assert set(recorded) == {"val_rmse", "val_mae", "val_r2", "val_loss"}
    assert t.value == pytest.approx(recorded["val_rmse"])
    assert 20 < t.value < 200  # diabetes progression is 25-346: RMSE in its units

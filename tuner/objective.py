"""objective(trial): sample, train the MLP, report every epoch, prune, record divergence.

This is the one module that speaks both vocabularies: the study file's course notation
(`alpha`, `beta`) and the model's (`learning_rate`, `momentum`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

import numpy as np
import optuna

from tuner import keys
from tuner.data import Splits
from tuner.errors import TunerError
from tuner.folds import fit_folds
from tuner.metrics import CLASSIFICATION, REGRESSION, classification_scores, regression_scores
from tuner.mlp import DivergedError, MLPCore, MLPRegressorCore
from tuner.mlp.base import MLPBase
from tuner.space import suggest
from tuner.spec import StudySpec

__all__ = ["Interrupted", "make_objective", "model_class", "model_params", "task_metrics",
           "validation_metrics"]



class Interrupted(TunerError):
    """The worker was asked to stop (SIGTERM/SIGINT) in the middle of a trial.

    The trial ends FAIL, so Optuna's retry re-queues its parameters for another worker;
    a partial score is never stored as COMPLETE.
    """

    handed_back = True  # Optuna's "trial failed" log line for it is not news (cli/app.py)


def model_class(spec: StudySpec) -> type[MLPBase]:
    """The model a study of ``spec``'s task trains (without scikit-learn's base classes)."""
    return MLPRegressorCore if spec.task == "regression" else MLPCore


def model_params(spec: StudySpec, values: Mapping[str, Any]) -> dict[str, Any]:
    """`MLPCore` (`MLPRegressorCore`) keyword arguments for the fixed [model] values
    overridden by the sampled ``values`` (course notation in, model notation out)."""
    v = {**asdict(spec.model), **values}
    # The study file's "none" is the model's None; a regressor has no class weights.
    weight = {} if spec.task == "regression" else {
        "class_weight": None if v["class_weight"] == "none" else v["class_weight"]}
    hidden = tuple(v["hidden"])
    if "units" in v:
        hidden = (int(v["units"]),) * len(hidden)
    return {
        "hidden": hidden,
        "learning_rate": float(v["alpha"]),
        "momentum": float(v["beta"]),
        "epochs": int(v["epochs"]),
        "batch_size": int(v["batch_size"]),
        "eps": float(v["eps"]),
        "bn_decay": float(v["bn_decay"]),
        "use_batchnorm": bool(v["use_batchnorm"]),
        "seed": int(v["seed"]),
        "dtype": v["dtype"],
        **weight,
    }


def task_metrics(task: str) -> tuple[str, ...]:
    """Every metric of ``task`` (tuner/metrics.py)."""
    return REGRESSION if task == "regression" else CLASSIFICATION


def validation_metrics(spec: StudySpec, model: MLPBase, X: np.ndarray, y: np.ndarray
                       ) -> dict[str, float]:
    """Every metric of ``spec``'s task of a fitted model on (X, y): ``y`` holds the
    targets, or the labels the model was fitted on."""
    if spec.task == "regression":
        return regression_scores(y, model.predict(X))
    proba = model.predict_proba(X)  # type: ignore[attr-defined]
    index = np.searchsorted(model.classes_, y)  # type: ignore[attr-defined]
    return classification_scores(index, proba)


def make_objective(spec: StudySpec, splits: Splits, *,
                   stop: threading.Event | None = None) -> Callable[[optuna.Trial], float]:
    """The Optuna objective for ``spec`` on ``splits`` (train on train, score on validation;
    with ``[data] folds``, the mean over the folds of train + validation).

    ``stop``, when set, ends the running trial at the end of its current epoch and raises
    `Interrupted`.
    """
    stop = stop or threading.Event()
    # [data] folds: built once, here, not inside (and timed as part of) the first trial.
    folds = None if splits.folds is None else splits.folds()

    def objective(trial: optuna.Trial) -> float:
        values = suggest(trial, spec.search)
        params = model_params(spec, values)
        last: dict[str, float] = {}
        why_stopped: list[str] = []

        def on_epoch(epoch: int, metrics: Mapping[str, float]) -> bool:
            last.update(metrics, epoch=epoch)
            trial.report(float(metrics[spec.metric]), epoch)
            if stop.is_set():
                why_stopped.append("interrupted")
            elif trial.should_prune():
                why_stopped.append("pruned")
            return bool(why_stopped)

        started = time.perf_counter()
        try:
            if folds is None:
                model = model_class(spec)(**params).fit(
                    splits.X_train, splits.y_train, splits.X_val, splits.y_val,
                    on_epoch=on_epoch, metrics=(spec.metric,))
                if not why_stopped:
                    trial.set_user_attr(keys.VAL_METRICS, validation_metrics(
                        spec, model, splits.X_val, splits.y_val))
            else:  # on_epoch gets the mean over the folds (tuner/folds.py)
                # Every metric of the task each epoch: folds are for small data, where
                # they cost little, and `train` shows their mean beside the chosen one.
                per_fold = fit_folds(params, folds, on_epoch, model=model_class(spec),
                                     metrics=task_metrics(spec.task))
                trial.set_user_attr(keys.FOLD_VALUES, [m[spec.metric] for m in per_fold])
                if not why_stopped:
                    trial.set_user_attr(keys.VAL_METRICS, {
                        name: float(np.mean([m[name] for m in per_fold]))
                        for name in task_metrics(spec.task)})
        except DivergedError as e:
            # Stored as PRUNED, never FAIL and never a NaN value: it counts toward
            # n_trials, and TPE ranks pruned trials below every complete one.
            trial.set_user_attr(keys.DIVERGED, True)
            trial.set_user_attr(keys.DIVERGED_EPOCH, int(e.epoch))
            raise optuna.TrialPruned(f"diverged at epoch {e.epoch}") from e
        finally:
            trial.set_user_attr(keys.TRAIN_SECONDS, round(time.perf_counter() - started, 4))
        if why_stopped == ["interrupted"]:
            raise Interrupted(f"trial {trial.number} interrupted at epoch {last['epoch']}")
        if why_stopped == ["pruned"]:
            raise optuna.TrialPruned(f"pruned at epoch {last['epoch']}")
        return float(last[spec.metric])

    return objective

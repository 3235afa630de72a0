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

import optuna

from tuner import keys
from tuner.data import Splits
from tuner.errors import TunerError
from tuner.mlp import DivergedError, MLPCore
from tuner.space import suggest
from tuner.spec import StudySpec

__all__ = ["Interrupted", "make_objective", "model_params"]



class Interrupted(TunerError):
    """The worker was asked to stop (SIGTERM/SIGINT) in the middle of a trial.

    The trial ends FAIL, so Optuna's retry re-queues its parameters for another worker;
    a partial score is never stored as COMPLETE.
    """


def model_params(spec: StudySpec, values: Mapping[str, Any]) -> dict[str, Any]:
    """`MLPCore` keyword arguments for the fixed [model] values overridden by the
    sampled ``values`` (course notation in, model notation out)."""
    v = {**asdict(spec.model), **values}
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
    }


def make_objective(spec: StudySpec, splits: Splits, *,
                   stop: threading.Event | None = None) -> Callable[[optuna.Trial], float]:
    """The Optuna objective for ``spec`` on ``splits`` (train on train, score on validation).

    ``stop``, when set, ends the running trial at the end of its current epoch and raises
    `Interrupted`.
    """
    stop = stop or threading.Event()

    def objective(trial: optuna.Trial) -> float:
        values = suggest(trial, spec.search)
        clf = MLPCore(**model_params(spec, values))
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
            clf.fit(splits.X_train, splits.y_train, splits.X_val, splits.y_val,
                    on_epoch=on_epoch)
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

"""Which parameter mattered: Optuna's importance evaluators, by the names the CLI takes."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from tuner.report.vocabulary import ReportError, param_label

__all__ = ["EVALUATORS", "Importance", "param_importance"]


def _ped_anova() -> Any:
    return optuna.importance.PedAnovaImportanceEvaluator()


def _fanova() -> Any:
    return optuna.importance.FanovaImportanceEvaluator(seed=0)


# name on the command line -> (name people read, factory)
EVALUATORS: dict[str, tuple[str, Callable[[], Any]]] = {
    "ped-anova": ("PED-ANOVA (Optuna's default importance evaluator)", _ped_anova),
    "fanova": ("fANOVA (random-forest functional ANOVA, seed 0)", _fanova),
}


@dataclass(frozen=True)
class Importance:
    """Normalized importances (summing to 1) of the parameters of one study."""

    key: str                                  # "ped-anova" | "fanova"
    evaluator: str                            # what people read
    values: dict[str, float]                  # Optuna's names, most important first
    n_trials: int                             # COMPLETE trials they were computed from
    note: str | None = None                   # why they are missing or not to be trusted

    def rows(self) -> list[tuple[str, str, float]]:
        """(Optuna name, course label, importance), most important first."""
        return [(name, param_label(name), value) for name, value in self.values.items()]

    def as_dict(self) -> dict[str, Any]:
        return {"evaluator": self.key, "evaluator_name": self.evaluator,
                "n_complete_trials": self.n_trials, "note": self.note,
                "importances": [{"param": label, "optuna_param": name, "importance": value}
                                for name, label, value in self.rows()]}


def param_importance(study: optuna.Study, evaluator: str = "ped-anova", *,
                     need_trials: bool = False) -> Importance:
    """Parameter importances of ``study``'s COMPLETE trials by ``evaluator``.

    Never raises on a study that is too small or too flat: the result then has no values
    or equal ones, and ``note`` says why (Optuna's own warning, or its error). With
    ``need_trials`` (`tuner study importance`, where a ranking is the whole answer) a
    study without a complete trial is a `ReportError`.
    """
    if evaluator not in EVALUATORS:
        raise ReportError(f"unknown importance evaluator {evaluator!r}; choose one of "
                          + ", ".join(EVALUATORS))
    name, factory = EVALUATORS[evaluator]
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if need_trials and not complete:
        raise ReportError(f"study {study.study_name!r} has no complete trial yet: nothing "
                          "to rank")
    if not complete:
        return Importance(evaluator, name, {}, 0, "no complete trial yet")
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            values = optuna.importance.get_param_importances(study, evaluator=factory())
        except (RuntimeError, ValueError) as e:  # e.g. fANOVA on a flat objective
            values = {}
            notes.append(f"{type(e).__name__}: {e}")
    notes[:0] = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    if len(complete) < 2 * max(1, len(values)) and not notes:
        notes.append(f"only {len(complete)} complete trials: treat as a rough hint")
    return Importance(evaluator, name, {k: float(v) for k, v in values.items()},
                      len(complete), "; ".join(dict.fromkeys(notes)) or None)

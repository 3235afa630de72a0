"""One pass over the storage: everything a report shows, as a `ReportData`.

Nothing here knows about figures; `series.py` turns this data into what is drawn.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from tuner.keys import ATTR, DIVERGED_EPOCH, STUDY_FILE
from tuner.report.importance import Importance, param_importance
from tuner.report.vocabulary import ReportError, param_order
from tuner.versions import ChainError, chain, count_trials, split_version, trial_kind

__all__ = ["ReportData", "TrialPoint", "VersionRow", "collect"]


@dataclass(frozen=True)
class TrialPoint:
    """One finished trial, as the figures see it."""

    number: int
    kind: str                         # "complete" | "pruned" | "diverged"
    value: float | None               # final value; last reported one if cut short
    curve: tuple[tuple[int, float], ...]   # (epoch, value) as reported, finite only
    params: dict[str, Any]            # Optuna's names
    diverged_epoch: int | None = None


@dataclass(frozen=True)
class VersionRow:
    """One version of the chain (a separate Optuna study) and its results."""

    name: str
    version: int
    reason: str | None
    counts: dict[str, int]
    best: float | None
    values: tuple[float, ...]         # every COMPLETE value, for the spread
    current: bool                     # the version this report is about


@dataclass(frozen=True)
class ReportData:
    """What one report is about: a study, its finished trials and its version chain."""

    study: str
    direction: str                    # "maximize" | "minimize"
    metric: str
    attrs: dict[str, Any]
    counts: dict[str, int]
    trials: tuple[TrialPoint, ...]    # finished trials, by number
    distributions: dict[str, BaseDistribution]
    importance: Importance
    versions: tuple[VersionRow, ...]
    storage: str                      # masked URL
    decisions: tuple[dict[str, Any], ...] = ()  # the chain's history (`tuner.history`)
    champion: dict[str, Any] | None = None      # the chain's champion (`tuner.champion`)
    generated: str = field(default_factory=lambda: _dt.datetime.now().astimezone()
                           .isoformat(timespec="seconds"))

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"

    @property
    def best(self) -> TrialPoint | None:
        complete = [t for t in self.trials if t.kind == "complete" and t.value is not None]
        if not complete:
            return None
        pick = max if self.maximize else min
        return pick(complete, key=lambda t: t.value)

    @property
    def empty(self) -> bool:
        return not self.trials

    def kind(self, kind: str) -> list[TrialPoint]:
        return [t for t in self.trials if t.kind == kind]


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _point(t: FrozenTrial) -> TrialPoint:
    curve = tuple((int(e), float(v)) for e, v in sorted(t.intermediate_values.items())
                  if _finite(v))
    kind = trial_kind(t)
    value = t.value if kind == "complete" else (curve[-1][1] if curve else None)
    epoch = t.user_attrs.get(DIVERGED_EPOCH)
    return TrialPoint(t.number, kind, value, curve, dict(t.params),
                      int(epoch) if kind == "diverged" and epoch is not None else None)


def _metric_name(study: optuna.Study) -> str:
    """The objective's name: Optuna's metric name if set, else the metric of the study
    file the version was made from when that file still has the same definition hash."""
    if study.metric_names and study.metric_names[0]:
        return str(study.metric_names[0])
    path = study.user_attrs.get(STUDY_FILE)
    if path and Path(path).is_file():
        try:
            from tuner.spec import load_spec

            spec = load_spec(Path(path))
            if spec.spec_hash == study.user_attrs.get(ATTR["definition"]):
                return spec.metric
        except Exception:  # noqa: BLE001 - a changed or broken file only costs the label
            pass
    return "objective value"


def _best_value(study: optuna.Study) -> float | None:
    try:
        return float(study.best_value)
    except ValueError:  # no complete trial
        return None


def _versions(storage: BaseStorage, study: optuna.Study) -> tuple[VersionRow, ...]:
    base, _ = split_version(study.study_name)
    names = [study.study_name]
    if ATTR["version"] in study.user_attrs:
        try:
            names = [v.name for v in chain(storage, base)] or names
        except ChainError:  # a foreign study shares the name: show this one alone
            pass
    rows = []
    for name in names:
        s = study if name == study.study_name else optuna.load_study(storage=storage,
                                                                    study_name=name)
        trials = s.get_trials(deepcopy=False)
        rows.append(VersionRow(
            name=name, version=int(s.user_attrs.get(ATTR["version"], 1)),
            reason=s.user_attrs.get(ATTR["reason"]), counts=count_trials(trials),
            best=_best_value(s),
            values=tuple(float(t.value) for t in trials
                         if t.state == TrialState.COMPLETE and _finite(t.value)),
            current=name == study.study_name))
    return tuple(rows)


def collect(storage: BaseStorage, study: optuna.Study, *, evaluator: str = "ped-anova",
            storage_url: str = "") -> ReportData:
    """Everything a report shows, read once from ``storage``."""
    from tuner.passwords import mask_url

    if len(study.directions) != 1:
        raise ReportError(f"study {study.study_name!r} has {len(study.directions)} "
                          "objectives; the report draws single-objective studies")
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    distributions: dict[str, BaseDistribution] = {}
    for t in finished:
        for name, dist in t.distributions.items():
            distributions.setdefault(name, dist)
    decisions, champion = _decisions(storage, study)
    return ReportData(
        study=study.study_name, direction=study.direction.name.lower(),
        metric=_metric_name(study), attrs=dict(study.user_attrs), counts=count_trials(trials),
        trials=tuple(_point(t) for t in sorted(finished, key=lambda t: t.number)),
        distributions={k: distributions[k] for k in param_order(list(distributions))},
        importance=param_importance(study, evaluator), versions=_versions(storage, study),
        storage=mask_url(storage_url) if storage_url else "", decisions=decisions,
        champion=champion)


def _decisions(storage: BaseStorage, study: optuna.Study
               ) -> tuple[tuple[dict[str, Any], ...], dict[str, Any] | None]:
    """The chain's history and champion; none for a study tuner did not create."""
    from tuner import history
    from tuner.champion import chain_champion

    if ATTR["version"] not in study.user_attrs:
        return (), None
    family, _ = split_version(study.study_name)
    champion = chain_champion(storage, family)
    return tuple(history.read(storage, family)), (None if champion is None
                                                  else champion.as_dict())

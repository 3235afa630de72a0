"""Views of a finished (or running) study: figures, a self-contained HTML report, PNGs and
the parameter-importance table.

One pass reads the study into a `ReportData`; two renderers draw the same six figures
from it: plotly for the HTML report (plotly.js embedded once, so the file opens offline)
and matplotlib for PNG files (kaleido would need a Chrome). The figures say what the
tuning was about: the learning curves a human babysits, the score against ``alpha`` and
``1 - beta`` on the log axes they were sampled on, and which parameter mattered.

Vocabulary: Optuna's parameter names (``one_minus_beta``) are kept in the data; they are
turned into course notation (``1 - beta``, ``beta (as 1-beta)``) only in labels.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from tuner import __version__
from tuner.errors import TunerError
from tuner.keys import ATTR, DIVERGED, DIVERGED_EPOCH, STUDY_FILE
from tuner.keys import FINGERPRINTS as COMPONENTS_ATTR
from tuner.space import COMPLEMENT_PREFIX
from tuner.versions import ChainError, chain

__all__ = [
    "EVALUATORS", "FIGURES", "Importance", "ReportData", "ReportError", "TrialPoint",
    "VersionRow", "build_report", "collect", "figure_ids", "param_importance", "param_label",
    "plotly_figures", "render_html", "write_pngs",
]


class ReportError(TunerError):
    """A report that cannot be written (bad evaluator name, unwritable path)."""


# --- vocabulary ---------------------------------------------------------------------------

def param_label(name: str, *, axis: bool = False) -> str:
    """Optuna's name in course notation: ``one_minus_beta`` -> ``beta (as 1-beta)`` in a
    table, ``1 - beta`` on an axis, where the values shown are those of 1 - beta."""
    if name.startswith(COMPLEMENT_PREFIX):
        course = name[len(COMPLEMENT_PREFIX):]
        return f"1 - {course}" if axis else f"{course} (as 1-{course})"
    return name


def _param_order(names: Sequence[str]) -> list[str]:
    """alpha and beta first (the two that matter most), then the rest by name."""
    first = [n for n in ("alpha", COMPLEMENT_PREFIX + "beta") if n in names]
    return first + sorted(n for n in names if n not in first)


# --- importance ---------------------------------------------------------------------------

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


def param_importance(study: optuna.Study, evaluator: str = "ped-anova") -> Importance:
    """Parameter importances of ``study``'s COMPLETE trials by ``evaluator``.

    Never raises on a study that is too small or too flat: the result then has no values
    or equal ones, and ``note`` says why (Optuna's own warning, or its error).
    """
    if evaluator not in EVALUATORS:
        raise ReportError(f"unknown importance evaluator {evaluator!r}; choose one of "
                          + ", ".join(EVALUATORS))
    name, factory = EVALUATORS[evaluator]
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
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


# --- the data of a report -----------------------------------------------------------------

@dataclass(frozen=True)
class TrialPoint:
    """One finished trial, as the figures see it."""

    number: int
    kind: str                         # "complete" | "pruned" | "diverged"
    value: float | None               # final value; last reported one if cut short
    curve: tuple[tuple[int, float], ...]   # (epoch, value) as reported, finite only
    params: dict[str, Any]            # Optuna's names
    diverged_epoch: int | None = None

    def hover(self) -> str:
        parts = [f"trial {self.number} ({self.kind})"]
        if self.value is not None:
            parts.append(f"value {self.value:.4g}" + ("" if self.kind == "complete"
                                                        else " (last reported)"))
        if self.diverged_epoch is not None:
            parts.append(f"diverged at epoch {self.diverged_epoch}")
        for k in _param_order(list(self.params)):
            v = self.params[k]
            if k.startswith(COMPLEMENT_PREFIX) and isinstance(v, float):
                parts.append(f"{k[len(COMPLEMENT_PREFIX):]}={1 - v:.4g}")
            else:
                parts.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
        return "<br>".join(parts)


@dataclass(frozen=True)
class VersionRow:
    name: str
    version: int
    reason: str | None
    counts: dict[str, int]
    best: float | None
    values: tuple[float, ...]         # every COMPLETE value, for the spread
    current: bool                     # the version this report is about


@dataclass(frozen=True)
class ReportData:
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


def _kind(t: FrozenTrial) -> str:
    if t.state == TrialState.PRUNED and t.user_attrs.get(DIVERGED):
        return "diverged"
    return t.state.name.lower().replace("fail", "failed")


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _point(t: FrozenTrial) -> TrialPoint:
    curve = tuple((int(e), float(v)) for e, v in sorted(t.intermediate_values.items())
                  if _finite(v))
    kind = _kind(t)
    value = t.value if kind == "complete" else (curve[-1][1] if curve else None)
    epoch = t.user_attrs.get(DIVERGED_EPOCH)
    return TrialPoint(t.number, kind, value, curve, dict(t.params),
                      int(epoch) if kind == "diverged" and epoch is not None else None)


def _counts(trials: Sequence[FrozenTrial]) -> dict[str, int]:
    counts = dict.fromkeys(("complete", "pruned", "diverged", "failed", "running",
                            "waiting"), 0)
    for t in trials:
        counts[_kind(t)] += 1
    return counts


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
    base = study.study_name.split("/v")[0]
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
            reason=s.user_attrs.get(ATTR["reason"]), counts=_counts(trials),
            best=_best_value(s),
            values=tuple(float(t.value) for t in trials
                         if t.state == TrialState.COMPLETE and _finite(t.value)),
            current=name == study.study_name))
    return tuple(rows)


def collect(storage: BaseStorage, study: optuna.Study, *, evaluator: str = "ped-anova",
            storage_url: str = "") -> ReportData:
    """Everything a report shows, read once from ``storage``."""
    from tuner.storage import mask_url

    if len(study.directions) != 1:
        raise ReportError(f"study {study.study_name!r} has {len(study.directions)} "
                          "objectives; the report draws single-objective studies")
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    distributions: dict[str, BaseDistribution] = {}
    for t in finished:
        for name, dist in t.distributions.items():
            distributions.setdefault(name, dist)
    return ReportData(
        study=study.study_name, direction=study.direction.name.lower(),
        metric=_metric_name(study), attrs=dict(study.user_attrs), counts=_counts(trials),
        trials=tuple(_point(t) for t in sorted(finished, key=lambda t: t.number)),
        distributions={k: distributions[k] for k in _param_order(list(distributions))},
        importance=param_importance(study, evaluator), versions=_versions(storage, study),
        storage=mask_url(storage_url) if storage_url else "")


# --- figures, shared between the renderers ----------------------------------------------

# The sections of the report, in order: id -> (title, PNG file name or None).
FIGURES: dict[str, tuple[str, str | None]] = {
    "history": ("Optimization history", "history.png"),
    "learning-curves": ("Learning curves", "learning_curves.png"),
    "params": ("Score against alpha and beta", "score_vs_params.png"),
    "importance": ("Parameter importance", "importance.png"),
    "parallel": ("Parallel coordinates", "parallel_coordinates.png"),
    "versions": ("Versions side by side", "versions.png"),
}
COLORS = {"complete": "#1f77b4", "pruned": "#ff7f0e", "diverged": "#d62728",
          "best": "#2ca02c"}


def _best_so_far(data: ReportData) -> tuple[list[int], list[float]]:
    xs, ys, best = [], [], None
    for t in data.kind("complete"):
        if t.value is None:
            continue
        if best is None or (t.value > best if data.maximize else t.value < best):
            best = t.value
        xs.append(t.number)
        ys.append(best)
    return xs, ys


def _worst_edge(data: ReportData) -> float:
    """Where a trial with no value at all is drawn: at the worst value on the plot."""
    values = [t.value for t in data.trials if t.value is not None]
    values += [v for t in data.trials for _, v in t.curve]
    if not values:
        return 0.0
    return min(values) if data.maximize else max(values)


def _y(t: TrialPoint, data: ReportData) -> float:
    return t.value if t.value is not None else _worst_edge(data)


def _is_log(dist: BaseDistribution) -> bool:
    return bool(getattr(dist, "log", False))


def _decade_ticks(dist: BaseDistribution, complement: bool) -> tuple[list[float], list[str]]:
    """Powers of ten inside a log axis, labelled with beta as well on a 1 - beta axis."""
    lo, hi = math.floor(math.log10(dist.low)), math.ceil(math.log10(dist.high))
    vals = [10.0 ** k for k in range(lo, hi + 1)]
    text = [f"{v:g}" + (f" (beta {1 - v:g})" if complement and v < 1 else "") for v in vals]
    return vals, text


def _kind_label(kind: str) -> str:
    return {"complete": "complete", "pruned": "pruned (last reported value)",
            "diverged": "diverged (last reported value, or worst)"}[kind]


# --- plotly -------------------------------------------------------------------------------

def _layout(fig: Any, title: str, *, height: int = 460, top: int = 60,
            legend_y: float = 1.0) -> Any:
    fig.update_layout(title=title, template="plotly_white", height=height,
                      margin={"l": 70, "r": 30, "t": top, "b": 60},
                      legend={"orientation": "h", "yanchor": "bottom", "y": legend_y,
                              "x": 1.0, "xanchor": "right"})
    return fig


def _markers(kind: str) -> dict[str, Any]:
    return {"complete": {"symbol": "circle", "size": 8, "color": COLORS["complete"]},
            "pruned": {"symbol": "circle-open", "size": 9, "color": COLORS["pruned"],
                       "line": {"width": 2}},
            "diverged": {"symbol": "x", "size": 10, "color": COLORS["diverged"]}}[kind]


def _plotly_history(data: ReportData) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    for kind in ("complete", "pruned", "diverged"):
        ts = data.kind(kind)
        if ts:
            fig.add_trace(go.Scatter(
                x=[t.number for t in ts], y=[_y(t, data) for t in ts], mode="markers",
                name=f"{_kind_label(kind)} ({len(ts)})", marker=_markers(kind),
                text=[t.hover() for t in ts], hoverinfo="text"))
    xs, ys = _best_so_far(data)
    if xs:
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line_shape="hv",
                                 name="best so far", line={"color": COLORS["best"],
                                                           "width": 3}))
    fig.update_xaxes(title="trial number")
    fig.update_yaxes(title=data.metric)
    return _layout(fig, f"{data.metric} of every trial ({data.direction})")


def _plotly_curves(data: ReportData) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    best = data.best
    shown: set[str] = set()
    for t in data.trials:
        if not t.curve:
            continue
        epochs, values = zip(*t.curve)
        is_best = best is not None and t.number == best.number
        dash = {"complete": "solid", "pruned": "dash", "diverged": "dot"}[t.kind]
        color = COLORS["best"] if is_best else COLORS[t.kind]
        label = "best trial" if is_best else _kind_label(t.kind).split(" (")[0]
        fig.add_trace(go.Scatter(
            x=epochs, y=values, mode="lines+markers" if t.kind != "complete" else "lines",
            line={"color": color, "dash": dash, "width": 3 if is_best else 1.3},
            opacity=1.0 if is_best else 0.6, legendgroup=label, name=label,
            showlegend=label not in shown, text=t.hover(), hoverinfo="text",
            # Only the last point of a cut-short curve gets a marker: where it stopped.
            marker={"size": [0] * (len(epochs) - 1) + [9], "symbol": "x"}))
        shown.add(label)
    fig.update_xaxes(title="epoch")
    fig.update_yaxes(title=data.metric)
    return _layout(fig, "Learning curves: pruned (dashed) and diverged (dotted) trials stop "
                        "early, marked x")


def _plotly_params(data: ReportData) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = list(data.distributions)
    titles = [param_label(n, axis=True) + (" (log axis)" if _is_log(data.distributions[n])
                                            else "") for n in names]
    fig = make_subplots(rows=1, cols=max(1, len(names)), shared_yaxes=True,
                        subplot_titles=titles or ["no parameters"])
    for col, name in enumerate(names, start=1):
        dist = data.distributions[name]
        for kind in ("complete", "pruned", "diverged"):
            ts = [t for t in data.kind(kind) if name in t.params]
            if not ts:
                continue
            fig.add_trace(go.Scatter(
                x=[t.params[name] for t in ts], y=[_y(t, data) for t in ts], mode="markers",
                marker=_markers(kind), name=_kind_label(kind), legendgroup=kind,
                showlegend=col == 1, text=[t.hover() for t in ts], hoverinfo="text"),
                row=1, col=col)
        axis: dict[str, Any] = {"title": param_label(name, axis=True)}
        if _is_log(dist):
            vals, text = _decade_ticks(dist, name.startswith(COMPLEMENT_PREFIX))
            axis.update(type="log", tickvals=vals, ticktext=text,
                        range=[math.log10(dist.low) - 0.1, math.log10(dist.high) + 0.1])
        elif isinstance(dist, CategoricalDistribution):
            axis.update(type="category")
        fig.update_xaxes(row=1, col=col, **axis)
    fig.update_yaxes(title=data.metric, row=1, col=1)
    return _layout(fig, f"{data.metric} against each parameter, on the scale it was "
                        "sampled on", height=480, top=110, legend_y=1.1)


def _plotly_importance(data: ReportData) -> Any:
    import plotly.graph_objects as go

    imp = data.importance
    rows = imp.rows()[::-1]  # plotly draws the first bar at the bottom
    fig = go.Figure(go.Bar(x=[v for _, _, v in rows], y=[label for _, label, _ in rows],
                           orientation="h", marker_color=COLORS["complete"],
                           text=[f"{v:.2f}" for _, _, v in rows], textposition="auto"))
    fig.update_xaxes(title="importance (sums to 1)", range=[0, 1])
    title = f"{imp.evaluator}, from {imp.n_trials} complete trials"
    return _layout(fig, title, height=max(260, 120 + 50 * len(rows)))


def _parallel_dims(data: ReportData) -> tuple[list[TrialPoint], list[dict[str, Any]]]:
    """Axes of the parallel-coordinate plot: each parameter (log10 of log ones), then the
    value; COMPLETE trials only (a pruned trial has no final value)."""
    ts = [t for t in data.kind("complete") if t.value is not None]
    dims = []
    for name, dist in data.distributions.items():
        if not all(name in t.params for t in ts):
            continue
        raw = [t.params[name] for t in ts]
        label = param_label(name, axis=True)
        if isinstance(dist, CategoricalDistribution):
            choices = [str(c) for c in dist.choices]
            dims.append({"label": label, "values": [choices.index(str(v)) for v in raw],
                         "tickvals": list(range(len(choices))), "ticktext": choices})
        elif _is_log(dist):
            vals, _ = _decade_ticks(dist, False)
            dims.append({"label": f"{label} (log)", "values": [math.log10(v) for v in raw],
                         "tickvals": [math.log10(v) for v in vals],
                         "ticktext": [f"{v:g}" for v in vals],
                         "range": [math.log10(dist.low), math.log10(dist.high)]})
        else:
            dims.append({"label": label, "values": raw, "range": [dist.low, dist.high]})
    dims.append({"label": data.metric, "values": [t.value for t in ts]})
    return ts, dims


def _plotly_parallel(data: ReportData) -> Any:
    import plotly.graph_objects as go

    ts, dims = _parallel_dims(data)
    values = [t.value for t in ts]
    fig = go.Figure(go.Parcoords(
        dimensions=dims,
        line={"color": values, "colorscale": "Viridis", "reversescale": not data.maximize,
              "showscale": True, "colorbar": {"title": {"text": data.metric}}}))
    return _layout(fig, f"Parallel coordinates of {len(ts)} complete trials (drag an axis "
                        "to filter)", height=520, top=120)


def _plotly_versions(data: ReportData) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    names = [v.name for v in data.versions]
    fig.add_trace(go.Bar(
        x=names, y=[v.best for v in data.versions], name="best value", width=0.4,
        marker_color=[COLORS["best"] if v.current else "#9ecae1" for v in data.versions],
        opacity=0.55,
        text=[f"{v.best:.4g}" if v.best is not None else "no complete trial"
              for v in data.versions], textposition="outside",
        hovertext=[v.reason or "" for v in data.versions]))
    fig.add_trace(go.Box(
        x=[v.name for v in data.versions for _ in v.values],
        y=[x for v in data.versions for x in v.values], name="every complete trial",
        boxpoints="all", jitter=0.4, pointpos=0, fillcolor="rgba(0,0,0,0)",
        line={"color": "rgba(0,0,0,0)"}, marker={"color": "#08306b", "size": 5,
                                                 "opacity": 0.7}))
    lows = [x for v in data.versions for x in v.values]
    if lows:
        lo, hi = min(lows), max(lows)
        pad = 0.1 * (hi - lo or abs(hi) or 1.0)
        fig.update_yaxes(range=[lo - pad, hi + 2 * pad])
    fig.update_yaxes(title=f"{data.metric}")
    fig.update_xaxes(title="version (oldest first)")
    return _layout(fig, f"Best {data.metric} per version", height=420)


_PLOTLY: dict[str, Callable[[ReportData], Any]] = {
    "history": _plotly_history, "learning-curves": _plotly_curves, "params": _plotly_params,
    "importance": _plotly_importance, "parallel": _plotly_parallel,
    "versions": _plotly_versions,
}


def figure_ids(data: ReportData) -> list[str]:
    """The sections that get a figure (the same for both renderers): none for a study with
    no finished trial, no versions figure for a chain of one."""
    if data.empty:
        return []
    ids = ["history", "learning-curves", "params"]
    if data.importance.values:
        ids.append("importance")
    if data.kind("complete"):
        ids.append("parallel")
    if len(data.versions) > 1:
        ids.append("versions")
    return ids


def plotly_figures(data: ReportData) -> dict[str, Any]:
    """The report's plotly figures by section id."""
    return {sid: _PLOTLY[sid](data) for sid in figure_ids(data)}


# --- matplotlib (PNG) ---------------------------------------------------------------------

def _mpl_marker(kind: str) -> dict[str, Any]:
    return {"complete": {"marker": "o", "color": COLORS["complete"], "s": 28},
            "pruned": {"marker": "o", "facecolors": "none", "edgecolors": COLORS["pruned"],
                       "s": 36, "linewidths": 1.5},
            "diverged": {"marker": "x", "color": COLORS["diverged"], "s": 40}}[kind]


def _mpl_history(data: ReportData, fig: Any) -> None:
    ax = fig.subplots()
    for kind in ("complete", "pruned", "diverged"):
        ts = data.kind(kind)
        if ts:
            ax.scatter([t.number for t in ts], [_y(t, data) for t in ts],
                       label=f"{_kind_label(kind)} ({len(ts)})", **_mpl_marker(kind))
    xs, ys = _best_so_far(data)
    if xs:
        ax.step(xs + [data.trials[-1].number], ys + [ys[-1]], where="post",
                color=COLORS["best"], linewidth=2.5, label="best so far")
    ax.set(xlabel="trial number", ylabel=data.metric,
           title=f"{data.study}: {data.metric} of every trial ({data.direction})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _mpl_curves(data: ReportData, fig: Any) -> None:
    ax = fig.subplots()
    best = data.best
    shown: set[str] = set()
    for t in data.trials:
        if not t.curve:
            continue
        epochs, values = zip(*t.curve)
        is_best = best is not None and t.number == best.number
        label = "best trial" if is_best else _kind_label(t.kind).split(" (")[0]
        style = {"complete": "-", "pruned": "--", "diverged": ":"}[t.kind]
        color = COLORS["best"] if is_best else COLORS[t.kind]
        ax.plot(epochs, values, style, color=color, linewidth=2.5 if is_best else 1.0,
                alpha=1.0 if is_best else 0.6, label=None if label in shown else label,
                zorder=3 if is_best else 2)
        if t.kind != "complete":
            ax.plot(epochs[-1], values[-1], "x", color=color, markersize=7)
        shown.add(label)
    ax.set(xlabel="epoch", ylabel=data.metric,
           title="Learning curves: pruned (dashed) and diverged (dotted) stop early, at x")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _mpl_params(data: ReportData, fig: Any) -> None:
    names = list(data.distributions)
    axes = fig.subplots(1, max(1, len(names)), sharey=True, squeeze=False)[0]
    for ax, name in zip(axes, names):
        dist = data.distributions[name]
        categories = ([str(c) for c in dist.choices]
                      if isinstance(dist, CategoricalDistribution) else None)
        for kind in ("complete", "pruned", "diverged"):
            ts = [t for t in data.kind(kind) if name in t.params]
            if ts:
                xs = [categories.index(str(t.params[name])) if categories else t.params[name]
                      for t in ts]
                ax.scatter(xs, [_y(t, data) for t in ts], label=_kind_label(kind),
                           **_mpl_marker(kind))
        if _is_log(dist):
            ax.set_xscale("log")
            vals, text = _decade_ticks(dist, name.startswith(COMPLEMENT_PREFIX))
            ax.set_xticks(vals, [s.replace(" (", "\n(") for s in text], fontsize=8)
            ax.set_xlim(dist.low / 1.3, dist.high * 1.3)
        elif categories:
            ax.set_xticks(range(len(categories)), categories)
        ax.set_xlabel(param_label(name, axis=True) + (" (log axis)" if _is_log(dist) else ""))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(data.metric)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{data.metric} against each parameter, on the scale it was sampled on")


def _mpl_importance(data: ReportData, fig: Any) -> None:
    ax = fig.subplots()
    rows = data.importance.rows()[::-1]
    bars = ax.barh([label for _, label, _ in rows], [v for _, _, v in rows],
                   color=COLORS["complete"])
    ax.bar_label(bars, fmt="%.2f", padding=3)
    ax.set_xlim(0, 1.08)
    ax.set(xlabel="importance (sums to 1)",
           title=f"{data.importance.evaluator}\nfrom {data.importance.n_trials} complete "
                 "trials")
    ax.grid(axis="x", alpha=0.3)


def _mpl_parallel(data: ReportData, fig: Any) -> None:
    from matplotlib import cm, colormaps, colors

    ts, dims = _parallel_dims(data)
    ax = fig.subplots()
    values = [t.value for t in ts]
    norm = colors.Normalize(min(values), max(values) if max(values) > min(values)
                            else min(values) + 1e-12)
    cmap = colormaps["viridis"]
    if not data.maximize:
        cmap = cmap.reversed()

    def scaled(dim: dict[str, Any]) -> tuple[list[float], float, float]:
        lo, hi = dim.get("range", (min(dim["values"]), max(dim["values"])))
        if "tickvals" in dim and "range" not in dim:
            lo, hi = min(dim["tickvals"]), max(dim["tickvals"])
        span = (hi - lo) or 1.0
        return [(v - lo) / span for v in dim["values"]], lo, hi

    columns = [scaled(d) for d in dims]
    order = sorted(range(len(ts)), key=lambda i: values[i] if data.maximize else -values[i])
    for i in order:  # best drawn last, on top
        ax.plot(range(len(dims)), [c[0][i] for c in columns], color=cmap(norm(values[i])),
                alpha=0.8, linewidth=1.2)
    for x, (dim, (_, lo, hi)) in enumerate(zip(dims, columns)):
        ax.axvline(x, color="#444", linewidth=1)
        if "tickvals" in dim:
            for tv, tt in zip(dim["tickvals"], dim["ticktext"]):
                if lo - 1e-9 <= tv <= hi + 1e-9:
                    ax.text(x + 0.02, (tv - lo) / ((hi - lo) or 1), tt, fontsize=7,
                            va="center")
        else:
            for frac in (0.0, 1.0):
                ax.text(x + 0.02, frac, f"{lo + frac * (hi - lo):.3g}", fontsize=7,
                        va="center")
    ax.set_xticks(range(len(dims)), [d["label"] for d in dims])
    ax.set_yticks([])
    ax.set_xlim(-0.1, len(dims) - 0.6)
    ax.set_title(f"Parallel coordinates of {len(ts)} complete trials (colour: "
                 f"{data.metric})")
    fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=data.metric)


def _mpl_versions(data: ReportData, fig: Any) -> None:
    ax = fig.subplots()
    xs = range(len(data.versions))
    bests = [v.best if v.best is not None else float("nan") for v in data.versions]
    bars = ax.bar(xs, bests, color=[COLORS["best"] if v.current else "#9ecae1"
                                    for v in data.versions], width=0.4, alpha=0.55,
                  label="best value")
    ax.bar_label(bars, labels=[f"{b:.4g}" if v.best is not None else "none"
                               for b, v in zip(bests, data.versions)], padding=3)
    for x, v in zip(xs, data.versions):
        if v.values:
            jitter = [x + 0.2 * ((i * 0.618) % 1 - 0.5) for i in range(len(v.values))]
            ax.scatter(jitter, v.values, s=10, color="#08306b", alpha=0.7,
                       label="every complete trial" if x == 0 else None, zorder=3)
    values = [x for v in data.versions for x in v.values]
    if values:
        lo, hi = min(values), max(values)
        pad = 0.1 * (hi - lo or abs(hi) or 1.0)
        ax.set_ylim(lo - pad, hi + 2 * pad)
    ax.set_xticks(list(xs), [v.name for v in data.versions])
    ax.set(ylabel=data.metric, title=f"Best {data.metric} per version (oldest first)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)


_MPL: dict[str, tuple[Callable[[ReportData, Any], None], tuple[float, float]]] = {
    "history": (_mpl_history, (10, 5)),
    "learning-curves": (_mpl_curves, (10, 5)),
    "params": (_mpl_params, (11, 4.8)),
    "importance": (_mpl_importance, (8, 3.5)),
    "parallel": (_mpl_parallel, (10, 5)),
    "versions": (_mpl_versions, (8, 4.5)),
}


def write_pngs(data: ReportData, folder: Path, *, sections: Sequence[str] | None = None
               ) -> list[Path]:
    """Write the report's figures as PNG files in ``folder``; returns their paths.

    Uses matplotlib's object API (no pyplot): no global backend is switched, and nothing
    needs a display or a browser.
    """
    from matplotlib.figure import Figure

    wanted = sections if sections is not None else figure_ids(data)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ReportError(f"cannot create {folder}: {e.strerror}") from None
    paths = []
    for section in wanted:
        draw, size = _MPL[section]
        fig = Figure(figsize=size, dpi=100, layout="constrained")
        draw(data, fig)
        path = folder / FIGURES[section][1]
        fig.savefig(path)
        paths.append(path)
    return paths


# --- HTML ---------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1200px; padding: 0 24px 48px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px;
     margin-top: 2em; }
nav a { margin-right: 1em; } .muted { color: #666; } .note { background: #fff8e1;
     border-left: 4px solid #f0b400; padding: 8px 12px; }
table { border-collapse: collapse; margin: 8px 0; } td, th { text-align: left;
     padding: 3px 12px 3px 0; vertical-align: top; } th { color: #555; font-weight: 600; }
code { background: #f4f4f4; padding: 1px 4px; border-radius: 3px; }
.components { font-size: 0.85em; color: #555; }
.current { font-weight: 600; }
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _components(d: Any) -> str:
    if not isinstance(d, Mapping):
        return ""
    return "; ".join(f"{_e(k)}: {_e(json.dumps(v) if not isinstance(v, str) else v)}"
                     for k, v in d.items())


def _header(data: ReportData) -> str:
    a = data.attrs
    c = data.counts
    parts = [f"<h1>{_e(data.study)}</h1>",
             f"<p class='muted'>tuner report, generated {_e(data.generated)} by tuner "
             f"{_e(__version__)} with Optuna {_e(optuna.__version__)}"
             + (f" from <code>{_e(data.storage)}</code>" if data.storage else "") + "</p>"]
    rows = [("direction", f"{_e(data.direction)} {_e(data.metric)}"),
            ("trials", ", ".join(f"{n} {_e(k)}" for k, n in c.items() if n or k in
                                 ("complete", "pruned", "diverged")))]
    best = data.best
    if best is not None:
        from tuner.space import to_course

        params = ", ".join(f"{_e(k)} = {v:.4g}" if isinstance(v, float) else f"{_e(k)} = {_e(v)}"
                           for k, v in to_course(best.params).items())
        rows.append(("best", f"trial {best.number}: {_e(data.metric)} = {best.value:.4f}; "
                             f"{params}"))
    versions = " &rarr; ".join(
        f"<span class='{'current' if v.current else ''}'>{_e(v.name)}</span>"
        for v in data.versions)
    rows.append(("version chain", versions + " <span class='muted'>(this report: "
                 f"{_e(data.study)})</span>"))
    rows.append(("reason for this version", _e(a.get(ATTR["reason"], "not recorded"))))
    comps = a.get(COMPONENTS_ATTR) or {}
    for part, attr in (("data", ATTR["data"]), ("hardware", ATTR["hardware"]),
                       ("definition", ATTR["definition"])):
        value = a.get(attr)
        text = f"<code>{_e(str(value)[:12])}</code>" if value else "not recorded"
        if isinstance(comps, Mapping) and part in comps:
            text += f"<div class='components'>{_components(comps[part])}</div>"
        rows.append((f"{part} fingerprint", text))
    if isinstance(comps, Mapping) and comps.get("software"):
        rows.append(("software (recorded)",
                     f"<div class='components'>{_components(comps['software'])}</div>"))
    parts.append("<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
                 + "</table>")
    if data.empty:
        parts.append("<p class='note' id='empty-study'>This study has no finished trial yet: "
                     "nothing to plot. Run <code>tuner study run FILE</code> (or start "
                     "<code>tuner worker FILE</code>) and make the report again.</p>")
    return "\n".join(parts)


def _importance_table(imp: Importance) -> str:
    if not imp.values:
        return ""
    rows = "".join(f"<tr><td>{_e(label)}</td><td>{value:.3f}</td></tr>"
                   for _, label, value in imp.rows())
    return f"<table><tr><th>parameter</th><th>importance</th></tr>{rows}</table>"


def _versions_table(data: ReportData) -> str:
    rows = []
    for v in data.versions:
        best = f"{v.best:.4f}" if v.best is not None else "no complete trial"
        counts = ", ".join(f"{n} {k}" for k, n in v.counts.items() if n)
        rows.append(f"<tr class='{'current' if v.current else ''}'><td>{_e(v.name)}</td>"
                    f"<td>{best}</td><td>{_e(counts or 'no trial')}</td>"
                    f"<td>{_e(v.reason or '')}</td></tr>")
    return ("<table><tr><th>version</th><th>best</th><th>trials</th><th>reason</th></tr>"
            + "".join(rows) + "</table>")


_EXPLAIN = {
    "history": "Each dot is a trial; the green line is the best value so far. Pruned trials "
               "(hollow, orange) and diverged ones (red x) have no final value: they are "
               "drawn at their last reported value, or at the worst value on the plot.",
    "learning-curves": "The validation metric reported after every epoch, one line per "
                       "trial. The pruner stops hopeless trials early; their curves end at "
                       "an x.",
    "params": "alpha is sampled log-uniformly and so is 1 - beta (Optuna's parameter "
              "one_minus_beta), so both axes are logarithmic: beta = 0.99 .. 0.999 gets as "
              "much room as 0.9 .. 0.99.",
    "importance": "How much of the variation of the objective each parameter explains, "
                  "from the complete trials.",
    "parallel": "One line per complete trial through its parameters (log axes as log10) "
                "and its value.",
    "versions": "Each version of the chain is a separate Optuna study, tuned after the data, "
                "the hardware or the definition changed. Bars: best value; dots: every "
                "complete trial.",
}


def render_html(data: ReportData, figures: Mapping[str, Any] | None = None) -> str:
    """The report as one HTML document: plotly.js inlined once, no external resource."""
    from plotly.offline import get_plotlyjs

    figures = plotly_figures(data) if figures is None else figures
    config = {"displaylogo": False, "responsive": True,
              "toImageButtonOptions": {"format": "png", "scale": 2}}
    nav = " ".join(f"<a href='#{sid}'>{_e(title)}</a>" for sid, (title, _) in FIGURES.items())
    body = [f"<nav>{nav}</nav>", f"<section id='summary'>{_header(data)}</section>"]
    for sid, (title, _) in FIGURES.items():
        inner = [f"<h2>{_e(title)}</h2>", f"<p class='muted'>{_e(_EXPLAIN[sid])}</p>"]
        if sid == "importance":
            imp = data.importance
            inner.append(f"<p>Evaluator: <b>{_e(imp.evaluator)}</b>"
                         f" (<code>--evaluator {_e(imp.key)}</code>); "
                         f"{imp.n_trials} complete trials.</p>")
            if imp.note:
                inner.append(f"<p class='note'>{_e(imp.note)}</p>")
            inner.append(_importance_table(imp))
        if sid == "versions":
            inner.append(_versions_table(data))
            if len(data.versions) < 2:
                inner.append("<p class='note'>Only one version so far: a new one is made by "
                             "<code>tuner retune</code> when the data, the hardware or the "
                             "definition changes.</p>")
        if sid in figures:
            inner.append(figures[sid].to_html(full_html=False, include_plotlyjs=False,
                                              div_id=f"fig-{sid}", config=config))
        elif sid != "versions" and not (sid == "importance" and data.importance.note):
            inner.append("<p class='note'>Nothing to plot yet: no "
                         + ("finished" if sid in ("history", "learning-curves", "params")
                            else "complete") + " trial.</p>")
        body.append(f"<section id='{sid}'>" + "\n".join(inner) + "</section>")
    return ("<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
            f"<title>{_e(data.study)}: tuner report</title>\n<style>{_CSS}</style>\n"
            # plotly.js itself, inline: the file must open with no network.
            f"<script type='text/javascript'>{get_plotlyjs()}</script>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


@dataclass(frozen=True)
class ReportResult:
    html: Path
    pngs: tuple[Path, ...]
    data: ReportData
    figures: tuple[str, ...]          # section ids that got a figure


def build_report(storage: BaseStorage, study: optuna.Study, html_path: Path, *,
                 png_dir: Path | None = None, evaluator: str = "ped-anova",
                 storage_url: str = "") -> ReportResult:
    """Write the HTML report of ``study`` to ``html_path`` (and its figures as PNG files
    in ``png_dir``). The file is written whole to a temporary name, then renamed."""
    data = collect(storage, study, evaluator=evaluator, storage_url=storage_url)
    figures = plotly_figures(data)
    text = render_html(data, figures)
    html_path = Path(html_path)
    tmp = html_path.with_name(f".{html_path.name}.tmp")
    try:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(html_path)
    except OSError as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # the folder itself is what failed
            pass
        raise ReportError(f"cannot write {html_path}: {e.strerror}") from None
    pngs = write_pngs(data, Path(png_dir)) if png_dir is not None else []
    return ReportResult(html_path, tuple(pngs), data, tuple(figures))

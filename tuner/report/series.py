"""What each figure shows, computed once as plain data; the back ends only draw it.

Every figure of the report is one entry of `FIGURES` and one function here that turns a
`ReportData` into one of three shapes:

- `Plot`: panels of points and curves on x/y axes (history, learning curves, the score
  against each parameter);
- `Bars`: bars with a text on each, and optionally the values behind each bar as dots
  (importance, versions);
- `Parallel`: parallel coordinates, one line per trial coloured by its value.

`plotly_figures.py` (HTML) and `matplotlib_figures.py` (PNG) each draw these three shapes,
so both show the same selection, labels, colours, marker kinds and ticks. To add a figure:
write its function here, add its row to `FIGURES`, and both back ends draw it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from optuna.distributions import BaseDistribution, CategoricalDistribution

from tuner.history import PROMOTION
from tuner.report.collect import ReportData, TrialPoint
from tuner.report.vocabulary import (
    KINDS,
    course_name,
    is_complement,
    kind_label,
    param_label,
    param_order,
)

__all__ = ["COLORS", "FIGURES", "MARKERS", "Axis", "Bars", "Curve", "Figure", "Panel",
           "Parallel", "ParallelAxis", "Plot", "Points", "Section", "figure_ids",
           "figure_series", "hover"]

COLORS = {"complete": "#1f77b4", "pruned": "#ff7f0e", "diverged": "#d62728",
          "best": "#2ca02c", "other-version": "#9ecae1", "dots": "#08306b"}
# kind of trial -> marker shape: "dot" (filled), "ring" (hollow), "cross".
MARKERS = {"complete": "dot", "pruned": "ring", "diverged": "cross"}
DASHES = {"complete": "solid", "pruned": "dash", "diverged": "dot"}


# --- the three shapes of figure -----------------------------------------------------------

@dataclass(frozen=True)
class Axis:
    title: str
    log: bool = False
    range: tuple[float, float] | None = None      # in data units; None: fit the data
    ticks: tuple[tuple[float, ...], tuple[str, ...]] | None = None  # (values, texts)


@dataclass(frozen=True)
class Points:
    """Trials of one kind, as markers."""

    kind: str                          # "complete" | "pruned" | "diverged"
    label: str                         # legend entry (once per figure)
    x: tuple[float, ...]
    y: tuple[float, ...]
    hover: tuple[str, ...]

    @property
    def shape(self) -> str:
        return MARKERS[self.kind]

    @property
    def color(self) -> str:
        return COLORS[self.kind]


@dataclass(frozen=True)
class Curve:
    label: str                         # legend entry (once per figure)
    x: tuple[float, ...]
    y: tuple[float, ...]
    color: str
    dash: str = "solid"                # "solid" | "dash" | "dot"
    bold: bool = False                 # the one to look at: thick, opaque, on top
    end_mark: bool = False             # a cross where the curve stopped early
    step: bool = False                 # the value holds until the next x
    hover: str = ""


@dataclass(frozen=True)
class Panel:
    x: Axis
    y: Axis
    points: tuple[Points, ...] = ()
    curves: tuple[Curve, ...] = ()
    title: str = ""


@dataclass(frozen=True)
class Plot:
    title: str
    panels: tuple[Panel, ...]          # side by side, sharing the y axis


@dataclass(frozen=True)
class Bars:
    title: str
    labels: tuple[str, ...]            # one per bar; the first at the axis origin
    values: tuple[float | None, ...]   # None: no bar
    text: tuple[str, ...]              # written at the end of each bar
    colors: tuple[str, ...]
    value_axis: Axis
    category_axis: Axis
    horizontal: bool = False
    width: float = 0.8
    opacity: float = 1.0
    label: str = ""                    # legend entry of the bars (with a spread only)
    hover: tuple[str, ...] = ()
    spread: tuple[tuple[float, ...], ...] = ()   # every value behind each bar, as dots
    spread_label: str = ""


@dataclass(frozen=True)
class ParallelAxis:
    label: str
    values: tuple[float, ...]          # one per line
    range: tuple[float, float]
    ticks: tuple[tuple[float, ...], tuple[str, ...]] | None = None  # None: the two ends


@dataclass(frozen=True)
class Parallel:
    title: str
    axes: tuple[ParallelAxis, ...]
    color: tuple[float, ...]           # one per line
    color_title: str
    best_high: bool                    # the best line gets the bright end of the scale
    colorscale: str = "viridis"


Figure = Plot | Bars | Parallel


# --- shared pieces ------------------------------------------------------------------------

def hover(t: TrialPoint) -> str:
    """What pointing at a trial tells: its kind, value and parameters in course notation
    (lines joined by ``<br>``, as plotly's hover text takes them; only the HTML shows it)."""
    parts = [f"trial {t.number} ({t.kind})"]
    if t.value is not None:
        parts.append(f"value {t.value:.4g}" + ("" if t.kind == "complete"
                                               else " (last reported)"))
    if t.diverged_epoch is not None:
        parts.append(f"diverged at epoch {t.diverged_epoch}")
    for k in param_order(list(t.params)):
        v = t.params[k]
        if is_complement(k) and isinstance(v, float):
            parts.append(f"{course_name(k)}={1 - v:.4g}")
        else:
            parts.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
    return "<br>".join(parts)


def _worst_edge(data: ReportData) -> float:
    """Where a trial with no value at all is drawn: at the worst value on the plot."""
    values = [t.value for t in data.trials if t.value is not None]
    values += [v for t in data.trials for _, v in t.curve]
    if not values:
        return 0.0
    return min(values) if data.maximize else max(values)


def _y(t: TrialPoint, edge: float) -> float:
    return t.value if t.value is not None else edge


def _is_log(dist: BaseDistribution) -> bool:
    return bool(getattr(dist, "log", False))


def _decades(dist: BaseDistribution) -> list[float]:
    """The powers of ten that bound and fill a log axis."""
    lo, hi = math.floor(math.log10(dist.low)), math.ceil(math.log10(dist.high))
    return [10.0 ** k for k in range(lo, hi + 1)]


def _points(data: ReportData, x: Callable[[TrialPoint], float | None], *,
            counted: bool = False) -> tuple[Points, ...]:
    """One group of markers per kind of finished trial, at (x(t), value); trials with no
    x (a parameter they were not given) are left out."""
    edge = _worst_edge(data)
    groups = []
    for kind in KINDS:
        ts = [t for t in data.kind(kind) if x(t) is not None]
        if ts:
            label = kind_label(kind) + (f" ({len(ts)})" if counted else "")
            groups.append(Points(kind, label, tuple(x(t) for t in ts),
                                 tuple(_y(t, edge) for t in ts), tuple(hover(t) for t in ts)))
    return tuple(groups)


# --- the figures --------------------------------------------------------------------------

def history(data: ReportData) -> Plot:
    curves = []
    xs, ys, best = [], [], None
    for t in data.kind("complete"):
        if t.value is None:
            continue
        if best is None or (t.value > best if data.maximize else t.value < best):
            best = t.value
        xs.append(t.number)
        ys.append(best)
    if xs:  # held until the last finished trial, so the line spans the plot
        last = data.trials[-1].number
        if last > xs[-1]:
            xs, ys = xs + [last], ys + [ys[-1]]
        curves.append(Curve("best so far", tuple(xs), tuple(ys), COLORS["best"], bold=True,
                            step=True))
    panel = Panel(Axis("trial number"), Axis(data.metric),
                  points=_points(data, lambda t: t.number, counted=True),
                  curves=tuple(curves))
    return Plot(f"{data.metric} of every trial ({data.direction})", (panel,))


def learning_curves(data: ReportData) -> Plot:
    best = data.best
    curves = []
    for t in data.trials:
        if not t.curve:
            continue
        epochs, values = zip(*t.curve, strict=True)
        is_best = best is not None and t.number == best.number
        curves.append(Curve(
            "best trial" if is_best else t.kind, epochs, values,
            COLORS["best"] if is_best else COLORS[t.kind], dash=DASHES[t.kind],
            bold=is_best, end_mark=t.kind != "complete", hover=hover(t)))
    panel = Panel(Axis("epoch"), Axis(data.metric), curves=tuple(curves))
    return Plot("Learning curves: pruned (dashed) and diverged (dotted) trials stop early, "
                "marked x", (panel,))


def _param_axis(name: str, dist: BaseDistribution) -> Axis:
    label = param_label(name, axis=True)
    if _is_log(dist):
        # Decades, labelled with beta itself on a 1 - beta axis; a little room each side.
        vals = _decades(dist)
        course = course_name(name)
        text = [f"{v:g}" + (f" ({course} {1 - v:g})" if is_complement(name) and v < 1
                            else "") for v in vals]
        return Axis(label, log=True, range=(dist.low / 10 ** 0.1, dist.high * 10 ** 0.1),
                    ticks=(tuple(vals), tuple(text)))
    if isinstance(dist, CategoricalDistribution):
        choices = tuple(str(c) for c in dist.choices)
        return Axis(label, range=(-0.5, len(choices) - 0.5),
                    ticks=(tuple(float(i) for i in range(len(choices))), choices))
    return Axis(label)


def _param_x(name: str, dist: BaseDistribution) -> Callable[[TrialPoint], float | None]:
    """Where a trial sits on the parameter's axis: its value, or the index of its choice."""
    choices = ([str(c) for c in dist.choices]
               if isinstance(dist, CategoricalDistribution) else None)

    def x(t: TrialPoint) -> float | None:
        if name not in t.params:
            return None
        return choices.index(str(t.params[name])) if choices else t.params[name]
    return x


def score_vs_params(data: ReportData) -> Plot:
    panels = []
    for name, dist in data.distributions.items():
        axis = _param_axis(name, dist)
        panels.append(Panel(axis, Axis(data.metric), points=_points(data, _param_x(name, dist)),
                            title=axis.title + (" (log axis)" if axis.log else "")))
    if not panels:  # a study whose trials took no parameter
        panels.append(Panel(Axis(""), Axis(data.metric), title="no parameters"))
    return Plot(f"{data.metric} against each parameter, on the scale it was sampled on",
                tuple(panels))


def importance(data: ReportData) -> Bars:
    imp = data.importance
    rows = imp.rows()[::-1]  # the most important bar at the top
    return Bars(
        f"{imp.evaluator}, from {imp.n_trials} complete trials",
        labels=tuple(label for _, label, _ in rows), values=tuple(v for _, _, v in rows),
        text=tuple(f"{v:.2f}" for _, _, v in rows), colors=(COLORS["complete"],) * len(rows),
        value_axis=Axis("importance (sums to 1)", range=(0.0, 1.08)),
        category_axis=Axis(""), horizontal=True)


def parallel(data: ReportData) -> Parallel:
    """Each parameter (log10 of the log ones), then the value; COMPLETE trials only (a
    pruned trial has no final value)."""
    ts = [t for t in data.kind("complete") if t.value is not None]
    axes = []
    for name, dist in data.distributions.items():
        if not all(name in t.params for t in ts):
            continue
        raw = [t.params[name] for t in ts]
        label = param_label(name, axis=True)
        if isinstance(dist, CategoricalDistribution):
            choices = [str(c) for c in dist.choices]
            axes.append(ParallelAxis(label, tuple(float(choices.index(str(v))) for v in raw),
                                     (0.0, float(len(choices) - 1)),
                                     (tuple(float(i) for i in range(len(choices))),
                                      tuple(choices))))
        elif _is_log(dist):
            vals = _decades(dist)
            axes.append(ParallelAxis(f"{label} (log)", tuple(math.log10(v) for v in raw),
                                     (math.log10(dist.low), math.log10(dist.high)),
                                     (tuple(math.log10(v) for v in vals),
                                      tuple(f"{v:g}" for v in vals))))
        else:
            axes.append(ParallelAxis(label, tuple(raw), (dist.low, dist.high)))
    values = tuple(float(t.value) for t in ts)
    axes.append(ParallelAxis(data.metric, values, (min(values), max(values))))
    return Parallel(f"Parallel coordinates of {len(ts)} complete trials", tuple(axes),
                    values, data.metric, best_high=data.maximize)


def versions(data: ReportData) -> Bars:
    vs = data.versions
    every = [x for v in vs for x in v.values]
    span = None
    if every:  # room above the highest dot for the bar texts
        lo, hi = min(every), max(every)
        pad = 0.1 * (hi - lo or abs(hi) or 1.0)
        span = (lo - pad, hi + 2 * pad)
    return Bars(
        f"Best {data.metric} per version",
        labels=tuple(v.name for v in vs), values=tuple(v.best for v in vs),
        text=tuple(f"{v.best:.4g}" if v.best is not None else "no complete trial"
                   for v in vs),
        colors=tuple(COLORS["best"] if v.current else COLORS["other-version"] for v in vs),
        value_axis=Axis(data.metric, range=span),
        category_axis=Axis("version (oldest first)"), width=0.4, opacity=0.55,
        label="best value", hover=tuple(v.reason or "" for v in vs),
        spread=tuple(v.values for v in vs), spread_label="every complete trial")


def _score(row: dict, key: str) -> float | None:
    v = row.get(key)
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None


def _champion_after(row: dict) -> float | None:
    """The champion's score once ``row`` was decided: the new champion's on a promotion
    or a roll-back (its record; the row's ``champion_score`` is then the score of the
    champion it replaced), else the one re-scored."""
    promoted = row.get(PROMOTION)
    return _score(promoted, "score") if isinstance(promoted, dict) else \
        _score(row, "champion_score")


def decisions(data: ReportData) -> Plot:
    """The champion's score at each decision about it (`tuner history`), challengers
    beside it; the marker kinds only lend their shapes (dot, ring, cross)."""
    rows = list(data.decisions)
    xs = tuple(float(i) for i in range(1, len(rows) + 1))
    groups = []
    for kind, label, value, keep in (
            ("complete", "promoted", _champion_after, lambda r: PROMOTION in r),
            ("pruned", "champion re-scored", _champion_after, lambda r: PROMOTION not in r),
            ("diverged", "challenger", lambda r: _score(r, "challenger_score"),
             lambda r: True)):
        picked = [(x, value(r), r) for x, r in zip(xs, rows, strict=True)
                  if keep(r) and value(r) is not None]
        if picked:
            groups.append(Points(kind, label, tuple(p[0] for p in picked),
                                 tuple(p[1] for p in picked),
                                 tuple(f"{r.get('time', '')[:16]} {r.get('decision')}<br>"
                                       f"{r.get('version') or ''} {r.get('reason') or ''}"
                                       for _, _, r in picked)))
    line = [(x, _champion_after(r)) for x, r in zip(xs, rows, strict=True)
            if _champion_after(r) is not None]
    curves = (Curve("champion", tuple(x for x, _ in line), tuple(y for _, y in line),
                    COLORS["best"], bold=True, step=True),) if line else ()
    ticks = (xs, tuple(str(r.get("time", ""))[5:16].replace("T", " ") for r in rows)) \
        if len(rows) <= 12 else None
    panel = Panel(Axis("decision (oldest first; UTC)", ticks=ticks),
                  Axis(f"test {data.metric.removeprefix('val_')}"), points=tuple(groups),
                  curves=curves)
    return Plot("The champion at each decision, and the challengers", (panel,))


# --- the sections of the report, in order -------------------------------------------------

@dataclass(frozen=True)
class Section:
    title: str
    png: str                                  # file name under --png
    explain: str                              # the paragraph under the title
    build: Callable[[ReportData], Figure]
    drawn: Callable[[ReportData], bool]       # whether this study gets the figure
    missing: str | None = None                # what the HTML says when it does not


_NO_FINISHED = "Nothing to plot yet: no finished trial."
_NO_COMPLETE = "Nothing to plot yet: no complete trial."

FIGURES: dict[str, Section] = {
    "history": Section(
        "Optimization history", "history.png",
        "Each dot is a trial; the green line is the best value so far. Pruned trials "
        "(hollow, orange) and diverged ones (red x) have no final value: they are drawn at "
        "their last reported value, or at the worst value on the plot.",
        history, lambda d: not d.empty,
        _NO_FINISHED),
    "learning-curves": Section(
        "Learning curves", "learning_curves.png",
        "The validation metric reported after every epoch, one line per trial. The pruner "
        "stops hopeless trials early; their curves end at an x.",
        learning_curves, lambda d: not d.empty,
        _NO_FINISHED),
    "params": Section(
        "Score against alpha and beta", "score_vs_params.png",
        "alpha is sampled log-uniformly and so is 1 - beta (Optuna's parameter "
        "one_minus_beta), so both axes are logarithmic: beta = 0.99 .. 0.999 gets as much "
        "room as 0.9 .. 0.99.",
        score_vs_params, lambda d: not d.empty,
        _NO_FINISHED),
    "importance": Section(
        "Parameter importance", "importance.png",
        "How much of the variation of the objective each parameter explains, from the "
        "complete trials.",
        importance, lambda d: not d.empty and bool(d.importance.values),
        _NO_COMPLETE),
    "parallel": Section(
        "Parallel coordinates", "parallel_coordinates.png",
        "One line per complete trial through its parameters (log axes as log10) and its "
        "value.",
        parallel, lambda d: any(t.value is not None for t in d.kind("complete")),
        _NO_COMPLETE),
    "versions": Section(
        "Versions side by side", "versions.png",
        "Each version of the chain is a separate Optuna study, tuned after the data, the "
        "hardware or the definition changed. Bars: best value; dots: every complete trial.",
        versions, lambda d: not d.empty and len(d.versions) > 1),
    "decisions": Section(
        "Champion and decisions", "decisions.png",
        "The champion is the trained model in use (tuner promote); each decision about it "
        "is one row of tuner history FILE. Its score on the held-out test split, re-scored "
        "at each decision, and each challenger's.",
        decisions, lambda d: any(_score(r, k) is not None for r in d.decisions
                                 for k in ("champion_score", "challenger_score"))),
}


def figure_ids(data: ReportData) -> list[str]:
    """The sections that get a figure (the same for both back ends): none for a study
    with no finished trial, no versions figure for a chain of one."""
    return [sid for sid, section in FIGURES.items() if section.drawn(data)]


def figure_series(data: ReportData) -> dict[str, Figure]:
    """What each figure of this study shows, by section id."""
    return {sid: FIGURES[sid].build(data) for sid in figure_ids(data)}

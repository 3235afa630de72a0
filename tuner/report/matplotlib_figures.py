"""The static back end: draws the series of `series.py` with matplotlib and writes them
as PNG files (kaleido would need a Chrome). Nothing here chooses what is shown; only how
matplotlib shows it.

Uses matplotlib's object API (no pyplot): no global backend is switched, and nothing
needs a display. Every text is drawn with mathtext off: a study, parameter or metric name
is the user's, and ``$...$`` in it is text, not a formula.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tuner.report.collect import ReportData
from tuner.report.series import COLORS, FIGURES, Axis, Bars, Figure, Parallel, Plot, figure_ids
from tuner.report.vocabulary import ReportError

__all__ = ["draw_matplotlib", "write_pngs"]

# marker shape of series.py -> keyword arguments of Axes.scatter, given the colour
_MARKERS = {
    "dot": lambda c: {"marker": "o", "color": c, "s": 28},
    "ring": lambda c: {"marker": "o", "facecolors": "none", "edgecolors": c, "s": 36,
                       "linewidths": 1.5},
    "cross": lambda c: {"marker": "x", "color": c, "s": 40},
}
_DASHES = {"solid": "-", "dash": "--", "dot": ":"}
_NO_MATH = {"text.parse_math": False}


def _x_axis(ax: Any, axis: Axis) -> None:
    ax.set_xlabel(axis.title)
    if axis.log:
        ax.set_xscale("log")
    if axis.ticks is not None:  # "0.01 (beta 0.99)" on two lines
        ax.set_xticks(axis.ticks[0], [t.replace(" (", "\n(") for t in axis.ticks[1]],
                      fontsize=8)
    if axis.range is not None:
        ax.set_xlim(*axis.range)


def _legend(fig: Any, axes: Sequence[Any], **kwargs: Any) -> None:
    """One legend for the figure on its first axes, each label once."""
    entries: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    if entries:
        axes[0].legend(list(entries.values()), list(entries), fontsize=8, **kwargs)


def _plot(p: Plot, fig: Any) -> None:
    axes = fig.subplots(1, len(p.panels), sharey=True, squeeze=False)[0]
    for ax, panel in zip(axes, p.panels, strict=True):
        for pts in panel.points:
            ax.scatter(pts.x, pts.y, label=pts.label, **_MARKERS[pts.shape](pts.color))
        for c in panel.curves:
            style = {"color": c.color, "linewidth": 2.5 if c.bold else 1.0,
                     "alpha": 1.0 if c.bold else 0.6, "zorder": 3 if c.bold else 2,
                     "label": c.label}
            if c.step:
                ax.step(c.x, c.y, where="post", **style)
            else:
                ax.plot(c.x, c.y, _DASHES[c.dash], **style)
            if c.end_mark:
                ax.plot(c.x[-1], c.y[-1], "x", color=c.color, markersize=7)
        _x_axis(ax, panel.x)
        if panel.title:
            ax.set_title(panel.title, fontsize=10)
        ax.grid(alpha=0.3)
    y = p.panels[0].y
    axes[0].set_ylabel(y.title)
    if y.range is not None:
        axes[0].set_ylim(*y.range)
    _legend(fig, axes)


def _bars(b: Bars, fig: Any) -> None:
    ax = fig.subplots()
    pos = list(range(len(b.labels)))
    values = [v if v is not None else float("nan") for v in b.values]
    style = {"color": list(b.colors), "alpha": b.opacity,
             "label": b.label if b.spread else None}
    if b.horizontal:
        bars = ax.barh(pos, values, height=b.width, **style)
        ax.set_yticks(pos, b.labels)
    else:
        bars = ax.bar(pos, values, width=b.width, **style)
        ax.set_xticks(pos, b.labels)
    ax.bar_label(bars, labels=list(b.text), padding=3)
    for i, vs in enumerate(b.spread):  # a fixed jitter: the same picture every time
        jitter = [i + 0.2 * ((k * 0.618) % 1 - 0.5) for k in range(len(vs))]
        xy = (vs, jitter) if b.horizontal else (jitter, vs)
        ax.scatter(*xy, s=10, color=COLORS["dots"], alpha=0.7, zorder=3,
                   label=b.spread_label if i == 0 else None)
    value_label, value_lim, grid = ((ax.set_xlabel, ax.set_xlim, "x") if b.horizontal
                                    else (ax.set_ylabel, ax.set_ylim, "y"))
    value_label(b.value_axis.title)
    if b.value_axis.range is not None:
        value_lim(*b.value_axis.range)
    (ax.set_ylabel if b.horizontal else ax.set_xlabel)(b.category_axis.title)
    ax.grid(axis=grid, alpha=0.3)
    if b.spread:
        _legend(fig, [ax], loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _parallel(p: Parallel, fig: Any) -> None:
    from matplotlib import cm, colormaps, colors

    ax = fig.subplots()
    lo, hi = min(p.color), max(p.color)
    norm = colors.Normalize(lo, hi if hi > lo else lo + 1e-12)
    cmap = colormaps[p.colorscale]
    if not p.best_high:
        cmap = cmap.reversed()

    def fraction(v: float, lo: float, hi: float) -> float:
        return (v - lo) / ((hi - lo) or 1.0)

    columns = [[fraction(v, *a.range) for v in a.values] for a in p.axes]
    # best drawn last, on top
    order = sorted(range(len(p.color)), key=lambda i: p.color[i] if p.best_high
                   else -p.color[i])
    for i in order:
        ax.plot(range(len(p.axes)), [c[i] for c in columns], color=cmap(norm(p.color[i])),
                alpha=0.8, linewidth=1.2)
    for x, a in enumerate(p.axes):
        ax.axvline(x, color="#444", linewidth=1)
        lo, hi = a.range
        ticks = a.ticks or ((lo, hi), (f"{lo:.3g}", f"{hi:.3g}"))
        for value, text in zip(*ticks, strict=True):
            if lo - 1e-9 <= value <= hi + 1e-9:
                ax.text(x + 0.02, fraction(value, lo, hi), text, fontsize=7, va="center")
    ax.set_xticks(range(len(p.axes)), [a.label for a in p.axes])
    ax.set_yticks([])
    ax.set_xlim(-0.1, len(p.axes) - 0.6)
    fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=p.color_title)


def _size(series: Figure) -> tuple[float, float]:
    if isinstance(series, Plot):
        return (11, 4.8) if len(series.panels) > 1 else (10, 5)
    if isinstance(series, Bars):
        return (8, max(3.5, 1.5 + 0.4 * len(series.labels))) if series.horizontal else (8, 4.5)
    return (10, 5)


def draw_matplotlib(series: Figure, study: str) -> Any:
    """One figure of `series.py` as a matplotlib `Figure`, titled with the study's name."""
    import matplotlib
    from matplotlib.figure import Figure as MplFigure

    with matplotlib.rc_context(_NO_MATH):
        fig = MplFigure(figsize=_size(series), dpi=100, layout="constrained")
        if isinstance(series, Plot):
            _plot(series, fig)
        elif isinstance(series, Bars):
            _bars(series, fig)
        else:
            _parallel(series, fig)
        fig.suptitle(f"{study}: {series.title}")
    return fig


def write_pngs(data: ReportData, folder: Path, *, sections: Sequence[str] | None = None
               ) -> list[Path]:
    """Write the report's figures as PNG files in ``folder``; returns their paths."""
    import matplotlib

    wanted = sections if sections is not None else figure_ids(data)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ReportError(f"cannot create {folder}: {e.strerror}") from None
    paths = []
    for sid in wanted:
        fig = draw_matplotlib(FIGURES[sid].build(data), data.study)
        path = folder / FIGURES[sid].png
        with matplotlib.rc_context(_NO_MATH):  # tick labels are made while drawing
            fig.savefig(path)
        paths.append(path)
    return paths

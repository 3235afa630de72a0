"""The interactive back end: draws the series of `series.py` as plotly figures for the
HTML report. Nothing here chooses what is shown; only how plotly shows it."""

from __future__ import annotations

import math
from typing import Any

from tuner.report.collect import ReportData
from tuner.report.series import COLORS, Axis, Bars, Figure, Parallel, Plot, figure_series

__all__ = ["draw_plotly", "plotly_figures"]

# marker shape of series.py -> plotly marker
_MARKERS: dict[str, dict[str, Any]] = {
    "dot": {"symbol": "circle", "size": 8},
    "ring": {"symbol": "circle-open", "size": 9, "line": {"width": 2}},
    "cross": {"symbol": "x", "size": 10},
}


def _layout(fig: Any, title: str, *, height: int = 460, top: int = 60,
            legend_y: float = 1.0) -> Any:
    fig.update_layout(title=title, template="plotly_white", height=height,
                      margin={"l": 70, "r": 30, "t": top, "b": 60},
                      legend={"orientation": "h", "yanchor": "bottom", "y": legend_y,
                              "x": 1.0, "xanchor": "right"})
    return fig


def _axis(axis: Axis) -> dict[str, Any]:
    out: dict[str, Any] = {"title": axis.title}
    if axis.log:
        out["type"] = "log"
    if axis.range is not None:  # plotly takes a log axis's range in decades
        out["range"] = [math.log10(v) for v in axis.range] if axis.log else list(axis.range)
    if axis.ticks is not None:
        out["tickvals"], out["ticktext"] = list(axis.ticks[0]), list(axis.ticks[1])
    return out


def _plot(p: Plot) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    titled = any(panel.title for panel in p.panels)
    fig = make_subplots(rows=1, cols=len(p.panels), shared_yaxes=True,
                        subplot_titles=[panel.title for panel in p.panels] if titled else None)
    shown: set[str] = set()

    def legend(label: str) -> dict[str, Any]:
        first = label not in shown
        shown.add(label)
        return {"name": label, "legendgroup": label, "showlegend": first}

    for col, panel in enumerate(p.panels, start=1):
        for pts in panel.points:
            fig.add_trace(go.Scatter(
                x=pts.x, y=pts.y, mode="markers", text=pts.hover, hoverinfo="text",
                marker={**_MARKERS[pts.shape], "color": pts.color}, **legend(pts.label)),
                row=1, col=col)
        for c in panel.curves:
            extra: dict[str, Any] = {"mode": "lines"}
            if c.end_mark:  # only the last point gets a marker: where the curve stopped
                extra = {"mode": "lines+markers",
                         "marker": {"size": [0] * (len(c.x) - 1) + [9], "symbol": "x"}}
            if c.step:
                extra["line_shape"] = "hv"
            if c.hover:
                extra.update(text=c.hover, hoverinfo="text")
            fig.add_trace(go.Scatter(
                x=c.x, y=c.y, line={"color": c.color, "dash": c.dash,
                                    "width": 3 if c.bold else 1.3},
                opacity=1.0 if c.bold else 0.6, **extra, **legend(c.label)), row=1, col=col)
        fig.update_xaxes(row=1, col=col, **_axis(panel.x))
    fig.update_yaxes(row=1, col=1, **_axis(p.panels[0].y))
    if titled:  # room above for the panel titles and the legend
        return _layout(fig, p.title, height=480, top=110, legend_y=1.1)
    return _layout(fig, p.title)


def _bars(b: Bars) -> Any:
    import plotly.graph_objects as go

    def oriented(cats: Any, vals: Any) -> dict[str, Any]:
        return ({"x": vals, "y": cats, "orientation": "h"} if b.horizontal
                else {"x": cats, "y": vals})

    fig = go.Figure(go.Bar(
        **oriented(b.labels, b.values), name=b.label, showlegend=bool(b.spread),
        width=b.width, opacity=b.opacity, marker_color=list(b.colors), text=b.text,
        textposition="outside", hovertext=b.hover or None))
    if b.spread:
        fig.add_trace(go.Box(
            **oriented([label for label, vs in zip(b.labels, b.spread, strict=True) for _ in vs],
                       [v for vs in b.spread for v in vs]),
            name=b.spread_label, boxpoints="all", jitter=0.4, pointpos=0,
            fillcolor="rgba(0,0,0,0)", line={"color": "rgba(0,0,0,0)"},
            marker={"color": COLORS["dots"], "size": 5, "opacity": 0.7}))
    value, category = _axis(b.value_axis), _axis(b.category_axis)
    fig.update_xaxes(**(value if b.horizontal else category))
    fig.update_yaxes(**(category if b.horizontal else value))
    height = max(260, 120 + 50 * len(b.labels)) if b.horizontal else 420
    return _layout(fig, b.title, height=height)


def _parallel(p: Parallel) -> Any:
    import plotly.graph_objects as go

    dims = []
    for a in p.axes:
        dim: dict[str, Any] = {"label": a.label, "values": a.values}
        if a.range[1] > a.range[0]:
            dim["range"] = list(a.range)
        if a.ticks is not None:
            dim["tickvals"], dim["ticktext"] = list(a.ticks[0]), list(a.ticks[1])
        dims.append(dim)
    fig = go.Figure(go.Parcoords(
        dimensions=dims,
        line={"color": p.color, "colorscale": p.colorscale, "reversescale": not p.best_high,
              "showscale": True, "colorbar": {"title": {"text": p.color_title}}}))
    return _layout(fig, f"{p.title} (drag an axis to filter)", height=520, top=120)


def draw_plotly(series: Figure) -> Any:
    """One figure of `series.py` as a plotly figure."""
    if isinstance(series, Plot):
        return _plot(series)
    if isinstance(series, Bars):
        return _bars(series)
    return _parallel(series)


def plotly_figures(data: ReportData) -> dict[str, Any]:
    """The report's plotly figures by section id."""
    return {sid: draw_plotly(s) for sid, s in figure_series(data).items()}

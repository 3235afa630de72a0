"""The HTML report: one self-contained file (plotly.js inlined once, so it opens
offline) with a summary of the study, every figure of `series.py` drawn by
`plotly_figures.py`, and, with ``--png``, the same figures as PNG files."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage

from tuner import __version__
from tuner.files import atomic_write
from tuner.keys import ATTR
from tuner.keys import FINGERPRINTS as COMPONENTS_ATTR
from tuner.report.collect import ReportData, collect
from tuner.report.importance import Importance
from tuner.report.matplotlib_figures import write_pngs
from tuner.report.plotly_figures import plotly_figures
from tuner.report.series import FIGURES
from tuner.report.vocabulary import ReportError

__all__ = ["ReportResult", "build_report", "render_html"]

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


def _decisions(data: ReportData) -> list[str]:
    """The chain's champion and its history of decisions (`tuner history`), newest first,
    as a table under the figure."""
    from tuner.history import HEADER, cells

    champion = data.champion
    inner = []
    if champion:
        inner.append(f"<p>Champion: <b>{_e(champion['study'])} trial {champion['trial']}"
                     f"</b>, test {_e(champion['metric'].removeprefix('val_'))} "
                     f"{champion['score']:.4f} on {champion['test_rows']} held-out rows, "
                     f"promoted {_e(champion['promoted_at'])} ({_e(champion['reason'])}); "
                     f"<code>{_e(champion['model_path'])}</code>.</p>")
    if not data.decisions:
        inner.append("<p class='note'>No decision recorded yet: <code>tuner promote FILE"
                     "</code> makes the first champion.</p>")
    else:
        head = "".join(f"<th>{_e(h)}</th>" for h in [*HEADER, "reason"])
        rows = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells(r))
                       + f"<td>{_e(r.get('reason') or '')}</td></tr>"
                       for r in reversed(data.decisions))
        inner.append(f"<table><tr>{head}</tr>{rows}</table>")
    return inner


def render_html(data: ReportData, figures: Mapping[str, Any] | None = None) -> str:
    """The report as one HTML document: plotly.js inlined once, no external resource."""
    from plotly.offline import get_plotlyjs

    figures = plotly_figures(data) if figures is None else figures
    config = {"displaylogo": False, "responsive": True,
              "toImageButtonOptions": {"format": "png", "scale": 2}}
    nav = " ".join(f"<a href='#{sid}'>{_e(s.title)}</a>" for sid, s in FIGURES.items())
    body = [f"<nav>{nav}</nav>", f"<section id='summary'>{_header(data)}</section>"]
    for sid, section in FIGURES.items():
        inner = [f"<h2>{_e(section.title)}</h2>",
                 f"<p class='muted'>{_e(section.explain)}</p>"]
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
        if sid == "decisions":
            inner += _decisions(data)
        if sid in figures:
            inner.append(figures[sid].to_html(full_html=False, include_plotlyjs=False,
                                              div_id=f"fig-{sid}", config=config))
        elif section.missing and not (sid == "importance" and data.importance.note):
            inner.append(f"<p class='note'>{_e(section.missing)}</p>")
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


def report_study(name: str, html_path: Path, *, storage: str | None = None,
                 png_dir: Path | None = None, evaluator: str = "ped-anova",
                 on_url: Callable[[str], None] | None = None) -> ReportResult:
    """`tuner study report NAME`: the report of study ``name`` (its newest version, or
    NAME/vK) in the storage every command resolves (``on_url`` receives its URL)."""
    from tuner.storage import resolve_storage_url
    from tuner.study_file import open_reading
    from tuner.versions import resolve_study

    url = resolve_storage_url(storage)
    reading = open_reading(url, on_url=on_url)
    return build_report(reading, resolve_study(reading, name), html_path, png_dir=png_dir,
                        evaluator=evaluator, storage_url=url)


def build_report(storage: BaseStorage, study: optuna.Study, html_path: Path, *,
                 png_dir: Path | None = None, evaluator: str = "ped-anova",
                 storage_url: str = "") -> ReportResult:
    """Write the HTML report of ``study`` to ``html_path`` (and its figures as PNG files
    in ``png_dir``). The file is written whole to a temporary name, then renamed."""
    data = collect(storage, study, evaluator=evaluator, storage_url=storage_url)
    figures = plotly_figures(data)
    text = render_html(data, figures)
    html_path = Path(html_path)
    try:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(html_path, text)
    except OSError as e:
        raise ReportError(f"cannot write {html_path}: {e.strerror}") from None
    pngs = write_pngs(data, Path(png_dir)) if png_dir is not None else []
    return ReportResult(html_path, tuple(pngs), data, tuple(figures))

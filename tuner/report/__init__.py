"""Views of a finished (or running) study: figures, a self-contained HTML report, PNGs and
the parameter-importance table.

The figures say what the tuning was about: the learning curves a human babysits, the
score against ``alpha`` and ``1 - beta`` on the log axes they were sampled on, and which
parameter mattered. Data flows one way through the modules:

- ``vocabulary.py``: course notation for Optuna's names, trial kinds, `ReportError`;
- ``importance.py``: parameter importance by Optuna's evaluators (`param_importance`);
- ``collect.py``: one read of the storage into a `ReportData` (`collect`);
- ``series.py``: what every figure shows, computed once as plain data; the list of
  figures (`FIGURES`): add a figure here;
- ``plotly_figures.py`` / ``matplotlib_figures.py``: the two back ends, which only draw
  the series (interactive for HTML, PNG files);
- ``html.py``: the HTML document and `build_report`, which writes it.
"""

from tuner.report.collect import ReportData, TrialPoint, VersionRow, collect
from tuner.report.html import ReportResult, build_report, render_html, report_study
from tuner.report.importance import EVALUATORS, Importance, param_importance
from tuner.report.matplotlib_figures import write_pngs
from tuner.report.plotly_figures import plotly_figures
from tuner.report.series import FIGURES, figure_ids, figure_series
from tuner.report.vocabulary import ReportError, param_label

__all__ = [
    "EVALUATORS", "FIGURES", "Importance", "ReportData", "ReportError", "ReportResult",
    "TrialPoint", "VersionRow", "build_report", "collect", "figure_ids", "figure_series",
    "param_importance", "param_label", "plotly_figures", "render_html", "report_study",
    "write_pngs",
]

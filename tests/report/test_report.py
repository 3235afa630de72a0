"""`tuner study report` and `tuner study importance` on a real two-version chain in a
SQLite file: the HTML is self-contained, has every section, renders in headless chromium
with no JavaScript error; the PNGs are real images; bad input is one line, exit 2."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from conftest import invoke
from report_helpers import render_with_probe, run_chromium

# alpha up to 1e4: the largest learning rates diverge, the median pruner cuts others
# short, and the rest complete, so the report has all three kinds to tell apart.
CHAIN_STUDY = """
[study]
name = "rt"
n_trials = 16

[data]
dataset = "iris"
seed = 0

[model]
hidden = [8]
epochs = 6
batch_size = 32

[search]
alpha = { prior = "log-uniform", low = 1e-4, high = 1e4 }
beta = { prior = "complement-log-uniform", low = 0.9, high = 0.999 }

[sampler]
name = "random"
seed = 0

[pruner]
name = "median"
"""

SECTIONS = ("summary", "history", "learning-curves", "params", "importance", "parallel",
            "versions")


@pytest.fixture(scope="module")
def chain_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """rt (v1, this machine) and rt/v2 (re-tuned after the hardware label changed)."""
    from tuner.data import spec_splits
    from tuner.fingerprint import study_fingerprints
    from tuner.spec import load_spec
    from tuner.storage import open_storage
    from tuner.versions import create_version, decide
    from tuner.worker import work

    folder = tmp_path_factory.mktemp("chain")
    file = folder / "rt.toml"
    file.write_text(CHAIN_STUDY)
    url = f"sqlite:///{folder / 'tuner.db'}"
    result = invoke("study", "run", file, "--storage", url)
    assert result.exit_code == 0, result.output
    # v2 the way `tuner retune` makes it: the hardware moved, warm-started from v1's best.
    old = os.environ.get("TUNER_HARDWARE_LABEL")
    os.environ["TUNER_HARDWARE_LABEL"] = "box-b"
    try:
        spec = load_spec(file)
        splits = spec_splits(spec)
        storage = open_storage(url)
        fp = study_fingerprints(spec, splits)
        decision = decide(storage, spec.name, fp)
        assert decision.action == "retune"
        parent = optuna.load_study(storage=storage, study_name="rt")
        v2, _ = create_version(storage, spec, fp, decision, n_trials=8,
                               warm_start=[parent.best_params])
        work(storage, spec, splits, v2.study_name, seed=1, stop=threading.Event())
    finally:
        if old is None:
            os.environ.pop("TUNER_HARDWARE_LABEL", None)
        else:
            os.environ["TUNER_HARDWARE_LABEL"] = old
    yield url, folder


def kinds(url: str, name: str) -> dict[str, int]:
    counts = {"complete": 0, "pruned": 0, "diverged": 0}
    for t in optuna.load_study(storage=url, study_name=name).get_trials():
        if t.state == TrialState.COMPLETE:
            counts["complete"] += 1
        elif t.state == TrialState.PRUNED:
            counts["diverged" if t.user_attrs.get("tuner:diverged") else "pruned"] += 1
    return counts


@pytest.mark.integration
def test_the_chain_has_every_kind_of_trial(chain_db: tuple[str, Path]) -> None:
    url, _ = chain_db
    counts = kinds(url, "rt")
    assert counts["complete"] and counts["pruned"] and counts["diverged"], counts
    assert sum(kinds(url, "rt/v2").values()) == 8


@pytest.mark.unit
def test_report_html_is_self_contained_with_every_section(chain_db: tuple[str, Path],
                                                          tmp_path: Path) -> None:
    url, _ = chain_db
    html_path, png_dir = tmp_path / "out" / "report.html", tmp_path / "png"
    result = invoke("study", "report", "rt", "-o", html_path, "--png", png_dir,
                    "--storage", url)
    assert result.exit_code == 0, result.output
    assert str(html_path) in result.stdout.splitlines()
    text = html_path.read_text(encoding="utf-8")

    # Opens offline: no script is loaded from anywhere; plotly.js is inlined exactly once.
    assert not re.search(r"<script[^>]*\bsrc\s*=\s*[\"']?\s*(https?:)?//", text, re.I)
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.I)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?https?:", text, re.I)
    assert text.count("window.Plotly") >= 1 and len(text) > 3_000_000  # plotly.js inside
    assert text.count("Plotly.newPlot(") == 6, "one figure per section, versions included"

    for sid in SECTIONS:
        assert f"<section id='{sid}'>" in text, sid
    for title in ("Optimization history", "Learning curves", "Score against alpha and beta",
                  "Parameter importance", "Parallel coordinates", "Versions side by side"):
        assert f"<h2>{title}</h2>" in text

    # The header: fingerprints, version chain, reason of the newest version.
    v2 = optuna.load_study(storage=url, study_name="rt/v2")
    attrs = v2.user_attrs
    for attr in ("tuner:data_fingerprint", "tuner:hardware_fingerprint", "tuner:spec_hash"):
        assert attrs[attr][:12] in text
    assert "label: box-b" in text, "fingerprint components are shown"
    assert re.search(r">rt</span> &rarr; <span class='current'>rt/v2</span>", text)
    assert attrs["tuner:reason"].startswith("hardware ")
    assert attrs["tuner:reason"].replace(">", "&gt;") in text
    # The importance evaluator is named; the momentum is in course notation.
    assert "PED-ANOVA (Optuna&#x27;s default importance evaluator)" in text
    assert "beta (as 1-beta)" in text

    names = sorted(p.name for p in png_dir.iterdir())
    assert names == sorted(["history.png", "learning_curves.png", "score_vs_params.png",
                            "importance.png", "parallel_coordinates.png", "versions.png"])
    from PIL import Image

    for path in png_dir.iterdir():
        assert path.stat().st_size > 10_000, path
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            assert im.format == "PNG" and im.width >= 600 and im.height >= 300
            colors = im.convert("RGB").getcolors(maxcolors=1_000_000)
            assert colors is not None and len(colors) > 50, f"{path.name} looks blank"


@pytest.mark.integration
def test_figures_tell_pruned_and_diverged_apart_on_log_axes(chain_db: tuple[str, Path]
                                                            ) -> None:
    from tuner.report import collect, plotly_figures
    from tuner.storage import open_storage

    url, _ = chain_db
    storage = open_storage(url, heartbeat=False)
    study = optuna.load_study(storage=storage, study_name="rt")
    data = collect(storage, study)
    counts = kinds(url, "rt")
    figs = plotly_figures(data)

    history = {tr.name: tr for tr in figs["history"].data}
    assert f"complete ({counts['complete']})" in history
    assert f"pruned (last reported value) ({counts['pruned']})" in history
    assert f"diverged (last reported value, or worst) ({counts['diverged']})" in history
    best = history["best so far"]
    assert list(best.y) == sorted(best.y), "best so far never gets worse (maximize)"
    assert best.y[-1] == pytest.approx(study.best_value)
    symbols = {name.split(" (")[0]: tr.marker.symbol for name, tr in history.items()
               if tr.mode == "markers"}
    assert len(set(symbols.values())) == 3, symbols

    epochs = 6
    curves = [tr for tr in figs["learning-curves"].data]
    assert len(curves) == sum(1 for t in data.trials if t.curve)
    pruned = [tr for tr in curves if tr.line.dash == "dash"]
    assert len(pruned) == counts["pruned"]
    assert all(len(tr.x) < epochs for tr in pruned), "pruned curves are cut short"
    assert any(len(tr.x) == epochs for tr in curves if tr.line.dash == "solid")

    axes = {ax.title.text: ax.type for ax in (figs["params"].layout.xaxis,
                                              figs["params"].layout.xaxis2)}
    assert axes == {"alpha": "log", "1 - beta": "log"}
    assert any("(beta 0.99)" in t for t in figs["params"].layout.xaxis2.ticktext)
    labels = [d.label for d in figs["parallel"].data[0].dimensions]
    assert labels == ["alpha (log)", "1 - beta (log)", "val_accuracy"]
    assert data.metric == "val_accuracy"


@pytest.mark.unit
def test_both_back_ends_draw_the_same_series(chain_db: tuple[str, Path]) -> None:
    """Titles, legend entries and parameter ticks come from one series per figure, so
    the HTML (plotly) and the PNGs (matplotlib) cannot drift apart."""
    from tuner.report import collect, figure_series
    from tuner.report.matplotlib_figures import draw_matplotlib
    from tuner.report.plotly_figures import draw_plotly
    from tuner.storage import open_storage

    url, _ = chain_db
    storage = open_storage(url, heartbeat=False)
    data = collect(storage, optuna.load_study(storage=storage, study_name="rt/v2"))
    series = figure_series(data)
    assert list(series) == ["history", "learning-curves", "params", "importance",
                            "parallel", "versions"]
    for sid, s in series.items():
        pfig, mfig = draw_plotly(s), draw_matplotlib(s, data.study)
        assert pfig.layout.title.text.startswith(s.title), sid
        assert mfig.get_suptitle() == f"rt/v2: {s.title}", sid
        plotly_legend = {tr.name for tr in pfig.data
                         if getattr(tr, "showlegend", None) is not False and tr.name}
        mpl_legend = {t.get_text() for ax in mfig.axes if ax.get_legend()
                      for t in ax.get_legend().get_texts()}
        assert plotly_legend == mpl_legend, sid
    pfig, mfig = draw_plotly(series["params"]), draw_matplotlib(series["params"], "rt/v2")
    for paxis, ax in zip((pfig.layout.xaxis, pfig.layout.xaxis2), mfig.axes, strict=True):
        assert [t.get_text().replace("\n", " ") for t in ax.get_xticklabels()] == list(
            paxis.ticktext)
        assert ax.get_xscale() == paxis.type == "log"
        assert ax.get_xlabel() == paxis.title.text


@pytest.mark.e2e
def test_report_renders_in_headless_chromium_without_js_error(chain_db: tuple[str, Path],
                                                             tmp_path: Path) -> None:
    url, _ = chain_db
    html_path = tmp_path / "report.html"
    assert invoke("study", "report", "rt", "-o", html_path, "--storage", url).exit_code == 0
    errors, dom = render_with_probe(html_path, tmp_path)
    assert errors == []
    # plotly drew every figure: each graph div holds its SVG layers.
    for sid in ("history", "learning-curves", "params", "importance", "parallel",
                "versions"):
        div = re.search(rf'<div id="fig-{sid}"[^>]*class="[^"]*js-plotly-plot', dom.stdout)
        assert div, f"figure {sid} was not drawn"
    assert dom.stdout.count('class="main-svg"') >= 12

    shot = tmp_path / "report.png"
    r = run_chromium(["--virtual-time-budget=20000", "--window-size=1280,2400",
                      "--hide-scrollbars", f"--screenshot={shot}", html_path.as_uri()],
                     tmp_path / "profile")
    assert r.returncode == 0 and shot.stat().st_size > 50_000


@pytest.mark.unit
def test_report_of_a_named_version_and_another_evaluator(chain_db: tuple[str, Path],
                                                         tmp_path: Path) -> None:
    url, _ = chain_db
    v1 = tmp_path / "v1.html"
    result = invoke("study", "report", "rt/v1", "-o", v1, "--evaluator", "fanova",
                    "--storage", url)
    assert result.exit_code == 0, result.output
    text = v1.read_text(encoding="utf-8")
    assert "<h1>rt</h1>" in text and "(this report: rt)" in text
    assert "<span class='current'>rt</span> &rarr; <span class=''>rt/v2</span>" in text
    assert "fANOVA (random-forest functional ANOVA, seed 0)" in text
    assert "first version" in text

    v2 = tmp_path / "v2.html"
    assert invoke("study", "report", "rt/v2", "-o", v2, "--storage", url).exit_code == 0
    assert "<h1>rt/v2</h1>" in v2.read_text(encoding="utf-8")


@pytest.mark.integration
def test_importance_table_json_and_evaluators(chain_db: tuple[str, Path]) -> None:
    url, _ = chain_db
    table = invoke("study", "importance", "rt", "--storage", url)
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["PARAMETER", "IMPORTANCE"]
    rows = {}
    for line in lines[1:]:  # "beta (as 1-beta)       0.315  #########"
        label, value = re.fullmatch(r"(.+?)\s{2,}([0-9.]+)(?:\s+#+)?", line).groups()
        rows[label] = float(value)
    assert set(rows) == {"alpha", "beta (as 1-beta)"}
    assert sum(rows.values()) == pytest.approx(1.0, abs=0.002)
    assert "PED-ANOVA" in table.stderr and "rt/v2" in table.stderr

    for evaluator in ("ped-anova", "fanova"):
        r = invoke("study", "importance", "rt/v1", "--json", "--evaluator", evaluator,
                   "--storage", url)
        assert r.exit_code == 0, r.output
        got = json.loads(r.stdout)
        assert got["study"] == "rt" and got["evaluator"] == evaluator
        assert got["n_complete_trials"] == kinds(url, "rt")["complete"]
        imps = {row["optuna_param"]: row["importance"] for row in got["importances"]}
        assert set(imps) == {"alpha", "one_minus_beta"}
        assert sum(imps.values()) == pytest.approx(1.0)
        assert {row["param"] for row in got["importances"]} == {"alpha", "beta (as 1-beta)"}

    bad = invoke("study", "importance", "rt", "--evaluator", "shap", "--storage", url)
    assert bad.exit_code == 2 and "shap" in bad.stderr


@pytest.mark.unit
def test_unknown_study_lists_the_known_ones(chain_db: tuple[str, Path], tmp_path: Path
                                            ) -> None:
    url, _ = chain_db
    for args in (("report", "nope", "-o", tmp_path / "x.html"), ("importance", "nope")):
        r = invoke("study", *args, "--storage", url)
        assert r.exit_code == 2
        assert r.stderr.strip() == ("error: no study named 'nope' in this storage; known: "
                                    "rt, rt/v2")
    assert not (tmp_path / "x.html").exists()


@pytest.mark.unit
def test_empty_study_gets_a_report_that_says_so(tmp_path: Path, sqlite_url: str) -> None:
    from conftest import write_study
    from tuner.fingerprint import study_fingerprints
    from tuner.spec import load_spec
    from tuner.storage import open_storage
    from tuner.versions import prepare_version

    # A version created (fingerprints, budget) on which no trial has run yet.
    file = write_study(tmp_path, name="empty", n_trials=4)
    spec = load_spec(file)
    prepare_version(open_storage(sqlite_url), spec, study_fingerprints(spec), file=file)
    html_path, png_dir = tmp_path / "empty.html", tmp_path / "png"
    r = invoke("study", "report", "empty", "-o", html_path, "--png", png_dir,
               "--storage", sqlite_url)
    assert r.exit_code == 0, r.output
    assert "empty has no finished trial yet" in r.stderr
    text = html_path.read_text(encoding="utf-8")
    assert "id='empty-study'" in text and "no finished trial yet" in text
    assert "0 complete, 0 pruned, 0 diverged" in text
    assert "Plotly.newPlot(" not in text
    for sid in SECTIONS:
        assert f"<section id='{sid}'>" in text
    assert list(png_dir.iterdir()) == []

    r = invoke("study", "importance", "empty", "--storage", sqlite_url)
    assert r.exit_code == 2
    assert r.stderr.strip() == "error: study 'empty' has no complete trial yet: nothing to rank"


@pytest.mark.unit
def test_report_of_a_plain_optuna_study(tmp_path: Path, sqlite_url: str) -> None:
    """A study tuner did not create (no fingerprints, no chain) still gets a report."""
    study = optuna.create_study(storage=sqlite_url, study_name="plain", direction="minimize")

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 1e-3, 10, log=True)
        y = trial.suggest_categorical("y", ["a", "b"])
        for step in range(3):
            trial.report(x * (3 - step), step)
        return x + (y == "b")

    study.optimize(objective, n_trials=8)
    html_path = tmp_path / "plain.html"
    r = invoke("study", "report", "plain", "-o", html_path, "--png", tmp_path / "png",
               "--storage", sqlite_url)
    assert r.exit_code == 0, r.output
    text = html_path.read_text(encoding="utf-8")
    assert "not recorded" in text and "Only one version so far" in text
    assert text.count("Plotly.newPlot(") == 5, "no versions figure for a single study"
    assert len(list((tmp_path / "png").iterdir())) == 5


@pytest.mark.unit
def test_unwritable_output_is_one_line(chain_db: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = chain_db
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = invoke("study", "report", "rt", "-o", blocker / "report.html", "--storage", url)
    assert r.exit_code == 2
    assert r.stderr.startswith("error: cannot write") and len(r.stderr.splitlines()) == 1


def assert_real_pngs(folder: Path, count: int) -> None:
    from PIL import Image

    paths = sorted(folder.iterdir())
    assert len(paths) == count, [p.name for p in paths]
    for path in paths:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            assert im.format == "PNG" and im.width >= 600 and im.height >= 300
            assert len(im.convert("RGB").getcolors(maxcolors=1_000_000) or ()) > 50, path


# Text that matplotlib would parse as math (an even number of dollars; "$x^^2$" is not
# even valid mathtext) and that HTML would parse as markup: a study name is the user's,
# and must be shown as typed.
ODD_NAME = "cost $x^^2$ <b>&amp; $5$"


@pytest.mark.e2e
def test_png_and_html_of_a_study_named_with_dollars_and_markup(tmp_path: Path,
                                                               sqlite_url: str) -> None:
    from conftest import TINY_STUDY

    file = tmp_path / "odd.toml"
    file.write_text(TINY_STUDY.format(name=ODD_NAME, n_trials=5, epochs=3, dataset="iris",
                                      sampler="random", pruner="none"))
    assert invoke("study", "run", file, "--storage", sqlite_url).exit_code == 0
    html_path, png_dir = tmp_path / "odd.html", tmp_path / "png"
    r = invoke("study", "report", ODD_NAME, "-o", html_path, "--png", png_dir,
               "--storage", sqlite_url)
    assert r.exit_code == 0, r.output
    assert_real_pngs(png_dir, 5)
    text = html_path.read_text(encoding="utf-8")
    escaped = "cost $x^^2$ &lt;b&gt;&amp;amp; $5$"
    assert f"<h1>{escaped}</h1>" in text and f"<title>{escaped}: tuner report</title>" in text
    assert "<b>&amp;" not in text, "the name reached the page as markup"

    errors, dom = render_with_probe(html_path, tmp_path)
    assert errors == []
    assert re.search(r"<h1>cost \$x\^\^2\$ &lt;b&gt;&amp;amp; \$5\$</h1>", dom.stdout)


@pytest.mark.unit
@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_png_of_parameter_metric_and_choice_names_with_dollars(tmp_path: Path,
                                                               sqlite_url: str) -> None:
    """A plain Optuna study can name its parameters, choices and metric anything."""
    study = optuna.create_study(storage=sqlite_url, study_name="$plain^^$",
                                direction="minimize")
    study.set_metric_names(["$loss_a_b$"])

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("$x^^$", 1e-3, 10, log=True)
        y = trial.suggest_categorical("<i>y</i>", ["$a^^$", "b"])
        return x + (y == "b")

    study.optimize(objective, n_trials=8)
    html_path, png_dir = tmp_path / "plain.html", tmp_path / "png"
    r = invoke("study", "report", "$plain^^$", "-o", html_path, "--png", png_dir,
               "--storage", sqlite_url)
    assert r.exit_code == 0, r.output
    assert_real_pngs(png_dir, 5)
    text = html_path.read_text(encoding="utf-8")
    assert "<i>y</i>" not in text and "&lt;i&gt;y&lt;/i&gt;" in text


@pytest.mark.unit
def test_the_report_shows_the_champion_and_the_decisions(tmp_path: Path,
                                                         sqlite_url: str) -> None:
    from conftest import write_study
    from tuner import history
    from tuner.api import run_study
    from tuner.champion import promote
    from tuner.storage import open_storage

    file = write_study(tmp_path, n_trials=3, extra='\n[deploy]\npath = "m/tiny.npz"\n')
    html_path = tmp_path / "r.html"
    run_study(file, sqlite_url, emit=lambda _line: None)
    r = invoke("study", "report", "tiny", "-o", html_path, "--storage", sqlite_url)
    assert r.exit_code == 0, r.output
    text = html_path.read_text(encoding="utf-8")
    assert "No decision recorded yet" in text and "id=\"fig-decisions\"" not in text

    champion = promote(file, storage=sqlite_url, reason="first <model>")
    history.record(open_storage(sqlite_url, heartbeat=False), "tiny",
                   {"decision": "holds", "champion_score": 0.5, "drift": {"petal": 0.07},
                    "reason": "champion holds"})
    r = invoke("study", "report", "tiny", "-o", html_path, "--storage", sqlite_url)
    assert r.exit_code == 0, r.output
    text = html_path.read_text(encoding="utf-8")
    section = text[text.index("<section id='decisions'>"):]
    assert f"Champion: <b>tiny trial {champion.trial}</b>" in section
    assert "(first &lt;model&gt;)" in section and str(champion.model_path) in section
    rows = re.findall(r"<tr><td>20.*?</tr>", section)
    assert len(rows) == 2  # newest first
    assert "<td>holds</td>" in rows[0] and "<td>petal 0.07</td>" in rows[0]
    assert "<td>promoted</td><td>tiny</td>" in rows[1]
    # The figure: the champion's score at each decision, drawn by both back ends.
    assert "id=\"fig-decisions\"" in section
    png = tmp_path / "png"
    r = invoke("study", "report", "tiny", "-o", html_path, "--png", png, "--storage",
               sqlite_url)
    assert r.exit_code == 0 and (png / "decisions.png").stat().st_size > 10_000


@pytest.mark.unit
def test_after_a_challenger_is_promoted_the_figure_shows_the_new_champions_score(
        tmp_path: Path, sqlite_url: str) -> None:
    """A promotion's history row keeps the replaced champion's score as
    ``champion_score`` (the score it was decided against); the figure's champion line and
    promoted marker must show the new champion's."""
    from conftest import write_study
    from tuner.champion import current_champion
    from tuner.history import PROMOTION
    from tuner.report.collect import collect
    from tuner.report.series import decisions
    from tuner.retune import retune_file
    from tuner.storage import open_storage

    file = write_study(tmp_path, n_trials=3, epochs=1, dataset="digits",
                       extra='\n[deploy]\npath = "m/tiny.npz"\n\n[retune]\nmin_gain = -1.0\n')
    assert retune_file(file, sqlite_url).promotion == "promoted"  # the first champion
    # The definition changes (more epochs): v2 is tuned and its challenger wins.
    file.write_text(file.read_text().replace("epochs = 1", "epochs = 6"))
    result = retune_file(file, sqlite_url)
    assert result.version == "tiny/v2" and result.promotion == "promoted"
    st = open_storage(sqlite_url, heartbeat=False)
    data = collect(st, optuna.load_study(storage=st, study_name="tiny/v2"))
    last = data.decisions[-1]
    new = current_champion(file, sqlite_url).score
    assert last[PROMOTION]["score"] == new == last["challenger_score"]
    assert last["champion_score"] == last["comparison"]["champion"] != new
    plot = decisions(data)
    (panel,) = plot.panels
    (line,) = panel.curves
    assert line.y == (data.decisions[0]["champion_score"], new)
    promoted = next(p for p in panel.points if p.label == "promoted")
    assert promoted.y == line.y

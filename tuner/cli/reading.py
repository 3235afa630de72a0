"""Commands that read a storage or a study file: `tuner study list|show|best|report|
importance`, `tuner fingerprint`, `tuner dashboard`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tuner.cli.app import (
    cli,
    file_argument,
    info,
    json_out,
    open_reading,
    out,
    storage_option,
    storage_url,
    study,
    verbosity,
)
from tuner.errors import TunerError

# --- inspecting ---------------------------------------------------------------------------

@study.command("list")
@storage_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@verbosity
def study_list(storage: str | None, as_json: bool) -> None:
    """Every study in the storage, with its version, trial counts and best value."""
    from tuner.study import list_studies, study_table

    rows = list_studies(open_reading(storage))
    if as_json:
        json_out(rows)
    elif not rows:
        info("no studies in this storage yet: run `tuner study run FILE`")
    else:
        out(study_table(rows))


@study.command("show")
@click.argument("name")
@storage_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@verbosity
def study_show(name: str, storage: str | None, as_json: bool) -> None:
    """Counts by state, the best trial (alpha, beta in course notation), the fingerprints
    and the version chain of study NAME (its newest version, or NAME/vK)."""
    from tuner.study import show_study, show_text
    from tuner.versions import resolve_study

    storage_obj = open_reading(storage)
    report = show_study(storage_obj, resolve_study(storage_obj, name))
    out(json.dumps(report, indent=2, default=str) if as_json else show_text(report))


@study.command("best")
@click.argument("name")
@storage_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@verbosity
def study_best(name: str, storage: str | None, as_json: bool) -> None:
    """The best trial of study NAME: value and parameters in course notation."""
    from tuner.study import best_text_lines, best_trial
    from tuner.versions import resolve_study

    storage_obj = open_reading(storage)
    best = best_trial(resolve_study(storage_obj, name))
    out(json.dumps(best, indent=2, default=str) if as_json else best_text_lines(best))


@cli.command("fingerprint")
@file_argument
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@verbosity
def fingerprint_cmd(file: Path, as_json: bool) -> None:
    """The data and hardware fingerprints of the study in FILE, with their components."""
    from tuner.fingerprint import fingerprint_text, study_fingerprints
    from tuner.spec import load_spec

    fp = study_fingerprints(load_spec(file))
    out(json.dumps(fp, indent=2, default=str) if as_json else fingerprint_text(fp))


# --- dashboard / report / importance ------------------------------------------------------

_evaluator_option = click.option(
    "--evaluator", type=click.Choice(["ped-anova", "fanova"]), default="ped-anova",
    show_default=True,
    help="Importance evaluator: PED-ANOVA (Optuna's default) or fANOVA (random forests).")


@cli.command("dashboard")
@storage_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback exposes the dashboard, "
                   "which has no authentication, to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--artifacts", metavar="DIR", envvar="TUNER_ARTIFACTS",
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder of the Optuna artifact store whose files (models written by "
                   "`tuner train`) the dashboard serves. Default: $TUNER_ARTIFACTS, else "
                   "beside the SQLite file (tuner.db -> tuner-artifacts/), else "
                   "./tuner-artifacts.")
@verbosity
def dashboard_cmd(storage: str | None, host: str, port: int, artifacts: Path | None) -> None:
    """Browse the storage's studies in optuna-dashboard, until Ctrl-C or SIGTERM.

    Safe while workers write to the same storage, SQLite included: the tables are
    created first (optuna-dashboard refuses an empty database), and on SQLite the
    dashboard reads in WAL mode without taking the write lock the workers need.
    Prints the URL to open; Ctrl-C or SIGTERM stops it.
    """
    from tuner.dashboard import is_loopback, run
    from tuner.storage import default_artifact_dir, mask_url

    url = storage_url(storage)
    artifact_dir = artifacts or default_artifact_dir(url)
    if not is_loopback(host):
        click.echo(f"warning: listening on {host}: the dashboard has no authentication; "
                   "anyone who reaches this port can read, change and delete studies",
                   err=True)

    def ready(dashboard) -> None:
        info(f"optuna-dashboard on {mask_url(url)}, artifacts in {artifact_dir}; "
             "Ctrl-C to stop")
        out(f"open {dashboard.url}")

    why = run(url, host=host, port=port, artifact_dir=artifact_dir, ready=ready)
    info(f"dashboard stopped ({why})")


@study.command("report")
@click.argument("name")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("report.html"), show_default=True,
              help="The HTML file to write (self-contained: opens offline).")
@click.option("--png", "png_dir", metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Also write every figure as a PNG file in DIR.")
@_evaluator_option
@storage_option
@verbosity
def study_report(name: str, output: Path, png_dir: Path | None, evaluator: str,
                 storage: str | None) -> None:
    """A static report of study NAME (its newest version, or NAME/v1, NAME/v2, ...) in
    one HTML file.

    \b
    Optimization history (best so far; pruned and diverged trials apart), learning
    curves, the score against alpha and 1 - beta on log axes, parameter importance,
    parallel coordinates, the fingerprints, version chain and reason of the version, and
    the best value of every version side by side. plotly.js is embedded: the file opens
    with no network, as a CI artifact or an e-mail attachment.
    """
    from tuner.report import build_report
    from tuner.storage import open_storage
    from tuner.versions import resolve_study

    url = storage_url(storage)
    storage_obj = open_storage(url, heartbeat=False, create=False)
    s = resolve_study(storage_obj, name)
    result = build_report(storage_obj, s, output, png_dir=png_dir, evaluator=evaluator,
                          storage_url=url)
    data = result.data
    if data.empty:
        info(f"{s.study_name} has no finished trial yet: the report says so")
    else:
        info(f"{s.study_name}: {len(data.trials)} finished trials, "
             f"{len(result.figures)} figures")
    if data.importance.note:
        info(f"importance: {data.importance.note}")
    for path in (result.html, *result.pngs):
        out(str(path))


@study.command("importance")
@click.argument("name")
@_evaluator_option
@storage_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@verbosity
def study_importance(name: str, evaluator: str, storage: str | None, as_json: bool) -> None:
    """Which hyperparameters mattered in study NAME, from its complete trials.

    Importances sum to 1. The momentum is shown as `beta (as 1-beta)`: it was sampled,
    and is judged, as 1 - beta on a log scale.
    """
    from tuner.report import param_importance
    from tuner.study import importance_table
    from tuner.versions import resolve_study

    storage_obj = open_reading(storage)
    s = resolve_study(storage_obj, name)
    imp = param_importance(s, evaluator)
    if not imp.n_trials:
        raise TunerError(f"study {s.study_name!r} has no complete trial yet: nothing to rank")
    if as_json:
        json_out({"study": s.study_name, **imp.as_dict()})
        return
    info(f"{s.study_name}: {imp.evaluator}, from {imp.n_trials} complete trials")
    if imp.note:
        info(f"note: {imp.note}")
    rows = imp.rows()
    if rows:
        out(importance_table(rows))



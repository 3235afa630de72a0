"""Commands that read a storage or a study file: `tuner study list|show|best|report|
importance`, `tuner fingerprint`, `tuner split`, `tuner dashboard`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tuner.cli.app import (
    cli,
    cli_state,
    file_argument,
    info,
    json_option,
    json_out,
    open_reading,
    out,
    storage_option,
    storage_url,
    study,
    verbosity,
    warning,
)

# --- inspecting ---------------------------------------------------------------------------

@study.command("list")
@storage_option
@json_option()
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
@json_option()
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
@json_option()
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
@json_option()
@verbosity
def fingerprint_cmd(file: Path, as_json: bool) -> None:
    """The data and hardware fingerprints of the study in FILE, with their components."""
    from tuner.fingerprint import fingerprint_text
    from tuner.study_file import open_study_file

    fp = open_study_file(file, read_only=True).fingerprints
    out(json.dumps(fp, indent=2, default=str) if as_json else fingerprint_text(fp))


@cli.command("split")
@file_argument
@click.option("-o", "--output", "out_dir", required=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="The folder to write train.csv, validation.csv and test.csv into (made "
                   "if missing).")
@click.option("--force", is_flag=True, help="Overwrite the three files if they exist.")
@json_option("Machine-readable output (each file's path and row count).")
@verbosity
def split_cmd(file: Path, out_dir: Path, force: bool, as_json: bool) -> None:
    """Write the train, validation and test rows of the study in FILE as CSV files.

    \b
    The rows exactly as tuner splits them, so you can compare your own baselines on the
    same rows, and `tuner predict MODEL DIR/test.csv` scores what `tuner train` scored.
    A file or table: the rows as read (every column, the target included, before any
    preprocessing), in source order; rows without a target are in no file. A built-in
    dataset: scikit-learn's rows, its feature names as header, the class in `target`.
    All three files are written, or none; existing ones are refused without --force.
    """
    from tuner.split_files import write_splits

    result = write_splits(file, out_dir, force=force)
    if as_json:
        json_out(result.as_dict())
        return
    out(result.summary)
    info(f"{result.study}: rows of {result.source}, split by {result.rule}"
         + (f"; {result.dropped_rows:,} rows without a target in no file"
            if result.dropped_rows else ""))


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
    from tuner.dashboard import run
    from tuner.passwords import mask_url
    from tuner.storage import default_artifact_dir

    url = storage_url(storage)
    artifact_dir = artifacts or default_artifact_dir(url)

    def ready(dashboard) -> None:
        info(f"optuna-dashboard on {mask_url(url)}, artifacts in {artifact_dir}; "
             "Ctrl-C to stop")
        out(f"open {dashboard.url}")

    why = run(url, host=host, port=port, artifact_dir=artifact_dir, ready=ready,
              warn=warning)
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
    from tuner.report import report_study

    result = report_study(name, output, storage=storage, png_dir=png_dir, evaluator=evaluator,
                          on_url=cli_state().remember)
    data = result.data
    if data.empty:
        info(f"{data.study} has no finished trial yet: the report says so")
    else:
        info(f"{data.study}: {len(data.trials)} finished trials, "
             f"{len(result.figures)} figures")
    if data.importance.note:
        info(f"importance: {data.importance.note}")
    for path in (result.html, *result.pngs):
        out(str(path))


@study.command("importance")
@click.argument("name")
@_evaluator_option
@storage_option
@json_option()
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
    imp = param_importance(s, evaluator, need_trials=True)
    if as_json:
        json_out({"study": s.study_name, **imp.as_dict()})
        return
    info(f"{s.study_name}: {imp.evaluator}, from {imp.n_trials} complete trials")
    if imp.note:
        info(f"note: {imp.note}")
    rows = imp.rows()
    if rows:
        out(importance_table(rows))



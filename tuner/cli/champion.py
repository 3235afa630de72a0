"""Commands for the champion, the model in use: `tuner promote`, `tuner champion`,
`tuner history`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tuner.cli.app import (
    cli,
    cli_state,
    file_argument,
    info,
    json_option,
    json_out,
    out,
    storage_option,
    verbosity,
    warning,
)

NO_CHAMPION = 3  # `tuner champion`: the exit code when the study file has none yet


@cli.command("promote")
@file_argument
@click.option("--version", "version", metavar="vN",
              help="Promote this version (v1, v2, ... or NAME/v2) instead of the newest: "
                   "the trial of it that was champion last (a roll-back) if its model is "
                   "kept, else its best.")
@click.option("--trial", type=click.IntRange(min=0), metavar="N",
              help="Promote this trial of the version instead of its best.")
@storage_option
@json_option("Machine-readable output (the champion's record).")
@verbosity
def promote_cmd(file: Path, version: str | None, trial: int | None, storage: str | None,
                as_json: bool) -> None:
    """Make a trained model the champion of the study in FILE: the model in use.

    \b
    Takes the best complete trial of the newest version (or --version, --trial),
    trains it as `tuner train` does (unless it was promoted before and is kept), and
    writes it atomically to the champion's stable file: [deploy] path of FILE (e.g.
    models/churn.npz, with models/churn.json beside it), else
    <artifact folder>/champions/NAME.npz. The model of each promoted trial is kept
    beside it (models/churn.v2.t17.npz): `tuner promote FILE --version v2` rolls back
    to it without retraining. A crash at any moment leaves the previous champion whole.
    Records one row in `tuner history FILE`.
    """
    from tuner.champion import promote_file

    champion, changed = promote_file(file, storage, version=version, trial=trial,
                                     on_url=cli_state().remember)
    if as_json:
        json_out({**champion.as_dict(), "changed": changed})
        return
    out(champion.summary())
    if changed:
        info(f"wrote {champion.model_path} and {champion.card_path}")
    else:
        info(f"{champion.study} trial {champion.trial} already is the champion: nothing "
             "written")


@cli.command("champion")
@file_argument
@storage_option
@json_option("Machine-readable output (the champion's record; null when there is none).")
@verbosity
def champion_cmd(file: Path, storage: str | None, as_json: bool) -> None:
    """Which model is the champion of the study in FILE, and why.

    \b
    Prints its version and trial, its score on the held-out test split when it was
    trained (and on how many rows), the data fingerprint it was trained on, when and why
    it was promoted, and the stable file an application reads.
    Exit code 3 (one line on stderr) when FILE has no champion yet.
    """
    from tuner.champion import current_champion

    champion = current_champion(file, storage)
    if champion is None:
        if as_json:
            json_out(None)
        click.echo(f"{file}: no champion yet: run `tuner promote {file}`", err=True)
        sys.exit(NO_CHAMPION)
    problem = champion.file_problem()
    if problem is not None:
        warning(problem)
    if as_json:
        json_out({**champion.as_dict(), "file_problem": problem})
        return
    what = champion.metric.removeprefix("val_")
    out("\n".join([
        f"champion   {champion.study} trial {champion.trial}",
        f"score      test {what} {champion.score:.4f} on {champion.test_rows} held-out rows",
        f"data       {champion.data_fingerprint[:12]}",
        f"definition {champion.spec_hash[:12]}",
        f"promoted   {champion.promoted_at}: {champion.reason}",
        f"model      {champion.model_path} (card {champion.card_path})",
    ]))


@cli.command("history")
@file_argument
@storage_option
@json_option("Machine-readable output (every row, oldest first).")
@verbosity
def history_cmd(file: Path, storage: str | None, as_json: bool) -> None:
    """Every decision about the champion of the study in FILE, oldest first.

    One row per decision: when, what was decided (promoted, rolled back, ...), the
    version, the data fingerprint and rows it was decided on, the champion's and the
    challenger's scores, and the largest drift; its reason below it.
    """
    from tuner.history import history_text, read_file

    rows = read_file(file, storage, on_url=cli_state().remember)
    if as_json:
        json_out(rows)
    elif not rows:
        info(f"{file}: no decision recorded yet")
    else:
        out(history_text(rows))

"""Commands for the tuned model: `tuner train` and `tuner predict`."""

from __future__ import annotations

from pathlib import Path

import click

from tuner.cli.app import (
    cli,
    cli_state,
    file_argument,
    info,
    json_out,
    out,
    storage_option,
    verbosity,
)
from tuner.errors import TunerError

# --- train / predict ----------------------------------------------------------------------

@cli.command("train")
@file_argument
@click.option("--best", is_flag=True,
              help="Retrain the best trial: the default (and, for now, the only choice).")
@click.option("--version", "version", metavar="vN",
              help="Take the best trial of this version (v1, v2, ... or NAME/v2) instead of "
                   "the newest.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("model.npz"), show_default=True,
              help="The model file; its card goes beside it (model.npz -> model.json).")
@storage_option
@click.option("--artifacts", metavar="DIR", envvar="TUNER_ARTIFACTS",
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder of the Optuna artifact store to attach both files to. Default: "
                   "$TUNER_ARTIFACTS, else beside the SQLite file (tuner.db -> "
                   "tuner-artifacts/), else ./tuner-artifacts.")
@click.option("--no-upload", is_flag=True,
              help="Only write the files; attach nothing to the trial.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (the card).")
@verbosity
def train_cmd(file: Path, best: bool, version: str | None, output: Path,
              storage: str | None, artifacts: Path | None, no_upload: bool,
              as_json: bool) -> None:
    """Retrain the best trial of the study in FILE and score it on the held-out test split.

    Takes the best complete trial of the newest version (or --version), retrains its
    parameters on train + validation with the same epochs and seed, and scores the test
    split that no trial ever saw. Prints the trial's validation score next to the test
    score: a large gap means the tuning flattered the validation split.

    \b
    Writes model.npz (weights, batch-norm statistics, classes and the scaler; read with
    allow_pickle=False) and model.json beside it (study, version, trial, alpha and beta,
    fingerprints, both scores, package versions), and attaches both to the trial as
    Optuna artifacts, so `tuner dashboard` with the same artifact folder serves them.
    Use the model with `tuner predict model.npz data.csv`.
    """
    from tuner.train import train_file

    result = train_file(file, storage, output=output, version=version, artifact_dir=artifacts,
                        upload=not no_upload, on_url=cli_state().remember)
    if as_json:
        json_out(result.as_dict())
    else:
        out(result.summary)
    info(f"wrote {result.model_path} and {result.card_path}")
    if result.artifacts:
        info(f"attached both to trial {result.card['trial']} of {result.card['version']} as "
             f"Optuna artifacts in {result.artifact_dir} (browse: tuner dashboard "
             f"--artifacts {result.artifact_dir})")


@cli.command("predict")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the labels to this file (default: stdout).")
@verbosity
def predict_cmd(model: Path, data: Path, output: Path | None) -> None:
    """Predict a class label for every row of the CSV file DATA with MODEL.

    MODEL is a file written by `tuner train`. DATA holds raw feature values (the model
    applies its own scaling), one row per sample, in the order the model was trained on;
    a first row with no number in it is taken as a header. Writes one label per row.

    A row with the wrong number of columns, or an empty, non-numeric, NaN or infinite
    cell, is reported as one line naming the row (as numbered in the file) and the
    column, and nothing is written.
    """
    from tuner.files import atomic_write
    from tuner.predict import predict_csv

    labels = predict_csv(model, data)
    text = "".join(f"{label}\n" for label in labels.tolist())
    if output is None:
        click.echo(text, nl=False)
        return
    if not output.parent.is_dir():
        raise TunerError(f"-o {output}: folder {output.parent} does not exist")
    atomic_write(output, text)
    info(f"wrote {len(labels)} labels to {output}")




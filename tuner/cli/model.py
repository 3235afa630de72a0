"""Commands for the tuned model: `tuner train` and `tuner predict`."""

from __future__ import annotations

from pathlib import Path

import click

from tuner.cli.app import (
    LeanCommand,
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

# --- train / predict ----------------------------------------------------------------------

@cli.command("train")
@file_argument
# Accepted as the docs write the command (`tuner train FILE --best`); retraining the
# best trial is what `tuner train` does, so the flag changes nothing and is not passed on.
@click.option("--best", is_flag=True, expose_value=False,
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
@json_option("Machine-readable output (the card).")
@verbosity
def train_cmd(file: Path, version: str | None, output: Path,
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


@cli.command("predict", cls=LeanCommand)
@click.argument("paths", nargs=-1, metavar="MODEL DATA | --champion FILE DATA",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--champion", "study_file", metavar="FILE",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Predict with the champion of the study file FILE (`tuner champion "
                   "FILE`): the stable file it is written to, [deploy] path or the "
                   "artifact folder. Then DATA is the only argument.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the predictions to this file (default: stdout).")
@click.option("--proba", is_flag=True,
              help="Write the probability of each class instead of the label: a CSV with "
                   "a header of the class labels, one column per class, each row summing "
                   "to 1.")
@verbosity
def predict_cmd(paths: tuple[Path, ...], study_file: Path | None, output: Path | None,
                proba: bool) -> None:
    """Predict every row of the file DATA with MODEL, a file written by `tuner train`.

    Writes one prediction per row, in the order of the rows: the class label as the
    training data wrote it (with --proba, one probability per class). The model applies
    its own preprocessing to raw values; what DATA must hold depends on what the model
    was trained on.

    \b
    A model of a file or a table ([data] path, table or query): DATA is a CSV file
      (or Parquet) with a header. Columns are found by name, in any order; extra
      columns (the target, an identifier) are ignored. Blank and missing cells are
      filled as in training: the training median of a numeric column, the category
      of missing values of a categorical one (none of its categories if training
      had no gaps). A category the model never saw encodes
      as none of the known ones, and one warning line on stderr counts them. A
      missing column is an error naming it (and the column it may have meant, if one
      differs only in case, spaces or underscores).

    \b
    A model of a built-in dataset ([data] dataset): DATA is a CSV of numbers, one
      column per feature in training order; a first row with no number in it is taken
      as a header. A row with the wrong number of columns, or an empty, non-numeric,
      NaN or infinite cell, is an error.

    Every error is one line naming the row (as numbered in the file) and the column,
    and nothing is written.

    With --champion FILE, MODEL is the champion's stable file (read from FILE without
    touching the storage when FILE has a [deploy] path).
    """
    from tuner.predict import predict_file

    want = 1 if study_file is not None else 2
    if len(paths) != want:
        usage = "--champion FILE DATA" if study_file is not None else "MODEL DATA"
        raise click.UsageError(f"expected {usage}, got {len(paths)} path(s)")
    if study_file is not None:
        from tuner.deploy import champion_file

        model, data = champion_file(study_file), paths[0]
    else:
        model, data = paths

    text, n = predict_file(model, data, output, proba=proba, on_warning=warning)
    if output is None:
        click.echo(text, nl=False)
    else:
        info(f"wrote {n} {'rows of probabilities' if proba else 'predictions'} to {output}")

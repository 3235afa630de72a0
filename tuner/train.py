"""The tuned model itself: retrain the best trial, score it on the held-out test split,
save it, and attach it to its trial as Optuna artifacts.

Trials train on the training split and are ranked on the validation split; the test
split is carved off before either and no trial ever sees it. `train_best` retrains the
best trial's parameters on train + validation (same epochs, same seed) and scores the
test split once, so the gap between the trial's validation score and the test score
shows how much tuning flattered the validation split.

A model is two files: ``model.npz`` (every array `predict` needs, the float64 scaler
included, read with ``allow_pickle=False``) and ``model.json`` beside it (where the model
comes from and how good it is, for people); `tuner.model_file` writes and reads them.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import optuna
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from tuner import keys, model_file
from tuner.data import Splits, spec_splits
from tuner.errors import TunerError
from tuner.files import atomic_path, same_file
from tuner.fingerprint import short, study_fingerprints
from tuner.metrics import describe_metric
from tuner.mlp import DivergedError
from tuner.mlp.base import MLPBase

if TYPE_CHECKING:
    pass
from tuner.objective import model_class, model_params, validation_metrics
from tuner.sources import describe, resolve_path
from tuner.space import to_course
from tuner.spec import StudySpec
from tuner.storage import default_artifact_dir, rdb_models
from tuner.versions import Version, chain, parse_version_arg

if TYPE_CHECKING:
    pass

__all__ = [
    "NothingToTrain", "TrainError", "TrainedModel", "select_best", "train_best",
    "train_file", "upload_model",
]

MODEL_ATTR = keys.MODEL  # study user attribute: the last model trained from the version

class TrainError(TunerError):
    """The best trial cannot be retrained as asked."""


class NothingToTrain(TrainError):
    """The study (version) has no complete trial yet."""


# --- choosing the trial -------------------------------------------------------------------

def _has_complete(storage: RDBStorage, name: str) -> bool:
    study = optuna.load_study(storage=storage, study_name=name)
    return bool(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def select_best(storage: RDBStorage, spec: StudySpec, version: str | None = None, *,
                file: str | Path | None = None, trial: int | None = None
                ) -> tuple[Version, optuna.Study, FrozenTrial]:
    """The best complete trial of the newest version of ``spec``'s chain, or of
    ``version`` (``v2``, ``2`` or ``NAME/v2``); with ``trial``, that trial of it.

    Raises:
        NothingToTrain: no version yet, or the version has no complete trial.
        TrainError: no such version, or ``trial`` is not a complete trial of it.
    """
    run = f"run `tuner study run {file or spec.path}` first"
    versions = chain(storage, spec.name)
    if not versions:
        raise NothingToTrain(f"nothing to train yet: {run} (no study {spec.name!r} in this "
                             "storage)")
    if version is None:
        chosen = versions[-1]
    else:
        number = parse_version_arg(spec.name, version)
        if number is None:
            raise TrainError(f"--version {version!r}: expected v1, v2, ... (or "
                             f"{spec.name}/v2)")
        by_number = {v.version: v for v in versions}
        if number not in by_number:
            known = ", ".join(f"v{v.version}" for v in versions)
            raise TrainError(f"{spec.name} has no version v{number}; it has {known}")
        chosen = by_number[number]
    study = optuna.load_study(storage=storage, study_name=chosen.name)
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        older = [v for v in versions
                 if v.version < chosen.version and _has_complete(storage, v.name)]
        hint = f"; {older[-1].name} has one: --version v{older[-1].version}" if older else ""
        raise NothingToTrain(f"nothing to train yet: {run} ({chosen.name} has no complete "
                             f"trial{hint})")
    if trial is None:
        return chosen, study, study.best_trial
    picked = next((t for t in study.get_trials(deepcopy=False) if t.number == trial), None)
    if picked is None or picked.state != TrialState.COMPLETE:
        state = "no such trial" if picked is None else f"it is {picked.state.name}"
        raise TrainError(f"--trial {trial}: {chosen.name} has no complete trial {trial} "
                         f"({state}); its best is trial {study.best_trial.number}")
    return chosen, study, picked


def _check_same_data(chosen: Version, fingerprints: dict[str, Any], file: str | Path) -> None:
    """Refuse to retrain on data or a definition other than the version was tuned on: its
    validation score would not be comparable with the test score (a new test split could
    even hold rows the trials trained on)."""
    now = {"data": fingerprints["data"]["hash"], "definition": fingerprints["spec_hash"]}
    moved = [(part, str(chosen.attrs.get(keys.HASHES[part]))[:12], short(now[part]))
             for part in now if chosen.attrs.get(keys.HASHES[part]) != now[part]]
    if moved:
        what = "; ".join(f"{part} {old} -> {new}" for part, old, new in moved)
        raise TrainError(f"{' and '.join(p for p, _, _ in moved)} changed since "
                         f"{chosen.name} was tuned ({what}): its scores would not be "
                         f"comparable; run `tuner retune {file}` and train the new version")


# --- training -------------------------------------------------------------------------------

def _others(metrics: dict[str, float], chosen: str) -> str:
    """The metrics but the chosen one, for people: "mae 41.2, r2 0.44, loss 2890"."""
    return ", ".join(f"{name.removeprefix('val_')} {value:.4g}"
                     for name, value in metrics.items() if name != chosen)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class TrainedModel:
    """What `train_best` made: the model, its card, where both went."""

    model: MLPBase  # MLPCore or MLPRegressorCore: without scikit-learn's base classes
    card: dict[str, Any]
    model_path: Path
    card_path: Path
    artifacts: dict[str, str] = field(default_factory=dict)  # file name -> artifact id
    artifact_dir: Path | None = None

    @property
    def summary(self) -> str:
        """One line: validation vs test, so an over-tuned validation score shows at once."""
        c = self.card
        what = c["metric"].removeprefix("val_")
        gap = c["test_score"] - c["validation_score"]
        folds = c["data"].get("folds")
        # With folds there is no held-out validation split: the trial's value is the mean
        # over its folds, and says so (with the spread of the folds).
        validation = "validation" if folds is None else f"{folds}-fold CV mean"
        spread = c.get("fold_std")
        spread_text = "" if spread is None else f" (folds' sd {spread:.4f})"
        line = (f"{c['version']} trial {c['trial']}: {validation} {what} "
                f"{c['validation_score']:.4f}{spread_text} vs test {what} "
                f"{c['test_score']:.4f} ({gap:+.4f}; {c['data']['test_rows']} held-out "
                "rows)")
        # The task's other metrics beside the chosen one (the trial's, at its last epoch).
        others = [f"  {part}: {_others(c[key], c['metric'])}"
                  for part, key in ((validation, "validation_metrics"),
                                    ("test", "test_metrics")) if c.get(key)]
        return "\n".join([line, *others])

    def as_dict(self) -> dict[str, Any]:
        """The card and where everything went (`tuner train --json`)."""
        return {**self.card, "model_path": str(self.model_path),
                "card_path": str(self.card_path), "artifacts": self.artifacts,
                "artifact_dir": None if self.artifact_dir is None else str(self.artifact_dir)}


def train_best(storage: RDBStorage, spec: StudySpec, *, output: str | Path = "model.npz",
               version: str | None = None, splits: Splits | None = None,
               artifact_dir: str | Path | None = None, upload: bool = True,
               file: str | Path | None = None, trial: int | None = None) -> TrainedModel:
    """Retrain the best trial (or trial number ``trial``) of ``spec``'s newest (or named)
    version on train + validation, score the test split, write ``output`` and its card,
    and (``upload``) attach both to the trial as Optuna artifacts in ``artifact_dir``
    (default: `tuner.storage.default_artifact_dir` of the storage).

    Both files are written to temporary names and renamed at the end: a failure leaves
    any earlier model where it was.
    """
    file = file or spec.path
    output = Path(output)
    json_path = model_file.card_path(output)
    if output.suffix.lower() == ".json":
        raise TrainError(f"-o {output}: the model file must not end in .json ({json_path} "
                         "is its card); use e.g. model.npz")
    if not output.parent.is_dir():
        raise TrainError(f"-o {output}: folder {output.parent} does not exist")
    _check_output_is_no_input(output, json_path, spec, file, storage)

    chosen, study, trial = select_best(storage, spec, version, file=file, trial=trial)
    if splits is None:
        splits = spec_splits(spec)
    if splits.scaler is None and splits.preprocessing is None:
        raise TrainError("these splits carry neither a fitted scaler nor a preprocessing: "
                         "load them with tuner.data.spec_splits")
    fingerprints = study_fingerprints(spec, splits)
    _check_same_data(chosen, fingerprints, file)

    values = to_course(trial.params, spec.search)
    kwargs = model_params(spec, values)
    clf = model_class(spec)(**kwargs)  # no scikit-learn import for a retrain (~1-2 s)
    X = np.concatenate([splits.X_train, splits.X_val])
    y = np.concatenate([splits.y_train, splits.y_val])
    try:
        clf.fit(X, y)  # no X_val: the test split is scored once, below, and never fitted on
    except DivergedError as e:
        raise TrainError(f"retraining trial {trial.number} of {chosen.name} on train + "
                         f"validation diverged in epoch {e.epoch}: train another version "
                         "or pick parameters with `--version`") from e
    test = validation_metrics(spec, clf, splits.X_test, splits.y_test)
    metric = spec.metric
    pre = splits.preprocessing
    # A table's model predicts class indices; the card lists the labels the user wrote.
    classes = ([] if spec.task == "regression" else
               list(pre.classes) if pre is not None else clf.classes_)
    what = metric.removeprefix("val_")
    description = describe_metric(metric, spec.task)

    card: dict[str, Any] = {
        "format": model_file.CARD_FORMAT,
        "format_version": 1,
        "study": spec.name,
        "version": chosen.name,
        "version_number": chosen.version,
        "trial": trial.number,
        "direction": study.direction.name.lower(),
        "metric": metric,
        "metric_description": (
            f"{description}. validation_score: "
            + _validation_text(spec, trial.number)
            + f" test_score: this model's {what} on the held-out test split, which no "
            "trial saw, trained on training + validation with the same parameters and "
            "epochs."),
        "validation_score": float(trial.value),
        **_fold_scores(spec, trial),
        "test_score": test[metric],
        # Every metric of the task: the trial's on validation (the mean over folds with
        # [data] folds; absent for a trial run before tuner recorded them) and the
        # retrained model's on test. test_accuracy / test_loss as cards had them before.
        "task": spec.task,
        "validation_metrics": trial.user_attrs.get(keys.VAL_METRICS, {}),
        "test_metrics": test,
        **({"test_accuracy": test["val_accuracy"]} if spec.task == "classification"
           else {}),
        "test_loss": test["val_loss"],
        "params": {k: _jsonable(v) for k, v in values.items()},
        "optuna_params": trial.params,
        "model_params": {k: _jsonable(v) for k, v in kwargs.items()},
        "data": {
            "dataset": spec.data.dataset,
            "source": describe(spec.data),
            "n_features": splits.n_features,
            "classes": [_jsonable(c) for c in classes],
            "trained_rows": int(len(y)),
            "test_rows": int(len(splits.y_test)),
            "test_fraction": spec.data.test_fraction,
            "validation_fraction": spec.data.validation_fraction,
            **({"folds": spec.data.folds} if spec.data.folds is not None else {}),
            "seed": spec.data.seed,
            "test_seed": spec.data.test_seed,
        },
        "fingerprints": {
            "data": fingerprints["data"]["hash"],
            "definition": fingerprints["spec_hash"],
            "hardware_tuned": chosen.attrs.get(keys.HARDWARE_FINGERPRINT),
            "hardware_trained": fingerprints["hardware"]["hash"],
        },
        "software": fingerprints["software"],
        **({"preprocessing": pre.to_json(), "columns": list(pre.columns)}
           if pre is not None else {}),
        # Its training rows in a few numbers, against which `tuner retune` measures how
        # far later data drifted (tuner/drift.py).
        "drift_profile": _drift_profile(spec, splits),
        "study_file": str(file),
        "model_file": output.name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }

    try:
        card = model_file.write(output, clf, splits, card)
    except OSError as e:  # a read-only or full disk: the temporary files are gone
        raise TrainError(f"-o {output}: cannot write in folder {output.parent}: "
                         f"{e.strerror or e}") from None

    artifacts: dict[str, str] = {}
    folder = None
    if upload:
        folder = (default_artifact_dir(storage.url) if artifact_dir is None
                  else Path(artifact_dir).expanduser().resolve())
        artifacts = upload_model(storage, trial, [output, json_path], folder)
        study.set_user_attr(MODEL_ATTR, {
            "trial": trial.number, "metric": metric,
            "validation_score": card["validation_score"], "test_score": card["test_score"],
            "artifacts": artifacts, "model_sha256": card["model_sha256"],
            "created_at": card["created_at"],
        })
    return TrainedModel(clf, card, output, json_path, artifacts, folder)


def _drift_profile(spec: StudySpec, splits: Splits) -> dict[str, Any]:
    """The profile of the rows this model trains on (train + validation), as read."""
    from tuner.compare import current_rows, profile_of

    rows = current_rows(spec)
    return profile_of(rows.training, splits, spec.task, rows.target)


def _validation_text(spec: StudySpec, number: int) -> str:
    if spec.data.folds is None:
        return (f"what trial {number} reached on the validation split, trained on the "
                "training split.")
    return (f"the mean of what trial {number} reached on each of {spec.data.folds} "
            "cross-validation folds of training + validation (each scored on the fold "
            "it was not trained on); there is no separate validation split.")


def _fold_scores(spec: StudySpec, trial: FrozenTrial) -> dict[str, Any]:
    """Each fold's value and their standard deviation, for a cross-validated trial."""
    values = trial.user_attrs.get(keys.FOLD_VALUES)
    if spec.data.folds is None or not values:
        return {}
    return {"fold_scores": [float(v) for v in values],
            "fold_std": float(np.std(values, ddof=1))}


def _check_output_is_no_input(output: Path, card: Path, spec: StudySpec, file: str | Path,
                              storage: RDBStorage) -> None:
    """Refuse an -o (or its card) that is the study file, its data file or the SQLite
    storage: training would overwrite what it reads."""
    from sqlalchemy.engine import make_url

    inputs = {"the study file": Path(file)}
    if spec.data.path is not None:
        inputs["the data file"] = resolve_path(spec.data.path, Path(file))
    url = make_url(storage.url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        inputs["the storage"] = Path(url.database)
    for written in (output, card):
        for what, path in inputs.items():
            if same_file(written, path):
                raise TrainError(f"-o {output}: would overwrite {what} ({path}); write the "
                                 "model elsewhere")


def train_file(file: str | Path, storage: str | None = None, *,
               output: str | Path = "model.npz", version: str | None = None,
               artifact_dir: str | Path | None = None, upload: bool = True,
               on_url: Callable[[str], None] | None = None) -> TrainedModel:
    """`train_best` for the study file ``file`` (`tuner train`): resolves the storage as
    every command does (``on_url`` receives the URL) and refuses a SQLite file that does
    not exist yet rather than create an empty one."""
    from tuner.storage import NoDatabase
    from tuner.study_file import open_study_file

    door = open_study_file(file, storage, create=False, on_url=on_url)
    _ = door.url  # resolved (and its password masked) before the storage is opened
    try:
        st = door.storage
    except NoDatabase as e:
        raise TunerError(f"nothing to train yet: run `tuner study run {file}` first ({e})"
                         ) from None
    return train_best(st, door.spec, output=output, version=version, file=file,
                      artifact_dir=artifact_dir, upload=upload)


# --- artifacts ------------------------------------------------------------------------------

class _FinishedTrialAttrs:
    """The one storage method `optuna.artifacts.upload_artifact` calls for a trial, made
    to work on a finished trial.

    upload_artifact records an artifact's metadata as a system attribute of the trial,
    and Optuna's storages refuse any change to a finished trial (UpdateFinishedTrialError).
    A model is trained after tuning, so its trial is always finished. This writes the
    attribute row exactly as RDBStorage does (same table, same JSON encoding), so
    `optuna.artifacts.get_all_artifact_meta` and optuna-dashboard read it like any other.
    """

    def __init__(self, storage: RDBStorage) -> None:
        self._storage = storage

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        table = rdb_models().TrialSystemAttributeModel.__table__
        with self._storage.engine.begin() as conn:
            conn.execute(table.insert().values(trial_id=trial_id, key=key,
                                               value_json=json.dumps(value)))


def upload_model(storage: RDBStorage, trial: FrozenTrial,
                 paths: list[Path], artifact_dir: Path) -> dict[str, str]:
    """Upload ``paths`` to a `FileSystemArtifactStore` in ``artifact_dir``, attached to
    ``trial``; returns {file name: artifact id}.

    Each call uploads new copies: a model retrained later is a new artifact, and the
    earlier ones stay listed with their own ids.
    """
    from optuna.artifacts import FileSystemArtifactStore, upload_artifact

    try:
        artifact_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TrainError(f"cannot create the artifact folder {artifact_dir}: {e.strerror}; "
                         "pass --artifacts DIR") from e
    if not os.access(artifact_dir, os.W_OK):
        raise TrainError(f"artifact folder {artifact_dir} is not writable; pass --artifacts DIR")
    store = _WholeFileArtifactStore(FileSystemArtifactStore(artifact_dir), artifact_dir)
    writer: Any = _FinishedTrialAttrs(storage)  # all upload_artifact needs of a storage
    try:
        return {path.name: upload_artifact(artifact_store=store, file_path=str(path),
                                           study_or_trial=trial, storage=writer)
                for path in paths}
    except OSError as e:  # a full or read-only disk: nothing half-written is left
        raise TrainError(f"cannot write in the artifact folder {artifact_dir}: "
                         f"{e.strerror or e}; pass --artifacts DIR, or --no-upload") from None


class _WholeFileArtifactStore:
    """Optuna's file-system artifact store, with each artifact written to a temporary
    name and renamed: Optuna's own store leaves a partial file on a full disk."""

    def __init__(self, store: Any, folder: Path) -> None:
        self._store, self._folder = store, folder

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        with atomic_path(self._folder / artifact_id) as tmp, open(tmp, "wb") as f:
            shutil.copyfileobj(content_body, f)

    def open_reader(self, artifact_id: str) -> BinaryIO:
        return self._store.open_reader(artifact_id)

    def remove(self, artifact_id: str) -> None:
        self._store.remove(artifact_id)

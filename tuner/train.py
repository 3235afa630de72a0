"""The tuned model itself: retrain the best trial, score it on the held-out test split,
save it, and attach it to its trial as Optuna artifacts.

Trials train on the training split and are ranked on the validation split; the test
split is carved off before either and no trial ever sees it. `train_best` retrains the
best trial's parameters on train + validation (same epochs, same seed) and scores the
test split once, so the gap between the trial's validation score and the test score
shows how much tuning flattered the validation split.

A model is two files: ``model.npz`` (every array `predict` needs, the float64 scaler
included, read with ``allow_pickle=False``) and ``model.json`` beside it (where the model
comes from and how good it is, for people). `tuner.predict` reads them back.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from tuner import keys
from tuner.data import Splits, spec_splits
from tuner.errors import TunerError
from tuner.files import atomic_path
from tuner.fingerprint import short, study_fingerprints
from tuner.mlp import DivergedError, MLPCore

if TYPE_CHECKING:
    pass
from tuner.objective import model_params
from tuner.optuna_private import rdb_models
from tuner.sources import describe
from tuner.space import to_course
from tuner.spec import StudySpec
from tuner.storage import default_artifact_dir
from tuner.versions import Version, chain, parse_version_arg

if TYPE_CHECKING:
    pass

__all__ = [
    "CARD_FORMAT", "NothingToTrain", "TrainError", "TrainedModel", "card_path",
    "select_best", "train_best", "train_file", "upload_model",
]

CARD_FORMAT = "tuner.model-card"
SCALER_KEYS = ("scaler_mean", "scaler_scale")
PREPROCESSING_KEY = "preprocessing"  # extra array: the JSON of a table's preprocessing
MODEL_ATTR = keys.MODEL  # study user attribute: the last model trained from the version

METRIC_TEXT = {
    "val_accuracy": "accuracy: the fraction of rows whose predicted class is the true "
                    "class (higher is better)",
    "val_loss": "loss: the mean cross-entropy of the predicted class probabilities "
                "(lower is better)",
}


class TrainError(TunerError):
    """The best trial cannot be retrained as asked."""


class NothingToTrain(TrainError):
    """The study (version) has no complete trial yet."""


# --- choosing the trial -------------------------------------------------------------------

def _has_complete(storage: RDBStorage, name: str) -> bool:
    study = optuna.load_study(storage=storage, study_name=name)
    return bool(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def select_best(storage: RDBStorage, spec: StudySpec, version: str | None = None, *,
                file: str | Path | None = None) -> tuple[Version, optuna.Study, FrozenTrial]:
    """The best complete trial of the newest version of ``spec``'s chain, or of
    ``version`` (``v2``, ``2`` or ``NAME/v2``).

    Raises:
        NothingToTrain: no version yet, or the version has no complete trial.
        TrainError: no such version.
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
    return chosen, study, study.best_trial


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

def _scores(clf: MLPCore, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Accuracy and mean cross-entropy, as the trials' `val_accuracy` / `val_loss`."""
    proba = clf.predict_proba(X)
    index = np.searchsorted(clf.classes_, y)
    picked = proba[np.arange(len(y)), index].astype(np.float64)
    with np.errstate(divide="ignore"):
        loss = float(-np.mean(np.log(picked)))
    accuracy = float(np.mean(clf.classes_[proba.argmax(axis=1)] == y))
    return {"accuracy": accuracy, "loss": loss}


def card_path(model_path: str | Path) -> Path:
    """``model.npz`` -> ``model.json``, beside it."""
    return Path(model_path).with_suffix(".json")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class TrainedModel:
    """What `train_best` made: the model, its card, where both went."""

    model: MLPCore  # MLPClassifierBN without scikit-learn's base classes
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
        return (f"{c['version']} trial {c['trial']}: validation {what} "
                f"{c['validation_score']:.4f} vs test {what} {c['test_score']:.4f} "
                f"({gap:+.4f}; {c['data']['test_rows']} held-out rows)")

    def as_dict(self) -> dict[str, Any]:
        """The card and where everything went (`tuner train --json`)."""
        return {**self.card, "model_path": str(self.model_path),
                "card_path": str(self.card_path), "artifacts": self.artifacts,
                "artifact_dir": None if self.artifact_dir is None else str(self.artifact_dir)}


def train_best(storage: RDBStorage, spec: StudySpec, *, output: str | Path = "model.npz",
               version: str | None = None, splits: Splits | None = None,
               artifact_dir: str | Path | None = None, upload: bool = True,
               file: str | Path | None = None) -> TrainedModel:
    """Retrain the best trial of ``spec``'s newest (or named) version on train +
    validation, score the test split, write ``output`` and its card, and (``upload``)
    attach both to the trial as Optuna artifacts in ``artifact_dir`` (default:
    `tuner.storage.default_artifact_dir` of the storage).

    Both files are written to temporary names and renamed at the end: a failure leaves
    any earlier model where it was.
    """
    file = file or spec.path
    output = Path(output)
    json_path = card_path(output)
    if output.suffix.lower() == ".json":
        raise TrainError(f"-o {output}: the model file must not end in .json ({json_path} "
                         "is its card); use e.g. model.npz")
    if not output.parent.is_dir():
        raise TrainError(f"-o {output}: folder {output.parent} does not exist")

    chosen, study, trial = select_best(storage, spec, version, file=file)
    if splits is None:
        splits = spec_splits(spec)
    if splits.scaler is None and splits.preprocessing is None:
        raise TrainError("these splits carry neither a fitted scaler nor a preprocessing: "
                         "load them with tuner.data.spec_splits")
    fingerprints = study_fingerprints(spec, splits)
    _check_same_data(chosen, fingerprints, file)

    values = to_course(trial.params, spec.search)
    kwargs = model_params(spec, values)
    clf = MLPCore(**kwargs)  # no scikit-learn import for a retrain (~1-2 s)
    X = np.concatenate([splits.X_train, splits.X_val])
    y = np.concatenate([splits.y_train, splits.y_val])
    try:
        clf.fit(X, y)  # no X_val: the test split is scored once, below, and never fitted on
    except DivergedError as e:
        raise TrainError(f"retraining trial {trial.number} of {chosen.name} on train + "
                         f"validation diverged in epoch {e.epoch}: train another version "
                         "or pick parameters with `--version`") from e
    test = _scores(clf, splits.X_test, splits.y_test)
    metric = spec.metric
    pre = splits.preprocessing
    # A table's model predicts class indices; the card lists the labels the user wrote.
    classes = list(pre.classes) if pre is not None else clf.classes_
    what = metric.removeprefix("val_")

    card: dict[str, Any] = {
        "format": CARD_FORMAT,
        "format_version": 1,
        "study": spec.name,
        "version": chosen.name,
        "version_number": chosen.version,
        "trial": trial.number,
        "direction": study.direction.name.lower(),
        "metric": metric,
        "metric_description": (
            f"{METRIC_TEXT.get(metric, metric)}. validation_score: what trial "
            f"{trial.number} reached on the validation split, trained on the training "
            f"split. test_score: this model's {what} on the held-out test split, which no "
            "trial saw, trained on training + validation with the same parameters and "
            "epochs."),
        "validation_score": float(trial.value),
        "test_score": test[what],
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
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
        "study_file": str(file),
        "model_file": output.name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }

    # Both renamed only when both are written (the card first, then the model).
    with atomic_path(output) as tmp_model, atomic_path(json_path) as tmp_card:
        clf.save(tmp_model, **_preprocessing_arrays(splits))
        card["model_sha256"] = _sha256(tmp_model)
        tmp_card.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")

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


def _preprocessing_arrays(splits: Splits) -> dict[str, np.ndarray]:
    """What `predict` needs to turn raw rows into the model's inputs, as plain arrays.

    A built-in dataset: the float64 scaler. A file or table: the imputer medians and the
    scaler (float64 arrays) and, as a 0-d JSON string, the column names and order, the
    categories and the classes as the user wrote them -- so `predict` needs neither the
    study nor the data, and nothing is pickled.
    """
    pre = splits.preprocessing
    if pre is None:
        scaler = splits.scaler
        return {"scaler_mean": np.asarray(scaler.mean_, dtype=np.float64),
                "scaler_scale": np.asarray(scaler.scale_, dtype=np.float64)}
    return {**pre.to_arrays(), PREPROCESSING_KEY: np.array(json.dumps(pre.to_json()))}


def train_file(file: str | Path, storage: str | None = None, *,
               output: str | Path = "model.npz", version: str | None = None,
               artifact_dir: str | Path | None = None, upload: bool = True,
               on_url: Callable[[str], None] | None = None) -> TrainedModel:
    """`train_best` for the study file ``file`` (`tuner train`): resolves the storage as
    every command does (``on_url`` receives the URL) and refuses a SQLite file that does
    not exist yet rather than create an empty one."""
    from tuner.spec import load_spec
    from tuner.storage import NoDatabase, open_storage, resolve_storage_url

    spec = load_spec(file)
    url = resolve_storage_url(storage, spec.storage)
    if on_url is not None:
        on_url(url)
    try:
        st = open_storage(url, heartbeat=False, create=False)
    except NoDatabase as e:
        raise TunerError(f"nothing to train yet: run `tuner study run {file}` first ({e})"
                         ) from None
    return train_best(st, spec, output=output, version=version, file=file,
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
    store = FileSystemArtifactStore(artifact_dir)
    writer: Any = _FinishedTrialAttrs(storage)  # all upload_artifact needs of a storage
    return {path.name: upload_artifact(artifact_store=store, file_path=str(path),
                                       study_or_trial=trial, storage=writer)
            for path in paths}

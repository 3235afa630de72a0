"""What a study file can say: the frozen objects a file is parsed into, and the names
(metrics, samplers, pruners, priors) it accepts. `StudySpec.spec_hash` is the definition's
fingerprint."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tuner.errors import TunerError
from tuner.metrics import DIRECTIONS, TASKS

__all__ = ["CLASS_WEIGHTS", "METRICS", "PRIORS", "PRUNERS", "SAMPLERS", "TASKS", "DataSpec",
           "ModelSpec", "ParamSpec", "PrunerSpec", "SamplerSpec", "SpecError", "StudySpec"]


class SpecError(TunerError, ValueError):
    """A study file that cannot be used as it is."""


# metric -> the only direction that makes sense for it (tuner/metrics.py: which task each
# metric belongs to, and what it computes)
METRICS: dict[str, str] = dict(DIRECTIONS)
CLASS_WEIGHTS = ("none", "balanced")
SAMPLERS = ("tpe", "random", "grid", "cmaes", "qmc")
PRUNERS = ("median", "hyperband", "successive-halving", "none")
PRIORS = ("uniform", "log-uniform", "complement-log-uniform", "int", "log-int", "categorical")

# Options each sampler / pruner accepts besides `name` (and `seed` for samplers), with type.
SAMPLER_OPTIONS: dict[str, dict[str, type]] = {
    "tpe": {"n_startup_trials": int},
    "random": {},
    "grid": {"grid_points": int},
    "cmaes": {"n_startup_trials": int},
    "qmc": {"qmc_type": str},
}
PRUNER_OPTIONS: dict[str, dict[str, type]] = {
    "median": {"n_startup_trials": int, "n_warmup_steps": int},
    "hyperband": {"min_resource": int, "reduction_factor": int},
    "successive-halving": {"min_resource": int, "reduction_factor": int},
    "none": {},
}


@dataclass(frozen=True)
class DataSpec:
    """Where a study's rows come from: exactly one of a built-in ``dataset``, a file
    ``path``, or a database ``table`` / ``query`` (read with the URL in ``url_env``)."""

    dataset: str | None = "digits"
    test_fraction: float = 0.2
    validation_fraction: float = 0.2
    seed: int = 0
    test_seed: int | None = None
    params: tuple[tuple[str, int], ...] = ()  # synthetic only: n_samples, n_features, ...
    # The user's own data (tuner/sources.py reads it, tuner/table.py types it):
    path: str | None = None  # as written; relative to the study file
    table: str | None = None
    query: str | None = None
    url_env: str | None = None  # the environment variable holding the database URL
    target: str | None = None
    features: tuple[str, ...] | None = None  # None: every column but target and drop
    drop: tuple[str, ...] = ()
    categorical: tuple[str, ...] | None = None  # None: text, boolean and category columns
    key: tuple[str, ...] = ()  # the columns that identify a row and decide its split
    # K-fold cross-validation of train + validation in each trial (tuner/folds.py);
    # None: one validation split.
    folds: int | None = None

    @property
    def source(self) -> str:
        """Which source key the study file used: dataset, path, table or query."""
        for key in ("path", "table", "query"):
            if getattr(self, key) is not None:
                return key
        return "dataset"

    @property
    def is_table(self) -> bool:
        """True for the user's own rows (file or database), False for a built-in dataset."""
        return self.source != "dataset"

    def hash_fields(self) -> dict[str, Any]:
        """The fields `StudySpec.spec_hash` covers.

        The table-source fields and ``folds`` are left out while they are unset, so a
        study keeps the spec hash it had before they existed (otherwise every existing
        chain would re-tune for a "definition" change nobody made). ``folds`` set is in
        it: a cross-validated trial's value means something else than one split's.
        """
        fields = asdict(self)
        for key in (*_TABLE_FIELDS, "folds"):
            if fields[key] is None or fields[key] == ():
                del fields[key]
        return fields

    def loader_kwargs(self) -> dict[str, Any]:
        return {"test_fraction": self.test_fraction,
                "validation_fraction": self.validation_fraction,
                "seed": self.seed, "test_seed": self.test_seed, "params": dict(self.params)}


_TABLE_FIELDS = ("path", "table", "query", "url_env", "target", "features", "drop",
                 "categorical", "key")


@dataclass(frozen=True)
class ModelSpec:
    """Fixed values of the model, in course notation (`alpha`, `beta`)."""

    hidden: tuple[int, ...] = (64, 64)
    epochs: int = 20
    batch_size: int = 64
    dtype: str = "float32"
    alpha: float = 0.05
    beta: float = 0.9
    eps: float = 1e-5
    bn_decay: float = 0.9
    use_batchnorm: bool = True
    seed: int = 0
    class_weight: str = "none"  # or "balanced" (a classification study's)

    def hash_fields(self) -> dict[str, Any]:
        """The fields `StudySpec.spec_hash` covers: ``class_weight`` only when set, so a
        study keeps the spec hash it had before the key existed."""
        fields = asdict(self)
        if fields["class_weight"] == "none":
            del fields["class_weight"]
        return fields


@dataclass(frozen=True)
class ParamSpec:
    """One searched hyperparameter, named as in the study file."""

    name: str
    prior: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] | None = None
    grid: tuple[Any, ...] | None = None  # explicit values for the grid sampler


@dataclass(frozen=True)
class SamplerSpec:
    name: str = "tpe"
    seed: int = 0
    options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class PrunerSpec:
    name: str = "median"
    options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class DeploySpec:
    """[deploy]: where the champion model is written (`tuner.champion`); not part of the
    definition (moving the champion's file re-tunes nothing)."""

    path: Path | None = None       # resolved against the study file's folder
    written: str | None = None     # as the study file wrote it, for messages


# [retune] when: which change of the data is worth a new version (`tuner.decision`).
POLICIES = ("changed", "degraded", "drifted", "degraded-or-drifted")


@dataclass(frozen=True)
class RetuneSpec:
    """[retune]: when a change of the data re-tunes, and when a challenger replaces the
    champion (`tuner.decision`); not part of the definition."""

    when: str = "degraded-or-drifted"
    margin: float = 0.01      # the metric drop tolerated before the champion "degraded"
    drift: float = 0.2        # the PSI above which a column "drifted"
    min_gain: float = 0.0     # what a challenger must beat the champion by
    stated: bool = False      # the study file has a [retune] section


@dataclass(frozen=True)
class StudySpec:
    path: Path
    name: str
    direction: str
    metric: str
    n_trials: int
    timeout_s: float | None
    storage: str | None
    data: DataSpec
    model: ModelSpec
    search: tuple[ParamSpec, ...]
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    pruner: PrunerSpec = field(default_factory=PrunerSpec)
    # "classification" or "regression": as [study] task says, else the built-in dataset's
    # own task, else classification (tuner/target.py refuses a target that looks
    # continuous then). `task_stated`: the file said it.
    task: str = "classification"
    task_stated: bool = False
    deploy: DeploySpec = field(default_factory=DeploySpec)
    retune: RetuneSpec = field(default_factory=RetuneSpec)

    @property
    def spec_hash(self) -> str:
        """Hash of what defines the search: data, model, search space, metric.

        Computed from the parsed values, so key order, comments and spelling (1e-4 vs
        0.0001) do not change it; sampler, pruner and budget do not either.
        """
        defining = {
            "data": self.data.hash_fields(), "model": self.model.hash_fields(),
            "search": [asdict(p) for p in sorted(self.search, key=lambda p: p.name)],
            "metric": self.metric, "direction": self.direction,
        }
        if self.task_stated or self.task != "classification":  # absent before tasks
            defining["task"] = self.task
        blob = json.dumps(defining, sort_keys=True, separators=(",", ":"), default=list)
        return hashlib.sha256(blob.encode()).hexdigest()

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.search if p.name == name), None)

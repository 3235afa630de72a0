"""The version chain of a study file: NAME, NAME/v2, NAME/v3, ... in one storage.

Each version records the fingerprints it was tuned under (`tuner.keys`). This module
builds and parses version names, lists a chain, decides whether a study file needs a
new version (and names the reason), creates, prepares and tops up versions, picks a
parent's best parameters for warm-starting, and answers the questions other layers ask
of a version (finished trials, best value, which study a name means). It runs nothing:
`tuner.run` and `tuner.retune` run trials on what it prepares.
"""

from __future__ import annotations

import json
import math
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import FrozenTrial, TrialState

from tuner import keys
from tuner.errors import TunerError
from tuner.fingerprint import short
from tuner.space import distribution, optuna_name
from tuner.storage import distribution_contains, rdb_models

__all__ = [
    "ChainError", "Decision", "PARTS", "StaleVersion", "Version", "WARM_START",
    "best_params", "best_value", "budget", "chain", "complete_trials", "count_trials",
    "create_version", "current_hashes", "decide", "finished_count", "fit_to_space",
    "is_finished", "newest_version", "parse_version_arg", "prepare_version", "resolve_study",
    "split_version", "top_up", "trial_kind", "version_name", "wait_ready",
]

PARTS = ("data", "hardware", "definition")
WARM_START = 3  # the parent's best distinct parameter sets re-scored first in a new version


class ChainError(TunerError):
    """A study in the storage that tuner must not touch, or a broken chain."""


class StaleVersion(TunerError):
    """The newest version was tuned on other data, hardware or definition."""


# --- names -------------------------------------------------------------------------------

def version_name(name: str, version: int) -> str:
    """The study name of version ``version`` of chain ``name``: NAME, NAME/v2, ..."""
    return name if version == 1 else f"{name}/v{version}"


_VERSIONED = re.compile(r"^(.*)/v(\d+)$")


def split_version(study_name: str) -> tuple[str, int]:
    """``NAME/v3`` -> (NAME, 3); ``NAME`` -> (NAME, 1). The inverse of `version_name`."""
    m = _VERSIONED.match(study_name)
    return (m.group(1), int(m.group(2))) if m else (study_name, 1)


def parse_version_arg(name: str, text: str) -> int | None:
    """A version a user typed for chain ``name`` -- ``v2``, ``2``, ``NAME/v2`` or
    ``NAME`` (version 1) -- as its number; None when it is none of these."""
    raw = text.strip()
    if raw == name:
        return 1
    if raw.startswith(name + "/"):
        raw = raw[len(name) + 1:]
    raw = raw[1:] if raw[:1] in ("v", "V") else raw
    return int(raw) if raw.isdigit() and int(raw) >= 1 else None


# --- the chain -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Version:
    name: str
    version: int
    attrs: dict[str, Any]


# How long `chain` waits for a study that has some of tuner's attributes but not yet
# tuner:version to become a version (one created step by step: `_create_study` off an
# RDB storage, or by an older tuner).
CREATING_S = 120.0
# Optuna's study system attribute for `Study.set_metric_names`.
METRIC_NAMES_ATTR = "study:metric_names"


def chain(storage: BaseStorage | str, name: str) -> list[Version]:
    """The versions of ``name`` in the storage, oldest first.

    A study called ``name`` that tuner did not create (no ``tuner:version``) is refused:
    re-tuning it would mix tuner's trials into someone else's study.
    """
    backend = optuna.storages.get_storage(storage) if isinstance(storage, str) else storage
    start = time.monotonic()
    while True:
        # The studies' names and attributes only (get_all_study_summaries also reads every
        # trial of every study: ~150 ms of each command's start-up on a modest storage).
        summaries = [(s, split_version(s.study_name)) for s in backend.get_all_studies()]
        summaries = [(s, number) for s, (base, number) in summaries if base == name]
        foreign = [s for s, _ in summaries if keys.VERSION not in s.user_attrs]
        # No snapshot: the attributes are read before the trials are counted, so a study
        # another process finished creating in between shows its queued trials but not its
        # tuner:version. Found by two workers and the scheduler starting together in
        # Docker: read such a study's attributes again, and when it has become tuner's,
        # everything again.
        if any(keys.VERSION in backend.get_study_user_attrs(
                backend.get_study_id_from_name(s.study_name)) for s in foreign):
            continue
        if not foreign or any(backend.get_all_trials(
                backend.get_study_id_from_name(s.study_name), deepcopy=False) for s in foreign):
            break
        # A study with no trials and some of tuner's attributes may be one another process
        # is creating step by step this very moment: look again, for as long as CREATING_S
        # (a loaded machine, found by the crash storm on MariaDB with the CPU busy). One
        # with none of them is not being created by tuner: on an RDB storage a version
        # appears whole, tuner:version included (`_create_study`).
        creating = any(k.startswith(keys.PREFIX) for s in foreign for k in s.user_attrs)
        if not creating or time.monotonic() - start >= CREATING_S:
            break
        time.sleep(0.2)
    if foreign:
        raise ChainError(f"study {foreign[0].study_name!r} in this storage was not created by "
                         "tuner (it has no tuner:version attribute); refusing to touch it. "
                         "Rename the study in the file or use another storage")
    versions = [Version(s.study_name, number, dict(s.user_attrs)) for s, number in summaries]
    return sorted(versions, key=lambda v: v.version)


def newest_version(storage: BaseStorage | str, name: str) -> Version | None:
    versions = chain(storage, name)
    return versions[-1] if versions else None


def resolve_study(storage: BaseStorage, name: str) -> optuna.Study:
    """The study ``name`` names, for reading: NAME is a chain's newest version, NAME/vK
    (NAME/v1 included: it is stored as NAME) one version; a study tuner did not create
    can be looked at too."""
    names = optuna.get_all_study_names(storage)
    base, number = split_version(name)
    explicit = base != name
    if explicit and number == 1 and name not in names and base in names:
        name = base
    elif name not in names:
        known = ", ".join(sorted(names)) or "none"
        raise TunerError(f"no study named {name!r} in this storage; known: {known}")
    study = optuna.load_study(storage=storage, study_name=name)
    if keys.VERSION in study.user_attrs and not explicit:
        newest = newest_version(storage, name)
        if newest is not None and newest.name != name:
            study = optuna.load_study(storage=storage, study_name=newest.name)
    return study


# --- deciding --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    """What to do with a study file: create its first version, resume, or re-tune."""

    action: str                      # "create" | "up to date" | "retune"
    newest: Version | None
    target: str                      # the version to run: existing or to create
    changes: tuple[tuple[str, str, str], ...] = field(default=())  # (part, old, new)
    forced: bool = False             # `retune --force` with nothing changed

    @property
    def reason(self) -> str:
        """e.g. "data 1a2b3c4d5e6f -> 9f8e7d6c5b4a; hardware ..." (or "forced")."""
        if not self.changes:
            return "forced" if self.forced else ""
        return "; ".join(f"{part} {old} -> {new}" for part, old, new in self.changes)

    @property
    def corrupted(self) -> tuple[str, ...]:
        """Parts whose stored hash is missing or mangled (treated as changed)."""
        return tuple(part for part, old, _ in self.changes if old in ("corrupted", "missing"))

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(part for part, _, _ in self.changes)

    def forcing(self, storage: BaseStorage) -> Decision:
        """The decision under ``--force``: an up-to-date version re-tuned anyway, but only
        once it is finished (`is_finished`); an unfinished one is joined, flagged forced.

        Processes forcing together all read the same newest version: while it is
        unfinished they join it, and once it is finished they all aim at the same next
        name, which only one of them can create (`create_version`). So each finished
        version has at most one forced successor, however many processes race.
        """
        if self.action != "up to date" or self.newest is None:
            return self
        if not is_finished(optuna.load_study(storage=storage, study_name=self.newest.name)):
            return Decision("up to date", self.newest, self.target, forced=True)
        base, _ = split_version(self.newest.name)
        return Decision("retune", self.newest, version_name(base, self.newest.version + 1),
                        forced=True)


def current_hashes(fingerprints: dict[str, Any]) -> dict[str, str]:
    """The three hashes a version is compared on, from `study_fingerprints`."""
    return {"data": fingerprints["data"]["hash"], "hardware": fingerprints["hardware"]["hash"],
            "definition": fingerprints["spec_hash"]}


def decide(storage: BaseStorage | str, name: str, fingerprints: dict[str, Any]) -> Decision:
    """Compare the newest version of ``name`` with the current fingerprints."""
    newest = newest_version(storage, name)
    if newest is None:
        return Decision("create", None, version_name(name, 1))
    now = current_hashes(fingerprints)
    changes = []
    for part in PARTS:
        old = newest.attrs.get(keys.HASHES[part])
        if not isinstance(old, str) or not re.fullmatch(r"[0-9a-f]{16,}", old):
            # A missing or mangled attribute is a change we cannot rule out.
            changes.append((part, "corrupted" if old is not None else "missing",
                            short(now[part])))
        elif old != now[part]:
            changes.append((part, short(old), short(now[part])))
    if not changes:
        return Decision("up to date", newest, newest.name)
    return Decision("retune", newest, version_name(name, newest.version + 1), tuple(changes))


# --- study queries ---------------------------------------------------------------------------

def finished_count(study: optuna.Study) -> int:
    """Trials that count toward the budget as done: COMPLETE or PRUNED (diverged too)."""
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def complete_trials(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def best_value(study: optuna.Study) -> float | None:
    return study.best_value if complete_trials(study) else None


def trial_kind(trial: FrozenTrial) -> str:
    """complete, pruned, diverged (a PRUNED trial whose loss blew up), failed, running or
    waiting."""
    if trial.state == TrialState.PRUNED and trial.user_attrs.get(keys.DIVERGED):
        return "diverged"
    return trial.state.name.lower().replace("fail", "failed")


def count_trials(trials: Any) -> dict[str, int]:
    """How many of ``trials`` are of each `trial_kind`, every kind present."""
    counts = dict.fromkeys(("complete", "pruned", "diverged", "failed", "running",
                            "waiting"), 0)
    for t in trials:
        counts[trial_kind(t)] += 1
    return counts


def is_finished(study: optuna.Study) -> bool:
    """Its budget set, that many trials finished, and nothing RUNNING or WAITING."""
    if keys.N_TRIALS not in study.user_attrs:
        return False  # still being created by another process
    counts = count_trials(study.get_trials(deepcopy=False))
    done = counts["complete"] + counts["pruned"] + counts["diverged"]
    return done >= budget(study, 0) and not counts["running"] and not counts["waiting"]


def budget(study: optuna.Study, default: int) -> int:
    """The version's n_trials (``tuner:n_trials``), or ``default`` before it is set."""
    return int(study.user_attrs.get(keys.N_TRIALS, default))


# --- creating and preparing versions ---------------------------------------------------------

def wait_ready(study: optuna.Study, timeout_s: float = 60.0) -> None:
    """Wait until the process that won the race to create ``study`` has queued its trials."""
    deadline = time.monotonic() + timeout_s
    while keys.N_TRIALS not in study.user_attrs:
        if time.monotonic() > deadline:
            raise ChainError(f"study {study.study_name!r} was created by another process that "
                             "did not finish queueing its trials; run `tuner study run` on the "
                             "file to repair it")
        time.sleep(0.2)


def create_version(storage: BaseStorage, spec: Any, fingerprints: dict[str, Any],
                   decision: Decision, *, n_trials: int,
                   warm_start: list[dict[str, Any]] | tuple = ()) -> tuple[optuna.Study, bool]:
    """Create the version ``decision.target`` and queue its trials.

    The parent's best parameters (``warm_start``, Optuna's names) are queued first; they
    count toward ``n_trials``. Creation is atomic on the study name: when two
    processes race, one creates it and the other loads it. Returns (study, created).
    """
    hashes = current_hashes(fingerprints)
    attrs: dict[str, Any] = {keys.HASHES[part]: hashes[part] for part in PARTS}
    attrs[keys.PARENT] = decision.newest.name if decision.newest else None
    attrs[keys.REASON] = decision.reason or "first version"
    attrs[keys.FINGERPRINTS] = {
        "task": spec.task,
        "data": fingerprints["data"]["components"],
        "hardware": fingerprints["hardware"]["components"],
        "software": fingerprints["software"],
    }
    attrs[keys.STUDY_FILE] = str(spec.path)
    # Last: a study created step by step is a version only once it has all the rest.
    attrs[keys.VERSION] = 1 if decision.newest is None else decision.newest.version + 1
    try:
        study = _create_study(storage, decision.target, spec.direction, spec.metric, attrs)
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(storage=storage, study_name=decision.target)
        wait_ready(study)
        return study, False
    for params in warm_start[:n_trials]:
        study.enqueue_trial(params, user_attrs={keys.WARM_START: True})
    top_up(study, n_trials)
    return study, True


def _create_study(storage: BaseStorage, name: str, direction: str, metric: str,
                  attrs: dict[str, Any]) -> optuna.Study:
    """Create the study ``name`` with its user attributes ``attrs``; raises
    DuplicatedStudyError when it exists.

    On an RDB storage the study, its direction, its metric name and every attribute are
    one transaction: no other process ever sees the study without ``tuner:version``, so
    `chain` can call such a study foreign at once. Another storage (in memory: one
    process) gets Optuna's calls one after the other, ``tuner:version`` last.
    """
    if not isinstance(storage, RDBStorage):
        study = optuna.create_study(storage=storage, study_name=name, direction=direction)
        # The dashboard and Optuna's CLI then label the objective "val_accuracy", not
        # "Objective 0".
        with warnings.catch_warnings():  # "experimental" since Optuna 3.2
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([metric])
        for key, value in attrs.items():
            study.set_user_attr(key, value)
        return study
    import sqlalchemy.exc

    models = rdb_models()
    # The rows Optuna's create_new_study, set_metric_names and set_user_attr write, with
    # the JSON encoding they use.
    row = models.StudyModel(
        study_name=name,
        directions=[models.StudyDirectionModel(
            objective=0, direction=optuna.study.StudyDirection[direction.upper()])],
        system_attributes=[models.StudySystemAttributeModel(
            key=METRIC_NAMES_ATTR, value_json=json.dumps([metric]))],
        user_attributes=[models.StudyUserAttributeModel(key=k, value_json=json.dumps(v))
                         for k, v in attrs.items()])
    session = storage.scoped_session()
    try:
        session.add(row)
        session.commit()
    except sqlalchemy.exc.IntegrityError:
        session.rollback()
        raise optuna.exceptions.DuplicatedStudyError(name) from None
    except BaseException:
        session.rollback()
        raise
    finally:
        storage.scoped_session.remove()
    return optuna.load_study(storage=storage, study_name=name)


def top_up(study: optuna.Study, n_trials: int) -> None:
    """Set the version's budget to ``n_trials``.

    Workers create trials only while the version holds fewer than this many finished,
    running or queued trials (`tuner.storage.TunerStorage`); setting it also marks a new
    version ready for the workers waiting on it.
    """
    current = study.user_attrs.get(keys.N_TRIALS)
    if current != n_trials:
        study.set_user_attr(keys.N_TRIALS, n_trials)


def prepare_version(storage: BaseStorage, spec: Any, fingerprints: dict[str, Any], *,
                    file: str | Path, n_trials: int | None = None,
                    owner: bool = True) -> tuple[str, Decision]:
    """Create the study's first version, or check that the newest one is still current.

    ``owner`` (``tuner study run``) also queues trials up to ``n_trials`` on an existing
    version, so an interrupted run resumes; workers only join. Returns the version name.
    """
    decision = decide(storage, spec.name, fingerprints)
    target = n_trials or spec.n_trials
    if decision.action == "create":
        study, _ = create_version(storage, spec, fingerprints, decision, n_trials=target)
        return study.study_name, decision
    if decision.action == "retune":
        parts = " and ".join(decision.parts)
        hint = (" (or set TUNER_HARDWARE_LABEL to share a study across machines of one class)"
                if "hardware" in decision.parts else "")
        raise StaleVersion(f"{parts} changed since {decision.newest.name} was tuned "
                           f"({decision.reason}); run `tuner retune {file}`{hint}")
    study = optuna.load_study(storage=storage, study_name=decision.target)
    if study.direction.name.lower() != spec.direction:
        raise TunerError(f"study {study.study_name!r} in the storage is "
                         f"{study.direction.name.lower()} but {file} says {spec.direction}")
    if owner:
        top_up(study, max(target, study.user_attrs.get(keys.N_TRIALS, 0))
               if n_trials is None else target)
    return study.study_name, decision


# --- warm starts -----------------------------------------------------------------------------

def best_params(study: optuna.Study, k: int = WARM_START) -> list[dict[str, Any]]:
    """The parameters (Optuna's names) of the ``k`` best distinct COMPLETE trials."""
    complete = [t for t in complete_trials(study)
                if t.value is not None and math.isfinite(t.value)]
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
    complete.sort(key=lambda t: (sign * t.value, t.number))
    picked: list[dict[str, Any]] = []
    for t in complete:
        if t.params and t.params not in picked:
            picked.append(dict(t.params))
        if len(picked) == k:
            break
    return picked


def fit_to_space(params: list[dict[str, Any]], spec: Any) -> list[dict[str, Any]]:
    """Keep, of each parameter set, the values the new search space can take.

    After a definition change a parameter may be gone or its old best value out of the
    new range: such a value is dropped (the sampler proposes it) rather than clipped, so
    a warm-start trial never runs a value the study file rules out.
    """
    space = {optuna_name(p): distribution(p) for p in spec.search}
    fitted: list[dict[str, Any]] = []
    for p in params:
        kept = {name: value for name, value in p.items()
                if name in space and distribution_contains(space[name], value)}
        if kept and kept not in fitted:
            fitted.append(kept)
    return fitted

"""Study versions: one study file owns a chain NAME, NAME/v2, NAME/v3, ...

Each version records the fingerprints it was tuned under. A new version is due when the
data, the hardware or the definition moved; this module decides, names the reason, and
creates the version warm-started from its parent's best parameters.
"""

from __future__ import annotations

import math
import re
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from tuner.errors import TunerError
from tuner.fingerprint import short
from tuner.storage import N_TRIALS_ATTR

if TYPE_CHECKING:
    from tuner.storage import TunerStorage

__all__ = [
    "ATTR", "ChainError", "Decision", "RetuneResult", "best_params", "chain",
    "create_version", "decide", "fit_to_space", "newest_version", "retune", "retune_file",
    "top_up", "version_name",
]

# Study user attributes, the contract of DESIGN.md ("Study versions").
ATTR = {
    "data": "tuner:data_fingerprint",
    "hardware": "tuner:hardware_fingerprint",
    "definition": "tuner:spec_hash",
    "version": "tuner:version",
    "parent": "tuner:parent",
    "reason": "tuner:reason",
}
COMPONENTS_ATTR = "tuner:fingerprints"    # what the hashes were computed from, for people
PARTS = ("data", "hardware", "definition")


class ChainError(TunerError):
    """A study in the storage that tuner must not touch, or a broken chain."""


def version_name(name: str, version: int) -> str:
    return name if version == 1 else f"{name}/v{version}"


@dataclass(frozen=True)
class Version:
    name: str
    version: int
    attrs: dict[str, Any]


def chain(storage: BaseStorage | str, name: str) -> list[Version]:
    """The versions of ``name`` in the storage, oldest first.

    A study called ``name`` that tuner did not create (no ``tuner:version``) is refused:
    re-tuning it would mix tuner's trials into someone else's study.
    """
    storage = optuna.storages.get_storage(storage)
    pattern = re.compile(rf"^{re.escape(name)}(?:/v(\d+))?$")
    for _ in range(25):
        summaries = [(s, pattern.match(s.study_name)) for s in
                     optuna.get_all_study_summaries(storage, include_best_trial=False)]
        summaries = [(s, m) for s, m in summaries if m]
        foreign = [s for s, _ in summaries if ATTR["version"] not in s.user_attrs]
        # The summaries are no snapshot: the attributes are read before the trials are
        # counted, so a study another process finished creating in between shows its
        # queued trials but not its tuner:version. Found by two workers and the scheduler
        # starting together in Docker: read such a study's attributes again, and when it
        # has become tuner's, everything again.
        if any(ATTR["version"] in storage.get_study_user_attrs(s._study_id) for s in foreign):
            continue
        # A study with no attributes and no trials may be one another process is creating
        # this very moment: look again shortly before calling it foreign.
        if not foreign or any(s.n_trials for s in foreign):
            break
        time.sleep(0.2)
    if foreign:
        raise ChainError(f"study {foreign[0].study_name!r} in this storage was not created by "
                         "tuner (it has no tuner:version attribute); refusing to touch it. "
                         "Rename the study in the file or use another storage")
    versions = [Version(s.study_name, int(m.group(1) or 1), dict(s.user_attrs))
                for s, m in summaries]
    return sorted(versions, key=lambda v: v.version)


def newest_version(storage: BaseStorage | str, name: str) -> Version | None:
    versions = chain(storage, name)
    return versions[-1] if versions else None


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
        old = newest.attrs.get(ATTR[part])
        if not isinstance(old, str) or not re.fullmatch(r"[0-9a-f]{16,}", old):
            # A missing or mangled attribute is a change we cannot rule out.
            changes.append((part, "corrupted" if old is not None else "missing",
                            short(now[part])))
        elif old != now[part]:
            changes.append((part, short(old), short(now[part])))
    if not changes:
        return Decision("up to date", newest, newest.name)
    return Decision("retune", newest, version_name(name, newest.version + 1), tuple(changes))


def finished_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _wait_ready(study: optuna.Study, timeout_s: float = 60.0) -> None:
    """Wait until the process that won the race to create ``study`` has queued its trials."""
    deadline = time.monotonic() + timeout_s
    while N_TRIALS_ATTR not in study.user_attrs:
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
    version = 1 if decision.newest is None else decision.newest.version + 1
    try:
        study = optuna.create_study(storage=storage, study_name=decision.target,
                                    direction=spec.direction)
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(storage=storage, study_name=decision.target)
        _wait_ready(study)
        return study, False
    # The dashboard and Optuna's CLI then label the objective "val_accuracy", not "Objective 0".
    with warnings.catch_warnings():  # "experimental" since Optuna 3.2
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([spec.metric])
    hashes = current_hashes(fingerprints)
    for part in PARTS:
        study.set_user_attr(ATTR[part], hashes[part])
    study.set_user_attr(ATTR["parent"], decision.newest.name if decision.newest else None)
    study.set_user_attr(ATTR["reason"], decision.reason or "first version")
    study.set_user_attr(COMPONENTS_ATTR, {
        "data": fingerprints["data"]["components"],
        "hardware": fingerprints["hardware"]["components"],
        "software": fingerprints["software"],
    })
    study.set_user_attr("tuner:study_file", str(spec.path))
    # Written last: until a study has it, `chain` waits rather than read a half-written
    # version (another process's `decide` would see missing hashes and make one more).
    study.set_user_attr(ATTR["version"], version)
    for params in warm_start[:n_trials]:
        study.enqueue_trial(params, user_attrs={"tuner:warm_start": True})
    top_up(study, n_trials)
    return study, True


def top_up(study: optuna.Study, n_trials: int) -> None:
    """Set the version's budget to ``n_trials``.

    Workers create trials only while the version holds fewer than this many finished,
    running or queued trials (`tuner.storage.TunerStorage`); setting it also marks a new
    version ready for the workers waiting on it.
    """
    current = study.user_attrs.get(N_TRIALS_ATTR)
    if current != n_trials:
        study.set_user_attr(N_TRIALS_ATTR, n_trials)


# --- re-tuning a study file -----------------------------------------------------------

WARM_START = 3  # the parent's best distinct parameter sets re-scored first in a new version


def best_params(study: optuna.Study, k: int = WARM_START) -> list[dict[str, Any]]:
    """The parameters (Optuna's names) of the ``k`` best distinct COMPLETE trials."""
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
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
    from tuner.space import distribution, optuna_name

    space = {optuna_name(p): distribution(p) for p in spec.search}
    fitted: list[dict[str, Any]] = []
    for p in params:
        kept = {}
        for name, value in p.items():
            dist = space.get(name)
            if dist is None:
                continue
            try:
                # Optuna's own check for an enqueued value (Trial._is_fixed_param).
                ok = dist._contains(dist.to_internal_repr(value))
            except (ValueError, TypeError):
                ok = False
            if ok:
                kept[name] = value
        if kept and kept not in fitted:
            fitted.append(kept)
    return fitted


@dataclass
class RetuneResult:
    """What `retune_file` decided and did, for people (``message``) and scripts."""

    file: str
    study: str                          # the chain's name (first version's name)
    storage: str                        # masked URL
    action: str                         # "create" | "retune" | "resume" | "up to date"
    version: str                        # the version decided on, created or run
    parent: str | None = None
    reason: str = ""
    changes: list[dict[str, str]] = field(default_factory=list)
    corrupted: list[str] = field(default_factory=list)
    dry_run: bool = False
    created: bool = False               # this process created ``version``
    warm_start: list[dict[str, Any]] = field(default_factory=list)  # course notation
    n_trials: int = 0
    ran: int = 0                        # trials this process finished
    finished: int = 0                   # trials of the version finished by anyone
    stopped: bool = False
    best: float | None = None
    parent_best: float | None = None
    rescored_best: float | None = None  # best of the parent's parameters on the new data
    better: bool | None = None
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _complete(study: optuna.Study) -> list[Any]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def _best_value(study: optuna.Study) -> float | None:
    return study.best_value if _complete(study) else None


def _worker_seed(base: int) -> int:
    """A seed of its own for a process joining a version another one runs: the same seed
    on two workers proposes the same parameters."""
    import os
    import socket
    import zlib

    return (base + zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode())) % 2**31


def _open_read_only(url: str) -> TunerStorage | None:
    """The storage at ``url`` for a dry run, or None when it holds no Optuna tables yet.

    Opening a fresh database would create the tables (and a SQLite file): a dry run must
    write nothing, so look first.
    """
    import sqlalchemy
    from sqlalchemy.engine import make_url

    from tuner.storage import StorageError, mask_url, open_storage

    try:
        parsed = make_url(url)
    except Exception:
        return open_storage(url, heartbeat=False)  # raises the one-line "malformed" error
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite:
        db = parsed.database
        if not db or db == ":memory:":
            return open_storage(url, heartbeat=False)  # raises "names no file"
        if not Path(db).expanduser().exists():
            return None
    try:
        engine = sqlalchemy.create_engine(
            url, connect_args={} if sqlite else {"connect_timeout": 5})
        try:
            if not sqlalchemy.inspect(engine).has_table("studies"):
                return None
        finally:
            engine.dispose()
    except (sqlalchemy.exc.SQLAlchemyError, ImportError) as e:
        line = str(getattr(e, "orig", None) or e).strip().splitlines()
        raise StorageError(f"cannot open storage {mask_url(url)}: "
                           f"{line[0] if line else type(e).__name__}") from None
    return open_storage(url, heartbeat=False)


def _verdict(result: RetuneResult, study: optuna.Study, parent: optuna.Study | None,
             metric: str) -> str:
    """One line comparing the parent's best value with the new version's."""
    name = study.study_name
    trials = f"{result.finished} of {result.n_trials} trials finished"
    if result.best is None:
        return f"{name}: no complete trial yet; {trials}"
    text = f"{name}: best {metric} {result.best:.4f}"
    if parent is None:
        return f"{text} (first version); {trials}"
    if parent.direction != study.direction:
        return (f"{text}; parent {parent.study_name} optimized another metric, not "
                f"comparable; {trials}")
    if result.parent_best is None:
        return f"{text}; parent {parent.study_name} had no complete trial; {trials}"
    delta = result.best - result.parent_best
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    result.better = (delta > 0) if maximize else (delta < 0)
    how = "same as" if delta == 0 else "better than" if result.better else "worse than"
    text += (f", {how} parent {parent.study_name} {result.parent_best:.4f} "
             f"({delta:+.4f})")
    if result.rescored_best is not None:
        text += f"; its best parameters re-scored now: {result.rescored_best:.4f}"
    return f"{text}; {trials}"


def retune_file(file: str | Path, storage: str | TunerStorage | None = None, *,
                force: bool = False, dry_run: bool = False,
                stop: threading.Event | None = None,
                emit: Callable[[str], None] | None = None,
                on_trial: Callable[[optuna.Study, Any], None] | None = None
                ) -> RetuneResult:
    """Re-tune the study in ``file`` if its data, hardware or definition changed.

    Compares the current fingerprints with the newest version of the file's chain and:
    creates ``NAME`` when there is no chain; creates the next version, warm-started with
    the parent's best parameters, when something changed (or ``force``); finishes the
    newest version when it has fewer finished trials than its n_trials (a retune stopped
    half-way, or one another process is running now); and otherwise runs nothing
    ("up to date"). ``dry_run`` decides and writes nothing.

    ``storage`` is a URL (None: `$TUNER_STORAGE`, the file's `storage`, the default) or an
    open storage. ``emit`` receives the human-readable lines; ``stop`` (set by a signal)
    ends the running trial after its current epoch and hands it back to the queue.
    """
    from tuner.data import load_splits
    from tuner.fingerprint import study_fingerprints
    from tuner.spec import load_spec
    from tuner.storage import TunerStorage, mask_url, open_storage, resolve_storage_url
    from tuner.worker import work

    if isinstance(storage, BaseStorage) and not isinstance(storage, TunerStorage):
        # Only TunerStorage holds workers to the version's n_trials; on another storage
        # `work` would never stop creating trials.
        raise TypeError("storage must be a URL or tuner.storage.open_storage(url)")
    say = emit or (lambda _line: None)
    stop = stop or threading.Event()
    spec = load_spec(file)
    splits = load_splits(spec.data.dataset, dtype=spec.model.dtype,
                         **spec.data.loader_kwargs())
    fingerprints = study_fingerprints(spec, splits)

    owned = not isinstance(storage, BaseStorage)
    if owned:
        url = resolve_storage_url(storage, spec.storage)
        st = _open_read_only(url) if dry_run else open_storage(url)
        where = mask_url(url)
    else:
        st, where = storage, type(storage).__name__
    try:
        if st is None:  # dry run on a storage that does not exist yet
            decision = Decision("create", None, version_name(spec.name, 1))
        else:
            decision = decide(st, spec.name, fingerprints)
        if decision.action == "up to date" and force:
            newest = decision.newest
            decision = Decision("retune", newest, version_name(spec.name, newest.version + 1),
                                forced=True)
        result = RetuneResult(
            file=str(file), study=spec.name, storage=where, action=decision.action,
            version=decision.target, parent=decision.newest.name if decision.newest else None,
            reason=decision.reason or ("first version" if decision.action == "create" else ""),
            changes=[{"part": p, "old": o, "new": n} for p, o, n in decision.changes],
            corrupted=list(decision.corrupted), dry_run=dry_run, n_trials=spec.n_trials)
        for part in decision.corrupted:
            old = decision.newest.attrs.get(ATTR[part])
            say(f"{spec.name}: {ATTR[part]} of {decision.newest.name} is "
                f"{'missing' if old is None else f'corrupted ({str(old)[:20]!r})'}: "
                f"treating the {part} as changed")
        return _act(result, decision, st, spec, splits, fingerprints, stop=stop,
                    say=say, on_trial=on_trial, work=work)
    finally:
        if owned and st is not None:
            st.remove_session()
            st.engine.dispose()


def _act(result: RetuneResult, decision: Decision, st: Any, spec: Any, splits: Any,
         fingerprints: dict[str, Any], *, stop: threading.Event,
         say: Callable[[str], None], on_trial: Any, work: Callable[..., Any]
         ) -> RetuneResult:
    from tuner.space import to_course

    name, dry = spec.name, result.dry_run
    parent = (optuna.load_study(storage=st, study_name=decision.newest.name)
              if decision.newest is not None else None)

    if decision.action == "up to date":
        study = parent
        assert study is not None
        if N_TRIALS_ATTR not in study.user_attrs and not dry:
            _wait_ready(study)  # its creator, another process, is still setting it up
        result.parent = study.user_attrs.get(ATTR["parent"])
        result.n_trials = int(study.user_attrs.get(N_TRIALS_ATTR, spec.n_trials))
        result.finished, result.best = finished_count(study), _best_value(study)
        if result.finished >= result.n_trials:
            best = "" if result.best is None else f", best {spec.metric} {result.best:.4f}"
            result.message = (f"{name}: up to date ({study.study_name}, {result.finished} of "
                              f"{result.n_trials} trials finished{best})")
            say(result.message)
            return result
        # Current but unfinished: a retune stopped half-way, or another process running
        # it right now. Finish it (as one more worker) rather than call it up to date.
        result.action = "resume"
        if dry:
            result.message = (f"{name}: {study.study_name} is current but has {result.finished} "
                              f"of {result.n_trials} trials finished: would resume it "
                              "(dry run: nothing written)")
            say(result.message)
            return result
        say(f"{name}: {study.study_name} is current; resuming it ({result.finished} of "
            f"{result.n_trials} trials finished)")
        parent = (optuna.load_study(storage=st, study_name=result.parent)
                  if result.parent else None)
        seed = _worker_seed(spec.sampler.seed)
    else:
        warm = fit_to_space(best_params(parent), spec) if parent is not None else []
        result.warm_start = [to_course(p, spec.search) for p in warm[:spec.n_trials]]
        why = ("no version yet" if decision.action == "create" else
               "forced" if decision.forced else
               f"{' and '.join(decision.parts)} changed ({decision.reason})")
        plan = f"create {decision.target}"
        if parent is not None:
            plan += f" from {parent.study_name}"
        plan += f" and run {spec.n_trials} trials"
        if warm:
            plan += f", the first {len(result.warm_start)} with its best parameters"
        if dry:
            result.message = f"{name}: {why}: would {plan} (dry run: nothing written)"
            say(result.message)
            return result
        study, result.created = create_version(st, spec, fingerprints, decision,
                                               n_trials=spec.n_trials, warm_start=warm)
        if result.created:
            say(f"{name}: {why}: {plan.replace('create', 'created', 1)}")
            seed = spec.sampler.seed
        else:
            say(f"{name}: {why}: {decision.target} was just created by another process; "
                "joining it as a worker")
            seed = _worker_seed(spec.sampler.seed)
        result.n_trials = int(study.user_attrs.get(N_TRIALS_ATTR, spec.n_trials))

    run = work(st, spec, splits, study.study_name, seed=seed, stop=stop,
               timeout_s=spec.timeout_s, on_trial=on_trial)
    study = optuna.load_study(storage=st, study_name=study.study_name)
    result.version, result.ran, result.stopped = study.study_name, run.ran, run.stopped
    result.finished, result.best = finished_count(study), _best_value(study)
    if parent is not None:
        result.parent = parent.study_name
        result.parent_best = _best_value(parent)
        rescored = [t.value for t in _complete(study) if t.user_attrs.get("tuner:warm_start")]
        if rescored:
            result.rescored_best = (max if study.direction ==
                                    optuna.study.StudyDirection.MAXIMIZE else min)(rescored)
    result.message = _verdict(result, study, parent, spec.metric)
    if run.stopped or run.timed_out:
        how = "stopped" if run.stopped else "timeout"
        result.message = (f"{how}: {result.message}; run `tuner retune {result.file}` "
                          "again to finish it")
    say(result.message)
    return result


def retune(files: list[str | Path] | str | Path, storage: str | TunerStorage | None = None,
           *, force: bool = False, dry_run: bool = False,
           stop: threading.Event | None = None,
           emit: Callable[[str], None] | None = None) -> list[RetuneResult]:
    """`retune_file` for each file in turn; stops at the first error or when ``stop`` is
    set. (The CLI and the scheduler go on past a failing file; see there.)"""
    if isinstance(files, (str, Path)):
        files = [files]
    stop = stop or threading.Event()
    results = []
    for file in files:
        if stop.is_set():
            break
        results.append(retune_file(file, storage, force=force, dry_run=dry_run, stop=stop,
                                   emit=emit))
    return results

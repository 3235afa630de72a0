"""Re-tuning a study file: `retune_file` and its result.

Computes the file's fingerprints, asks `tuner.versions` what to do (create the first
version, resume the current one, or create the next version warm-started from its
parent's best parameters), runs the version's trials as one more worker
(`tuner.worker.work`), and compares the new best with the parent's in one line.
`tuner schedule` calls it at the times a cron expression names.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage

from tuner import keys
from tuner.errors import error_line, exit_code
from tuner.space import to_course
from tuner.storage import TunerStorage
from tuner.study_file import StudyFile, open_study_file
from tuner.versions import (
    Decision,
    best_params,
    best_value,
    budget,
    complete_trials,
    create_version,
    decide,
    finished_count,
    fit_to_space,
    version_name,
    wait_ready,
)
from tuner.worker import work, worker_seed

__all__ = ["RetuneBatch", "RetuneResult", "retune_file", "retune_files"]


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
    # Decide, then re-tune (tuner/decision.py): the champion re-scored on today's data and
    # the drift, when only the data moved; the challenger of a finished version.
    assessment: dict[str, Any] | None = None
    drift: dict[str, float] = field(default_factory=dict)
    challenger: dict[str, Any] | None = None
    promotion: str | None = None        # "promoted" | "refused" | None
    champion: dict[str, Any] | None = None  # the champion after this retune
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    if isinstance(storage, BaseStorage) and not isinstance(storage, TunerStorage):
        # Only TunerStorage holds workers to the version's n_trials; on another storage
        # `work` would never stop creating trials.
        raise TypeError("storage must be a URL or tuner.storage.open_storage(url)")
    say = emit or (lambda _line: None)
    stop = stop or threading.Event()
    # The sampler and pruner are checked before any version is created; a dry run only
    # looks (no tables made on a fresh storage).
    door = open_study_file(file, storage, read_only=dry_run)
    if dry_run:
        door.check_search()
    spec = door.spec
    _ = door.splits  # the trials' data, from which the data fingerprint is computed
    st = door.storage
    try:
        for _attempt in range(3):
            decision = _decision(door, force)
            result = RetuneResult(
                file=str(file), study=spec.name, storage=door.where, action=decision.action,
                version=decision.target,
                parent=decision.newest.name if decision.newest else None,
                reason=decision.reason or ("first version" if decision.action == "create"
                                           else ""),
                changes=[{"part": p, "old": o, "new": n} for p, o, n in decision.changes],
                corrupted=list(decision.corrupted), dry_run=dry_run, n_trials=spec.n_trials)
            for part in decision.corrupted:
                old = decision.newest.attrs.get(keys.HASHES[part])
                say(f"{spec.name}: {keys.HASHES[part]} of {decision.newest.name} is "
                    f"{'missing' if old is None else f'corrupted ({str(old)[:20]!r})'}: "
                    f"treating the {part} as changed")
            if not (_data_only(decision) and st is not None):
                break
            held = _before_retune(result, decision, door, say)
            if held is not _CHAIN_MOVED:
                if held is not None:
                    return held
                break
            # Another process made a version (and maybe a champion) between this
            # process's decision and the chain's lock: decide again on the chain as it is.
        result = _act(result, decision, door, stop=stop, say=say, on_trial=on_trial)
        if st is not None and not dry_run:
            _after_version(result, door, say)
        return result
    finally:
        door.close()


def _decision(door: StudyFile, force: bool) -> Decision:
    st, spec = door.storage, door.spec
    if st is None:  # dry run on a storage that does not exist yet
        return Decision("create", None, version_name(spec.name, 1))
    decision = decide(st, spec.name, door.fingerprints)
    return decision.forcing(st) if force else decision


# `_before_retune`'s answer when the chain moved after the caller decided.
_CHAIN_MOVED: Any = object()


def _data_only(decision: Decision) -> bool:
    """Whether only the data moved: the one change a champion may outlive (hardware and
    definition changes, and --force, make a new version as before)."""
    return decision.action == "retune" and not decision.forced and decision.parts == ("data",)


def _before_retune(result: RetuneResult, decision: Decision, door: StudyFile,
                   say: Callable[[str], None]) -> Any:
    """Decide, under the chain's lock, whether the champion holds on the new data: the
    result to return when it does (no version, no trial), None to re-tune, and
    `_CHAIN_MOVED` when the chain's newest version is no longer ``decision.newest``
    (another process re-tuned, and perhaps promoted, in between: decide again)."""
    from tuner import history
    from tuner.chain_lock import chain_lock
    from tuner.champion import chain_champion
    from tuner.compare import current_rows
    from tuner.decision import HOLDS, RETUNE, assess, decided
    from tuner.versions import newest_version

    st, spec = door.storage, door.spec
    champion = chain_champion(st, spec.name)
    if champion is None:
        return None  # nothing to keep: re-tune as before
    data_now = door.fingerprints["data"]["hash"]
    if result.dry_run:
        found = assess(spec, champion, current_rows(spec))
        result.assessment, result.drift = found.as_dict(), found.drift
        if found.retune:
            return None
        result.action = HOLDS
        result.message = f"{found.line(spec.name)} (dry run: nothing written)"
        say(result.message)
        return result
    with chain_lock(st, spec.name):
        newest = newest_version(st, spec.name)
        if newest is None or newest.name != decision.newest.name:
            return _CHAIN_MOVED
        champion = chain_champion(st, spec.name)  # read again: a promotion takes this lock
        if champion is None:
            return None
        prior = decided(history.read(st, spec.name), data=data_now, champion=champion)
        if prior is not None:  # a tick before this one, or another scheduler, decided
            if prior["decision"] == RETUNE:
                return None
            result.action, result.version = "up to date", champion.study
            result.champion = champion.as_dict()
            result.message = (f"{spec.name}: up to date: champion {prior['champion']} holds "
                              f"on this data (decided {prior['time']})")
            say(result.message)
            return result
        found = assess(spec, champion, current_rows(spec))
        line = found.line(spec.name)
        history.record(st, spec.name, {
            "decision": RETUNE if found.retune else HOLDS,
            "version": result.version if found.retune else champion.study,
            "data_fingerprint": data_now, "rows": found.rows_now,
            "champion": found.champion, "champion_score": found.score_now,
            "champion_score_then": found.score_then, "test_rows": found.test_rows,
            "drift": found.drift, "reason": line})
    result.assessment, result.drift = found.as_dict(), found.drift
    say(line)
    if found.retune:
        return None
    result.action, result.version, result.message = HOLDS, champion.study, line
    result.champion = champion.as_dict()
    return result


def _after_version(result: RetuneResult, door: StudyFile, say: Callable[[str], None]) -> None:
    """Once the version is finished: its challenger against the champion (the first
    champion, when the study file has a [retune] section)."""
    from tuner import history
    from tuner.champion import chain_champion
    from tuner.compare import current_rows
    from tuner.decision import challenge, challenged
    from tuner.errors import TunerError
    from tuner.versions import chain, is_finished

    st, spec = door.storage, door.spec
    if result.action not in ("create", "retune", "resume", "up to date") or result.stopped:
        return
    champion = chain_champion(st, spec.name)
    # No champion yet: the first is made only where the study file asks tuner to keep one
    # ([retune]); otherwise `tuner promote` makes it, and retune does what it did before.
    wanted = champion is not None or spec.retune.stated
    version = next((v for v in chain(st, spec.name) if v.name == result.version), None)
    if not wanted or version is None or challenged(history.read(st, spec.name), version.name):
        result.champion = None if champion is None else champion.as_dict()
        return
    if not is_finished(optuna.load_study(storage=st, study_name=version.name)):
        return
    try:
        done = challenge(st, spec, version, door.splits, current_rows(spec), file=door.file)
    except TunerError as e:
        say(f"{spec.name}: the challenger of {version.name} is not decided yet: {e}; the "
            "next retune tries again")
        return
    if done is not None:
        result.challenger, result.promotion = done.as_dict(), done.decision
        say(f"{spec.name}: {done.version} trial {done.trial} {done.decision}: {done.reason}")
    now = chain_champion(st, spec.name)
    result.champion = None if now is None else now.as_dict()


def _act(result: RetuneResult, decision: Decision, door: StudyFile, *,
         stop: threading.Event, say: Callable[[str], None], on_trial: Any) -> RetuneResult:
    st, spec = door.storage, door.spec
    name, dry = spec.name, result.dry_run
    parent = (optuna.load_study(storage=st, study_name=decision.newest.name)
              if decision.newest is not None else None)

    if decision.action == "up to date":
        study = parent
        assert study is not None
        if keys.N_TRIALS not in study.user_attrs and not dry:
            wait_ready(study)  # its creator, another process, is still setting it up
        result.parent = study.user_attrs.get(keys.PARENT)
        result.n_trials = budget(study, spec.n_trials)
        result.finished, result.best = finished_count(study), best_value(study)
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
        if decision.forced:
            # --force makes a new version only after the newest is finished: processes
            # forcing together then make one version, not one each.
            say(f"{name}: --force: {study.study_name} is not finished yet ({result.finished} "
                f"of {result.n_trials} trials finished); joining it as a worker instead of "
                "creating another version")
        else:
            say(f"{name}: {study.study_name} is current; resuming it ({result.finished} of "
                f"{result.n_trials} trials finished)")
        parent = (optuna.load_study(storage=st, study_name=result.parent)
                  if result.parent else None)
        seed = worker_seed(spec.sampler.seed)
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
        study, result.created = create_version(st, spec, door.fingerprints, decision,
                                               n_trials=spec.n_trials, warm_start=warm)
        if result.created:
            say(f"{name}: {why}: {plan.replace('create', 'created', 1)}")
            seed = spec.sampler.seed
        else:
            say(f"{name}: {why}: {decision.target} was just created by another process; "
                "joining it as a worker")
            seed = worker_seed(spec.sampler.seed)
        result.n_trials = budget(study, spec.n_trials)

    run = work(st, spec, door.splits, study.study_name, seed=seed, stop=stop,
               timeout_s=spec.timeout_s, on_trial=on_trial, sampler=door.sampler(seed),
               pruner=door.pruner)
    study = optuna.load_study(storage=st, study_name=study.study_name)
    result.version, result.ran, result.stopped = study.study_name, run.ran, run.stopped
    result.finished, result.best = finished_count(study), best_value(study)
    if parent is not None:
        result.parent = parent.study_name
        result.parent_best = best_value(parent)
        rescored = [t.value for t in complete_trials(study) if t.user_attrs.get(keys.WARM_START)]
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


@dataclass
class RetuneBatch:
    """What `retune_files` did: one dict per file (its result, or its error line)."""

    results: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int = 0       # 2 if a file was bad input, 1 if something unexpected failed


def retune_files(files: list[str | Path] | tuple, storage: str | TunerStorage | None = None,
                 *, force: bool = False, dry_run: bool = False,
                 stop: threading.Event | None = None,
                 emit: Callable[[str], None] | None = None,
                 on_trial: Callable[[optuna.Study, Any], None] | None = None,
                 on_error: Callable[[BaseException, str], None] | None = None,
                 every_file: bool = False) -> RetuneBatch:
    """`retune_file` for each file in turn, until ``stop`` is set.

    Without ``on_error`` the first error is raised. With it, a failing file is reported
    to ``on_error(error, line)`` (``line``: one line naming the file) and the others go
    on; but the error of a single file is raised (it is the whole command's error: one
    line and its exit code) unless ``every_file`` asks for every file's result or error
    in the batch (`tuner retune --json`).
    """
    stop = stop or threading.Event()
    batch = RetuneBatch()
    if len(files) == 1 and not every_file:
        on_error = None
    for file in files:
        if stop.is_set():
            break
        try:
            result = retune_file(file, storage, force=force, dry_run=dry_run, stop=stop,
                                 emit=emit, on_trial=on_trial)
        except Exception as e:
            if on_error is None:
                raise
            line = error_line(e, file)
            on_error(e, line)
            batch.results.append({"file": str(file), "error": line})
            batch.exit_code = max(batch.exit_code, exit_code(e))
        else:
            batch.results.append(result.as_dict())
    return batch

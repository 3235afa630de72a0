"""Running a study file: `run_study` (`tuner study run`) and `run_worker` (`tuner worker`).

`run_study` opens the file (`tuner.study_file.open_study_file`, which checks its sampler
and pruner, so a bad value fails before anything is written), creates or resumes the
current version (`tuner.versions`), runs its trials in this process or in N worker
processes (`tuner.worker`), and returns a `RunResult`. Progress goes to a `Progress` the
caller supplies (the CLI's bar); lines for people go to ``emit``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import optuna

from tuner.spec import StudySpec
from tuner.study import summary_line
from tuner.study_file import open_study_file
from tuner.versions import budget, finished_count, prepare_version
from tuner.worker import (
    JobsPlan,
    WorkResult,
    plan_jobs,
    run_parallel,
    run_seed,
    work,
    worker_seed,
)

__all__ = ["NoProgress", "Progress", "RunResult", "VersionProgress", "WorkerRun",
           "load_study_file", "run_study", "run_worker", "verbosity_flags"]


def load_study_file(file: str | Path, *, sampler: str | None = None, seed: int | None = None,
                    n_trials: int | None = None) -> StudySpec:
    """The study file, with the command line's --sampler, --seed and --n-trials applied."""
    return open_study_file(file, read_only=True, sampler=sampler, seed=seed,
                           n_trials=n_trials).spec


def verbosity_flags(verbose: int, quiet: bool) -> list[str]:
    """The -v/-q flags that give a child `tuner` process this one's verbosity."""
    return ["-q"] if quiet else ["-v"] * verbose


class Progress(Protocol):
    """Where a run reports finished trials (the CLI draws a bar)."""

    def start(self, label: str, total: int, done: int) -> None: ...
    def advance(self, n: int, study: optuna.Study) -> None: ...  # n more finished
    def close(self) -> None: ...


class NoProgress:
    def start(self, label: str, total: int, done: int) -> None:
        pass

    def advance(self, n: int, study: optuna.Study) -> None:
        pass

    def close(self) -> None:
        pass


class VersionProgress:
    """An ``on_trial`` callback that keeps a `Progress` on the version being run, starting
    it again when a run moves on to another version (`tuner retune` over several files)."""

    def __init__(self, progress: Progress) -> None:
        self.progress, self.version = progress, None

    def close(self) -> None:
        if self.version is not None:
            self.progress.close()
            self.version = None

    def on_trial(self, study: optuna.Study, _trial: Any) -> None:
        if self.version != study.study_name:
            self.close()
            self.progress.start(study.study_name, budget(study, 0) or 1,
                                finished_count(study))
            self.version = study.study_name
        else:
            self.progress.advance(1, study)


@dataclass
class RunResult:
    """What `run_study` did, for people (``lines``) and scripts."""

    version: str
    storage: str             # masked URL
    created: bool            # this run created the version
    n_trials: int            # the version's budget
    finished_before: int
    finished: int
    plan: JobsPlan
    seed: int                # the sampler seed of this run (workers: seed + index)
    stopped: bool = False
    timed_out: bool = False
    exit_code: int = 0       # a worker process that failed, else 0
    summary: str = ""

    @property
    def complete(self) -> bool:
        return self.finished >= self.n_trials


def run_study(file: str | Path, storage: str | None = None, *, n_trials: int | None = None,
              timeout: float | None = None, jobs: int | str = 1, sampler: str | None = None,
              seed: int | None = None, stop: threading.Event | None = None,
              emit: Callable[[str], None] | None = None, progress: Progress | None = None,
              on_url: Callable[[str], None] | None = None,
              worker_flags: list[str] | None = None) -> RunResult:
    """Create or resume the current version of the study in ``file`` and run its trials.

    ``jobs`` trials at once (``"auto"``: decided from the cores, memory and model size),
    each beyond the first in a `tuner worker` process. Every run of a version draws its
    own parameters: the sampler seed is derived from the file's seed and the number of
    trials the version already holds (`tuner.worker.run_seed`), so a resumed or extended
    run never replays an earlier run's draws, and the same history gives the same draws.
    ``on_url`` receives the resolved storage URL (the CLI masks its password from then on).
    """
    say = emit or (lambda _line: None)
    progress = progress or NoProgress()
    stop = stop or threading.Event()
    door = open_study_file(file, storage, sampler=sampler, seed=seed, n_trials=n_trials,
                           on_url=on_url)  # checks the sampler and pruner: nothing written yet
    spec, splits, st = door.spec, door.splits, door.storage
    version, decision = prepare_version(st, spec, door.fingerprints, file=file,
                                        n_trials=n_trials, owner=True)
    study = optuna.load_study(storage=st, study_name=version)
    history = len(study.get_trials(deepcopy=False))
    result = RunResult(version=version, storage=door.where,
                       created=decision.action == "create",
                       n_trials=budget(study, spec.n_trials),
                       finished_before=finished_count(study), finished=0,
                       plan=plan_jobs(spec, splits, jobs),
                       seed=run_seed(spec.sampler.seed, history))
    say(f"{version}: {'created' if result.created else 'resuming'} on {result.storage}, "
        f"{result.finished_before} of {result.n_trials} trials finished")
    if jobs == "auto":
        say(f"--jobs auto: {result.plan.describe()}")
    progress.start(version, result.n_trials, result.finished_before)
    try:
        if result.plan.jobs == 1:
            run = work(st, spec, splits, version, seed=result.seed, stop=stop,
                       timeout_s=timeout or spec.timeout_s,
                       sampler=door.sampler(result.seed), pruner=door.pruner,
                       on_trial=lambda s, _t: progress.advance(1, s))
            result.timed_out = run.timed_out
        else:
            seen = [result.finished_before]

            def poll() -> None:
                now = finished_count(study)
                if now > seen[0]:
                    progress.advance(now - seen[0], study)
                seen[0] = max(seen[0], now)

            result.exit_code = run_parallel(
                file, door.url, result.plan, seed=result.seed, sampler=sampler, stop=stop,
                timeout_s=timeout or spec.timeout_s, poll=poll,
                verbosity=worker_flags or [])
    finally:
        progress.close()
    result.stopped = stop.is_set()
    result.finished = finished_count(study)
    if result.stopped or result.timed_out or not result.complete:
        why = "stopped" if result.stopped else "timeout" if result.timed_out else "incomplete"
        say(f"{why}: {result.finished} of {result.n_trials} trials finished in {version}; "
            "run the same command to resume")
    result.summary = summary_line(study, spec.metric)
    say(f"{version}: {result.summary}")
    return result


@dataclass
class WorkerRun:
    """What `run_worker` did."""

    version: str
    work: WorkResult

    @property
    def message(self) -> str:
        r = self.work
        how = "stopped" if r.stopped else "timeout" if r.timed_out else "done"
        return (f"worker {os.getpid()} {how}: ran {r.ran} trials of {self.version}"
                + (f", handed {r.requeued} back to the queue" if r.requeued else ""))


def run_worker(file: str | Path, storage: str | None = None, *, timeout: float | None = None,
               worker_index: int | None = None, seed: int | None = None,
               sampler: str | None = None, stop: threading.Event | None = None,
               on_url: Callable[[str], None] | None = None) -> WorkerRun:
    """Join the current version of the study in ``file`` as one more worker and run its
    trials until every one is finished across all workers (`tuner.worker.work`).

    ``worker_index`` (set by `run_study` for its N processes) picks seed + index; a
    worker started on its own mixes its host and process id into the seed.
    """
    stop = stop or threading.Event()
    door = open_study_file(file, storage, sampler=sampler, seed=seed, on_url=on_url)
    spec, splits, st = door.spec, door.splits, door.storage
    version, _ = prepare_version(st, spec, door.fingerprints, file=file, owner=False)
    seed = worker_seed(spec.sampler.seed, worker_index)
    result = work(st, spec, splits, version, seed=seed, stop=stop,
                  timeout_s=timeout or spec.timeout_s, sampler=door.sampler(seed),
                  pruner=door.pruner)
    return WorkerRun(version, result)

"""Running a study version's trials: in this process, in N local processes, or as one of
many workers on many machines sharing one storage.

Workers create a trial only while the version holds fewer than its n_trials finished,
running or queued trials, counted under a per-study lock (`TunerStorage.budget`),
so any number of workers together run exactly n_trials. A worker that dies leaves a
RUNNING trial whose heartbeat stops; after the grace period a surviving worker marks it
FAIL and Optuna's retry callback queues its parameters again. A worker asked to stop
(SIGTERM, SIGINT) ends its trial at the end of the current epoch, marks it FAIL and
queues it again itself.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner import machine
from tuner.data import Splits
from tuner.errors import TunerError, first_line
from tuner.footprint import trial_footprint
from tuner.objective import Interrupted, make_objective
from tuner.pruning import SnapshotPruner, make_pruner
from tuner.signals import on_stop_signals
from tuner.space import make_sampler
from tuner.spec import StudySpec
from tuner.storage import (
    FAILED_BY_ITSELF_ATTR,
    MAX_RETRY,
    TRANSIENT_ERRORS,
    QuotaReached,
    StorageLost,
    TunerStorage,
    requeue,
    storage_cause,
    transient_cause,
)

__all__ = ["MAX_DROPPED_IN_A_ROW", "JobsPlan", "ObjectiveKeepsFailing", "WorkResult",
           "plan_jobs", "run_parallel",
           "run_seed", "stop_on_signals", "work", "worker_seed"]

log = logging.getLogger(__name__)


# --- seeds: no two runs or workers of one version draw the same parameters -----------------

SEED_MODULUS = 2**31  # within every sampler's range (numpy's RandomState takes < 2**32)


def run_seed(base: int, history: int) -> int:
    """The sampler seed of a run that starts on a version already holding ``history``
    trials: deterministic for a given seed and history, and never the seed of an earlier
    run (a resumed or extended run would otherwise replay the first run's draws)."""
    return (base + history * 1_000_003) % SEED_MODULUS


def worker_seed(base: int, index: int | None = None) -> int:
    """A seed of its own for one of several workers on a version: ``base + index`` for
    the N workers one `tuner study run --jobs N` starts; for a worker started on its own,
    anywhere, host name and process id mixed in (the same seed on two workers proposes
    the same parameters)."""
    if index is not None:
        return (base + index) % SEED_MODULUS
    return (base + zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode())) % SEED_MODULUS


@dataclass
class WorkResult:
    ran: int = 0            # trials this worker finished (complete or pruned)
    requeued: int = 0       # trials this worker handed back (interrupted or lost connection)
    failed: int = 0         # trials whose objective raised by itself (FAIL, maybe re-queued)
    stopped: bool = False   # asked to stop by a signal
    timed_out: bool = False


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM or SIGINT set ``stop``: the running trial ends after its current epoch.

    A second SIGINT raises KeyboardInterrupt at once, for a user who really means it.
    """
    def handler(sig: signal.Signals) -> None:
        if stop.is_set() and sig == signal.SIGINT:
            raise KeyboardInterrupt
        log.warning("%s received: finishing the current epoch, then stopping", sig.name)
        stop.set()

    with on_stop_signals(handler):
        yield


def _running(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


class _OwnFailure(Exception):
    """The objective raised by itself (not a stop, not a lost storage): Optuna catches it,
    the trial ends FAIL and `requeue` decides whether its parameters run again."""


class _TakenAway(Exception):
    """Another worker failed this trial as stale while it still ran here (its heartbeat
    was late: a loaded machine, a paused process): the trial is already queued again."""

    handed_back = True  # Optuna's "trial failed" log line for it is not news (cli/app.py)


class ObjectiveKeepsFailing(TunerError):
    """Every recent trial of this worker failed by itself: the study cannot succeed."""


# A worker that has dropped this many parameter sets in a row (each failed by itself
# 1 + MAX_RETRY times, no trial finished in between) stops (exit 2): a dropped set is
# replaced by a fresh one, so an objective that always fails would otherwise loop
# forever. A search space where some parameters fail still finishes: any success resets
# the count, and 10 fresh draws in a row all failing is unlikely unless nearly all fail.
MAX_DROPPED_IN_A_ROW = 10


def _guard(objective: Callable[[optuna.Trial], float],
           asked: list[int]) -> Callable[[optuna.Trial], float]:
    """``objective`` with its own failures marked (`FAILED_BY_ITSELF_ATTR`, the reason)
    and turned into `_OwnFailure`; a stop, a pruning and a lost storage pass through.
    ``asked`` holds the id of the trial it was last given."""

    def guarded(trial: optuna.Trial) -> float:
        asked[:] = [trial._trial_id]
        try:
            return objective(trial)
        except (Interrupted, optuna.TrialPruned):
            raise
        except optuna.exceptions.UpdateFinishedTrialError as e:
            raise _TakenAway(str(e)) from e
        except Exception as e:
            if transient_cause(e) is not None:
                raise
            why = f"{type(e).__name__}: {first_line(str(e))}"[:300]
            trial.set_user_attr(FAILED_BY_ITSELF_ATTR, why)
            raise _OwnFailure(why) from e

    return guarded


def _handed_back(e: BaseException, taken_away: Callable[[], bool]) -> bool:
    """Whether ``e``, raised out of `study.optimize`, only means the trial went back to
    the queue (the worker carries on); raises `StorageLost` when the storage gave up.

    ``optuna/study/_optimize.py:_run_trial`` raises these: UnboundLocalError
    'updated_state' from its ``finally`` when the trial's final write and the fallback
    ``get_trial`` both failed (the storage error is ``e.__context__``); and, when another
    worker had already failed this trial as stale, ``tell``'s ValueError (the objective
    failed) or an AssertionError "Should not reach" with that ValueError as its context
    (the objective returned). Optuna gives that ValueError no type of its own, so the
    stored trial says it: ``taken_away()``, no longer RUNNING though this worker never
    finished it.
    """
    cause = transient_cause(e)
    if isinstance(cause, StorageLost):
        raise cause from None  # a TunerError: one line, exit 2
    stale = any(isinstance(x, ValueError) for x in (e, e.__context__)) and taken_away()
    # Our FAIL, retried after a lost connection, found the trial already FAIL: another
    # worker failed it as stale and queued it again (`TunerStorage.set_trial_state_values`).
    finished_elsewhere = isinstance(e, optuna.exceptions.UpdateFinishedTrialError)
    return cause is not None or stale or finished_elsewhere


def work(storage: TunerStorage, spec: StudySpec, splits: Splits, version: str, *,
         seed: int, stop: threading.Event, timeout_s: float | None = None,
         on_trial: Callable[[optuna.Study, FrozenTrial], None] | None = None,
         poll_s: float | None = None,
         objective: Callable[[optuna.Trial], float] | None = None,
         sampler: optuna.samplers.BaseSampler | None = None,
         pruner: optuna.pruners.BasePruner | None = None) -> WorkResult:
    """Run queued trials of ``version`` until none is WAITING or RUNNING anywhere.

    While other workers still run trials this worker waits, so that if one of them died
    it is here to re-run that trial once the heartbeat grace period has passed.

    Retry policy: a trial handed back (a stop, a lost storage) or failed as
    stale is queued again without limit; a trial whose objective raised by itself is
    queued again at most MAX_RETRY times, then left FAIL while a fresh trial takes its
    place (FAIL does not count against n_trials). A storage lost for longer than
    ``TUNER_OUTAGE_TIMEOUT`` raises `StorageLost`; MAX_DROPPED_IN_A_ROW parameter sets
    dropped in a row raise `ObjectiveKeepsFailing`. ``objective`` replaces the study file's
    (`make_objective`), for callers that wrap it. ``sampler`` and ``pruner`` are the ones
    the study file's door made and checked (`tuner.study_file.StudyFile`); without them
    they are made here from ``spec``, the sampler seeded with ``seed``.
    """
    study = optuna.load_study(storage=storage, study_name=version,
                              sampler=make_sampler(spec, seed=seed) if sampler is None
                              else sampler,
                              pruner=make_pruner(spec.pruner, spec.model.epochs) if pruner is None
                              else pruner)
    asked: list[int] = []  # the trial this worker runs, or ran last
    guarded = _guard(objective or make_objective(spec, splits, stop=stop), asked)
    finished: set[int] = set()  # trials this worker finished (its after_trial saw them)
    result = WorkResult()
    poll_s = poll_s or 1.0  # how soon a waiting worker notices the last trial ended
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    in_a_row: list[str] = []  # why each set this worker dropped since its last success failed

    def taken_away() -> bool:
        return bool(asked) and asked[0] not in finished and \
            storage.get_trial(asked[0]).state != TrialState.RUNNING

    def after_trial(study: optuna.Study, trial: FrozenTrial) -> None:
        finished.add(trial._trial_id)
        if isinstance(study.pruner, SnapshotPruner):
            study.pruner.record(trial)
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            result.ran += 1
            in_a_row.clear()
        elif trial.state == TrialState.FAIL:
            own = FAILED_BY_ITSELF_ATTR in trial.user_attrs
            result.failed += own
            # same parameters, queued for any worker (own failures: at most MAX_RETRY times)
            if requeue(study, trial, own_failure=own):
                result.requeued += not own
            else:
                in_a_row.append(str(trial.user_attrs[FAILED_BY_ITSELF_ATTR]))
        if on_trial is not None:
            on_trial(study, trial)
        if stop.is_set() or len(in_a_row) >= MAX_DROPPED_IN_A_ROW:
            study.stop()

    with storage.budget(), storage.lean():
        while not stop.is_set():
            if len(in_a_row) >= MAX_DROPPED_IN_A_ROW:
                raise ObjectiveKeepsFailing(
                    f"{version}: {len(in_a_row)} parameter sets in a row failed "
                    f"{MAX_RETRY + 1} times each by themselves (last: {in_a_row[-1]}); "
                    "stopping")
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                result.timed_out = True
                break
            try:
                study.optimize(guarded, timeout=remaining, callbacks=[after_trial],
                               catch=(Interrupted, _OwnFailure, _TakenAway,
                                      *TRANSIENT_ERRORS))
                if stop.is_set() or len(in_a_row) >= MAX_DROPPED_IN_A_ROW:
                    continue
                result.timed_out = True
                break
            except QuotaReached:
                if _running(study) == 0:
                    break  # nothing queued, nothing running anywhere: the version is done
                # Others are mid-trial. If one died, its heartbeat goes stale and this
                # marks it FAIL and queues it again for us to pick up.
                with warnings.catch_warnings():  # "experimental" since Optuna 2.9
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    optuna.storages.fail_stale_trials(study)
                stop.wait(poll_s)
            except StorageLost:
                raise
            except (UnboundLocalError, AssertionError, ValueError,
                    optuna.exceptions.UpdateFinishedTrialError) as e:
                if not _handed_back(e, taken_away):
                    raise
                log.warning("trial handed back (%s); carrying on",
                            "storage error" if transient_cause(e) else "failed as stale")
                stop.wait(poll_s)
            except TRANSIENT_ERRORS as e:
                cause = storage_cause(e)
                log.warning("storage error (%s); retrying in %.0f s",
                            first_line(str(getattr(cause, "orig", cause)))[:200], poll_s)
                stop.wait(poll_s)
    result.stopped = stop.is_set()
    return result


# --- how many trials at once: caviar or panda ----------------------------------------

@dataclass(frozen=True)
class JobsPlan:
    jobs: int          # trials run at once (one process each)
    threads: int       # BLAS threads per process
    mode: str          # "caviar" (many models at once) or "panda" (babysit one)
    why: str

    def describe(self) -> str:
        return (f"{self.jobs} parallel trial{'s' * (self.jobs > 1)} x {self.threads} BLAS "
                f"thread{'s' * (self.threads > 1)} ({self.mode}): {self.why}")


# Below this many floating-point operations per mini-batch step, BLAS threads spend more
# time synchronising than computing, so parallel single-threaded trials win.
PANDA_FLOPS_PER_STEP = 200e6
# What a trial's process holds besides its data and model: Python, numpy, scikit-learn,
# Optuna and SQLAlchemy loaded (240 MiB resident, measured), and numba with its compiled
# kernels after the first step (140 MiB more, most of it LLVM's library, which the
# processes of one machine share).
PROCESS_BYTES = 384 * 2**20


def plan_jobs(spec: StudySpec, splits: Splits, requested: int | str, *,
              cores: int | None = None, memory: int | None = None) -> JobsPlan:
    """Decide how many trials to run at once and how many BLAS threads each gets."""
    cores = cores or machine.usable_cores()
    if requested != "auto":
        n = int(requested)
        return JobsPlan(n, max(1, cores // n), "caviar" if n > 1 else "panda",
                        f"--jobs {n} requested; {cores} cores")
    memory = memory or machine.available_memory()
    trial = trial_footprint(spec.model, spec.search, n_samples=sum(
        len(y) for y in (splits.y_train, splits.y_val, splits.y_test)),
        n_features=splits.n_features, n_classes=splits.n_classes, folds=spec.data.folds)
    flops = trial.flops_per_step
    fit_in_memory = max(1, int(0.5 * memory // (PROCESS_BYTES + trial.total_bytes)))
    if cores == 1:
        return JobsPlan(1, 1, "panda", "1 core: babysit one trial at a time")
    if flops >= PANDA_FLOPS_PER_STEP:
        return JobsPlan(1, cores, "panda", f"{cores} cores, large model "
                        f"({flops / 1e6:.0f} MFLOP per step): BLAS threads use the cores well")
    jobs = max(1, min(cores, spec.n_trials, fit_in_memory))
    limit = " (memory-bound)" if jobs == fit_in_memory and jobs < cores else ""
    return JobsPlan(jobs, max(1, cores // jobs), "caviar",
                    f"{cores} cores, small model ({flops / 1e6:.1f} MFLOP per step): "
                    f"parallel trials use the cores better than BLAS threads{limit}")


def blas_env(threads: int) -> dict[str, str]:
    """Environment that caps every BLAS/OpenMP pool of a child process at ``threads``."""
    value = str(threads)
    return {k: value for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                               "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                               "NUMEXPR_NUM_THREADS")}


def run_parallel(file: str | Path, storage_url: str, plan: JobsPlan, *, seed: int | None,
                 sampler: str | None, stop: threading.Event, timeout_s: float | None,
                 poll: Callable[[], None], verbosity: list[str]) -> int:
    """Start ``plan.jobs`` `tuner worker` processes on the same version; wait for them.

    ``poll`` is called about once a second (progress). A stop request is passed on to the
    workers as SIGTERM; each finishes its epoch and hands its trial back.
    """
    procs = []
    env = {**os.environ, **blas_env(plan.threads), "TUNER_STORAGE": storage_url}
    for index in range(plan.jobs):
        cmd = [sys.executable, "-m", "tuner", *verbosity, "worker", str(file),
               "--worker-index", str(index)]
        if seed is not None:
            cmd += ["--seed", str(seed)]
        if sampler is not None:
            cmd += ["--sampler", sampler]
        if timeout_s is not None:
            cmd += ["--timeout", str(timeout_s)]
        # Own process group: a terminal's Ctrl-C reaches the parent, which relays it once.
        procs.append(subprocess.Popen(cmd, env=env, start_new_session=True))
    relayed = False
    try:
        while any(p.poll() is None for p in procs):
            if stop.is_set() and not relayed:
                for p in procs:
                    if p.poll() is None:
                        p.send_signal(signal.SIGTERM)
                relayed = True
            poll()
            # Until the stop is relayed, wake the moment it is asked for: half a second
            # is many epochs of a small model, and a Ctrl-C should land in the epoch the
            # user saw.
            if relayed:
                time.sleep(0.5)
            else:
                stop.wait(0.5)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait()
    poll()
    # A worker that our SIGTERM caught before its handler was installed died of it: that
    # is the stop we asked for, not a failure.
    failed = [p.returncode for p in procs
              if p.returncode != 0 and not (relayed and p.returncode == -signal.SIGTERM)]
    return (failed[0] if failed[0] > 0 else 1) if failed else 0


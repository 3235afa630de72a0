"""Where a trial's time goes outside training, today and with a write-behind prototype.

A measurement script (issue 15), not the benchmark itself (`benchmarks/throughput.py`
comes in phase 2). It runs `tuner.worker.work` in this process, exactly as
`tuner study run --jobs 1` does, on a fresh storage, and compares:

- ``today``: the shipped code;
- ``asktell``: write-behind of values and user attributes (written with the trial's first
  heartbeat in one transaction), an ask/tell loop instead of `study.optimize`: stale checks
  every grace/2 s instead of before every trial, one heartbeat thread per process;
- ``writebehind``: the same `work()` with (a) intermediate values buffered in memory and
  written in one transaction every ``--flush-s`` seconds and before the trial's state or
  attributes change, (b) the pruner deciding from a view of the study's finished trials
  that is re-read at most every ``--flush-s`` seconds instead of at every epoch.

For every trial it then fits the same parameters alone (same data, the epochs the trial
ran, a validation pass per epoch, no storage) and reports bookkeeping = the trial's wall
time (stored datetimes: start to complete, plus the gap to the next trial's start) minus
that fit. Time spent in each storage method is counted too.

    python benchmarks/throughput_probe.py STUDY.toml [--storage URL] [--n-trials N]
        [--variant today|writebehind] [--pruner none|spec] [--repeat R]

Each variant runs in its own fresh database (a fresh PostgreSQL database is created and
dropped when the URL is a PostgreSQL server).
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

TIMES: dict[str, list[float]] = collections.defaultdict(list)


def _timed(cls: type, name: str) -> None:
    original = getattr(cls, name)

    def wrapper(self, *a, **k):
        t = time.perf_counter()
        try:
            return original(self, *a, **k)
        finally:
            TIMES[name].append(time.perf_counter() - t)

    setattr(cls, name, wrapper)


def instrument() -> None:
    from optuna.storages import RDBStorage

    for name in ("set_trial_intermediate_value", "set_trial_user_attr", "set_trial_state_values",
                 "_get_trials", "get_trial", "_create_new_trial", "set_trial_param",
                 "record_heartbeat", "_set_trial_param", "get_study_user_attrs",
                 "_get_stale_trial_ids", "_get_best_trial_id"):
        if hasattr(RDBStorage, name):
            _timed(RDBStorage, name)


# --- the write-behind prototype -------------------------------------------------------

def make_writebehind(base: type, flush_s: float) -> type:
    """A subclass of the storage class that buffers intermediate values."""
    from optuna.storages._rdb.storage import _create_scoped_session

    class WriteBehind(base):  # type: ignore[misc, valid-type]
        _flush_s = flush_s

        def _wb_init(self) -> None:
            self._wb_lock = threading.Lock()
            self._wb: dict[int, dict[int, float]] = {}
            self._wb_last = time.monotonic()

        def flush(self, trial_id: int | None = None) -> None:
            with self._wb_lock:
                if trial_id is None:
                    pending, self._wb = self._wb, {}
                else:
                    pending = {trial_id: self._wb.pop(trial_id)} if trial_id in self._wb else {}
                self._wb_last = time.monotonic()
            if not pending:
                return
            with _create_scoped_session(self.scoped_session, True) as session:
                for tid, steps in pending.items():
                    for step, value in steps.items():
                        self._set_trial_intermediate_value_without_commit(
                            session, tid, step, value)

        def set_trial_intermediate_value(self, trial_id: int, step: int,
                                         intermediate_value: float) -> None:
            with self._wb_lock:
                self._wb.setdefault(trial_id, {})[step] = intermediate_value
                due = time.monotonic() - self._wb_last >= self._flush_s
            if due:
                self.flush()

        def set_trial_state_values(self, trial_id, state, values=None):
            self.flush(trial_id)  # a finished trial is complete in the database
            return super().set_trial_state_values(trial_id, state, values)

        def set_trial_user_attr(self, trial_id, key, value):
            self.flush(trial_id)
            return super().set_trial_user_attr(trial_id, key, value)

    return WriteBehind


def make_asktell_storage(base: type, flush_s: float) -> type:
    """Write-behind of intermediate values AND user attributes, written with the trial's
    first heartbeat in one transaction; everything flushed before the state changes."""
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    WB = make_writebehind(base, flush_s)

    class AskTell(WB):  # type: ignore[misc, valid-type]
        def _wb_init(self) -> None:
            super()._wb_init()
            self._attrs: dict[int, dict[str, Any]] = {}
            self._beaten: set[int] = set()

        def flush(self, trial_id: int | None = None) -> None:
            with self._wb_lock:
                if trial_id is None:
                    pending, self._wb = self._wb, {}
                    attrs, self._attrs = self._attrs, {}
                else:
                    pending = {trial_id: self._wb.pop(trial_id)} if trial_id in self._wb else {}
                    attrs = {trial_id: self._attrs.pop(trial_id)} if trial_id in self._attrs else {}
                self._wb_last = time.monotonic()
            ids = set(pending) | set(attrs)
            if not ids:
                return
            with _create_scoped_session(self.scoped_session, True) as session:
                for tid, steps in pending.items():
                    for step, value in steps.items():
                        self._set_trial_intermediate_value_without_commit(session, tid, step, value)
                for tid, kv in attrs.items():
                    for key, value in kv.items():
                        self._set_trial_attr_without_commit(
                            session, models.TrialUserAttributeModel, tid, key, value)
                for tid in ids - self._beaten:  # the first beat rides along
                    session.add(models.TrialHeartbeatModel(trial_id=tid))
                    self._beaten.add(tid)

        def set_trial_user_attr(self, trial_id, key, value):
            with self._wb_lock:
                self._attrs.setdefault(trial_id, {})[key] = value

    return AskTell


def work_asktell(storage: Any, spec: Any, splits: Any, version: str, *, seed: int,
                 on_trial: Any, flush_s: float) -> None:
    """`tuner.worker.work` as an ask/tell loop: stale checks every grace/2 s, one heartbeat
    thread for the process, the pruner's view invalidated after each tell."""
    import warnings

    import optuna
    from optuna.trial import TrialState

    from tuner.objective import Interrupted, make_objective, make_pruner
    from tuner.space import make_sampler
    from tuner.storage import QuotaReached, retry_trial

    pruner = CachedViewPruner(make_pruner(spec.pruner, spec.model.epochs), flush_s)
    study = optuna.load_study(storage=storage, study_name=version,
                              sampler=make_sampler(spec, seed=seed), pruner=pruner)
    objective = make_objective(spec, splits, stop=threading.Event())
    interval, grace = storage.heartbeat_interval, storage.grace_period
    current: list[int | None] = [None]
    done = threading.Event()

    def beat() -> None:
        while not done.wait(interval):
            tid = current[0]
            if tid is not None and tid in storage._beaten:
                storage.record_heartbeat(tid)

    beater = threading.Thread(target=beat, daemon=True)
    beater.start()
    last_stale = -1e9
    storage.enforce_quota = True
    try:
        while True:
            if time.monotonic() - last_stale >= grace / 2:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    optuna.storages.fail_stale_trials(study)
                last_stale = time.monotonic()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    trial = study.ask()
            except QuotaReached:
                break
            current[0] = trial._trial_id
            storage.flush(trial._trial_id)  # nothing pending yet: writes the first beat
            if trial._trial_id not in storage._beaten:
                storage.record_heartbeat(trial._trial_id)
                storage._beaten.add(trial._trial_id)
            try:
                value = objective(trial)
                frozen = study.tell(trial, value)
            except optuna.TrialPruned:
                frozen = study.tell(trial, state=TrialState.PRUNED)
            except Interrupted:
                frozen = study.tell(trial, state=TrialState.FAIL)
                retry_trial(study, frozen)
            current[0] = None
            pruner._trials = None  # this process changed the study: re-read next time
            on_trial(study, frozen)
    finally:
        storage.enforce_quota = False
        done.set()


class CachedViewPruner:
    """Wraps a pruner: it sees the study's finished trials as re-read at most every
    ``ttl`` seconds (its own trial comes from the Trial object, always current), and the
    running trial's system attributes from a process-local copy (Optuna hands pruners a
    lazy copy that re-reads the whole trial from the storage on first touch, which
    SuccessiveHalving does at every epoch); writes still go to the storage at once."""

    def __init__(self, pruner: Any, ttl: float) -> None:
        self._pruner, self._ttl = pruner, ttl
        self._at, self._trials = -1e9, None
        self._sys: dict[int, dict[str, Any]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pruner, name)

    def prune(self, study: Any, trial: Any) -> bool:
        now = time.monotonic()
        if self._trials is None or now - self._at >= self._ttl:
            self._trials = study.get_trials(deepcopy=False)
            self._at = now
        outer = self
        tid = trial._trial_id
        if tid not in self._sys:
            self._sys = {tid: dict(study._storage.get_trial_system_attrs(tid))}
        local = self._sys[tid]
        trial.system_attrs = local
        storage = study._storage

        class StorageProxy:
            def __getattr__(self, name: str) -> Any:
                return getattr(storage, name)

            def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
                storage.set_trial_system_attr(trial_id, key, value)
                if trial_id == tid:
                    local[key] = value

        class View:
            _storage = StorageProxy()

            def __getattr__(self, name: str) -> Any:
                return getattr(study, name)

            def get_trials(self, deepcopy: bool = False, states=None):
                ts = outer._trials
                return ts if states is None else [t for t in ts if t.state in states]

            _get_trials = get_trials

        return self._pruner.prune(View(), trial)


# --- one measured run -----------------------------------------------------------------

def _fresh_url(url: str | None, tmp: Path) -> tuple[str, Any]:
    if url is None or url.startswith("sqlite"):
        return f"sqlite:///{tmp / f'{uuid.uuid4().hex[:8]}.db'}", None
    import sqlalchemy

    name = f"tp_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    fresh = sqlalchemy.engine.make_url(url).set(database=name).render_as_string(False)

    def drop() -> None:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()
    return fresh, drop


def run(file: str, url: str | None, n_trials: int, variant: str, pruner: str,
        flush_s: float) -> dict[str, Any]:
    import dataclasses

    import optuna

    import tuner.worker as worker
    from tuner.data import load_splits
    from tuner.fingerprint import study_fingerprints
    from tuner.mlp import MLPClassifierBN
    from tuner.objective import model_params
    from tuner.spec import PrunerSpec, load_spec
    from tuner.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = load_spec(file)
    spec = dataclasses.replace(spec, n_trials=n_trials)
    if pruner == "none":
        spec = dataclasses.replace(spec, pruner=PrunerSpec("none", ()))
    splits = load_splits(spec.data.dataset, dtype=spec.model.dtype,
                         **spec.data.loader_kwargs())
    tmp = Path(tempfile.mkdtemp(prefix="tp-"))
    fresh, drop = _fresh_url(url, tmp)
    try:
        storage = open_storage(fresh)
        if variant == "asktell":
            storage.__class__ = make_asktell_storage(type(storage), flush_s)
            storage._wb_init()
        if variant == "writebehind":
            storage.__class__ = make_writebehind(type(storage), flush_s)
            storage._wb_init()
            original = worker.make_pruner
            worker.make_pruner = lambda p, e: CachedViewPruner(original(p, e), flush_s)
        try:
            version, _ = worker.prepare_version(storage, spec, study_fingerprints(spec, splits),
                                                file=file, n_trials=n_trials)
            TIMES.clear()
            alone: list[float] = []
            epochs: list[int] = []
            in_callback: list[float] = []

            def fit_alone(_study: Any, t: Any) -> None:
                # The same model alone, right after its trial (same load on the machine):
                # same data and parameters, the epochs the trial ran, validation each epoch.
                c0 = time.perf_counter()
                n_ep = len(t.intermediate_values)
                epochs.append(n_ep)
                clf = MLPClassifierBN(**model_params(spec, _course(spec, t.params)))
                t1 = time.perf_counter()
                try:
                    clf.fit(splits.X_train, splits.y_train, splits.X_val, splits.y_val,
                            on_epoch=lambda e, m, n=n_ep: e >= n)
                except Exception:  # diverged: it cost what it cost
                    pass
                alone.append(time.perf_counter() - t1)
                in_callback.append(time.perf_counter() - c0)

            t0 = time.perf_counter()
            if variant == "asktell":
                work_asktell(storage, spec, splits, version, seed=spec.sampler.seed,
                             on_trial=fit_alone, flush_s=flush_s)
            else:
                worker.work(storage, spec, splits, version, seed=spec.sampler.seed,
                            stop=threading.Event(), on_trial=fit_alone)
            wall = time.perf_counter() - t0 - sum(in_callback)
        finally:
            if variant == "writebehind":
                worker.make_pruner = original
        calls = {k: (len(v), sum(v)) for k, v in TIMES.items()}
        study = optuna.load_study(storage=storage, study_name=version)
        trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
        assert len([t for t in trials if t.state.is_finished()]) == n_trials, "not n_trials"
        spans = [(t.datetime_complete - t.datetime_start).total_seconds() for t in trials]
        # minus the fit-alone callback, which runs between one trial and the next
        gaps = [(b.datetime_start - a.datetime_complete).total_seconds() - cb
                for a, b, cb in zip(trials, trials[1:], in_callback)]
        storage.engine.dispose()
    finally:
        if drop:
            drop()
    total_alone = sum(alone)
    return {
        "variant": variant, "n": n_trials, "wall_s": wall,
        "trials_per_min": 60 * n_trials / wall,
        "per_trial_ms": 1000 * wall / n_trials,
        "span_median_ms": 1000 * statistics.median(spans),
        "gap_median_ms": 1000 * statistics.median(gaps) if gaps else 0.0,
        "alone_per_trial_ms": 1000 * total_alone / n_trials,
        "bookkeeping_ms": 1000 * (wall - total_alone) / n_trials,
        "ratio_to_alone": wall / total_alone,
        "epochs_run": sum(epochs),
        "pruned": sum(t.state.name == "PRUNED" for t in trials),
        "calls": {k: [c, round(1000 * s / n_trials, 2)] for k, s in
                  ((k, v[1]) for k, v in calls.items()) for c in [calls[k][0]]},
    }


def _course(spec: Any, params: dict[str, Any]) -> dict[str, Any]:
    from tuner.space import to_course

    return to_course(params, spec.search)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--storage")
    ap.add_argument("--n-trials", type=int, default=20)
    ap.add_argument("--variant", action="append")
    ap.add_argument("--pruner", default="spec", choices=["none", "spec"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--flush-s", type=float, default=1.0)
    a = ap.parse_args()
    instrument()
    variants = a.variant or ["today", "writebehind", "asktell"]
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for r in range(a.repeat):
        for v in variants:  # interleaved: the machine's load hits both alike
            res = run(a.file, a.storage, a.n_trials, v, a.pruner, a.flush_s)
            results[v].append(res)
            print(json.dumps(res), flush=True)
    print("# medians over", a.repeat, "repeats;", a.file, a.storage or "sqlite", "pruner",
          a.pruner)
    for v, rs in results.items():
        keys = ("per_trial_ms", "alone_per_trial_ms", "bookkeeping_ms", "ratio_to_alone",
                "trials_per_min", "span_median_ms", "gap_median_ms")
        med = {k: round(statistics.median(r[k] for r in rs), 2) for k in keys}
        spread = {k: [round(min(r[k] for r in rs), 1), round(max(r[k] for r in rs), 1)]
                  for k in ("bookkeeping_ms", "trials_per_min")}
        print(v, json.dumps(med), "range", json.dumps(spread))
    np.set_printoptions()


if __name__ == "__main__":
    sys.exit(main())

"""`TunerStorage`: Optuna's RDB storage with outage retry, a budget and lean bookkeeping.

It stays an `RDBStorage` (a subclass, not a wrapper) for two reasons: Optuna puts its own
``_CachedStorage`` around an RDB storage only (``optuna.storages.get_storage``), and the
budget must be counted inside Optuna's trial-creating transaction, on the connection
that has locked the study's row (`_get_prepared_new_trial`). Everything else is composed:
an `Outage` retries the calls, a `Lean` holds back reports and keeps reads, the budget's
count lives in `tuner.storage._budget`. Every storage call is declared below by what it
does (`Call`); none is patched in from outside.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from tuner.errors import first_line
from tuner.passwords import driver_message
from tuner.storage._budget import check_budget, sqlite_lock
from tuner.storage._engine import configure_engine
from tuner.storage._lean import Call, Lean
from tuner.storage._optuna_private import rdb_models
from tuner.storage._outage import Outage, StorageLost, transient_cause

__all__ = ["TunerStorage"]

log = logging.getLogger("tuner.storage")

F = TypeVar("F", bound=Callable[..., Any])


def _declared(call: Call) -> Callable[[F], F]:
    """A storage method of kind ``call``: run through `TunerStorage._run`."""
    def wrap(method: F) -> F:
        @functools.wraps(method)
        def run(self: TunerStorage, *args: Any, **kwargs: Any) -> Any:
            return self._run(call, lambda: method(self, *args, **kwargs))
        return run  # type: ignore[return-value]
    return wrap


write, held_back, read, read_of_reports = (_declared(c) for c in
                                           (Call.WRITE, Call.HELD_BACK, Call.READ,
                                            Call.READ_OF_REPORTS))
# Finishing states only a trial's own worker writes (see set_trial_state_values).
_ONLY_THE_OWNER_WRITES = (TrialState.COMPLETE, TrialState.PRUNED)


class TunerStorage(RDBStorage):
    """An RDB storage that survives outages and many workers. Open it with `open_storage`.

    **Outages.** Every call below is retried while the database is unreachable, for at most
    ``TUNER_OUTAGE_TIMEOUT`` seconds from the outage's first failure, then raises
    `StorageLost`. A heartbeat is tried once (the next one comes an interval later).
    Writes are safe to repeat: a finishing write whose lost commit had landed is
    recognised; a repeated trial creation may leave one extra RUNNING trial without a
    heartbeat, failed as stale after the grace period and never counted in a budget.

    **Stale trials.** Optuna's; none at all until the storage has answered without a
    break for a grace period (after an outage every heartbeat is old). Within `budget`
    (a worker), also RUNNING trials that never wrote a heartbeat and are older than the
    grace period: a worker killed before its first beat leaves one. Outside it, a trial
    without a heartbeat is never stale, as in Optuna: an ``ask()``-ed trial of someone
    using this storage from Python is left alone (but not from a worker judging the
    same study: ask-and-tell beside tuner workers needs heartbeats of its own).

    Two modes change what is persisted when; a caller enters them (`budget`, `lean`).
    Outside them this storage persists exactly what Optuna's `RDBStorage` does.
    """

    def __init__(self, *args: Any, lock_on_begin: bool = True, **kwargs: Any) -> None:
        self._lock_on_begin = lock_on_begin  # see tuner.storage._engine
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            # A lost race to create the tables (open_storage tries again) must not leave
            # this engine's connections open until the garbage collector finds them.
            if getattr(self, "engine", None) is not None:
                self.engine.dispose()
            raise
        self._parts()

    def _parts(self) -> None:
        self._outage = Outage(self.url)
        self._lean = Lean()
        self._budgeted = 0

    # A storage is pickled to other processes (joblib, dask, multiprocessing): its parts
    # start afresh there, outside any mode. `open_storage`'s SQLite settings live on the
    # engine Optuna rebuilds, so they are applied again.
    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        for part in ("_outage", "_lean", "_budgeted"):
            state.pop(part, None)
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._parts()
        configure_engine(self.engine, lock_on_begin=self._lock_on_begin)

    # --- the modes ---------------------------------------------------------------------

    @contextmanager
    def budget(self) -> Iterator[TunerStorage]:
        """Within this block, a new trial is created only while its study holds fewer than
        its ``tuner:n_trials`` finished, running and queued trials; otherwise
        `create_new_trial` (hence ``study.ask()``) raises `QuotaReached` and writes nothing.

        **Contract.** The count and the new trial are one transaction, under a lock on the
        study (its row; a lock file on SQLite): workers in this mode together create
        exactly n_trials. Queued trials (retries, warm starts) are popped as usual and a
        trial created from a template (``enqueue_trial``, a retry) is not counted against
        the budget. A FAIL trial does not count once its copy is queued (or after 30 s
        without one), since its retry or a fresh trial takes its place.
        """
        self._budgeted += 1
        try:
            yield self
        finally:
            self._budgeted -= 1

    @contextmanager
    def lean(self) -> Iterator[TunerStorage]:
        """Within this block, a running trial's bookkeeping costs fewer transactions; on
        leaving it, everything held back is written (an error then is logged, not raised:
        a trial cut short is failed and run again anyway).

        **Data persistence.** Intermediate values and trial user attributes are not
        guaranteed to be persisted when their setter returns: a trial's first report is
        written at once, later ones when ``TUNER_WRITE_BEHIND_S`` (default 1 s) has passed
        since the last write, all of a trial's in one transaction. Everything held back is
        persisted before any other write succeeds (a trial's state, parameters, system
        attributes, a new trial, a study attribute), so a trial is never finished before
        its reports, and before any read that returns reports or user attributes. A crash
        loses at most the held-back reports of a trial that is then failed as stale and
        run again.

        **Reads.** A read of a study's trials, or of the trial just created, repeated with
        the same arguments within 0.5 s and with no write by this process in between,
        returns the first answer (a copy): another worker's trial finished in between is
        seen at the next read. A trial's first heartbeat is skipped: a RUNNING trial
        without one is not stale before the grace period, and the second beat, an
        interval later, comes well before that.
        """
        self._lean.depth += 1
        try:
            yield self
        finally:
            self._lean.depth -= 1
            try:
                self.flush()
            except Exception as e:  # noqa: BLE001 - an error may already be on its way out
                log.debug("held-back reports not written: %s", first_line(str(e)))

    def flush(self) -> None:
        """Write every report and user attribute still held back (`lean`)."""
        self._run(Call.WRITE, lambda: None)

    def _run(self, call: Call, method: Callable[[], Any], *,
             landed: Callable[[], bool] | None = None) -> Any:
        # Held-back notes are written inside the retry, so a flush lost with the
        # connection is retried with the call; not again by a call nested in it (Optuna's
        # check_trial_is_updatable reads the trial while a flush holds the notes).
        return self._outage.retry(method, before=lambda: self._lean.before(call, self),
                                  landed=landed)

    # --- every storage call, declared by what it does -------------------------------------

    create_new_study = write(RDBStorage.create_new_study)
    delete_study = write(RDBStorage.delete_study)
    set_study_user_attr = write(RDBStorage.set_study_user_attr)
    set_study_system_attr = write(RDBStorage.set_study_system_attr)
    create_new_trial = write(RDBStorage.create_new_trial)
    set_trial_param = write(RDBStorage.set_trial_param)
    set_trial_system_attr = write(RDBStorage.set_trial_system_attr)
    get_study_id_from_name = read(RDBStorage.get_study_id_from_name)
    get_study_name_from_id = read(RDBStorage.get_study_name_from_id)
    get_study_directions = read(RDBStorage.get_study_directions)
    get_study_user_attrs = read(RDBStorage.get_study_user_attrs)
    get_study_system_attrs = read(RDBStorage.get_study_system_attrs)
    get_trial_system_attrs = read(RDBStorage.get_trial_system_attrs)
    get_all_studies = read(RDBStorage.get_all_studies)
    get_trial_param = read(RDBStorage.get_trial_param)
    get_trial_id_from_study_id_trial_number = read(
        RDBStorage.get_trial_id_from_study_id_trial_number)
    get_n_trials = read(RDBStorage.get_n_trials)
    get_trial_user_attrs = read_of_reports(RDBStorage.get_trial_user_attrs)
    get_all_trials = read_of_reports(RDBStorage.get_all_trials)
    get_best_trial = read_of_reports(RDBStorage.get_best_trial)
    # What Optuna's _CachedStorage (the wrapper every Study puts around an RDB storage)
    # calls directly, bypassing the public names above.
    _set_trial_param = write(RDBStorage._set_trial_param)
    _get_best_trial_id = read(RDBStorage._get_best_trial_id)

    def set_trial_state_values(self, trial_id: int, state: TrialState,
                               values: Sequence[float] | None = None) -> bool:
        """Optuna's, retried; after a lost connection, finding the trial already in
        ``state`` is our own landed commit only for COMPLETE and PRUNED, which no one but
        the trial's worker writes. A FAIL may be another worker's (it failed the trial as
        stale and queued it again): taking it for ours queued the same parameters twice."""
        def landed() -> bool:
            if state not in _ONLY_THE_OWNER_WRITES:
                return False
            try:
                return RDBStorage.get_trial(self, trial_id).state == state
            except Exception:  # noqa: BLE001 - only used to recognise a landed write
                return False

        done = self._run(Call.WRITE, lambda: RDBStorage.set_trial_state_values(
            self, trial_id, state, values), landed=landed)
        if self._lean.active and state.is_finished():
            self._lean.finished.add(trial_id)
        return done

    @write
    def _create_new_trial(self, study_id: int,
                          template_trial: FrozenTrial | None = None) -> FrozenTrial:
        # Study.ask() pops a WAITING trial first and only then calls this with no
        # template; enqueue_trial and the retry callback always pass a template.
        if template_trial is None and self._budgeted and self.engine.dialect.name == "sqlite":
            with sqlite_lock(self.engine.url.database):
                trial = RDBStorage._create_new_trial(self, study_id, template_trial)
        else:
            trial = RDBStorage._create_new_trial(self, study_id, template_trial)
        if self._lean.active:  # Trial() reads it back at once
            self._lean.reads.put(("trial", trial._trial_id), trial)
        return trial

    def _get_prepared_new_trial(self, study_id: int, template_trial: FrozenTrial | None,
                                session: Any) -> Any:
        """Optuna's, with the budget counted first on its transaction (`budget`). A study
        that does not exist is already a KeyError (Optuna's contract)."""
        if template_trial is None and self._budgeted:
            check_budget(study_id, session)
        return super()._get_prepared_new_trial(study_id, template_trial, session)

    @read_of_reports
    def get_trial(self, trial_id: int) -> FrozenTrial:
        kept = self._lean.reads.take(("trial", trial_id)) if self._lean.active else None
        return kept if kept is not None else RDBStorage.get_trial(self, trial_id)

    @read_of_reports
    def _get_trials(self, study_id: int, states: Any, included_trial_ids: set[int],
                    trial_id_greater_than: int) -> list[FrozenTrial]:
        def fetch() -> list[FrozenTrial]:
            return RDBStorage._get_trials(self, study_id, states, included_trial_ids,
                                          trial_id_greater_than)

        if not self._lean.active:
            return fetch()
        # Optuna drops included ids above trial_id_greater_than (read anyway): the same
        # query whether or not the trial just read is in the caller's unfinished set.
        included = frozenset(i for i in included_trial_ids if i <= trial_id_greater_than)
        key = ("trials", study_id, None if states is None else frozenset(states), included,
               trial_id_greater_than)
        return self._lean.reads.get(key, fetch)

    @held_back
    def set_trial_intermediate_value(self, trial_id: int, step: int,
                                     intermediate_value: float) -> None:
        if not self._lean.active:
            return RDBStorage.set_trial_intermediate_value(self, trial_id, step,
                                                           intermediate_value)
        self._lean.check_updatable(trial_id)
        if self._lean.pending.add_value(trial_id, step, intermediate_value):
            self._lean.reads.clear()
            self._lean.pending.flush(self, finished_ok=False)
        return None

    @held_back
    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        if not self._lean.active:
            return RDBStorage.set_trial_user_attr(self, trial_id, key, value)
        self._lean.check_updatable(trial_id)
        self._lean.pending.add_attr(trial_id, key, value)
        return None

    # --- heartbeats and stale trials ------------------------------------------------------

    def _grace(self) -> int:
        return self.grace_period or 2 * (self.heartbeat_interval or 1)

    @read
    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        """Optuna's stale trials, plus (in `budget` mode) RUNNING trials that never wrote
        a heartbeat.

        A worker killed between ``study.ask()`` and its heartbeat thread's first write
        leaves a RUNNING trial with no heartbeat row, which Optuna never considers: it is
        stale once its ``datetime_start`` (UTC, from the worker's clock, compared with
        ours) is older than the grace period; a live trial lacks a heartbeat row for
        milliseconds only (or one interval, `lean`). Nothing is judged stale until this
        storage has answered without a break for a grace period: after an outage every
        heartbeat is old, and the other workers need an interval to write theirs again.
        """
        grace = self._grace()
        if self._outage.reachable_for() < grace:
            return []
        stale = RDBStorage._get_stale_trial_ids(self, study_id)
        if not self._budgeted:  # only a worker judges trials without a heartbeat
            return stale
        models = rdb_models()
        Beat, T = models.TrialHeartbeatModel, models.TrialModel
        cutoff = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=grace)
        query = (sqlalchemy.select(T.trial_id).where(T.study_id == study_id)
                 .where(T.state == TrialState.RUNNING).where(T._datetime_start_utc < cutoff)
                 .where(~sqlalchemy.exists().where(Beat.trial_id == T.trial_id)))
        with self.engine.connect() as conn:
            orphans = list(conn.execute(query).scalars())
        return stale + [t for t in orphans if t not in stale]

    def record_heartbeat(self, trial_id: int) -> None:
        """One try: a beat missed while the database is away is written at the next one
        (the thread beats again every interval); retrying here would hold up the end of
        the trial, which joins this thread. In `lean` mode a trial's first beat is not
        written (see there), unless the grace period is shorter than two intervals."""
        lean = self._lean
        if lean.active and trial_id not in lean.first_beat_due and \
                self._grace() >= 2 * (self.heartbeat_interval or 1):
            lean.first_beat_due.add(trial_id)
            return
        lean.first_beat_due.discard(trial_id)
        try:
            super().record_heartbeat(trial_id)
        except Exception as e:  # noqa: BLE001 - only transient errors are swallowed
            if isinstance(e, StorageLost) or transient_cause(e) is None:
                raise
            self._outage.note_failure(e)
            log.debug("heartbeat of trial %d not written: %s", trial_id,
                      driver_message(e, self.url))
        else:
            self._outage.note_answer()

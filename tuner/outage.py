"""A storage lost mid-run (a database restart, a stop, a network cut) is retried.

Every storage call a worker makes backs off and tries again until the database returns,
for at most ``TUNER_OUTAGE_TIMEOUT`` seconds (default 300) counted from the first failure,
then raises `StorageLost` (one line, the password masked). `OutageRetrying` is the part
of `tuner.storage.TunerStorage` that does it; `retry_through_outages` wraps its calls.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import optuna
import sqlalchemy
import sqlalchemy.exc
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from tuner.storage_url import _PERMANENT, StorageError, mask_url, one_line

__all__ = ["RETRIED", "TRANSIENT_ERRORS", "OutageRetrying", "StorageLost", "env_seconds",
           "outage_timeout", "retry_through_outages", "transient_cause"]

log = logging.getLogger(__name__)


# Errors of a lost or busy connection: worth retrying, never a reason to lose a study.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    optuna.exceptions.StorageInternalError,
)


class StorageLost(StorageError):
    """The storage stayed unreachable for longer than ``TUNER_OUTAGE_TIMEOUT`` mid-run."""


class OutageRetrying:
    """Mixin of an RDB storage: calls retried through an outage (`retry_through_outages`
    wraps them), and the outage's start and end noted for stale-trial judgement."""

    url: str

    def _reset_outage(self) -> None:
        # When the current outage began (None: the storage answers), and since when it has
        # answered without a break (see _get_stale_trial_ids).
        self._outage_since: float | None = None
        self._reachable_since: float | None = time.monotonic()

    def _note_outage(self, e: BaseException) -> float:
        """Record a failed call; returns seconds since the outage began."""
        now = time.monotonic()
        self._reachable_since = None
        since = self._outage_since  # read once: the heartbeat thread writes it too
        if since is None:
            since = self._outage_since = now
            log.warning("lost the storage %s (%s); retrying for up to %d s",
                        mask_url(self.url), one_line(e, self.url), outage_timeout())
        return now - since

    def _note_reachable(self) -> None:
        now = time.monotonic()
        since = self._outage_since
        if since is not None:
            self._outage_since = None
            log.warning("storage %s is back after %.0f s", mask_url(self.url), now - since)
        if self._reachable_since is None:
            self._reachable_since = now

    def _retrying(self, name: str, call: Callable[[], Any], args: tuple[Any, ...]) -> Any:
        """``call()``, tried again with backoff while the database is unreachable.

        Nested storage calls (Optuna's methods call each other) are not retried on their
        own: the outermost call retries the whole operation.
        """
        if getattr(_nesting, "depth", 0):
            return call()
        delay, failed_before = 0.2, False
        while True:
            _nesting.depth = 1
            try:
                self._before_call(name)
                result = call()
            except StorageLost:
                raise
            except optuna.exceptions.UpdateFinishedTrialError:
                # A write whose commit was lost with the connection may have landed:
                # finishing a trial that is already in that very state is a success. Only
                # for COMPLETE and PRUNED, which no one but the trial's own worker writes.
                # A FAIL may be another worker's (it failed the trial as stale and queued
                # it again): taking it for ours queued the same parameters twice, and the
                # version finished n_trials + 1 (the crash storm on MariaDB, a busy CPU).
                if failed_before and name == "set_trial_state_values" and \
                        args[1] in _ONLY_THE_OWNER_WRITES and self._trial_state(args[0]) == args[1]:
                    return True
                raise
            except Exception as e:
                if transient_cause(e) is None:
                    raise
                lost_for = self._note_outage(e)
                limit = outage_timeout()
                if lost_for >= limit:
                    raise StorageLost(
                        f"lost the storage {mask_url(self.url)}: {one_line(e, self.url)} "
                        f"(gave up after {limit} s without it; TUNER_OUTAGE_TIMEOUT sets the "
                        "limit)") from None
                time.sleep(min(delay * (0.5 + random.random()), limit - lost_for))
                delay = min(delay * 2, 2.0)
                failed_before = True
                continue
            finally:
                _nesting.depth = 0
            self._note_reachable()
            return result

    def _trial_state(self, trial_id: int) -> TrialState | None:
        try:
            return RDBStorage.get_trial(self, trial_id).state  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - only used to recognise a landed write
            return None

    def _before_call(self, name: str) -> None:
        """Runs inside each attempt of a retried call ``name``, before it."""


_nesting = threading.local()
_ONLY_THE_OWNER_WRITES = (TrialState.COMPLETE, TrialState.PRUNED)


# Every storage call a worker makes, retried through an outage. Writes are safe to repeat:
# set_trial_state_values is recognised by `_retrying` when its lost commit had landed; a
# repeated create_new_trial may leave one extra RUNNING trial with no heartbeat, which is
# failed as stale after the grace period (and never counted against n_trials).
RETRIED = (
    "create_new_study", "delete_study", "set_study_user_attr", "set_study_system_attr",
    "get_study_id_from_name", "get_study_name_from_id", "get_study_directions",
    "get_study_user_attrs", "get_study_system_attrs", "get_trial_user_attrs",
    "get_trial_system_attrs", "get_all_studies", "create_new_trial", "set_trial_param",
    "get_trial_param", "set_trial_state_values", "set_trial_intermediate_value",
    "set_trial_user_attr", "set_trial_system_attr", "get_trial_id_from_study_id_trial_number",
    "get_trial", "get_all_trials", "get_n_trials", "get_best_trial", "_get_stale_trial_ids",
    # What Optuna's _CachedStorage (the wrapper every Study puts around an RDB storage)
    # calls on its backend directly, bypassing the public names above.
    "_create_new_trial", "_set_trial_param", "_get_best_trial_id", "_get_trials",
)


def retry_through_outages(cls: type, names: tuple[str, ...] = RETRIED) -> None:
    """Wrap ``cls``'s methods ``names`` (as the class defines them) in `_retrying`."""
    for name in names:
        impl = getattr(cls, name)

        def method(self: Any, *args: Any, _impl: Any = impl, _name: str = name,
                   **kwargs: Any) -> Any:
            return self._retrying(_name, lambda: _impl(self, *args, **kwargs), args)

        setattr(cls, name, functools.wraps(impl)(method))


def outage_timeout() -> int:
    """Seconds a worker keeps retrying a storage lost mid-run (``TUNER_OUTAGE_TIMEOUT``)."""
    return env_seconds("TUNER_OUTAGE_TIMEOUT", 300)


def transient_cause(exc: BaseException) -> BaseException | None:
    """The lost-connection error behind ``exc``, or None when ``exc`` is not one.

    Looks through Optuna's wrappings: the `StorageInternalError` it raises ``from`` the
    driver's error, and the ``UnboundLocalError: ... 'updated_state'`` that
    ``optuna/study/_optimize.py:_run_trial`` raises from its ``finally`` when both the
    trial's final write and the fallback ``get_trial`` fail (the storage error is then
    the UnboundLocalError's ``__context__``). A `StorageLost` is returned as is: the
    caller should report it, not retry it.
    """
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, StorageLost):
            return e
        if isinstance(e, sqlalchemy.exc.DBAPIError) and e.connection_invalidated:
            return e
        if isinstance(e, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)):
            text = str(getattr(e, "orig", e)).lower()
            return None if any(p in text for p in _PERMANENT) else e
        e = e.__cause__ or e.__context__
    return None


def env_seconds(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise StorageError(f"{name}={raw!r} must be a whole number of seconds") from None
    if value <= 0:
        raise StorageError(f"{name}={raw!r} must be positive")
    return value



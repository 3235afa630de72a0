"""A storage lost mid-run (a database restart, a stop, a network cut) is retried.

A storage call that fails with a lost connection (`transient_cause`) backs off and tries
again until the database returns, for at most ``TUNER_OUTAGE_TIMEOUT`` seconds (default
300) counted from the first failure of the outage (not of the call: a second call in the
same outage gets what is left), then raises `StorageLost` (one line, the password
masked). One `Outage` belongs to one storage and is shared by its threads; the storage
runs every call through `Outage.retry`.

Hand-written rather than tenacity's ``Retrying``: the deadline is the storage's (shared by
every call and the heartbeat thread), the backoff is multiplicative jitter
(0.5-1.5 x the delay, doubled up to 2 s), calls nested inside a retried call are not
retried on their own, and a finishing write that fails after its commit may have landed
is recognised (``landed``). tenacity would need a custom stop, wait, retry predicate and
before-sleep hook for those, and the loop would not get shorter.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import optuna
import sqlalchemy
import sqlalchemy.exc

from tuner.passwords import driver_message, mask_url
from tuner.storage._url import PERMANENT, StorageError, env_seconds

__all__ = ["TRANSIENT_ERRORS", "Outage", "StorageLost", "outage_timeout", "transient_cause"]

log = logging.getLogger("tuner.storage")

# Errors of a lost or busy connection: worth retrying, never a reason to lose a study.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    optuna.exceptions.StorageInternalError,
)

R = TypeVar("R")


class StorageLost(StorageError):
    """The storage stayed unreachable for longer than ``TUNER_OUTAGE_TIMEOUT`` mid-run."""


class Outage:
    """The outage state of one storage at ``url``: since when it is lost (None: it
    answers), since when it has answered without a break (the stale-trial judgement waits
    for a grace period of that), and the retry of its calls."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.since: float | None = None
        self.reachable_since: float | None = time.monotonic()

    def note_failure(self, e: BaseException) -> float:
        """Record a failed call; returns seconds since the outage began."""
        now = time.monotonic()
        self.reachable_since = None
        since = self.since  # read once: the heartbeat thread writes it too
        if since is None:
            since = self.since = now
            log.warning("lost the storage %s (%s); retrying for up to %d s", mask_url(self.url),
                        driver_message(storage_cause(e), self.url), outage_timeout())
        return now - since

    def note_answer(self) -> None:
        now = time.monotonic()
        since = self.since
        if since is not None:
            self.since = None
            log.warning("storage %s is back after %.0f s", mask_url(self.url), now - since)
        if self.reachable_since is None:
            self.reachable_since = now

    def reachable_for(self) -> float:
        """Seconds the storage has answered without a break (0 during an outage)."""
        since = self.reachable_since
        return 0.0 if since is None else time.monotonic() - since

    def retry(self, attempt: Callable[[], R], *, before: Callable[[], None] | None = None,
              landed: Callable[[], bool] | None = None) -> R:
        """``attempt()``, tried again with backoff while the database is unreachable.

        ``before``: runs first in each attempt, inside the retry, of an outermost call only
        (a call nested in another is part of it: its ``before`` has run).

        ``landed``: for a write that finishes a trial, whether, after a failed attempt,
        Optuna's ``UpdateFinishedTrialError`` only means that the lost commit had landed
        (then the call succeeded and returns True). Calls nested inside a retried call
        (Optuna's methods call each other) are not retried on their own: the outermost
        call retries the whole operation.
        """
        if getattr(_nesting, "depth", 0):
            return attempt()
        delay, failed_before = 0.2, False
        while True:
            _nesting.depth = 1
            try:
                if before is not None:
                    before()
                result = attempt()
            except StorageLost:
                raise
            except optuna.exceptions.UpdateFinishedTrialError:
                if failed_before and landed is not None and landed():
                    return True  # type: ignore[return-value]
                raise
            except Exception as e:
                if transient_cause(e) is None:
                    raise
                lost_for = self.note_failure(e)
                limit = outage_timeout()
                if lost_for >= limit:
                    raise StorageLost(
                        f"lost the storage {mask_url(self.url)}: {driver_message(e, self.url)} "
                        f"(gave up after {limit} s without it; TUNER_OUTAGE_TIMEOUT sets the "
                        "limit)") from None
                time.sleep(min(delay * (0.5 + random.random()), limit - lost_for))
                delay = min(delay * 2, 2.0)
                failed_before = True
                continue
            finally:
                _nesting.depth = 0
            self.note_answer()
            return result


_nesting = threading.local()


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
            return None if any(p in text for p in PERMANENT) else e
        e = e.__cause__ or e.__context__
    return None


def storage_cause(e: BaseException) -> BaseException:
    """The error to describe for a failed storage call.

    Optuna wraps every failed commit in a StorageInternalError whose message blames the
    data ("invalid data in the commit, e.g. exceeding max length"), also when the
    connection was lost mid-commit; its cause, the driver's error, says what happened.
    """
    if isinstance(e, optuna.exceptions.StorageInternalError) and e.__cause__ is not None:
        return e.__cause__
    return e

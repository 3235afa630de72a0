"""Write-behind of a running trial's per-epoch reports and user attributes.

Optuna commits every ``trial.report`` and ``trial.set_user_attr`` in a transaction of its
own: for a small model trained 15 epochs that was more time than the training. A worker
(`tuner.worker.work`) instead keeps them here and writes all that are pending in one
transaction (`tuner.optuna_private.write_trial_notes`):

- at a trial's first report, so a dashboard shows at once that the trial has begun;
- at the first report after ``TUNER_WRITE_BEHIND_S`` seconds (default 1) without a
  write, so a dashboard shows a running trial's learning curve at most about a second
  (plus one epoch) late; a trial whose epochs take longer than that is written at every
  report, as before, and ``TUNER_WRITE_BEHIND_S=0`` writes every report at once;
- before any other write on the storage, and any read of a trial's reports or user
  attributes (`tuner.storage.TunerStorage._before_call`), so every such read, and the
  write that finishes the trial, sees everything reported before it.

What a crash loses is the last second of reports of a trial that is failed as stale and
run again anyway. Reports of a trial another worker has already failed (as stale) cannot
be written: the report raises ``UpdateFinishedTrialError`` as Optuna's own setter does.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from optuna.exceptions import UpdateFinishedTrialError

from tuner.optuna_private import write_trial_notes
from tuner.storage_url import StorageError

__all__ = ["WRITE_BEHIND_S", "WriteBehind", "write_behind_seconds"]

WRITE_BEHIND_S = 1.0


def write_behind_seconds() -> float:
    """``TUNER_WRITE_BEHIND_S`` (seconds a report may wait), else `WRITE_BEHIND_S`."""
    raw = os.environ.get("TUNER_WRITE_BEHIND_S", "").strip()
    try:
        value = float(raw) if raw else WRITE_BEHIND_S
    except ValueError:
        raise StorageError(f"TUNER_WRITE_BEHIND_S={raw!r}: expected seconds, e.g. 1") from None
    if not 0 <= value <= 3600:
        raise StorageError(f"TUNER_WRITE_BEHIND_S={raw!r}: expected 0 to 3600 seconds")
    return value


class WriteBehind:
    """Pending intermediate values and user attributes, per trial, of one storage."""

    def __init__(self) -> None:
        self._values: dict[int, dict[int, float]] = {}
        self._attrs: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()        # the pending dicts
        self._flushing = threading.Lock()    # one flush at a time (upserts race otherwise)
        self._last_write = 0.0
        self._wait_s = write_behind_seconds()
        self._begun: set[int] = set()   # trials whose first report was written at once

    def __bool__(self) -> bool:
        return bool(self._values or self._attrs)

    def add_value(self, trial_id: int, step: int, value: float) -> bool:
        """Hold ``value``; returns whether it is to be written now (`due` or the trial's
        first report)."""
        with self._lock:
            self._values.setdefault(trial_id, {})[step] = value
            first = trial_id not in self._begun
            self._begun.add(trial_id)
        return first or self.due()

    def add_attr(self, trial_id: int, key: str, value: Any) -> None:
        with self._lock:
            self._attrs.setdefault(trial_id, {})[key] = value

    def due(self) -> bool:
        return time.monotonic() - self._last_write >= self._wait_s

    def flush(self, storage: Any, *, finished_ok: bool) -> None:
        """Write everything pending, one transaction per trial; what was written leaves
        the buffer only after its commit, so a failed write is tried again.

        ``finished_ok``: a trial already finished elsewhere (failed as stale) has its
        pending notes dropped instead of raising ``UpdateFinishedTrialError``; the caller
        is about to read or finish that trial and learns of it from Optuna as before.
        """
        with self._flushing:
            with self._lock:
                pending = {t: (dict(self._values.get(t, {})), dict(self._attrs.get(t, {})))
                           for t in {*self._values, *self._attrs}}
            for trial_id, (values, attrs) in pending.items():
                try:
                    write_trial_notes(storage, trial_id, values, attrs)
                except UpdateFinishedTrialError:
                    self._forget(trial_id, values, attrs)
                    if not finished_ok:
                        raise
                    continue
                self._forget(trial_id, values, attrs)
            self._last_write = time.monotonic()

    def _forget(self, trial_id: int, values: dict[int, float], attrs: dict[str, Any]) -> None:
        """Drop what was written, unless it was reported again meanwhile."""
        with self._lock:
            for pending, written in ((self._values, values), (self._attrs, attrs)):
                mine = pending.get(trial_id)
                if mine is None:
                    continue
                for k, v in written.items():
                    if k in mine and mine[k] is v:
                        del mine[k]
                if not mine:
                    del pending[trial_id]

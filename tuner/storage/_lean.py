"""A worker's lean bookkeeping: a running trial's reports written behind, reads repeated
within one ask answered once, its first heartbeat one interval late.

Optuna commits every ``trial.report`` and ``trial.set_user_attr`` in a transaction of its
own, and reads the study's trials twice in a row when asking for a trial: for a small
model trained 15 epochs that was more time than the training. `Lean` holds the state of
a storage's lean mode (`tuner.storage.TunerStorage.lean`, whose docstring is the contract
a caller gets); every storage call says which `Call` it is, and `Lean.before` does what
that kind of call needs first.

`WriteBehind` keeps reports and user attributes and writes all that are pending in one
transaction (`write_trial_notes`):

- at a trial's first report, so a dashboard shows at once that the trial has begun;
- at the first report after ``TUNER_WRITE_BEHIND_S`` seconds (default 1) without a
  write, so a dashboard shows a running trial's learning curve at most about a second
  (plus one epoch) late; ``TUNER_WRITE_BEHIND_S=0`` writes every report at once;
- before any other write on the storage, and any read of a trial's reports or user
  attributes, so every such read, and the write that finishes the trial, sees
  everything reported before it.

A note that cannot be written (its trial gone or finished) leaves the buffer and its
error is raised once, by the call whose flush tried it; a read drops the notes of a
finished trial quietly, since it shows the caller the finished state. Only a lost
connection keeps the notes, to be written when the call is retried. A user attribute is
JSON-encoded when set, and a trial this storage finished refuses notes when they are
set, as Optuna's setters do.

`ReadCache` keeps the last answers of the reads Optuna repeats (TPE's search-space
inference, then its sampling; the trial just created, read back) and gives them again
while this process has written nothing since (any write empties it) and they are at most
`REUSE_S` seconds old: another worker's trial that finished within that time is seen at
the next read, as if it had finished a moment later.

Hand-written rather than ``cachetools.TTLCache``: what is kept is copied in and out
(Optuna's callers change the trials they are given), the whole cache is emptied by any
write, and access is locked; TTLCache would replace only the timestamp of each entry
(two lines) and bring a size bound that nothing here needs.
"""

from __future__ import annotations

import copy
import enum
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from optuna.exceptions import UpdateFinishedTrialError

from tuner.storage._optuna_private import write_trial_notes
from tuner.storage._outage import transient_cause
from tuner.storage._url import StorageError

log = logging.getLogger("tuner.storage")

__all__ = ["REUSE_S", "WRITE_BEHIND_S", "Call", "Lean", "ReadCache", "WriteBehind",
           "write_behind_seconds"]

WRITE_BEHIND_S = 1.0
REUSE_S = 0.5


class Call(enum.Enum):
    """What a storage call does, as far as held-back notes and kept reads are concerned."""

    WRITE = "write"                      # writes held-back notes first; empties kept reads
    HELD_BACK = "held back"              # a report or user attribute: held back in lean mode
    READ = "read"                        # writes nothing, reads no held-back note
    READ_OF_REPORTS = "read of reports"  # an answer that includes held-back notes: written first


class Lean:
    """The state of one storage's lean mode, entered (``depth`` > 0) by a worker."""

    def __init__(self) -> None:
        self.depth = 0
        self.pending = WriteBehind()
        self.reads = ReadCache()
        self.first_beat_due: set[int] = set()
        self.finished: set[int] = set()  # trials this storage finished in this mode

    @property
    def active(self) -> bool:
        return self.depth > 0

    def before(self, call: Call, storage: Any) -> None:
        """Runs inside each attempt of an outermost storage call of kind ``call``, before
        it (so a flush lost with the connection is retried with the call)."""
        if call is Call.WRITE:
            self.reads.clear()  # nothing read before a write is reused after it
        if self.pending and call in (Call.WRITE, Call.READ_OF_REPORTS):
            self.reads.clear()
            self.pending.flush(storage, finished_ok=call is Call.READ_OF_REPORTS)

    def check_updatable(self, trial_id: int) -> None:
        """Optuna's ``UpdateFinishedTrialError`` for a note on a trial this storage has
        finished, at once (a trial finished elsewhere is found when the note is written)."""
        if trial_id in self.finished:
            raise UpdateFinishedTrialError(
                f"Trial with id {trial_id} has already finished and can not be updated.")


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
        json.dumps(value)  # a value JSON cannot encode is refused here, as by Optuna
        with self._lock:
            self._attrs.setdefault(trial_id, {})[key] = value

    def due(self) -> bool:
        return time.monotonic() - self._last_write >= self._wait_s

    def flush(self, storage: Any, *, finished_ok: bool) -> None:
        """Write everything pending, one transaction per trial. What was written leaves
        the buffer after its commit; so does what cannot be written (its trial gone or
        finished, a value refused), whose first error is raised once all trials were
        tried. Only a lost connection (a transient error) keeps the notes, for the retry.

        ``finished_ok``: a trial already finished elsewhere (failed as stale) has its
        pending notes dropped instead of raising ``UpdateFinishedTrialError``: the caller
        is about to read that trial and learns of it from its state, as from Optuna.
        """
        with self._flushing:
            with self._lock:
                pending = {t: (dict(self._values.get(t, {})), dict(self._attrs.get(t, {})))
                           for t in {*self._values, *self._attrs}}
            failed: list[Exception] = []
            try:
                for trial_id, (values, attrs) in pending.items():
                    try:
                        write_trial_notes(storage, trial_id, values, attrs)
                    except UpdateFinishedTrialError as e:
                        if not finished_ok:
                            failed.append(e)
                        log.debug("notes of finished trial %d dropped", trial_id)
                    except Exception as e:
                        if transient_cause(e) is not None:
                            raise
                        failed.append(e)
                    self._forget(trial_id, values, attrs)
            finally:
                self._last_write = time.monotonic()
            if failed:
                raise failed[0]

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


class ReadCache:
    """Answers of reads, each kept `REUSE_S` seconds, copied in and out."""

    def __init__(self) -> None:
        self._answers: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()

    def put(self, key: Hashable, answer: Any) -> None:
        with self._lock:
            self._answers[key] = (time.monotonic(), _copy(answer))

    def take(self, key: Hashable) -> Any | None:
        """The answer kept for ``key`` less than `REUSE_S` ago (a copy), else None."""
        with self._lock:
            kept = self._answers.get(key)
        if kept is None or time.monotonic() - kept[0] >= REUSE_S:
            return None
        return _copy(kept[1])

    def get(self, key: Hashable, read: Callable[[], Any]) -> Any:
        """The answer to ``key`` kept less than `REUSE_S` ago, else ``read()`` (kept)."""
        kept = self.take(key)
        if kept is not None:
            return kept
        answer = read()
        self.put(key, answer)
        return answer


def _copy(answer: Any) -> Any:
    """Optuna's callers may change a trial they are given (its intermediate values, for
    one), and the storage's cache keeps the trials of a list it is given: a kept trial
    is deep-copied, a kept list of trials handed out as a new list of the same trials."""
    return list(answer) if isinstance(answer, list) else copy.deepcopy(answer)

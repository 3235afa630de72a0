"""Reads a worker repeats within one ``study.ask()``, answered once.

Asking for a trial, Optuna reads the study's new and unfinished trials twice in a row with
the same arguments (TPE's search-space inference, then its sampling), and reads back the
trial it has just created. Each read costs 2-5 ms of SQLAlchemy object loading even on a
local SQLite file: more than a small model's epochs. A worker's storage
(`tuner.storage.TunerStorage`, ``reuse_reads``) keeps the last answers here and gives
them again while both hold:

- this process has written nothing since (any write empties the cache), so its own
  trial is never seen stale;
- they are at most `REUSE_S` seconds old: another worker's trial that finished within
  that time is seen at the next read instead of this one, as if it had finished a
  moment later.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["REUSE_S", "ReadCache"]

REUSE_S = 0.5


class ReadCache:
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

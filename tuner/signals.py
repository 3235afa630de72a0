"""Stop requests: SIGINT (Ctrl-C) and SIGTERM (what Docker, Kubernetes and `kill` send),
handled for the length of a block and the previous handlers put back after it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["STOP_SIGNALS", "on_stop_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def on_stop_signals(handler: Callable[[signal.Signals], None]) -> Iterator[None]:
    """Call ``handler(signal)`` on SIGINT or SIGTERM while the block runs.

    Python runs signal handlers in the main thread only and refuses to install them from
    any other: there (a library caller's thread) the block runs with the handlers as they
    are. An exception ``handler`` raises surfaces in the main thread, wherever it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, _frame: object) -> None:
        handler(signal.Signals(signum))

    previous = {s: signal.signal(s, on_signal) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)

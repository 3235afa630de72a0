"""tuner.signals: the one install and restore of the stop-signal handlers (the worker's
"finish the epoch" and the dashboard's "stop serving")."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from tuner.signals import STOP_SIGNALS, on_stop_signals

pytestmark = pytest.mark.integration  # sends itself signals


def test_handled_in_the_block_and_the_previous_handlers_back_after() -> None:
    before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    seen: list[signal.Signals] = []
    with on_stop_signals(seen.append):
        for s in STOP_SIGNALS:
            os.kill(os.getpid(), s)
    assert seen == list(STOP_SIGNALS)
    assert {s: signal.getsignal(s) for s in STOP_SIGNALS} == before


def test_restored_after_the_handler_raises() -> None:
    before = signal.getsignal(signal.SIGTERM)

    def refuse(sig: signal.Signals) -> None:
        raise KeyboardInterrupt(sig.name)

    with pytest.raises(KeyboardInterrupt, match="SIGTERM"), on_stop_signals(refuse):
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before


def test_outside_the_main_thread_nothing_is_installed() -> None:
    before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    inside: list[dict] = []

    def body() -> None:
        with on_stop_signals(lambda sig: None):
            inside.append({s: signal.getsignal(s) for s in STOP_SIGNALS})

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert inside == [before]

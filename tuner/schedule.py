"""`tuner schedule`: run `retune` for some study files at the times a cron expression names.

One process, one loop: at each tick the files are re-tuned one after the other, so two
retunes of the same study never run at once here (and across processes a second retune
joins the version the first one created, as a worker). A tick that comes round while the
previous one is still running is skipped, and the log says so. An error in one study is
logged and the others go on, as does the next tick. A stop request (SIGTERM, SIGINT) ends
the running trial after its epoch, hands it back to the queue, and ends the loop.

The clock is a `now()` / `sleep(seconds)` pair so that a test can drive the loop with a
fake one; the real `sleep` wakes up at once when ``stop`` is set.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from croniter import CroniterError, croniter
from dateutil import tz

from tuner.errors import TunerError, error_line, error_lines

__all__ = ["ScheduleError", "check_cron", "check_files", "run_schedule", "system_now"]

# The longest single sleep: a wall clock that jumps (suspend, NTP) is noticed this soon.
MAX_SLEEP_S = 30.0


class ScheduleError(TunerError):
    """A cron expression croniter cannot read."""


def system_now() -> datetime:
    """Local time, aware of its zone (and of DST), as cron reads expressions."""
    return datetime.now(tz.tzlocal())


def check_cron(expr: str, now: datetime | None = None) -> croniter:
    """A croniter for ``expr`` starting at ``now``, or a `ScheduleError` saying why not."""
    try:
        it = croniter(expr, now or system_now())
        it.get_next(datetime)  # "0 0 30 2 *" parses but names no time at all
    except (CroniterError, ValueError, TypeError) as e:
        raise ScheduleError(f"invalid cron expression {expr!r}: {e}; e.g. '0 3 * * *' (every "
                            "day at 03:00) or '*/15 * * * *' (every 15 minutes)") from None
    return croniter(expr, now or system_now())


def _stamp(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def check_files(files: Sequence[str | Path], storage: Any = None) -> None:
    """Raise now what would otherwise fail at every tick: a study file that is missing or
    does not parse, or a storage that cannot be resolved (``TUNER_REQUIRE_STORAGE=1``
    refusing the default, as the Docker stack's scheduler sets it). Reads no data and
    opens no storage."""
    from tuner.study_file import open_study_file

    for file in files:
        _ = open_study_file(file, storage, read_only=True).url


def _retune_one(file: str | Path, storage: Any, *, stop: threading.Event,
                emit: Callable[[str], None]) -> Any:
    from tuner.retune import retune_file

    return retune_file(file, storage, stop=stop, emit=emit)


def run_schedule(expr: str, files: Sequence[str | Path], *, storage: Any = None,
                 run_now: bool = False, stop: threading.Event | None = None,
                 emit: Callable[[str], None] = print,
                 now: Callable[[], datetime] = system_now,
                 sleep: Callable[[float], None] | None = None,
                 retune_one: Callable[..., Any] = _retune_one,
                 verbose: bool = False, check_first: bool = True) -> int:
    """Re-tune ``files`` at every time ``expr`` names until ``stop`` is set.

    Args:
        expr: a cron expression (5 fields; croniter also reads a 6th, seconds).
        files: study files, re-tuned in this order at each tick.
        storage: as for `tuner.retune.retune_file` (None: each file's own resolution).
        run_now: run once at start too, without waiting for the first tick.
        stop: set it (a signal handler does) to stop between or during runs.
        emit: receives the log lines, each starting with a timestamp.
        now, sleep: the clock; by default the system's, with a sleep ``stop`` cuts short.
        retune_one: ``retune_one(file, storage, stop=, emit=)``, the work of one file.
        verbose: log the traceback of an unexpected error, not only its line.
        check_first: read every file and resolve its storage before the loop starts
            (`check_files`), so that bad input is an error now, not at the first tick.

    Returns:
        The number of runs made (ticks plus the ``run_now`` run).
    """
    stop = stop or threading.Event()
    if sleep is None:
        def sleep(seconds: float) -> None:
            stop.wait(min(seconds, MAX_SLEEP_S))
    it = check_cron(expr, now())
    if check_first:
        check_files(files, storage)
    files = list(dict.fromkeys(str(f) for f in files))  # the same file twice: once a tick

    def log(line: str) -> None:
        emit(f"{_stamp(now())} {line}")

    def run(label: str) -> None:
        log(f"{label}: re-tuning {len(files)} study file{'s' * (len(files) > 1)}")
        for file in files:
            if stop.is_set():
                log(f"{label}: stopped before {file}")
                return
            try:
                retune_one(file, storage, stop=stop, emit=log)
            except Exception as e:  # noqa: BLE001 - one broken study must not end the loop
                # the others, and the next tick, go on
                for line in error_lines(e, error_line(e, file), verbose=verbose):
                    log(line)

    def skip_passed(tick: datetime) -> datetime:
        # Ticks that came round while the previous run was still going are skipped, never
        # queued: a long retune must not be followed by a burst of them.
        skipped = []
        while tick <= now():
            skipped.append(tick)
            tick = it.get_next(datetime)
        if skipped:
            log(f"skipped {len(skipped)} tick{'s' * (len(skipped) > 1)} "
                f"({', '.join(_stamp(t) for t in skipped[:3])}"
                f"{', ...' if len(skipped) > 3 else ''}): the previous run was still going")
        return tick

    runs = 0
    if run_now:
        run("run-now")
        runs += 1
    tick = skip_passed(it.get_next(datetime))
    if not stop.is_set():
        log(f"next run at {_stamp(tick)} (cron {expr!r})")
    while not stop.is_set():
        wait = (tick - now()).total_seconds()
        if wait > 0:
            sleep(wait)
            continue  # read the clock again: the sleep may have been cut short
        run(f"tick {_stamp(tick)}")
        runs += 1
        tick = skip_passed(it.get_next(datetime))
        if not stop.is_set():
            log(f"next run at {_stamp(tick)}")
    log(f"stopped after {runs} run{'s' * (runs != 1)}")
    return runs

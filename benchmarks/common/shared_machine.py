"""The shared machine: how much of it other processes used while a block was timed, how
much slower than its best it runs now, and what it is (the result file's "## Machine",
from `tuner.machine`)."""

from __future__ import annotations

import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from tuner import machine


def _cpu_ticks() -> tuple[int, int, float] | None:
    """(busy ticks of all CPUs, all ticks, this process's CPU ticks) from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + values[4]  # idle + iowait
    own = os.times()  # children count once reaped: a block that waits for its subprocesses
    ticks = os.sysconf("SC_CLK_TCK")  # sees their CPU time as its own
    mine = own.user + own.system + own.children_user + own.children_system
    return sum(values) - idle, sum(values), mine * ticks


class OtherLoad:
    """The share of the machine's CPU time that *other* processes used during a block.

    The machine is shared: a timing taken while something else ran is redone or reported
    with this figure beside it. Subprocesses waited for inside the block count as this
    process. None where /proc/stat is unavailable or the block was too short to tell
    (under ~100 ticks, half a second on 2 cores, the 10 ms tick makes it noise).
    """

    fraction: float | None = None

    def __enter__(self) -> OtherLoad:
        self._start = _cpu_ticks()
        return self

    def __exit__(self, *exc_info: object) -> None:
        end = _cpu_ticks()
        if self._start is None or end is None:
            return
        busy, total, own = (e - s for e, s in zip(end, self._start, strict=True))
        if total >= 100:
            self.fraction = min(1.0, max(0.0, (busy - own) / total))


def load_text(fraction: float | None) -> str:
    """An OtherLoad fraction for a table: "3%", or "n/a" for a block too short to tell."""
    return "n/a" if fraction is None else f"{100 * fraction:.0f}%"


def wait_until_idle(max_wait: float, threshold: float = 0.10) -> float | None:
    """Sleep until other processes leave the CPUs idle (at most ``max_wait`` seconds).
    Returns the share of the machine they used in the last second checked."""
    deadline = time.monotonic() + max_wait
    while True:
        with OtherLoad() as load:
            time.sleep(1.0)  # 100 ticks on one core: long enough for OtherLoad to tell
        if load.fraction is None or load.fraction <= threshold or time.monotonic() > deadline:
            return load.fraction


_PROBE: list[np.ndarray] = []


def probe_seconds() -> float:
    """Time a fixed mix like a training step's (best of 3, ~5 ms): 64 x 256 x 256
    matmuls and elementwise passes over 24 arrays of 64 KiB in turn.

    The machine may be a virtual one whose cores and caches are shared with other
    machines: work there can slow this one down by half for minutes without showing in
    /proc/stat. Comparing this probe with its best time tells when it runs at full speed.
    """
    if not _PROBE:
        rng = np.random.default_rng(0)
        _PROBE.append(rng.random((256, 256), dtype=np.float32) / 256)
        _PROBE.extend(rng.random((64, 256), dtype=np.float32) for _ in range(24))
    W, *bufs = _PROBE
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        for i in range(24):
            x, y, z = bufs[i], bufs[(i + 1) % 24], bufs[(i + 2) % 24]
            np.matmul(x, W, out=z)
            np.multiply(z, W[0], out=y)
            np.add(y, x, out=z)
            np.maximum(z, x, out=y)
            np.multiply(y, 0.5, out=y)
        best = min(best, time.perf_counter() - start)
    return best


class SpeedProbe:
    """Tells how much slower than its best the machine runs now (1.0 is full speed)."""

    def __init__(self) -> None:
        self.best = min(probe_seconds() for _ in range(5))

    def slowdown(self) -> float:
        seconds = probe_seconds()
        self.best = min(self.best, seconds)
        return seconds / self.best

    def wait_for_full_speed(self, max_wait: float, tolerance: float = 1.10) -> float:
        """Sleep until the probe runs within ``tolerance`` of its best (``max_wait`` s at
        most). Returns the last slowdown seen."""
        deadline = time.monotonic() + max_wait
        while True:
            slowdown = self.slowdown()
            if slowdown <= tolerance or time.monotonic() > deadline:
                return slowdown
            time.sleep(1.0)


_REPORTED = {"numpy": "numpy", "scipy": "scipy", "sklearn": "scikit-learn",
             "numba": "numba", "optuna": "optuna", "torch": "torch",
             "matplotlib": "matplotlib"}


class Machine:
    """What a reader needs to judge the numbers: cores, BLAS, versions, load. Make one
    when the run starts; ``lines()`` at the end is the result file's "## Machine"."""

    def __init__(self) -> None:
        self.started = datetime.now(UTC)
        self.load_start = os.getloadavg()
        self.clock_start = time.perf_counter()

    def lines(self) -> list[str]:
        load_end = os.getloadavg()
        # The libraries this run imported (module name -> distribution), at their versions.
        versions = ", ".join(
            f"{dist} {v}" for module, dist in _REPORTED.items()
            if module in sys.modules and (v := machine.package_version(dist)))
        out = [
            f"- date: {self.started:%Y-%m-%d %H:%M} UTC, run took "
            f"{time.perf_counter() - self.clock_start:.0f} s",
            f"- CPU: {machine.cpu_model()}, {machine.logical_cores()} logical cores "
            f"({machine.usable_cores()} usable), "
            f"{platform.machine()}, {platform.system()} {platform.release()}",
            f"- python {platform.python_version()}, {versions}",
        ]
        for api, label in (("blas", "BLAS"), ("openmp", "OpenMP")):
            for pool in machine.thread_pools():
                if pool.get("user_api") == api:
                    detail = (f"{pool.get('version')} ({pool.get('architecture', '?')}, "
                              f"{pool.get('threading_layer', '?')}, "
                              if api == "blas" else "(")
                    out.append(f"- {label}: {pool.get('internal_api')} {detail}"
                               f"{pool.get('num_threads')} threads) from "
                               f"{Path(pool.get('filepath', '?')).name}")
        threads = {k: v for k, v in os.environ.items()
                   if k.endswith("_NUM_THREADS") or k.startswith("OPENBLAS_")}
        if threads:
            out.append("- environment: " + ", ".join(f"{k}={v}" for k, v in
                                                     sorted(threads.items())))
        out.append(f"- load average (1, 5, 15 min) at start: "
                   f"{', '.join(f'{x:.2f}' for x in self.load_start)}; at end: "
                   f"{', '.join(f'{x:.2f}' for x in load_end)} "
                   "(the machine is shared by several engineers)")
        return out

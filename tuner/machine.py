"""The machine this process runs on: cores, memory, CPU, BLAS, GPUs and software versions.

The one place these facts are read. Job planning (`tuner.worker.plan_jobs`), the memory
limit of a study file (`tuner.spec.limits`), the hardware fingerprint, the splits cache's
key and the benchmarks' "## Machine" sections all ask here, so they never disagree.

Memory comes from psutil, which reads the kernel's own figures on every platform
(``MemTotal`` and ``MemAvailable`` on Linux); the standard library has the total only on
some platforms and the available figure on none. The CPU's model name is not in psutil:
it is read from ``/proc/cpuinfo`` where there is one.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from typing import Any

__all__ = ["SOFTWARE", "available_memory", "blas", "blas_threads", "cpu_model", "gpus",
           "logical_cores", "package_version", "software_versions", "thread_pools",
           "total_memory", "usable_cores"]

# The packages whose versions are recorded beside a study's hardware fingerprint.
SOFTWARE = ("numpy", "optuna", "scikit-learn", "tuner")


# --- cores and memory -------------------------------------------------------------------

def logical_cores() -> int:
    """Every logical core of the machine (what the hardware fingerprint records)."""
    return os.cpu_count() or 1


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity: fewer than the machine's
    under ``taskset`` or a container's cpuset), which is what parallel work can use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on macOS or Windows: every core
        return logical_cores()


def total_memory() -> int:
    """Physical memory in bytes: the most a single trial can ever use."""
    import psutil  # imported here: a command that never asks pays nothing

    return int(psutil.virtual_memory().total)


def available_memory() -> int:
    """Bytes that new processes can use now without swapping (free plus reclaimable
    caches, the kernel's own estimate): what parallel trials may share."""
    import psutil

    return int(psutil.virtual_memory().available)


# --- processor, BLAS, GPUs ----------------------------------------------------------------

def cpu_model() -> str:
    """The processor's model name ("AMD EPYC 7B13"; "Hardware" on some ARM boards), or
    the platform's own description where there is no /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def thread_pools() -> list[dict[str, Any]]:
    """threadpoolctl's description of every BLAS and OpenMP pool loaded in this process
    (library, version, architecture, threading layer, threads now, file)."""
    import numpy  # noqa: F401 - loads numpy's BLAS: threadpoolctl sees loaded libraries only
    from threadpoolctl import threadpool_info

    return threadpool_info()


@functools.cache
def blas() -> tuple[str, ...]:
    """The BLAS libraries loaded, as "internal_api/architecture" ("openblas/Haswell").

    Asked once per process: which BLAS is loaded cannot change while it runs, and
    `tuner retune` fingerprints every study file (threadpoolctl takes ~30 ms).
    """
    return tuple(sorted({f"{i.get('internal_api')}/{i.get('architecture') or '?'}"
                         for i in thread_pools() if i.get("user_api") == "blas"}))


def blas_threads() -> int:
    """The threads numpy's BLAS uses now (the usable cores when none is found)."""
    pools = [i for i in thread_pools() if i.get("user_api") == "blas"]
    numpy_pools = [i for i in pools if "numpy" in i.get("filepath", "")] or pools
    return int(numpy_pools[0]["num_threads"]) if numpy_pools else usable_cores()


@functools.cache
def gpus() -> tuple[str, ...]:
    """NVIDIA GPUs as "name, memory" lines from nvidia-smi; () where there is none.

    Asked once per process, like `blas` (nvidia-smi takes tens of milliseconds).
    """
    if shutil.which("nvidia-smi") is None:
        return ()
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(sorted(line.strip() for line in out.splitlines() if line.strip()))


# --- software -----------------------------------------------------------------------------

@functools.cache
def package_version(distribution: str) -> str | None:
    """The installed version of ``distribution`` ("scikit-learn", not "sklearn"), or
    None when it is not installed. Read once per process."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def software_versions(packages: tuple[str, ...] = SOFTWARE) -> dict[str, str]:
    """Python's version and each package's ("not installed" for a missing one)."""
    return {"python": sys.version.split()[0],
            **{p: package_version(p) or "not installed" for p in packages}}

"""Helpers shared by the test modules: study files, running the CLI, the failure for a
missing service, and `wait_until`, the one way a test waits for something.

Import them with `from helpers import ...` (pytest puts tests/ on sys.path). Fixtures stay
in conftest.py; conftest.py re-exports these names so `from conftest import ...` still works.
Helpers only the report tests share live in tests/support/report_helpers.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest
from click.testing import CliRunner, Result

ROOT = Path(__file__).resolve().parents[2]

T = TypeVar("T")

TINY_STUDY = """
[study]
name = "{name}"
n_trials = {n_trials}

[data]
dataset = "{dataset}"
seed = 0

[model]
hidden = [16]
epochs = {epochs}
batch_size = 64

[search]
alpha = {{ prior = "log-uniform", low = 1e-3, high = 1.0 }}
beta = {{ prior = "complement-log-uniform", low = 0.9, high = 0.999 }}

[sampler]
name = "{sampler}"
seed = 0

[pruner]
name = "{pruner}"
"""


def write_study(folder: Path, *, name: str = "tiny", n_trials: int = 6, epochs: int = 3,
                dataset: str = "iris", sampler: str = "tpe", pruner: str = "none",
                extra: str = "") -> Path:
    """A study file small enough that a trial takes milliseconds."""
    path = folder / f"{name}.toml"
    path.write_text(TINY_STUDY.format(name=name, n_trials=n_trials, epochs=epochs,
                                      dataset=dataset, sampler=sampler, pruner=pruner) + extra)
    return path


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run the `tuner` CLI in this process (click's CliRunner)."""
    from tuner.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def tuner_cmd(*args: str) -> list[str]:
    """The argv of the `tuner` CLI of this venv, for subprocess.Popen."""
    return [sys.executable, "-m", "tuner", *map(str, args)]


def run_tuner(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
              cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the `tuner` CLI as a real subprocess."""
    return subprocess.run(tuner_cmd(*args), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def missing(message: str) -> NoReturn:
    """Something a test needs is not on this machine: the test fails, saying how to get it.
    Never a skip: `make test` makes every server and tool ready first (tests/services.sh),
    so a missing one is a broken set-up, not a test to leave out."""
    pytest.fail(message + " (`make test` installs and starts it: tests/services.sh)")


def wait_until(predicate: Callable[[], T], *, what: str, timeout: float = 60.0,
               interval: float = 0.1, procs: Sequence[subprocess.Popen] = (),
               ignore: tuple[type[BaseException], ...] = ()) -> T:
    """Call `predicate` every `interval` seconds until it returns something truthy, and
    return that. Never gives up silently: after `timeout` seconds the test fails, naming
    `what` it waited for and the last value (or ignored exception) seen.

    `procs`: processes the wait depends on; if all of them have exited, waiting longer is
    pointless and the test fails at once with their exit codes and stderr.
    `ignore`: exceptions that mean "not yet" (e.g. KeyError while a study does not exist).
    The timeout is a hang guard, not a speed claim: keep it generous.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            last = predicate()
        except ignore as e:
            last = e
        else:
            if last:
                return last
        if procs and all(p.poll() is not None for p in procs):
            outputs = [(p.returncode, _stderr(p)) for p in procs]
            pytest.fail(f"every process exited before {what} (last value seen: {last!r}); "
                        f"exit codes and stderr: {outputs}")
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}; "
                        f"last value seen: {last!r}")
        time.sleep(interval)


def kill_all(procs: Sequence[subprocess.Popen]) -> None:
    """SIGKILL and reap every process of ``procs`` still running (a test's cleanup)."""
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def _stderr(proc: subprocess.Popen) -> str:
    """What an exited process wrote on stderr, when the test captured it."""
    if proc.stderr is None:
        return ""
    try:
        return proc.communicate(timeout=5)[1] or ""
    except (ValueError, subprocess.TimeoutExpired):  # already read, or closed
        return ""

"""Optuna's own storage test suite, run against tuner's storage.

Optuna ships its storage contract as a test class, ``StorageTestCase``
(``optuna/testing/pytest_storages.py``, in the installed package); its sdist adds the
heartbeat tests (``tests/storages_tests/test_heartbeat.py``, fetched by
``tests/support/optuna_sdist.py``). Each runs here on SQLite and on a fresh PostgreSQL database,
in three modes:

- ``optuna``: Optuna's own ``RDBStorage`` (the baseline: everything passes);
- ``tuner``: `tuner.storage.open_storage` with its defaults;
- ``worker``: the same, entered as a worker enters it (``budget()`` then ``lean()``,
  heartbeats on).

Differences of the harness, not of the storage, are fixed here: a budgeted study needs
``tuner:n_trials`` (written when the harness creates a study, hidden from the reads the
tests compare). What still fails is listed in `DEVIATIONS`, each with its reason, as a
strict xfail: a deviation that starts passing fails the run, so the list stays true.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.testing.pytest_storages import StorageTestCase

from tuner import keys
from tuner.storage import TunerStorage, open_storage

pytestmark = pytest.mark.integration

MODES = ("optuna", "tuner", "worker")
BACKENDS = ("sqlite", "postgresql")
# Optuna's heartbeat tests wait out real heartbeat intervals (about two minutes a run), so
# CI runs them in the worker's mode, the one that differs; TUNER_SUITE_ALL_MODES=1 runs
# plain Optuna and tuner's defaults as well (28 of 28 passed in each, on SQLite).
HEARTBEAT_MODES = MODES if os.environ.get("TUNER_SUITE_ALL_MODES") else ("worker",)
BUDGET = 10**6  # the harness's studies never run out of places

# (test name, mode) -> why tuner's storage differs from Optuna's there, on purpose.
DEVIATIONS: dict[tuple[str, str], str] = {
    ("test_set_trial_user_attr", "worker"):
        "lean mode holds a user attribute back without reading its trial (the read it "
        "saves): a trial that does not exist is a KeyError at the next write or read of "
        "reports, not when the attribute is set",
}
# The same for Optuna's heartbeat tests (tests/storages_tests/test_heartbeat.py).
_FIRST_BEAT = ("lean mode skips a trial's first heartbeat (the second comes an interval "
               "later, well within the grace period): a trial with one beat recorded has "
               "no heartbeat row, so Optuna's rule alone does not find it stale")
HEARTBEAT_DEVIATIONS: dict[tuple[str, str], str] = {
    ("test_fail_stale_trials", "worker"):
        "a worker (budget mode) also fails a RUNNING trial that never wrote a heartbeat "
        "once it is older than the grace period (a worker killed before its first beat "
        "leaves one); and " + _FIRST_BEAT,
    ("test_fail_stale_trials_with_race_condition", "worker"): _FIRST_BEAT,
}


class HarnessStorage(TunerStorage):
    """Tuner's storage with the budget attribute every tuner version has written when a
    study is created, and hidden from the study reads Optuna's tests compare."""

    def create_new_study(self, *args: Any, **kwargs: Any) -> int:
        study_id = super().create_new_study(*args, **kwargs)
        super().set_study_user_attr(study_id, keys.N_TRIALS, BUDGET)
        return study_id

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        attrs = super().get_study_user_attrs(study_id)
        attrs.pop(keys.N_TRIALS, None)
        return attrs

    def get_all_studies(self) -> list[Any]:
        studies = super().get_all_studies()
        for study in studies:
            study.user_attrs.pop(keys.N_TRIALS, None)
        return studies


def open_for(mode: str, url: str, stack: ExitStack,
             **heartbeat: Any) -> optuna.storages.BaseStorage:
    """The storage of ``mode`` at ``url``, entered into its modes on ``stack``.

    ``heartbeat``: a test's own heartbeat arguments (Optuna's ``heartbeat_interval``,
    ``grace_period``, ``failed_trial_callback``), given to tuner's storage as to Optuna's
    instead of tuner's settings from the environment; `open_storage` silences Optuna's
    ExperimentalWarning for them, a test of that warning gets it here.
    """
    if mode == "optuna":
        storage = optuna.storages.RDBStorage(url, **heartbeat)
    elif heartbeat:
        from tuner.storage._engine import configure_engine, engine_kwargs
        from tuner.storage._url import check_url

        storage = TunerStorage(url, engine_kwargs=engine_kwargs(check_url(url)), **heartbeat)
        configure_engine(storage.engine, lock_on_begin=True)
    else:
        storage = open_storage(url)
    stack.callback(storage.engine.dispose)
    if mode == "worker":
        storage.__class__ = HarnessStorage
        stack.enter_context(storage.budget())
        stack.enter_context(storage.lean())
    return storage


def deviation(request: pytest.FixtureRequest, mode: str) -> None:
    """Marks the running test as an intended deviation of ``mode`` (strict xfail)."""
    name = request.node.originalname
    reason = DEVIATIONS.get((name, mode))
    if reason is not None:
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=reason))


@pytest.fixture(params=[(b, m) for b in BACKENDS for m in MODES],
                ids=lambda p: f"{p[0]}-{p[1]}")
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    backend, mode = request.param
    url = (f"sqlite:///{tmp_path / 'optuna.db'}" if backend == "sqlite"
           else request.getfixturevalue("pg_url"))
    deviation(request, mode)
    with ExitStack() as stack:
        yield open_for(mode, url, stack)


class TestOptunaStorageContract(StorageTestCase):
    """Every test of Optuna's ``StorageTestCase``, on the `storage` fixture above."""


# Optuna's storage tests that take their storage from its ``StorageSupplier`` and are not
# already `StorageTestCase` (which runs above, in this process): the heartbeat and the
# retry-callback tests. The others build an RDBStorage of their own, so tuner's storage
# would not be what they test.
SDIST_FILES = {"heartbeat": HEARTBEAT_MODES, "callbacks": ("worker",)}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("name", "mode"), [(name, mode) for name, modes in SDIST_FILES.items()
                                            for mode in modes])
def test_optuna_sdist_storage_tests(name: str, mode: str, backend: str,
                                    tmp_path: Path) -> None:
    """Optuna's ``tests/storages_tests/test_NAME.py`` from its sdist, in a pytest of their
    own (they patch Optuna's ``StorageSupplier``: `optuna_suite_plugin`), every one
    passing or a strict xfail of `HEARTBEAT_DEVIATIONS`."""
    from optuna_sdist import sdist_root

    here = Path(__file__).parents[1] / "support"
    tests = sdist_root() / "tests" / "storages_tests" / f"test_{name}.py"
    env = {**os.environ, "TUNER_SUITE_MODE": mode, "TUNER_SUITE_BACKEND": backend,
           "PYTHONPATH": os.pathsep.join([str(here), str(Path(__file__).parent),
                                          os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "optuna_suite_plugin", "-p",
         "no:cacheprovider", "--rootdir", str(tmp_path), "-c", os.devnull, str(tests)],
        capture_output=True, text=True, env=env, cwd=tmp_path)
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr
    print(f"{backend}/{mode}: {summary}")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert re.search(r"\d+ passed", summary), summary

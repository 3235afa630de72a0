"""A pytest plugin for Optuna's own heartbeat tests (run by test_optuna_storage_suite.py in
a pytest of its own): Optuna's ``StorageSupplier`` hands out tuner's storage instead of
its ``RDBStorage`` for the ``sqlite`` modes, on the backend and in the mode named by
``TUNER_SUITE_BACKEND`` (sqlite, postgresql) and ``TUNER_SUITE_MODE`` (optuna, tuner,
worker; see test_optuna_storage_suite.py).

The heartbeat settings are the test's own (Optuna's tests pass them), not tuner's from
the environment; a fresh PostgreSQL database per storage. Intended deviations are marked
strict xfail from `DEVIATIONS` of the calling module.
"""

from __future__ import annotations

import os
import uuid
from contextlib import ExitStack
from typing import Any

import pytest
import sqlalchemy
from optuna.testing import storages as optuna_storages
from test_optuna_storage_suite import HEARTBEAT_DEVIATIONS, open_for

MODE = os.environ.get("TUNER_SUITE_MODE", "worker")
BACKEND = os.environ.get("TUNER_SUITE_BACKEND", "sqlite")
PG_ADMIN = os.environ.get("TUNER_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")

_plain_enter = optuna_storages.StorageSupplier.__enter__
_plain_exit = optuna_storages.StorageSupplier.__exit__


def _url(stack: ExitStack) -> str:
    if BACKEND == "sqlite":
        tempfile = optuna_storages.NamedTemporaryFilePool().tempfile()
        stack.callback(tempfile.close)
        return f"sqlite:///{tempfile.name}"
    name = f"tuner_test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()

    stack.callback(drop)
    return sqlalchemy.engine.make_url(PG_ADMIN).set(database=name).render_as_string(
        hide_password=False)


def _enter(self: Any) -> Any:
    if self.storage_specifier not in ("sqlite", "cached_sqlite"):
        return _plain_enter(self)
    self._tuner_stack = stack = ExitStack()
    try:
        storage = open_for(MODE, _url(stack), stack, **self.extra_args)
    except BaseException:
        stack.close()
        raise
    if self.storage_specifier == "cached_sqlite":
        import optuna

        storage = optuna.storages._CachedStorage(storage)
    self.storage = storage
    return storage


def _exit(self: Any, *exc: Any) -> None:
    stack = getattr(self, "_tuner_stack", None)
    if stack is None:
        return _plain_exit(self, *exc)
    self.storage = None  # disposed by the stack
    stack.close()
    return None


optuna_storages.StorageSupplier.__enter__ = _enter  # type: ignore[method-assign]
optuna_storages.StorageSupplier.__exit__ = _exit  # type: ignore[method-assign]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        reason = HEARTBEAT_DEVIATIONS.get((item.originalname, MODE))  # type: ignore[attr-defined]
        if reason is not None:
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))

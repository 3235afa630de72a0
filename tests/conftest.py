"""Shared fixtures: real SQLite files, real PostgreSQL and MariaDB databases, real CLIs.

The PostgreSQL and MariaDB fixtures create a fresh database per test and drop it
afterwards. Without the servers they fail, saying how to start them (`make test` starts
them first: tests/services.sh).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Re-exported: test modules written before support/helpers.py import these from conftest.
from helpers import (  # noqa: F401
    ROOT,
    TINY_STUDY,
    invoke,
    missing,
    run_tuner,
    tuner_cmd,
    wait_until,
    write_study,
)

PG_ADMIN = os.environ.get("TUNER_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
MYSQL_ADMIN = os.environ.get("TUNER_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test")

# Short heartbeats so that a killed worker's trial is re-run within seconds in tests.
os.environ.setdefault("TUNER_HEARTBEAT_INTERVAL", "1")
os.environ.setdefault("TUNER_HEARTBEAT_GRACE", "3")
os.environ.setdefault("TUNER_CONNECT_TIMEOUT", "3")
# Reports written behind every 50 ms instead of every second: the signal tests find a
# trial "mid-way" by its stored curve, which must not lag a whole second (a digits trial
# of 300 epochs takes about one). Still several reports per write, so the write-behind
# path runs; tests of the default set TUNER_WRITE_BEHIND_S themselves.
os.environ.setdefault("TUNER_WRITE_BEHIND_S", "0.05")
os.environ.pop("TUNER_STORAGE", None)
os.environ.pop("TUNER_HARDWARE_LABEL", None)


@pytest.fixture
def tiny_study(tmp_path: Path) -> Path:
    return write_study(tmp_path)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tuner.db'}"


def _service_missing(what: str, error: Exception) -> None:
    missing(f"{what} is not reachable ({str(error).splitlines()[0]}); start it or point "
            f"{'TUNER_TEST_PG' if 'Postgre' in what else 'TUNER_TEST_MYSQL'} at one")


def _fresh_database(admin_url: str, what: str) -> Iterator[str]:
    import sqlalchemy
    from sqlalchemy.engine import make_url

    name = f"tuner_test_{uuid.uuid4().hex[:12]}"
    try:
        engine = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except Exception as e:  # noqa: BLE001 - any failure to reach the server
        _service_missing(what, e)
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        engine.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test."""
    yield from _fresh_database(PG_ADMIN, "PostgreSQL")


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A fresh, empty MariaDB/MySQL database for this test."""
    yield from _fresh_database(MYSQL_ADMIN, "MariaDB/MySQL")


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage kind in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tuner.db'}"
    return request.getfixturevalue("pg_url" if request.param == "postgresql" else "mysql_url")


# --- test kinds ----------------------------------------------------------------------------
# Every test is exactly one of these (registered in pyproject.toml). `make test-fast` runs
# `-m unit`; `make test` runs them all.
KINDS = ("unit", "integration", "e2e")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects anything: check every test
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test without a kind would silently fall out of `make test-fast`'s answer (or a
    slow one into it): stop the whole run at collection, naming each one and the fix."""
    wrong = []
    for item in items:
        kinds = sorted({m.name for m in item.iter_markers() if m.name in KINDS})
        if len(kinds) != 1:
            wrong.append(f"  {item.nodeid}: {', '.join(kinds) or 'no kind marker'}")
    if wrong:
        raise pytest.UsageError(
            f"{len(wrong)} test(s) need exactly one of the markers {', '.join(KINDS)}:\n"
            + "\n".join(wrong) + "\nAdd `pytestmark = pytest.mark.unit` (or integration, "
            "e2e) after the module's imports, or a decorator per test in a mixed module; "
            "see CONTRIBUTING.md.")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model with the scaler `tuner train` stores, as `tuner predict` reads it (for the
    model-file tests; `tests/support/model_file_helpers.py` damages it)."""
    import numpy as np

    from mlp_helpers import small_problem
    from tuner.mlp import MLPClassifierBN

    X, y = small_problem()
    path = tmp_path_factory.mktemp("model") / "model.npz"
    clf = MLPClassifierBN(hidden=(4, 3), epochs=2, batch_size=16).fit(X, y)
    clf.save(path, scaler_mean=np.zeros(5), scaler_scale=np.ones(5))
    return path

"""Shared fixtures: real SQLite files, real PostgreSQL and MariaDB databases, real CLIs.

The PostgreSQL and MariaDB fixtures create a fresh database per test and drop it
afterwards. Without the servers they skip, saying how to enable them; with
TUNER_REQUIRE_SERVICES=1 (set by .ci/run) a missing server fails the test instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("TUNER_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
MYSQL_ADMIN = os.environ.get("TUNER_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test")

# Short heartbeats so that a killed worker's trial is re-run within seconds in tests.
os.environ.setdefault("TUNER_HEARTBEAT_INTERVAL", "1")
os.environ.setdefault("TUNER_HEARTBEAT_GRACE", "3")
os.environ.setdefault("TUNER_CONNECT_TIMEOUT", "3")
os.environ.pop("TUNER_STORAGE", None)
os.environ.pop("TUNER_HARDWARE_LABEL", None)

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


@pytest.fixture
def tiny_study(tmp_path: Path) -> Path:
    return write_study(tmp_path)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tuner.db'}"


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run the `tuner` CLI in this process (click's CliRunner)."""
    from tuner.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def tuner_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tuner", *map(str, args)]


def run_tuner(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
              cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the `tuner` CLI as a real subprocess."""
    return subprocess.run(tuner_cmd(*args), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def missing(message: str) -> None:
    """Something a test needs is not on this machine: skip, saying how to get it; with
    TUNER_REQUIRE_SERVICES=1 (set by .ci/run) fail instead, since CI must run it."""
    if os.environ.get("TUNER_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " (TUNER_REQUIRE_SERVICES=1: required here)")
    pytest.skip(message)


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

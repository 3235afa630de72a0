"""Opening a storage without Optuna's per-open schema work (`open_rdb`):
a new database ends up exactly as Optuna's own first open leaves it, one at the current
schema opens without importing alembic, and anything else still takes Optuna's path."""

from __future__ import annotations

import subprocess
import sys

import optuna
import pytest
import sqlalchemy

from tuner.storage import open_storage
from tuner.storage._optuna_private import schema_head


def schema(url: str) -> tuple[list, list, list]:
    engine = sqlalchemy.create_engine(url)
    try:
        inspector = sqlalchemy.inspect(engine)
        tables = sorted(
            (t, sorted((c["name"], str(c["type"]), c["nullable"])
                       for c in inspector.get_columns(t)),
             sorted(str(sorted(i["column_names"])) for i in inspector.get_indexes(t)))
            for t in inspector.get_table_names())
        with engine.connect() as c:
            info = c.execute(sqlalchemy.text(
                "SELECT version_info_id, schema_version, library_version FROM version_info"
            )).all()
            head = c.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    return tables, [tuple(r) for r in info], [tuple(r) for r in head]


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_new_database_is_what_optunas_first_open_makes(
        backend: str, tmp_path, request: pytest.FixtureRequest) -> None:
    if backend == "sqlite":
        ours, theirs = (f"sqlite:///{tmp_path / 'ours.db'}", f"sqlite:///{tmp_path / 'ref.db'}")
    else:
        ours = request.getfixturevalue("pg_url")
        theirs = ours  # one fresh database per test: Optuna's goes in after ours is read
    open_storage(ours).engine.dispose()
    got = schema(ours)
    if backend == "postgresql":
        engine = sqlalchemy.create_engine(ours)
        with engine.begin() as c:
            c.execute(sqlalchemy.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    optuna.storages.RDBStorage(theirs).engine.dispose()
    assert got == schema(theirs)
    assert got[2] == [(schema_head(),)]
    # And Optuna agrees it is current.
    rdb = optuna.storages.RDBStorage(ours)
    assert rdb.get_current_version() == rdb.get_head_version()


@pytest.mark.integration
def test_a_current_database_opens_without_alembic(sqlite_url: str) -> None:
    open_storage(sqlite_url).engine.dispose()
    code = ("import sys; from tuner.storage import open_storage; "
            f"s = open_storage({sqlite_url!r}); optuna_study = s.get_all_studies(); "
            "print('alembic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


@pytest.mark.unit
def test_an_older_schema_still_gets_optunas_check(sqlite_url: str) -> None:
    open_storage(sqlite_url).engine.dispose()
    engine = sqlalchemy.create_engine(sqlite_url)
    with engine.begin() as c:
        c.execute(sqlalchemy.text("UPDATE alembic_version SET version_num = 'v3.0.0.d'"))
    engine.dispose()
    with pytest.raises(RuntimeError, match="optuna storage upgrade"):
        open_storage(sqlite_url)


@pytest.mark.unit
def test_a_database_with_other_tables_gets_optunas_tables(sqlite_url: str) -> None:
    engine = sqlalchemy.create_engine(sqlite_url)
    with engine.begin() as c:
        c.execute(sqlalchemy.text("CREATE TABLE mine (x INTEGER)"))
    engine.dispose()
    st = open_storage(sqlite_url)
    optuna.create_study(storage=st, study_name="s").optimize(lambda t: t.suggest_float("x", 0, 1),
                                                           n_trials=2)
    assert len(optuna.load_study(study_name="s", storage=sqlite_url).trials) == 2

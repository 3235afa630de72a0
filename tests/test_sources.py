"""Study data from a database table or query: real PostgreSQL and SQLite, no mocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy
from sqlalchemy.engine import make_url

from tuner.data import DataError
from tuner.spec import DataSpec
from tuner.table import load_table, read_table, split_rows, table_splits

pytestmark = pytest.mark.integration

ENV = "TUNER_TEST_CHURN_URL"


def churn(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "id": np.arange(n),
        "tenure": rng.integers(1, 72, n).astype(float),
        "charges": rng.normal(70, 20, n).round(2),
        "plan": rng.choice(["basic", "plus", "pro"], n),
        "churned": rng.choice(["no", "yes"], n),
    })
    df.loc[::11, "tenure"] = np.nan
    df.loc[::13, "plan"] = None
    return df


def table_spec(**kw) -> DataSpec:
    return DataSpec(dataset=None, url_env=ENV, target="churned", drop=("id",),
                    **({"table": "churn"} if "query" not in kw else {}), **kw)


def load(monkeypatch, url: str, **kw):
    monkeypatch.setenv(ENV, url)
    return load_table(table_spec(**kw), Path("studies/churn.toml"))


def test_postgres_rows_in_any_order_give_one_fingerprint(pg_url: str, monkeypatch):
    engine = sqlalchemy.create_engine(pg_url)
    df = churn(400)
    df.to_sql("churn", engine, index=False)
    base = load(monkeypatch, pg_url)
    assert (base.n_rows, base.n_columns) == (400, 4)
    # The server returns rows in another physical order after updates move them; and a
    # query may order them any way it likes.
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("UPDATE churn SET charges = charges WHERE id % 3 = 0"))
    moved = load(monkeypatch, pg_url)
    shuffled = load(monkeypatch, pg_url, query="SELECT * FROM churn ORDER BY random()")
    reversed_ = load(monkeypatch, pg_url, query="SELECT * FROM churn ORDER BY id DESC")
    assert base.digest == moved.digest == shuffled.digest == reversed_.digest
    splits = [table_splits(t, seed=2) for t in (base, shuffled, reversed_)]
    for other in splits[1:]:
        for name, array in splits[0].arrays().items():
            assert np.array_equal(array, other.arrays()[name]), name

    # One appended row, one changed value, a renamed column: each a new fingerprint.
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO churn VALUES (400, 12, 55.5, 'pro', 'yes')")
    appended = load(monkeypatch, pg_url).digest
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE churn SET charges = 56.5 WHERE id = 400")
    changed = load(monkeypatch, pg_url).digest
    with engine.begin() as conn:
        conn.exec_driver_sql('ALTER TABLE churn RENAME COLUMN "plan" TO "product"')
    renamed = load(monkeypatch, pg_url).digest
    assert len({base.digest, appended, changed, renamed}) == 4
    engine.dispose()


def test_sqlite_table_and_csv_of_the_same_rows(tmp_path: Path, monkeypatch):
    df = churn(150)
    url = f"sqlite:///{tmp_path / 'data.db'}"
    engine = sqlalchemy.create_engine(url)
    df.to_sql("churn", engine, index=False)
    engine.dispose()
    table = load(monkeypatch, url)
    assert table.n_rows == 150 and table.categorical == ("plan",)
    subset = load(monkeypatch, url, query="SELECT * FROM churn WHERE plan = 'pro'")
    assert subset.n_rows == int((df.plan == "pro").sum())
    # "%" is SQL here, not a driver placeholder.
    like = load(monkeypatch, url, query="SELECT * FROM churn WHERE plan LIKE 'p%'")
    assert like.n_rows == int(df.plan.isin(["plus", "pro"]).sum())


def test_postgres_query_with_percent_and_casts(pg_url: str, monkeypatch):
    engine = sqlalchemy.create_engine(pg_url)
    churn(60).to_sql("churn", engine, index=False)
    engine.dispose()
    table = load(monkeypatch, pg_url, query="SELECT id, tenure::float AS tenure, charges, "
                 "plan, churned FROM churn WHERE plan LIKE 'p%' AND id % 2 = 0")
    assert table.n_rows > 0 and table.numeric == ("tenure", "charges")


def error_of(monkeypatch, url: str | None, **kw) -> str:
    if url is None:
        monkeypatch.delenv(ENV, raising=False)
    else:
        monkeypatch.setenv(ENV, url)
    with pytest.raises(DataError) as info:
        load_table(table_spec(**kw), Path("studies/churn.toml"))
    message = str(info.value)
    assert "\n" not in message
    return message


def with_password(url: str, password: str = "s3cret-Pw") -> str:
    # The test server trusts local connections, so it ignores the password: the URL
    # connects, and whatever fails must not print it.
    return make_url(url).set(password=password).render_as_string(hide_password=False)


def test_failing_query_shows_the_database_message_without_the_password(pg_url, monkeypatch):
    url = with_password(pg_url)
    message = error_of(monkeypatch, url, query="SELECT nope FROM missing_table")
    assert message.startswith("studies/churn.toml: [data] query: the query failed on "
                              "postgresql+psycopg2://postgres:***@")
    assert 'relation "missing_table" does not exist' in message
    assert "s3cret-Pw" not in message
    message = error_of(monkeypatch, url)  # table = "churn", not there
    assert "[data] table: reading table 'churn' failed on" in message
    assert 'relation "churn" does not exist' in message and "s3cret-Pw" not in message


def test_empty_table(pg_url: str, monkeypatch):
    engine = sqlalchemy.create_engine(pg_url)
    churn(10).iloc[:0].to_sql("churn", engine, index=False)
    engine.dispose()
    assert error_of(monkeypatch, pg_url).endswith("table churn ($TUNER_TEST_CHURN_URL) has "
                                                  "no rows")


def test_unreachable_database(monkeypatch):
    url = "postgresql+psycopg2://tuner:s3cret-Pw@127.0.0.1:1/churn"
    message = error_of(monkeypatch, url)
    assert message.startswith("studies/churn.toml: [data] table: cannot connect to "
                              "postgresql+psycopg2://tuner:***@127.0.0.1:1/churn: ")
    assert "s3cret-Pw" not in message


def test_unset_or_empty_url_env(monkeypatch, tmp_path: Path):
    assert error_of(monkeypatch, None) == (
        "studies/churn.toml: [data] url_env: environment variable TUNER_TEST_CHURN_URL is "
        "not set; set it to the database URL, e.g. export TUNER_TEST_CHURN_URL="
        "postgresql+psycopg2://user:PASSWORD@host:5432/db")
    assert "TUNER_TEST_CHURN_URL is empty" in error_of(monkeypatch, "")
    assert error_of(monkeypatch, f"sqlite:///{tmp_path / 'none.db'}").endswith(
        f"no database file at {tmp_path / 'none.db'}")
    assert "is not a database URL" in error_of(monkeypatch, "not a url")


def test_mariadb_table_in_any_order(mysql_url: str, monkeypatch):
    engine = sqlalchemy.create_engine(mysql_url)
    churn(200).to_sql("churn", engine, index=False)
    engine.dispose()
    base = load(monkeypatch, mysql_url)
    shuffled = load(monkeypatch, mysql_url, query="SELECT * FROM churn ORDER BY RAND()")
    assert base.n_rows == 200 and base.digest == shuffled.digest
    message = error_of(monkeypatch, mysql_url, query="SELECT nope FROM churn")
    assert "the query failed on mysql+pymysql://root@" in message
    assert "Unknown column 'nope'" in message
    # This server wants no password for root: a wrong one is refused, and not printed.
    message = error_of(monkeypatch, with_password(mysql_url))
    assert "cannot connect to mysql+pymysql://root:***@" in message
    assert "Access denied" in message and "s3cret-Pw" not in message


@pytest.mark.parametrize("column, sql_type, value, expected", [
    ("doc", "json", """'{"a": 1}'""", "column 'doc' holds structs (dict"),
    ("tags", "integer[]", "ARRAY[1, 2]", "column 'tags' holds lists (list"),
])
def test_postgres_json_and_array_columns_are_one_line(pg_url: str, monkeypatch, column: str,
                                                      sql_type: str, value: str,
                                                      expected: str):
    engine = sqlalchemy.create_engine(pg_url)
    churn(60).to_sql("churn", engine, index=False)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"ALTER TABLE churn ADD COLUMN {column} {sql_type}")
        conn.exec_driver_sql(f"UPDATE churn SET {column} = {value}")
    engine.dispose()
    with pytest.raises(DataError) as info:
        load(monkeypatch, pg_url, query="SELECT * FROM churn")
    assert expected in str(info.value) and "\n" not in str(info.value), str(info.value)


WRITES = ["DROP TABLE canary", "DELETE FROM canary", "INSERT INTO canary VALUES (9, 'z')",
          "UPDATE canary SET a = 0", "CREATE TABLE other (a INTEGER)",
          "  /* hidden */ drop table canary", "SELECT * FROM canary; DROP TABLE canary",
          "SELECT * FROM canary; COMMIT; DROP TABLE canary"]
# Statements that start like a read and write anyway: only a read-only transaction stops
# them (the function is created by the test, as any database user could).
SNEAKY = {
    "postgresql": ["WITH gone AS (DELETE FROM canary RETURNING *) SELECT * FROM gone",
                   "SELECT wipe() AS a"],
    "mysql": ["SELECT wipe() AS a"],
    "sqlite": [],
}
WIPE = {
    "postgresql": "CREATE FUNCTION wipe() RETURNS integer AS "
                  "$$ DELETE FROM canary; SELECT 1 $$ LANGUAGE sql",
    "mysql": "CREATE FUNCTION wipe() RETURNS INTEGER MODIFIES SQL DATA "
             "BEGIN DELETE FROM canary; RETURN 1; END",
}


def test_a_query_source_changes_nothing(any_url: str):
    from tuner.sources import read_database

    backend = make_url(any_url).get_backend_name()
    engine = sqlalchemy.create_engine(any_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE canary (a INTEGER, y VARCHAR(8))")
        conn.exec_driver_sql("INSERT INTO canary VALUES (1, 'p'), (2, 'q')")
        if backend in WIPE:
            conn.exec_driver_sql(WIPE[backend])
    for query in WRITES + SNEAKY[backend]:
        with pytest.raises(DataError) as info:
            read_database(any_url, query=query, where="s.toml: [data] query")
        assert "\n" not in str(info.value), str(info.value)
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT a, y FROM canary ORDER BY a").fetchall()
        assert [tuple(r) for r in rows] == [(1, "p"), (2, "q")], query
        assert "other" not in sqlalchemy.inspect(engine).get_table_names(), query
    assert read_database(any_url, query="SELECT * FROM canary -- a comment; not a statement",
                         where="w").shape == (2, 2)
    engine.dispose()


def test_postgres_rows_keep_their_split_as_the_table_grows(pg_url: str, monkeypatch):
    """A row's split is its own (tuner/holdout.py): rows appended to a real PostgreSQL
    table -- with a NULL that turns an integer column float, and NUMERIC values that
    arrive as Decimal -- move no existing row, with or without a key."""
    engine = sqlalchemy.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE churn (id integer, tenure integer, "
                             "charges numeric(8, 2), plan text, churned text)")
    df = churn(300).assign(tenure=lambda d: d.tenure.fillna(0).astype(int))
    df.to_sql("churn", engine, index=False, if_exists="append")

    def splits_by_id(**kw) -> list[set[int]]:
        monkeypatch.setenv(ENV, pg_url)
        data = DataSpec(dataset=None, url_env=ENV, target="churned", drop=("id",),
                        query="SELECT * FROM churn ORDER BY random()", **kw)
        frame, table = read_table(data, Path("studies/churn.toml"))
        rows = split_rows(table, test_fraction=0.2, validation_fraction=0.2, seed=5)
        return [set(frame.id.iloc[r]) for r in rows]

    before, keyed = splits_by_id(), splits_by_id(key=("id",))
    more = churn(100, seed=1).assign(id=lambda d: d.id + 300)
    more.to_sql("churn", engine, index=False, if_exists="append")  # tenure has NULLs now
    with engine.begin() as conn:  # a value changes: only the key keeps the row in place
        conn.exec_driver_sql("UPDATE churn SET charges = charges + 1 WHERE id < 300")
    after, keyed_after = splits_by_id(), splits_by_id(key=("id",))
    assert all(a <= b for a, b in zip(keyed, keyed_after, strict=True))
    # without a key the changed rows are other rows; the unchanged tenure/plan/churned
    # columns do not keep them in place, so about 80 % of the old test rows move
    assert len(before[2] - after[2]) > len(before[2]) / 2
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE churn SET charges = charges - 1 WHERE id < 300")
    restored = splits_by_id()
    assert all(a <= b for a, b in zip(before, restored, strict=True))

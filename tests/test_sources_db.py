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
from tuner.table import load_table, table_splits

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

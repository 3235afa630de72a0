"""Reading a study's own data: a CSV or Parquet file, or a SQL table or query.

Each reader returns a pandas DataFrame as the source holds it; choosing, typing and
hashing columns is tuner/table.py's job. Every error is one line that names the study
file, the key and the file or database (its password masked), and says what to fix.

- ``path``: the format comes from the extension (.csv, .csv.gz, .parquet, .pq); a
  relative path is relative to the study file, so a study runs from any folder.
- ``table`` / ``query``: any SQLAlchemy URL (PostgreSQL, MariaDB/MySQL, SQLite), read
  from the environment variable ``url_env`` names: a study file is checked into git and
  never holds a password (tuner/spec.py refuses one).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from tuner.splits import DataError

if TYPE_CHECKING:
    import pandas as pd

    from tuner.spec import DataSpec

# pandas, pyarrow and SQLAlchemy are imported inside the functions: most commands never
# read a data file, and `tuner --help` should not pay for them.

__all__ = ["FILE_FORMATS", "SourceError", "database_url", "describe", "file_format",
           "read_database", "read_file", "read_source", "resolve_path"]

# extension -> format; the longest matching suffix wins (.csv.gz before .gz)
FILE_FORMATS: dict[str, str] = {".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet",
                                ".pq": "parquet"}
CONNECT_TIMEOUT_S = 5  # an unreachable data database fails in seconds, not minutes


class SourceError(DataError):
    """Study data that cannot be read: a missing or malformed file, a failing database."""


def resolve_path(path: str, study_path: Path) -> Path:
    """``path`` as written in the study file, relative to that file's folder.

    ".." is taken from the folder as named, not from where a symlink points: a studies/
    folder that is a symlink (or a bind mount in a container) next to data/ finds
    ../data/churn.csv beside it, as `cd studies/..` would.
    """
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(os.path.normpath(study_path.absolute().parent / p))


def file_format(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in sorted(FILE_FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return FILE_FORMATS[suffix]
    return None


def read_file(path: Path, *, where: str) -> pd.DataFrame:
    """The CSV or Parquet file at ``path``; ``where`` prefixes every error message."""
    fmt = file_format(path)
    if fmt is None:
        raise SourceError(f"{where}: {path}: unknown file type; use one of "
                          f"{', '.join(FILE_FORMATS)}")
    if not path.exists():
        raise SourceError(f"{where}: {path}: no such file")
    if path.is_dir():
        raise SourceError(f"{where}: {path}: is a folder, not a {fmt} file")
    return _read_csv(path, where) if fmt == "csv" else _read_parquet(path, where)


def _read_csv(path: Path, where: str) -> pd.DataFrame:
    import pandas as pd

    try:
        with warnings.catch_warnings():
            # Mixed types within a column are typed by tuner/table.py, with a row number.
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise SourceError(f"{where}: {path}: is empty (no header, no rows)") from None
    except pd.errors.ParserError as e:
        # The C parser's message names the line: "Expected 3 fields in line 5, saw 4".
        detail = str(e).strip().splitlines()[0].removeprefix("Error tokenizing data. C error: ")
        raise SourceError(f"{where}: {path}: not a well-formed CSV file: {detail}") from None
    except UnicodeDecodeError as e:
        raise SourceError(f"{where}: {path}: not UTF-8 text ({e.reason} at byte {e.start})"
                          ) from None
    except (OSError, EOFError) as e:  # unreadable, or a truncated / corrupt .gz
        raise SourceError(f"{where}: {path}: cannot read it ({e})") from None
    return frame


def _read_parquet(path: Path, where: str) -> pd.DataFrame:
    import pandas as pd
    import pyarrow

    try:
        return pd.read_parquet(path)
    except (pyarrow.ArrowException, OSError, ValueError) as e:
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SourceError(f"{where}: {path}: not a readable Parquet file ({detail})"
                          ) from None


def database_url(url_env: str, *, where: str) -> str:
    """The URL in the environment variable ``url_env``; unset or empty is an error."""
    url = os.environ.get(url_env, "").strip()
    if not url:
        state = "is empty" if url_env in os.environ else "is not set"
        raise SourceError(f"{where}: environment variable {url_env} {state}; set it to the "
                          "database URL, e.g. export "
                          f"{url_env}=postgresql+psycopg2://user:PASSWORD@host:5432/db")
    return url


def _masked_message(e: BaseException, url: str) -> str:
    """The database's own first line of message, without SQL and without the password."""
    from sqlalchemy.engine import make_url

    inner = getattr(e, "orig", None) or e
    text = str(inner).strip()
    text = text.splitlines()[0] if text else type(inner).__name__
    try:
        password = make_url(url).password
    except Exception:  # noqa: BLE001 - an unparseable URL: nothing to mask in the message
        password = None
    if password:
        text = text.replace(str(password), "***")
    return text[:300]


def read_database(url: str, *, table: str | None = None, query: str | None = None,
                  where: str) -> pd.DataFrame:
    """Every row of ``table``, or the rows ``query`` returns, from the database at ``url``.

    No ORDER BY: the rows come back in whatever order the database likes, and the
    fingerprint and split do not depend on it (tuner/table.py sorts rows by content).
    """
    import pandas as pd
    import sqlalchemy
    from sqlalchemy.engine import make_url

    from tuner.storage import mask_url

    if (table is None) == (query is None):
        raise ValueError("read_database needs exactly one of table and query")
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - sqlalchemy raises several kinds here
        raise SourceError(f"{where}: {mask_url(url)!r} is not a database URL; expected e.g. "
                          "postgresql+psycopg2://user@host/db") from None
    shown = mask_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict = {}
    if backend == "sqlite":
        # SQLAlchemy would create a missing file and then report "no such table".
        if not parsed.database or parsed.database == ":memory:":
            raise SourceError(f"{where}: {shown} names no database file")
        if not Path(parsed.database).expanduser().exists():
            raise SourceError(f"{where}: {shown}: no database file at {parsed.database}")
    elif backend in ("postgresql", "mysql", "mariadb"):
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    try:
        engine = sqlalchemy.create_engine(url, **kwargs)
    except ImportError as e:
        raise SourceError(f"{where}: {shown}: the database driver is not installed ({e})"
                          ) from None
    except Exception as e:  # noqa: BLE001 - unknown dialect, bad options
        raise SourceError(f"{where}: {shown}: {_masked_message(e, url)}") from None
    try:
        try:
            conn = engine.connect()
        except sqlalchemy.exc.SQLAlchemyError as e:
            raise SourceError(f"{where}: cannot connect to {shown}: "
                              f"{_masked_message(e, url)}") from None
        with conn:
            # text(): the driver sees "%" in LIKE 'a%' as text, not as a placeholder.
            sql = sqlalchemy.text(f"SELECT * FROM {_quote_table(conn, table)}"
                                  if table is not None else query)
            try:
                return pd.read_sql(sql, conn)
            except (sqlalchemy.exc.SQLAlchemyError, pd.errors.DatabaseError) as e:
                # pandas wraps the driver's error, SQL and all; the cause has its message.
                cause = e.__cause__ if isinstance(e.__cause__, Exception) else e
                what = f"reading table {table!r}" if table is not None else "the query"
                raise SourceError(f"{where}: {what} failed on {shown}: "
                                  f"{_masked_message(cause, url)}") from None
    finally:
        engine.dispose()


def _quote_table(conn: object, table: str) -> str:
    """``table`` (or ``schema.table``) quoted for the connection's dialect."""
    preparer = conn.dialect.identifier_preparer  # type: ignore[attr-defined]
    return ".".join(preparer.quote(part) for part in table.split("."))


def describe(data: DataSpec) -> str:
    """The source in a few words, for messages: "data/churn.csv", "table churn"."""
    if data.path is not None:
        return data.path
    if data.table is not None:
        return f"table {data.table} (${data.url_env})"
    if data.query is not None:
        return f"query (${data.url_env})"
    return f"dataset {data.dataset}"


def read_source(data: DataSpec, study_path: Path) -> pd.DataFrame:
    """The raw rows of a `path`, `table` or `query` source of ``data``."""
    if data.path is not None:
        return read_file(resolve_path(data.path, study_path),
                         where=f"{study_path}: [data] path")
    if data.url_env is None or (data.table is None and data.query is None):
        raise SourceError(f"{study_path}: [data]: not a file or database source")
    key = "table" if data.table is not None else "query"
    url = database_url(data.url_env, where=f"{study_path}: [data] url_env")
    return read_database(url, table=data.table, query=data.query,
                         where=f"{study_path}: [data] {key}")

"""Reading a study's own data: a CSV or Parquet file, or a SQL table or query.

Each reader returns a pandas DataFrame as the source holds it; choosing, typing and
hashing columns is tuner/table.py's job. Every error is one line that names the study
file, the key and the file or database (its password masked), and says what to fix.

- ``path``: the format comes from the extension (.csv, .csv.gz, .parquet, .pq); a
  relative path is relative to the study file, so a study runs from any folder.
- ``table`` / ``query``: any SQLAlchemy URL (PostgreSQL, MariaDB/MySQL, SQLite), read
  from the environment variable ``url_env`` names: a study file is checked into git and
  never holds a password (the study file parser, tuner/spec/, refuses one).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.errors import DataError, first_line
from tuner.files import not_a_regular_file

if TYPE_CHECKING:
    import pandas as pd

    from tuner.spec.schema import DataSpec

# pandas, pyarrow and SQLAlchemy are imported inside the functions: most commands never
# read a data file, and `tuner --help` should not pay for them.

__all__ = ["FILE_FORMATS", "SourceError", "check_row_lengths", "database_url", "describe",
           "file_format",
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
    problem = not_a_regular_file(path)
    if problem is not None:
        problem = f"is a folder, not a {fmt} file" if problem.startswith("is a folder") \
            else problem
        raise SourceError(f"{where}: {_shown_path(path)}: {problem}")
    if fmt == "csv":
        _check_header(path, where)
        return _read_csv(path, where)
    return _read_parquet(path, where)


def _shown_path(path: Path) -> str:
    """``path`` for a message: a path of thousands of characters is cut."""
    text = str(path)
    return text if len(text) <= 200 else f"{text[:100]}...{text[-60:]} ({len(text)} characters)"


def _csv_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """The records of the CSV file at ``path`` (gzip-compressed for .gz), as csv reads them."""
    import csv
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        for cells in reader:
            yield reader.line_num, cells


def _check_header(path: Path, where: str) -> None:
    """Refuse a header that names a column twice: pandas would rename the second copy
    ("target.1") and a copy of the label would silently become a feature."""
    import csv

    from tuner.errors import shown

    try:
        header = next((cells for _, cells in _csv_records(path) if cells), [])
    except (OSError, EOFError, UnicodeDecodeError, csv.Error):
        return  # _read_csv reports an unreadable file in its own words
    names = [name.strip() for name in header]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise SourceError(f"{where}: {_shown_path(path)}: duplicate column names: "
                          f"{', '.join(shown(name) for name in twice[:5])}; give each column "
                          "its own name")


def check_row_lengths(path: Path, *, where: str) -> None:
    """Refuse a CSV row with fewer or more cells than the header: pandas would fill a
    short row with missing values, and a model would impute them without a word."""
    import csv

    header: int | None = None
    try:
        for line, cells in _csv_records(path):
            if not cells:
                continue  # a blank line, skipped by pandas too
            if header is None:
                header = len(cells)
            elif len(cells) != header:
                raise SourceError(f"{where}: line {line} has {len(cells)} fields; the header "
                                  f"has {header}")
    except (OSError, EOFError, UnicodeDecodeError, csv.Error):
        return  # _read_csv reports an unreadable file in its own words


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


def read_database(url: str, *, table: str | None = None, query: str | None = None,
                  where: str) -> pd.DataFrame:
    """Every row of ``table``, or the rows ``query`` returns, from the database at ``url``.

    No ORDER BY: the rows come back in whatever order the database likes, and the
    fingerprint and split do not depend on it (tuner/table.py sorts rows by content).
    """
    import pandas as pd
    import sqlalchemy
    from sqlalchemy.engine import make_url

    from tuner.passwords import driver_message, mask_url

    if (table is None) == (query is None):
        raise ValueError("read_database needs exactly one of table and query")
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - sqlalchemy raises several kinds here
        raise SourceError(f"{where}: {mask_url(url)!r} is not a database URL; expected e.g. "
                          "postgresql+psycopg2://user@host/db") from None
    shown = mask_url(url)
    backend = parsed.get_backend_name()
    if query is not None:
        check_returns_rows(query, where=where)
    kwargs: dict = {}
    if backend == "sqlite":
        # SQLAlchemy would create a missing file and then report "no such table".
        if not parsed.database or parsed.database == ":memory:":
            raise SourceError(f"{where}: {shown} names no database file")
        if not Path(parsed.database).expanduser().exists():
            raise SourceError(f"{where}: {shown}: no database file at {parsed.database}")
        url = _read_only_sqlite(parsed)
    elif backend in ("postgresql", "mysql", "mariadb"):
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    try:
        engine = sqlalchemy.create_engine(url, **kwargs)
    except ImportError as e:
        raise SourceError(f"{where}: {shown}: the database driver is not installed ({e})"
                          ) from None
    except Exception as e:  # noqa: BLE001 - unknown dialect, bad options
        raise SourceError(f"{where}: {shown}: {driver_message(e, url)}") from None
    try:
        try:
            conn = engine.connect()
        except sqlalchemy.exc.SQLAlchemyError as e:
            raise SourceError(f"{where}: cannot connect to {shown}: "
                              f"{driver_message(e, url)}") from None
        with conn:
            _begin_read_only(conn, backend, where=f"{where}: {shown}")
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
                                  f"{driver_message(cause, url)}") from None
    finally:
        engine.dispose()


# The first word of a statement that returns rows; anything else (DROP, DELETE, CALL ...)
# is refused before it is sent. The read-only transaction is what guarantees nothing
# changes; this check makes the message say why.
_ROW_STATEMENTS = ("select", "with", "values", "table")


def check_returns_rows(query: str, *, where: str) -> None:
    """Refuse a ``query`` that is not one statement returning rows (SELECT, WITH, VALUES,
    TABLE); comments and parentheses before it are skipped."""
    import re

    from tuner.errors import shown

    text = query
    while True:  # skip leading blanks, comments and opening parentheses
        stripped = re.sub(r"^(\s+|\(|--[^\n]*(\n|$)|/\*.*?\*/)", "", text, count=1,
                          flags=re.DOTALL)
        if stripped == text:
            break
        text = stripped
    word = re.match(r"[A-Za-z]*", text).group(0).lower()  # type: ignore[union-attr]
    if word not in _ROW_STATEMENTS:
        raise SourceError(f"{where}: must be one statement that returns rows (SELECT, WITH, "
                          f"VALUES or TABLE); it starts with {shown(text[:20] or query)}: a "
                          "query source only reads")
    # psycopg2 runs every statement of "SELECT 1; COMMIT; DROP TABLE t", the last one
    # after the read-only transaction ended: one statement only (a ';' in a string or a
    # comment is not a separator).
    bare = re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", " ", query,
                  flags=re.DOTALL)
    if ";" in bare.strip().rstrip(";"):
        raise SourceError(f"{where}: must be one statement; it holds a ';' before its end")


def _read_only_sqlite(parsed: Any) -> str:
    """The SQLite URL ``parsed``, opened read-only (``mode=ro``): nothing a query does can
    change the file."""
    from urllib.parse import quote

    path = Path(parsed.database).expanduser().absolute()
    return parsed.set(database=f"file:{quote(str(path))}",
                      query={**parsed.query, "mode": "ro", "uri": "true"}
                      ).render_as_string(hide_password=False)


def _begin_read_only(conn: Any, backend: str, *, where: str) -> None:
    """Make the connection's transaction read-only, so a query cannot write, drop or
    create anything, DDL on MariaDB/MySQL included (it would commit implicitly)."""
    import sqlalchemy

    statement = {"postgresql": "SET TRANSACTION READ ONLY",
                 "mysql": "START TRANSACTION READ ONLY",
                 "mariadb": "START TRANSACTION READ ONLY"}.get(backend)
    if statement is None:
        return  # SQLite: the connection itself is read-only
    try:
        conn.exec_driver_sql(statement)
    except sqlalchemy.exc.SQLAlchemyError as e:
        raise SourceError(f"{where}: cannot start a read-only transaction: "
                          f"{first_line(str(getattr(e, 'orig', e)))}") from None


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

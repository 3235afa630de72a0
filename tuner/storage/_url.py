"""Storage URLs: which one a command uses, checking one before connecting, where its
artifacts go; the settings read from the environment. Masking the password is
`tuner.passwords`' (a module without Optuna or SQLAlchemy)."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy
from sqlalchemy.engine import make_url

from tuner.errors import TunerError
from tuner.passwords import mask_url, url_password

__all__ = ["DEFAULT_STORAGE", "PERMANENT", "NoDatabase", "StorageError", "check_url",
           "default_artifact_dir", "env_seconds", "resolve_storage_url"]

DEFAULT_STORAGE = "sqlite:///tuner.db"


class StorageError(TunerError):
    """A storage URL that is malformed or cannot be reached."""


class NoDatabase(StorageError):
    """A command that only reads was pointed at a database that does not exist (a SQLite
    file, or, opened read-only, a database without Optuna's tables)."""


def resolve_storage_url(option: str | None, from_spec: str | None = None) -> str:
    """First found wins: ``--storage``, ``TUNER_STORAGE``, [study] storage, the default.

    With ``TUNER_REQUIRE_STORAGE=1`` (set by docker/compose.yaml and docker/k8s/) only the
    first two count: in a container the default SQLite file, or one a study file names,
    would silently die with the container, so a missing ``TUNER_STORAGE`` is an error.
    """
    url = option or os.environ.get("TUNER_STORAGE")
    if not url and os.environ.get("TUNER_REQUIRE_STORAGE", "").strip() not in ("", "0"):
        state = "empty" if "TUNER_STORAGE" in os.environ else "not set"
        raise StorageError(f"TUNER_STORAGE is {state} and TUNER_REQUIRE_STORAGE=1 refuses the "
                           f"{DEFAULT_STORAGE} fallback (a file inside the container): set "
                           "it, e.g. TUNER_STORAGE=postgresql+psycopg2://tuner:PASSWORD@db:5432/"
                           "tuner in docker/.env (copy docker/.env.example), or pass --storage")
    return url or from_spec or DEFAULT_STORAGE


# Errors that no amount of waiting fixes: report them at once.
PERMANENT = ("authentication failed", "access denied", "does not exist",
              "unknown database", "unable to open database file", "file is not a database")


def check_url(url: str) -> sqlalchemy.engine.URL:
    try:
        parsed = make_url(url)
    except Exception:
        raise StorageError(f"malformed storage URL {mask_url(url)!r}: expected e.g. "
                           "sqlite:///tuner.db, postgresql+psycopg2://user:pw@host/db or "
                           "mysql+pymysql://user:pw@host/db") from None
    secret = url_password(url)
    if secret and "@" in secret and "?" not in secret:
        # The URL parser ends the password at its first '@': the rest would be taken for
        # the host, sent to DNS and printed in the driver's errors. (An '@' in the query
        # string, after a '?', is not a password's and is left to the parser.)
        raise StorageError(f"storage URL {mask_url(url)!r}: the password holds an un-encoded "
                           "'@'; URL-encode it (@ as %40, / as %2F)")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql", "mysql", "mariadb"):
        raise StorageError(f"unsupported storage URL {mask_url(url)!r}: use sqlite:///, "
                           "postgresql+psycopg2:// or mysql+pymysql://")
    if backend == "sqlite":
        db = parsed.database
        if not db or db == ":memory:":
            raise StorageError(f"storage URL {url!r} names no file: an in-memory database "
                               "would lose the study; use e.g. sqlite:///tuner.db")
        parent = Path(db).expanduser().resolve().parent
        if not parent.is_dir():
            raise StorageError(f"storage URL {url!r}: folder {parent} does not exist")
    return parsed


def env_seconds(name: str, default: int) -> int:
    """Whole positive seconds from the environment variable ``name``, else ``default``."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise StorageError(f"{name}={raw!r} must be a whole number of seconds") from None
    if value <= 0:
        raise StorageError(f"{name}={raw!r} must be positive")
    return value


def default_artifact_dir(url: str) -> Path:
    """Where trained models are stored as Optuna artifacts unless `--artifacts` says.

    Beside the database file for SQLite (``tuner.db`` -> ``tuner-artifacts/``); for a
    server database, ``tuner-artifacts/`` in the current folder (mount the same folder on
    every host that trains or serves the dashboard).
    """
    parsed = check_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        db = Path(parsed.database).expanduser().resolve()
        return db.with_name(f"{db.stem}-artifacts")
    return Path("tuner-artifacts").resolve()

"""Storage URLs: which one a command uses, checking one before connecting, and never
showing its password (masking that does not depend on where a URL parser splits)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import sqlalchemy
from sqlalchemy.engine import make_url

from tuner.errors import TunerError

__all__ = ["DEFAULT_STORAGE", "StorageError", "check_url", "default_artifact_dir", "mask_url",
           "one_line", "password_pieces", "resolve_storage_url", "url_password"]

DEFAULT_STORAGE = "sqlite:///tuner.db"


class StorageError(TunerError):
    """A storage URL that is malformed or cannot be reached."""


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


def _split_userinfo(url: str) -> tuple[str, str, str] | None:
    """(``scheme://``, userinfo, the rest) split at the LAST ``@`` after ``://``.

    Not the URL parser's split: SQLAlchemy (like urllib) ends the password at the first
    ``@``, so an un-encoded ``@`` in a password (``tuner:pa55@Hid3den/Part@host/db``)
    would leave the rest of it in the "host". Splitting at the last ``@`` may over-mask a
    query string that holds an ``@``; it never shows a password.
    """
    head, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return None
    userinfo, _, host = rest.rpartition("@")
    return head + sep, userinfo, host


def url_password(url: str) -> str | None:
    """The password in ``url`` as a person typed it (everything after the first ``:`` of
    the user part, up to the last ``@``), for scrubbing it out of messages."""
    parts = _split_userinfo(url)
    if parts is None or ":" not in parts[1]:
        return None
    return parts[1].split(":", 1)[1] or None


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ***, safe to print or store."""
    parts = _split_userinfo(url)
    if parts is None:
        # Not a URL at all: what precedes an @ cannot be trusted to be safe.
        return url.rpartition("@")[2] if "://" not in url else url
    head, userinfo, host = parts
    if ":" not in userinfo:
        return url  # a user name and no password
    return f"{head}{userinfo.split(':', 1)[0]}:***@{host}"


# Errors that no amount of waiting fixes: report them at once.
_PERMANENT = ("authentication failed", "access denied", "does not exist",
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


def password_pieces(url: str) -> list[str]:
    """Every string that may show ``url``'s password, longest first, for scrubbing: the
    password as typed (up to the last ``@``), as the URL parser decoded it (what the
    driver was given), and, since a password the parser split leaks in pieces (a "host"
    of its tail), each piece of those between ``@ / : ? #`` long enough (4+ characters)
    not to mangle ordinary words."""
    secrets = [url_password(url)]
    try:
        secrets.append(make_url(url).password)
    except Exception:  # noqa: BLE001 - a malformed URL: the split above still applies
        pass
    pieces = {str(p) for p in secrets if p}
    for secret in list(pieces):
        pieces.update(part for part in re.split(r"[@/:?#]", secret) if len(part) >= 4)
    return sorted(pieces, key=len, reverse=True)


def one_line(e: BaseException, url: str) -> str:
    """The first line of the driver's message, without SQL, and without the password."""
    inner = getattr(e, "orig", None) or e
    text = str(inner).strip().splitlines()[0] if str(inner).strip() else type(inner).__name__
    for secret in password_pieces(url):
        text = text.replace(secret, "***")
    return text[:300]


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

"""A database URL's password, never shown: in a URL printed back, in a driver's message,
in anything the command line prints.

A bottom module: it imports neither Optuna nor SQLAlchemy, so the data layer, the report
and the command line mask a URL without loading a storage.

Three places hold a password, and each is masked as a field, never by searching a
message for every occurrence of the password's text (a one-letter password would
otherwise turn every such letter into ``***``):

- the userinfo, ``scheme://user:PASSWORD@host``, split at the LAST ``@`` (see
  `_split_userinfo`);
- the query, ``...?password=PASSWORD`` (psycopg2 and PyMySQL take it there too);
- a driver's message that echoes the password or a piece of it: replaced wherever it
  appears, except a password shorter than `MIN_PIECE`, replaced only as a whole token.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["driver_message", "mask_url", "password_pieces", "scrub", "url_password"]

# ``password=...`` / ``passwd=...`` in a URL's query or a driver's key=value message.
_PASSWORD_FIELD = re.compile(r"(\bpass(?:word|wd)\s*=\s*)('[^']*'|\"[^\"]*\"|[^\s&;#,)'\"]*)",
                             re.IGNORECASE)
# Pieces of a password split by the URL parser are masked from this length up: shorter
# ones are common words and parts of words.
MIN_PIECE = 4


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
    """The password in ``url``'s userinfo as a person typed it (everything after the first
    ``:`` of the user part, up to the last ``@``), for scrubbing it out of messages."""
    parts = _split_userinfo(url)
    if parts is None or ":" not in parts[1]:
        return None
    return parts[1].split(":", 1)[1] or None


def _query_passwords(url: str) -> list[str]:
    """The values of ``password=`` fields in ``url``'s query, as typed."""
    query = url.partition("?")[2]
    return [m.group(2).strip("'\"") for m in _PASSWORD_FIELD.finditer(query) if m.group(2)]


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ***, safe to print or store."""
    parts = _split_userinfo(url)
    if parts is None:
        # Not a URL at all: what precedes an @ cannot be trusted to be safe.
        masked = url.rpartition("@")[2] if "://" not in url else url
    else:
        head, userinfo, host = parts
        masked = url if ":" not in userinfo else f"{head}{userinfo.split(':', 1)[0]}:***@{host}"
    return _PASSWORD_FIELD.sub(r"\1***", masked)


def password_pieces(url: str) -> list[str]:
    """Every string that may show ``url``'s password, longest first: the password as
    typed (userinfo up to the last ``@``, or a ``password=`` query field), as percent-
    decoded (what the driver was given), and, since a password the parser split leaks in
    pieces (a "host" of its tail), each piece of those between ``@ / : ? #`` of at least
    `MIN_PIECE` characters."""
    typed = [p for p in (url_password(url), *_query_passwords(url)) if p]
    secrets = {*typed, *(unquote(p) for p in typed)}
    # What the URL parser takes for the password: the userinfo up to the FIRST "@".
    head = url.partition("://")[2].partition("@")
    if head[1] and ":" in head[0]:
        secrets.add(unquote(head[0].split(":", 1)[1]))
    pieces = {p for p in secrets if p}
    for secret in list(pieces):
        pieces.update(part for part in re.split(r"[@/:?#]", secret) if len(part) >= MIN_PIECE)
    return sorted(pieces, key=len, reverse=True)


def scrub(text: str, secrets: list[str] | set[str]) -> str:
    """``text`` with each of ``secrets`` replaced by ***, the longest first, and every
    ``password=`` field masked. A secret shorter than `MIN_PIECE` is replaced only where
    it stands as a whole token: a password ``p`` must not turn ``postgres`` into
    ``***ostgres``."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= MIN_PIECE:
            text = text.replace(secret, "***")
        else:
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", "***", text)
    return _PASSWORD_FIELD.sub(r"\1***", text)


def driver_message(e: BaseException, url: str) -> str:
    """The first line of a database driver's message about ``url`` (``e``'s original
    error when SQLAlchemy wraps one), without SQL and without the password."""
    inner = getattr(e, "orig", None) or e
    text = str(inner).strip().splitlines()[0] if str(inner).strip() else type(inner).__name__
    return scrub(text.replace(url, mask_url(url)), password_pieces(url))[:300]

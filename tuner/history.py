"""The chain's history: one row per decision about its champion, kept in the storage
beside the version chain.

A row is a small JSON object. `record` stamps it with ``time`` (UTC) and stores it as one
study user attribute of the chain's first version (``tuner:history:<time>-<random>``,
`tuner.keys.HISTORY`): one insert, so a row is either recorded whole or not at all, and two
processes recording at once never overwrite each other. `read` returns the rows oldest
first. The fields tuner writes (any other JSON field is kept as given):

- ``decision``: what was decided ("promoted", "rolled back", "holds", "re-tune", ...);
- ``version``: the version the decision is about (an Optuna study name, e.g. "churn/v2");
- ``data_fingerprint``, ``rows``: the data it was decided on;
- ``champion_score``, ``challenger_score``: the scores it was decided by;
- ``drift``: {feature: figure} (PSI or a test statistic), the largest shown first;
- ``reason``: one line for people; ``promoted``: the new champion's record, in the row
  of a promotion (written by `tuner.champion.promote` only).

Every `record` also writes the history as the note of the chain's first and newest
versions, with optuna-dashboard's own note API, so the dashboard shows it on the study's
page; a note of your own above the line ``<!-- tuner history -->`` is kept.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
from datetime import UTC, datetime
from typing import Any

from tuner import keys
from tuner.errors import TunerError

__all__ = ["HEADER", "HistoryError", "NOTE_MARK", "PROMOTION", "ROW_MAX_BYTES", "cells",
           "history_text", "note_text", "read", "read_file", "record", "write_note"]

log = logging.getLogger(__name__)

# A row is one attribute value: MySQL's TEXT column holds 64 KiB; a row stays far below.
ROW_MAX_BYTES = 16_384
DRIFT_KEPT = 20  # when a row is too big, the largest drift figures kept
NOTE_MARK = "<!-- tuner history -->"
# The field of a promotion's row that holds the new champion's record: only
# `tuner.champion.promote` writes it, after the caller's own fields, so none of them can
# forge or hide a promotion.
PROMOTION = "promoted"
NOTE_ROWS = 50  # the newest rows in the dashboard's note (`tuner history` has them all)


class HistoryError(TunerError):
    """A history row that cannot be stored, or a chain that does not exist."""


def _first_study_id(storage: Any, family: str) -> int:
    try:
        return storage.get_study_id_from_name(family)
    except KeyError:
        raise HistoryError(f"no study {family!r} in this storage: a chain's history lives "
                           "beside its first version; run `tuner study run FILE` first"
                           ) from None


def _sized(row: dict[str, Any]) -> str:
    """``row`` as JSON, small enough for any storage: drift figures beyond the largest
    `DRIFT_KEPT` are dropped (and counted) when the row is too big."""
    text = json.dumps(row, sort_keys=True, allow_nan=False, default=str)
    drift = row.get("drift")
    if len(text.encode()) > ROW_MAX_BYTES and isinstance(drift, dict) and drift:
        kept = dict(sorted(drift.items(), key=lambda kv: -_magnitude(kv[1]))[:DRIFT_KEPT])
        row = {**row, "drift": kept, "drift_dropped": len(drift) - len(kept)}
        text = json.dumps(row, sort_keys=True, allow_nan=False, default=str)
    if len(text.encode()) > ROW_MAX_BYTES:
        raise HistoryError(f"a history row of {len(text.encode())} bytes is larger than the "
                           f"{ROW_MAX_BYTES} a row may be; record figures, not data")
    return text


def _magnitude(value: Any) -> float:
    if isinstance(value, dict):
        value = next((v for v in value.values() if isinstance(v, int | float)), 0.0)
    try:
        return abs(float(value))
    except (TypeError, ValueError):
        return 0.0


def record(storage: Any, family: str, row: dict[str, Any], *, note: bool = True) -> None:
    """Add ``row`` to the history of chain ``family`` (stamped with ``time``, UTC, unless
    it has one) and rewrite the dashboard's note (``note``).

    Raises:
        HistoryError: no chain ``family`` in the storage, or a row too big to store.
    """
    if not isinstance(row, dict) or not isinstance(row.get("decision"), str):
        raise HistoryError("a history row is a dict with a 'decision' string")
    now = datetime.now(UTC)
    row = {"time": now.isoformat(timespec="milliseconds"), "family": family, **row}
    try:
        value = json.loads(_sized(row))
    except ValueError as e:  # NaN or infinity: JSON has no such number
        raise HistoryError(f"a history row must hold finite numbers only ({e})") from None
    study_id = _first_study_id(storage, family)
    key = f"{keys.HISTORY}{now.strftime('%Y%m%dT%H%M%S.%fZ')}-{secrets.token_hex(4)}"
    storage.set_study_user_attr(study_id, key, value)
    if note:
        try:
            write_note(storage, family)
        except Exception as e:  # noqa: BLE001 - the row is recorded; the note is a view of it
            log.warning("history of %s recorded, but its dashboard note was not written: %s",
                        family, e)


def read(storage: Any, family: str) -> list[dict[str, Any]]:
    """The rows of chain ``family``'s history, oldest first ([] when it has none, or no
    chain exists)."""
    try:
        study_id = storage.get_study_id_from_name(family)
    except KeyError:
        return []
    attrs = storage.get_study_user_attrs(study_id)
    return [attrs[k] for k in sorted(k for k in attrs if k.startswith(keys.HISTORY))
            if isinstance(attrs[k], dict)]


def read_file(file: Any, storage: Any = None, *, on_url: Any = None) -> list[dict[str, Any]]:
    """`read` for the study file ``file`` (`tuner history FILE`): [] when its storage or
    chain does not exist yet."""
    from tuner.storage import NoDatabase
    from tuner.study_file import open_study_file

    door = open_study_file(file, storage, create=False, on_url=on_url)
    try:
        try:
            st = door.storage
        except NoDatabase:
            return []
        return read(st, door.spec.name)
    finally:
        door.close()


# --- for people --------------------------------------------------------------------------

def _score(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) and math.isfinite(value) else "-"


def _largest_drift(row: dict[str, Any]) -> str:
    drift = row.get("drift")
    if not isinstance(drift, dict) or not drift:
        return "-"
    name, value = max(drift.items(), key=lambda kv: _magnitude(kv[1]))
    return f"{name} {_magnitude(value):.3g}"


def cells(row: dict[str, Any]) -> list[str]:
    fingerprint = row.get("data_fingerprint")
    return [str(row.get("time", "-"))[:19].replace("T", " "), str(row.get("decision", "-")),
            str(row.get("version") or "-"),
            fingerprint[:12] if isinstance(fingerprint, str) else "-",
            str(row.get("rows", "-")), _score(row.get("champion_score")),
            _score(row.get("challenger_score")), _largest_drift(row)]


HEADER = ["TIME (UTC)", "DECISION", "VERSION", "DATA", "ROWS", "CHAMPION", "CHALLENGER",
          "LARGEST DRIFT"]


def history_text(rows: list[dict[str, Any]]) -> str:
    """The rows as an aligned table, each followed by its reason (indented)."""
    table = [HEADER, *(cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    lines = []
    for i, line in enumerate(table):
        lines.append("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        reason = rows[i - 1].get("reason") if i else None
        if reason:
            lines.append(f"    {reason}")
    return "\n".join(lines)


def note_text(family: str, rows: list[dict[str, Any]]) -> str:
    """The history as the markdown of a dashboard note: the newest `NOTE_ROWS` rows."""
    shown = rows[-NOTE_ROWS:][::-1]
    lines = [NOTE_MARK, f"## History of {family} (tuner)", "",
             f"{len(rows)} decision{'s' if len(rows) != 1 else ''}, newest first"
             + (f" (the {NOTE_ROWS} newest shown; `tuner history FILE` has all)"
                if len(rows) > NOTE_ROWS else "") + ".", "",
             "| " + " | ".join(HEADER) + " | reason |",
             "|" + "---|" * (len(HEADER) + 1)]
    for r in shown:
        reason = str(r.get("reason") or "").replace("|", "\\|").replace("\n", " ")
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells(r))
                     + f" | {reason} |")
    return "\n".join(lines) + "\n"


def _note_api() -> Any:
    """optuna-dashboard's own note module (``optuna_dashboard._note``: `save_note`,
    `get_note`), loaded by itself.

    ``import optuna_dashboard`` first imports the whole web app, scikit-learn with it:
    ~2.5 s on each recorded decision, measured with cProfile on `tuner promote`. The
    module needs only Optuna; when it cannot be loaded alone (a future optuna-dashboard
    may change it), the package is imported as usual.
    """
    import importlib.util
    import sys

    loaded = sys.modules.get("optuna_dashboard._note")
    if loaded is not None:
        return loaded
    try:
        package = importlib.util.find_spec("optuna_dashboard")
        origin = next(iter(package.submodule_search_locations or ())) if package else None
        spec = importlib.util.spec_from_file_location("tuner._optuna_dashboard_note",
                                                      f"{origin}/_note.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.save_note, module.get_note  # noqa: B018 - the two names we rely on
        return module
    except Exception:  # noqa: BLE001 - fall back to the package's own import
        from optuna_dashboard import _note

        return _note


def write_note(storage: Any, family: str) -> None:
    """Write the history as the note of the chain's first and newest versions
    (optuna-dashboard's `save_note`); a user's own note above `NOTE_MARK` is kept."""
    import optuna

    from tuner.versions import chain

    note = _note_api()
    get_note, save_note = note.get_note, note.save_note

    versions = chain(storage, family)
    if not versions:
        return
    body = note_text(family, read(storage, family))
    for name in dict.fromkeys((versions[0].name, versions[-1].name)):
        study = optuna.load_study(storage=storage, study_name=name)
        own = get_note(study).split(NOTE_MARK)[0].rstrip()
        save_note(study, f"{own}\n\n{body}" if own else body)

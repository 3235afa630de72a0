"""The one root of every error `tuner` raises on purpose, and the one way to print any
error as the single line a user sees (CLI, `tuner retune` over many files, the scheduler).
"""

from __future__ import annotations

import traceback
from pathlib import Path

__all__ = ["MESSAGE_MAX", "DataError", "TableError", "TunerError", "error_line", "error_lines",
           "exit_code", "first_line", "shown"]

# An error line is read by a person: a value quoted in it (a cell, a path) is cut to
# VALUE_MAX characters, and the whole line to MESSAGE_MAX, so a 300 MB cell in a bad row
# never becomes a 300 MB line.
VALUE_MAX = 60
MESSAGE_MAX = 1000


class TunerError(Exception):
    """Something the user can fix: the message says what is wrong and how to fix it."""


class DataError(TunerError, ValueError):
    """Data that cannot be loaded: a dataset name or parameter, a file, a table's rows."""


class TableError(DataError):
    """Rows that cannot be trained on as they are: a missing column, one class, no rows."""


def first_line(text: str) -> str:
    """The first non-empty line of ``text``, stripped ("" if there is none).

    Not simply the first line: some libraries start a message with a newline (matplotlib's
    math-text errors do), and its first line is then empty.
    """
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def shown(value: object, limit: int = VALUE_MAX) -> str:
    """``repr(value)`` for a message, cut to about ``limit`` characters with the full
    length said: "'xxxxx...'... (5000000 characters)"."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _clipped(message: str) -> str:
    if len(message) <= MESSAGE_MAX:
        return message
    # The start names the file and key, the end says what to do: keep both.
    tail = MESSAGE_MAX // 3
    return (f"{message[:MESSAGE_MAX - tail - 40]} ... ({len(message)} characters in all) "
            f"... {message[-tail:]}")


def error_line(e: BaseException, file: str | Path | None = None) -> str:
    """``e`` as one line for a user, without the ``error:`` prefix.

    A `TunerError` is its own message; anything else is unexpected and says its type.
    With ``file``, the line names the file it happened in (once).
    """
    if isinstance(e, TunerError):
        message = first_line(str(e)) or type(e).__name__
    else:
        message = f"unexpected error: {type(e).__name__}: {first_line(str(e))}".rstrip(": ")
    if file is not None and not message.startswith(str(file)):
        message = f"{file}: {message}"
    return _clipped(message)


def error_lines(e: BaseException, line: str | None = None, *,
                verbose: bool = False) -> list[str]:
    """What a user is shown of ``e``: ``error: LINE``, then, with ``verbose``, the
    traceback of an unexpected error, indented under it (a `TunerError` has none to
    show: its message is the whole story).

    ``line`` is `error_line` (``error_line(e, file)`` to name a file); the CLI, `tuner
    retune` over many files and the scheduler all print an error through this.
    """
    lines = [f"error: {line if line is not None else error_line(e)}"]
    if verbose and not isinstance(e, TunerError):
        lines += [f"  {text}" for text in
                  "".join(traceback.format_exception(e)).rstrip().splitlines()]
    return lines


def exit_code(e: BaseException) -> int:
    """2 for bad input the user can fix, 1 for anything unexpected."""
    return 2 if isinstance(e, TunerError) else 1

"""The one root of every error `tuner` raises on purpose, and the one way to print any
error as the single line a user sees (CLI, `tuner retune` over many files, the scheduler).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["TunerError", "error_line", "exit_code", "first_line"]


class TunerError(Exception):
    """Something the user can fix: the message says what is wrong and how to fix it."""


def first_line(text: str) -> str:
    """The first non-empty line of ``text``, stripped ("" if there is none).

    Not simply the first line: some libraries start a message with a newline (matplotlib's
    math-text errors do), and its first line is then empty.
    """
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


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
    return message


def exit_code(e: BaseException) -> int:
    """2 for bad input the user can fix, 1 for anything unexpected."""
    return 2 if isinstance(e, TunerError) else 1

"""The one root of every error `tuner` raises on purpose."""

from __future__ import annotations


class TunerError(Exception):
    """Something the user can fix: the message says what is wrong and how to fix it."""

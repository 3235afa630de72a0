"""Words every layer of the report shares: parameter names in course notation, the kinds
of finished trial, and the report's error.

Optuna's parameter names (``one_minus_beta``) are kept in the data; they are turned into
course notation (``1 - beta``, ``beta (as 1-beta)``) only in labels, here.
"""

from __future__ import annotations

from collections.abc import Sequence

from tuner.errors import TunerError
from tuner.space import COMPLEMENT_PREFIX

__all__ = ["KINDS", "ReportError", "course_name", "is_complement", "kind_label",
           "param_label", "param_order"]

# The kinds of finished trial the figures tell apart, in drawing order (later on top).
KINDS = ("complete", "pruned", "diverged")


class ReportError(TunerError):
    """A report that cannot be written (bad evaluator name, unwritable path)."""


def is_complement(name: str) -> bool:
    """Whether Optuna's ``name`` holds 1 - X (``one_minus_beta``) rather than X."""
    return name.startswith(COMPLEMENT_PREFIX)


def course_name(name: str) -> str:
    """The course's name of what Optuna's ``name`` holds: ``one_minus_beta`` -> ``beta``."""
    return name[len(COMPLEMENT_PREFIX):] if is_complement(name) else name


def param_label(name: str, *, axis: bool = False) -> str:
    """Optuna's name in course notation: ``one_minus_beta`` -> ``beta (as 1-beta)`` in a
    table, ``1 - beta`` on an axis, where the values shown are those of 1 - beta."""
    if is_complement(name):
        course = course_name(name)
        return f"1 - {course}" if axis else f"{course} (as 1-{course})"
    return name


def param_order(names: Sequence[str]) -> list[str]:
    """alpha and beta first (the two that matter most), then the rest by name."""
    first = [n for n in ("alpha", COMPLEMENT_PREFIX + "beta") if n in names]
    return first + sorted(n for n in names if n not in first)


def kind_label(kind: str) -> str:
    """What a legend calls a kind of trial drawn at a value: a trial cut short has none."""
    return {"complete": "complete", "pruned": "pruned (last reported value)",
            "diverged": "diverged (last reported value, or worst)"}[kind]

"""Summaries of repeated measurements: quartiles, medians, log-log slopes."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import numpy as np


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(25th percentile, median, 75th percentile), NaNs ignored."""
    a = np.asarray(values, dtype=float)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return (float("nan"),) * 3
    q1, q2, q3 = np.percentile(a, [25, 50, 75])
    return float(q1), float(q2), float(q3)


def median(values: Sequence[float]) -> float:
    a = [v for v in values if np.isfinite(v)]
    return float(statistics.median(a)) if a else float("nan")


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of log y against log x."""
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])

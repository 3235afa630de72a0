"""Drift: how far the rows a model was trained on are from the rows of today.

At training time `profile` summarizes the training rows, column by column, in a few
numbers that go into the model's card (`tuner.train`): a numeric column by its deciles
(the bin edges) and the share of rows in each bin, a categorical column by the share of
each category (the 30 most common; the rest pooled as one), missing values as a bin of
their own; the label too. Later `psi` puts new rows into the same bins and compares the
shares with the population stability index,

    PSI = sum over bins of (new - old) * ln(new / old),

a share of 0 counted as 0.0001 (the usual floor; an empty bin would make it infinite).
The usual reading: below 0.1 no real change, 0.1 to 0.2 a moderate one, above 0.2 a
shift worth acting on (the default `[retune] drift`). PSI is used rather than a
two-sample test because a test's p-value shrinks with the row count: with 100,000 rows a
shift nobody would act on is "significant", while PSI reads the same at any size.

numpy and pandas only: a profile is made where the rows are already in memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner.cells import MISSING, category_labels, numeric_values

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FLOOR", "PROFILE_FORMAT", "largest", "profile", "psi", "psi_of_shares"]

PROFILE_FORMAT = 1
FLOOR = 1e-4        # a share of 0 counts as this much
BINS = 10           # deciles
TOP_CATEGORIES = 30  # categories kept by name; the rest are pooled
OTHER = "<other>"   # the pooled rest, and a category the training rows never had


def psi_of_shares(old: Sequence[float], new: Sequence[float]) -> float:
    """The population stability index of two distributions over the same bins."""
    e = np.maximum(np.asarray(old, dtype=np.float64), FLOOR)
    a = np.maximum(np.asarray(new, dtype=np.float64), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def _numeric_shares(x: np.ndarray, edges: np.ndarray) -> list[float]:
    """Shares of ``x`` in the bins cut at ``edges`` (len(edges) + 1 bins), then missing."""
    present = x[~np.isnan(x)]
    counts = np.bincount(np.searchsorted(edges, present, side="right"),
                         minlength=len(edges) + 1).astype(np.float64)
    counts = np.append(counts, x.size - present.size)
    return (counts / max(x.size, 1)).tolist()


def _numeric_profile(x: np.ndarray) -> dict[str, Any]:
    present = x[~np.isnan(x)]
    edges = (np.unique(np.quantile(present, np.arange(1, BINS) / BINS))
             if present.size else np.array([]))
    return {"kind": "numeric", "edges": edges.tolist(), "shares": _numeric_shares(x, edges)}


def _category_shares(values: pd.Series) -> dict[str, float]:
    labels = category_labels(values)
    codes = np.asarray(labels.codes)
    counts = np.bincount(codes[codes >= 0], minlength=len(labels.categories))
    shares = {str(c): n / max(codes.size, 1) for c, n in zip(labels.categories, counts,
                                                              strict=True) if n}
    missing = int((codes < 0).sum())
    if missing:
        shares[MISSING] = missing / codes.size
    return shares


def _categorical_profile(values: pd.Series) -> dict[str, Any]:
    shares = _category_shares(values)
    kept = dict(sorted(shares.items(), key=lambda kv: -kv[1])[:TOP_CATEGORIES])
    rest = 1.0 - sum(kept.values())
    if len(kept) < len(shares):
        kept[OTHER] = max(rest, 0.0)
    return {"kind": "categorical", "shares": kept}


def _column_profile(frame: pd.DataFrame, name: str, numeric: bool) -> dict[str, Any]:
    if numeric:
        return _numeric_profile(numeric_values(frame[name], where=f"column {name!r}"))
    return _categorical_profile(frame[name])


def profile(frame: pd.DataFrame, *, numeric: Sequence[str], categorical: Sequence[str],
            target: str | None = None, target_numeric: bool = False) -> dict[str, Any]:
    """A JSON-able summary of ``frame``'s columns (and its ``target``) for `psi` later."""
    columns = {name: _column_profile(frame, name, True) for name in numeric}
    columns.update({name: _column_profile(frame, name, False) for name in categorical})
    out: dict[str, Any] = {"format": PROFILE_FORMAT, "rows": int(len(frame)),
                           "columns": columns}
    if target is not None:
        out["target"] = {"name": target, **_column_profile(frame, target, target_numeric)}
    return out


def _column_psi(saved: Mapping[str, Any], frame: pd.DataFrame, name: str) -> float:
    if saved["kind"] == "numeric":
        x = numeric_values(frame[name], where=f"column {name!r}")
        return psi_of_shares(saved["shares"], _numeric_shares(x, np.asarray(saved["edges"])))
    old: dict[str, float] = dict(saved["shares"])
    new = _category_shares(frame[name])
    pooled = OTHER in old
    mapped: dict[str, float] = {}
    for category, share in new.items():
        # A category outside the saved ones: the pooled rest if there was one, else a
        # bin the training rows had 0 of (floored).
        key = category if category in old else OTHER
        mapped[key] = mapped.get(key, 0.0) + share
    bins = list(old) + ([OTHER] if not pooled and OTHER in mapped else [])
    return psi_of_shares([old.get(b, 0.0) for b in bins], [mapped.get(b, 0.0) for b in bins])


def psi(saved: Mapping[str, Any], frame: pd.DataFrame) -> dict[str, float]:
    """The PSI of each profiled column of ``frame`` (and of its label, under the target's
    name) against the profile ``saved``, largest first. A profiled column missing from
    ``frame`` is left out (the model's own checks say it is missing)."""
    out = {name: _column_psi(col, frame, name) for name, col in saved["columns"].items()
           if name in frame.columns}
    target = saved.get("target")
    if target is not None and target["name"] in frame.columns:
        out[target["name"]] = _column_psi(target, frame, target["name"])
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def largest(drift: Mapping[str, float]) -> tuple[str, float] | None:
    """The column with the largest PSI, or None when nothing was measured."""
    if not drift:
        return None
    name = max(drift, key=lambda k: drift[k])
    return name, float(drift[name])

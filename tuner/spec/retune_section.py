"""The [retune] section: when a change of the data is worth a new version (`tuner.decision`).

    [retune]
    when = "degraded-or-drifted"  # "changed" | "degraded" | "drifted" | "degraded-or-drifted"
    margin = 0.01                 # how far the champion's score may drop before "degraded"
    drift = 0.2                   # the PSI above which a column has "drifted"
    min_gain = 0.0                # how much a challenger must beat the champion by (< 0:
                                  # it may be this much worse)

Like [deploy], not part of the definition: changing the policy re-tunes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tuner.spec.reader import NUMBER, Reader
from tuner.spec.schema import POLICIES, RetuneSpec

_RETUNE_KEYS = ("when", "margin", "drift", "min_gain")


def _parse_retune(r: Reader, table: Mapping[str, Any], *, stated: bool) -> RetuneSpec:
    r.check_keys("retune", table, _RETUNE_KEYS)
    default = RetuneSpec()
    when = r.get("retune", table, "when", str, default.when)
    if when not in POLICIES:
        raise r.fail("[retune] when", f"unknown policy {when!r}; valid: {', '.join(POLICIES)}")
    values = {}
    for key in ("margin", "drift", "min_gain"):
        value = r.get("retune", table, key, NUMBER, getattr(default, key))
        # (The reader refuses NaN and infinity.) min_gain may be negative: a challenger
        # that is a little worse still replaces a model trained on older rows.
        if value < 0 and key != "min_gain":
            raise r.fail(f"[retune] {key}", f"must be a number >= 0, got {value!r}")
        values[key] = float(value)
    return RetuneSpec(when=when, stated=stated, **values)

"""tuner.hashing: one content hash of named arrays for the data fingerprint and the cache."""

from __future__ import annotations

import numpy as np
import pytest

from tuner.hashing import arrays_digest

pytestmark = pytest.mark.unit


def test_the_same_arrays_hash_alike_and_any_difference_shows() -> None:
    a = np.arange(12, dtype=np.float32)
    base = arrays_digest({"X": a, "y": a[:3]})
    assert arrays_digest({"X": a.copy(), "y": a[:3].copy()}) == base
    assert arrays_digest({"X": a[::-1][::-1], "y": a[:3]}) == base  # a view, not a copy
    others = [arrays_digest({"X": a.reshape(3, 4), "y": a[:3]}),   # shape
              arrays_digest({"X": a.view(np.int32), "y": a[:3]}),  # dtype, same bytes
              arrays_digest({"X2": a, "y": a[:3]}),                # name
              arrays_digest({"y": a[:3], "X": a}),                 # order
              arrays_digest({"X": a, "y": a[:3]}, prefix=b"p"),    # prefix
              arrays_digest({"X": a + 1, "y": a[:3]})]             # values
    assert len({base, *others}) == 1 + len(others)
    assert len(base) == 64 and int(base, 16) >= 0

"""Content hashes of named arrays, and the 64-bit hashes of rows.

`arrays_digest`: the data fingerprint and the splits cache must agree on what "the same
arrays" means. Each array is hashed with its name, dtype and shape, then its buffer itself
(no copy, about 1 GB/s), so two arrays of one buffer but another shape or dtype differ.

`mix64` and `text_hash64` are the pieces the per-row hashes are built from (the table's
content hash in tuner/table.py, the row's split in tuner/holdout.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np

__all__ = ["arrays_digest", "mix64", "text_hash64"]


def arrays_digest(arrays: Mapping[str, np.ndarray], *, prefix: bytes = b"") -> str:
    """BLAKE2b-256 of ``prefix``, then every array in the mapping's order (the caller
    decides the order: it is part of the hash)."""
    h = hashlib.blake2b(digest_size=32)
    h.update(prefix)
    for name, array in arrays.items():
        a = np.ascontiguousarray(array)
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.data)
    return h.hexdigest()


def mix64(h: np.ndarray) -> None:
    """splitmix64's finalizer, in place on uint64s: every input bit moves every output bit."""
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)


def text_hash64(text: str) -> np.uint64:
    """64 bits of BLAKE2b of ``text``."""
    return np.uint64(int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(),
                                    "little"))

"""Fingerprints of the data a study trains on and of the hardware it runs on.

Good hyperparameters go stale when either changes, so each study version records both
and `tuner retune` compares them. The data fingerprint is a content hash of the exact
arrays the worker sees (all three splits); the hardware fingerprint covers what changes
which batch size and speed suit a machine. Software versions are recorded beside it for
information, but an upgrade of numpy is not a new machine.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner.data import Splits, spec_splits
from tuner.spec import DataSpec, StudySpec

if TYPE_CHECKING:
    from tuner.table import Table

__all__ = ["Fingerprint", "data_fingerprint", "hardware_fingerprint", "short",
           "software_versions", "study_fingerprints", "table_fingerprint"]

SHORT = 12


def short(digest: str) -> str:
    return digest[:SHORT]


@dataclass(frozen=True)
class Fingerprint:
    """A hash and the components it was computed from, so a person can see what moved."""

    digest: str
    components: dict[str, Any]

    @property
    def short(self) -> str:
        return short(self.digest)

    def as_dict(self) -> dict[str, Any]:
        return {"hash": self.digest, "short": self.short, "components": self.components}


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def data_fingerprint(splits: Splits, data: DataSpec) -> Fingerprint:
    """Content hash of every array of ``splits`` (values, shape, dtype) and the labels.

    For a file or database source, the hash of its rows instead (tuner/table.py: the
    multiset of rows over the chosen columns, whatever order they came in), with the
    split settings; the row and column counts are shown beside it.
    """
    if splits.table is not None:
        return table_fingerprint(splits.table, data)
    h = hashlib.blake2b(digest_size=32)
    components: dict[str, Any] = {
        "dataset": data.dataset, **dict(data.params),
        "test_fraction": data.test_fraction, "validation_fraction": data.validation_fraction,
        "seed": data.seed, "test_seed": data.test_seed,
    }
    h.update(json.dumps(components, sort_keys=True).encode())
    for name, array in splits.arrays().items():
        a = np.ascontiguousarray(array)
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.data)  # hashes the buffer itself: no copy, ~1 GB/s
        components[f"{name}_shape"] = list(a.shape)
    components["dtype"] = str(splits.X_train.dtype)
    labels = np.unique(np.concatenate([splits.y_train, splits.y_val, splits.y_test]))
    components["labels"] = [str(c) for c in labels]
    return Fingerprint(h.hexdigest(), components)


def table_fingerprint(table: Table, data: DataSpec) -> Fingerprint:
    """The data fingerprint of a file or database source, from its rows alone: no split,
    no preprocessing (what `tuner fingerprint` and `retune`'s decision need)."""
    hashed = {"source": data.source, "content": table.digest,
              "test_fraction": data.test_fraction,
              "validation_fraction": data.validation_fraction,
              "seed": data.seed, "test_seed": data.test_seed}
    # Where the rows came from (path, table) and how many were dropped for a missing
    # target are shown, not hashed: the same rows from a moved file are the same data.
    shown = {"rows": table.n_rows, "columns": table.n_columns,
             "dropped_rows": table.n_dropped, "target": table.target,
             "classes": [str(c) for c in table.classes], "origin": table.origin}
    return Fingerprint(_digest(hashed), {**hashed, **shown})


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> int:
    """Total memory in GiB, rounded to a whole number so it does not flicker."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0
    return int(round(total / 2**30))


def _blas() -> list[str]:
    from threadpoolctl import threadpool_info

    return sorted({f"{i.get('internal_api')}/{i.get('architecture') or '?'}"
                   for i in threadpool_info() if i.get("user_api") == "blas"})


def _gpus() -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted(line.strip() for line in out.splitlines() if line.strip())


@functools.cache
def _libraries() -> tuple[tuple[str, ...], tuple[str, ...]]:
    # BLAS and GPUs cannot change while a process runs: asked once per process (`retune`
    # and `schedule` fingerprint every study file; threadpoolctl and nvidia-smi ~30 ms).
    return tuple(_blas()), tuple(_gpus())


def hardware_fingerprint() -> Fingerprint:
    """What decides which batch size and speed suit this machine.

    With ``TUNER_HARDWARE_LABEL`` set (a node-pool name, say) the label alone is hashed:
    machines of one class share a study even if their CPU stepping or memory differ a
    little, and a different label is a different class. The details are still recorded.
    """
    components: dict[str, Any] = {
        "cpu": _cpu_model(),
        "machine": platform.machine(),
        "logical_cores": os.cpu_count() or 1,
        "memory_gib": _memory_gib(),
        "blas": list(_libraries()[0]),
        "gpus": list(_libraries()[1]),
        "label": os.environ.get("TUNER_HARDWARE_LABEL", "").strip(),
    }
    hashed = ["label"] if components["label"] else sorted(components)
    digest = _digest({k: components[k] for k in hashed})
    components["hashed"] = hashed  # which of the above the hash covers
    return Fingerprint(digest, components)


def software_versions() -> dict[str, str]:
    """Recorded beside the hardware fingerprint, for information only."""
    return dict(_software_versions())


@functools.cache
def _software_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for package in ("numpy", "optuna", "scikit-learn", "tuner"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def study_fingerprints(spec: StudySpec, splits: Splits | None = None) -> dict[str, Any]:
    """Everything `tuner fingerprint` shows and a study version stores."""
    if splits is not None:
        data = data_fingerprint(splits, spec.data)
    elif spec.data.is_table:
        # The rows alone decide a table's fingerprint: no split or preprocessing fit.
        from tuner.table import load_table

        data = table_fingerprint(load_table(spec.data, spec.path), spec.data)
    else:
        data = data_fingerprint(spec_splits(spec), spec.data)
    hardware = hardware_fingerprint()
    return {"study": spec.name, "data": data.as_dict(), "hardware": hardware.as_dict(),
            "spec_hash": spec.spec_hash, "spec_short": short(spec.spec_hash),
            "software": software_versions()}


def rows_text(components: dict[str, Any] | None) -> str:
    """What a table source's data fingerprint hashed, in words ("" for a built-in
    dataset): "2,991 rows x 9 columns hashed; 9 rows without a target dropped"."""
    if not components or "rows" not in components:
        return ""
    dropped = components.get("dropped_rows", 0)
    return (f"{components['rows']:,} rows x {components['columns']} columns hashed; "
            f"{dropped:,} row{'' if dropped == 1 else 's'} without a target dropped")


def fingerprint_text(fp: dict[str, Any]) -> str:
    """`study_fingerprints` for people: each hash with what it was computed from."""
    lines = [f"study      {fp['study']}", f"definition {fp['spec_short']}"]
    for part in ("data", "hardware"):
        lines.append(f"{part:<10} {fp[part]['short']}"
                     + (f"  ({hashed})" if (hashed := rows_text(fp[part]["components"]))
                        and part == "data" else ""))
        lines += [f"  {k}: {v}" for k, v in fp[part]["components"].items()]
    lines.append("software (recorded, not part of the hardware fingerprint): "
                 + ", ".join(f"{k} {v}" for k, v in fp["software"].items()))
    return "\n".join(lines)

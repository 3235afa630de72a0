"""Fingerprints of the data a study trains on and of the hardware it runs on.

Good hyperparameters go stale when either changes, so each study version records both
and `tuner retune` compares them. The data fingerprint is a content hash of the exact
arrays the worker sees (all three splits); the hardware fingerprint covers what changes
which batch size and speed suit a machine. Software versions are recorded beside it for
information, but an upgrade of numpy is not a new machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner import machine
from tuner.data import Splits, spec_splits
from tuner.hashing import arrays_digest
from tuner.spec import DataSpec, StudySpec

if TYPE_CHECKING:
    from tuner.splits import TableSummary

__all__ = ["Fingerprint", "counts_text", "data_fingerprint", "hardware_fingerprint",
           "short", "software_versions", "split_counts", "study_fingerprints",
           "table_fingerprint"]

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
    counts = split_counts(splits)
    if splits.table is not None:
        return table_fingerprint(splits.table, data, counts)
    components: dict[str, Any] = {
        "dataset": data.dataset, **dict(data.params),
        "test_fraction": data.test_fraction, "validation_fraction": data.validation_fraction,
        "seed": data.seed, "test_seed": data.test_seed,
    }
    arrays = splits.arrays()
    digest = arrays_digest(arrays, prefix=json.dumps(components, sort_keys=True).encode())
    components.update({f"{name}_shape": list(np.shape(a)) for name, a in arrays.items()})
    components["dtype"] = str(splits.X_train.dtype)
    if splits.y_train.dtype.kind == "f":  # a regression target: values, not labels
        components["split_rows"] = counts
        return Fingerprint(digest, components)
    labels = np.unique(np.concatenate([splits.y_train, splits.y_val, splits.y_test]))
    components["labels"] = [str(c) for c in labels]
    components["class_counts"] = counts
    return Fingerprint(digest, components)


def split_counts(splits: Splits) -> dict[str, dict[str, int]]:
    """Rows of each class in train, validation and test (shown, not hashed): labels as
    the source wrote them for a file or table, class indices for a built-in dataset; the
    rows alone of a regression target ({"train": {"rows": 300}, ...})."""
    from tuner.holdout import SPLITS

    ys = (splits.y_train, splits.y_val, splits.y_test)
    if splits.y_train.dtype.kind == "f":
        return {name: {"rows": int(y.shape[0])} for name, y in zip(SPLITS, ys, strict=True)}
    if splits.table is not None:
        labels = [str(c) for c in splits.table.classes]
    else:
        labels = [str(c) for c in range(int(max(int(y.max()) for y in ys if y.size)) + 1)]
    return {name: {c: int(n) for c, n in zip(labels, np.bincount(y, minlength=len(labels)),
                                              strict=True)}
            for name, y in zip(SPLITS, ys, strict=True)}


def table_fingerprint(table: TableSummary, data: DataSpec,
                      counts: dict[str, dict[str, int]] | None = None) -> Fingerprint:
    """The data fingerprint of a file or database source, from its rows and the split
    rule alone: no preprocessing (what `tuner fingerprint` and `retune`'s decision need).
    ``counts`` (`split_counts`) are shown beside it."""
    from tuner.holdout import RULE

    hashed = {"source": data.source, "content": table.digest,
              "test_fraction": data.test_fraction,
              "validation_fraction": data.validation_fraction,
              "seed": data.seed, "test_seed": data.test_seed,
              # How rows are split (tuner/holdout.py): another rule is other data.
              "split": RULE, **({"key": list(data.key)} if data.key else {})}
    # Where the rows came from (path, table) and how many were dropped for a missing
    # target are shown, not hashed: the same rows from a moved file are the same data.
    regression = not table.classes
    shown = {"rows": table.n_rows, "columns": table.n_columns,
             "dropped_rows": table.n_dropped, "target": table.target,
             **({} if regression else {"classes": [str(c) for c in table.classes]}),
             "origin": table.origin,
             **({"split_rows" if regression else "class_counts": counts}
                if counts is not None else {})}
    return Fingerprint(_digest(hashed), {**hashed, **shown})


def _memory_gib() -> int:
    """Total memory in GiB, rounded to a whole number so it does not flicker."""
    return int(round(machine.total_memory() / 2**30))


def hardware_fingerprint() -> Fingerprint:
    """What decides which batch size and speed suit this machine.

    With ``TUNER_HARDWARE_LABEL`` set (a node-pool name, say) the label alone is hashed:
    machines of one class share a study even if their CPU stepping or memory differ a
    little, and a different label is a different class. The details are still recorded.
    """
    components: dict[str, Any] = {
        "cpu": machine.cpu_model(),
        "machine": platform.machine(),
        "logical_cores": machine.logical_cores(),
        "memory_gib": _memory_gib(),
        "blas": list(machine.blas()),
        "gpus": list(machine.gpus()),
        "label": os.environ.get("TUNER_HARDWARE_LABEL", "").strip(),
    }
    hashed = ["label"] if components["label"] else sorted(components)
    digest = _digest({k: components[k] for k in hashed})
    components["hashed"] = hashed  # which of the above the hash covers
    return Fingerprint(digest, components)


def software_versions() -> dict[str, str]:
    """Recorded beside the hardware fingerprint, for information only."""
    return machine.software_versions()


def study_fingerprints(spec: StudySpec, splits: Splits | None = None) -> dict[str, Any]:
    """Everything `tuner fingerprint` shows and a study version stores."""
    if splits is not None:
        data = data_fingerprint(splits, spec.data)
    elif spec.data.is_table:
        # The rows alone decide a table's fingerprint: no split or preprocessing fit.
        from tuner.table import load_table, table_class_counts

        table = load_table(spec.data, spec.path, spec.task if spec.task_stated else None)
        data = table_fingerprint(table.summary, spec.data,
                                 table_class_counts(table, spec.data))
    else:
        data = data_fingerprint(spec_splits(spec), spec.data)
    hardware = hardware_fingerprint()
    return {"study": spec.name, "task": spec.task, "data": data.as_dict(),
            "hardware": hardware.as_dict(), "spec_hash": spec.spec_hash,
            "spec_short": short(spec.spec_hash), "software": software_versions()}


def rows_text(components: dict[str, Any] | None) -> str:
    """What a table source's data fingerprint hashed, in words ("" for a built-in
    dataset): "2,991 rows x 9 columns hashed; 9 rows without a target dropped"."""
    if not components or "rows" not in components:
        return ""
    dropped = components.get("dropped_rows", 0)
    return (f"{components['rows']:,} rows x {components['columns']} columns hashed; "
            f"{dropped:,} row{'' if dropped == 1 else 's'} without a target dropped")


def counts_text(counts: dict[str, dict[str, int]]) -> str:
    """`split_counts` in one line: "train no 120, yes 51; validation ...; test ..."."""
    return "; ".join(f"{part} " + ", ".join(f"{c} {n}" for c, n in by_class.items())
                     for part, by_class in counts.items())


def fingerprint_text(fp: dict[str, Any]) -> str:
    """`study_fingerprints` for people: each hash with what it was computed from."""
    lines = [f"study      {fp['study']}", f"task       {fp.get('task', 'classification')}",
             f"definition {fp['spec_short']}"]
    for part in ("data", "hardware"):
        lines.append(f"{part:<10} {fp[part]['short']}"
                     + (f"  ({hashed})" if (hashed := rows_text(fp[part]["components"]))
                        and part == "data" else ""))
        lines += [f"  {k}: {counts_text(v) if k in ('class_counts', 'split_rows') else v}"
                  for k, v in fp[part]["components"].items()]
    lines.append("software (recorded, not part of the hardware fingerprint): "
                 + ", ".join(f"{k} {v}" for k, v in fp["software"].items()))
    return "\n".join(lines)

"""How big one trial is: the largest network a study's search can ask for, the memory a
trial of it takes and the work of one mini-batch step.

Two decisions rest on it: a study file is refused when a single trial cannot fit in the
machine's memory (`tuner.spec.limits`), and ``--jobs auto`` runs as many trials at once
as fit in the memory available (`tuner.worker.plan_jobs`). Both take the largest network
the search can ask for, not the typical one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tuner.spec.schema import ModelSpec, ParamSpec

__all__ = ["Footprint", "trial_footprint"]


@dataclass(frozen=True)
class Footprint:
    """The largest trial of a study, in bytes and floating-point operations."""

    layers: tuple[int, ...]  # units of the input, every hidden layer, the output
    batch: int               # the largest mini-batch
    data_bytes: int
    model_bytes: int
    widest_key: str          # the key that sets the widest layers ("[search] units", ...)

    @property
    def total_bytes(self) -> int:
        return self.data_bytes + self.model_bytes

    @property
    def flops_per_step(self) -> int:
        """One mini-batch step: a GEMM forward and two backward per layer."""
        return 6 * self.batch * sum(a * b for a, b in pairwise(self.layers))


def trial_footprint(model: ModelSpec, search: Sequence[ParamSpec], *, n_samples: int,
                    n_features: int, n_classes: int, folds: int | None = None) -> Footprint:
    """The footprint of the largest trial ``model`` and ``search`` allow on a dataset of
    ``n_samples`` rows (all splits), ``n_features`` inputs and ``n_classes`` classes.

    A study with ``[data] folds = K`` trains K models side by side (`tuner.folds`): each
    keeps its own weights and workspace, and each fold its own scaled copy of the train
    + validation rows, so the model and those copies count K times."""
    itemsize = 4 if model.dtype == "float32" else 8
    widths = list(model.hidden)
    batch, where = model.batch_size, "[model] hidden"
    for p in search:
        if p.name == "units" and p.high is not None:
            widths = [max(int(p.high), w) for w in widths]
            where = "[search] units"
        elif p.name == "hidden" and p.choices:
            widths = [max(max(c) for c in p.choices)] * max(len(c) for c in p.choices)
            where = "[search] hidden"
        elif p.name == "batch_size" and p.high is not None:
            batch = max(batch, int(p.high))
    layers = (n_features, *widths, n_classes)
    weights = sum(a * b + 2 * b for a, b in pairwise(layers))
    # raw float64 data + scaled copies of every split; weights, gradient, momentum and a
    # saved copy; forward and backward activations of one batch with batch-norm caches.
    data_bytes = n_samples * n_features * (8 * 2 + itemsize)
    model_bytes = (4 * weights * itemsize
                   + 6 * min(batch, n_samples) * sum(layers) * itemsize
                   # a validation pass runs the whole validation split at once
                   + 2 * n_samples * sum(layers) * itemsize)
    if folds:
        data_bytes += folds * n_samples * n_features * itemsize
        model_bytes *= folds
    return Footprint(layers, batch, data_bytes, model_bytes, where)

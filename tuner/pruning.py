"""The study file's [pruner], built once, deciding from a snapshot of the study.

Optuna's percentile pruners (median, percentile) read every trial of the study from the
storage at each ``should_prune``: once an epoch, and for a small model that read cost
more than the epoch. `SnapshotPruner` gives them the study's trials as read at most
`SNAPSHOT_S` seconds ago, plus every trial passed to `record` since (tuner's worker
passes each trial it finishes). The trials they compare against are finished ones, which
never change; what a snapshot can miss is a trial finished in the last `SNAPSHOT_S`
seconds and not recorded.

**When its decisions are exactly Optuna's:** when every trial finished since the
snapshot was taken was passed to `record`, as with one tuner worker on a study. Used
outside the worker (ask-and-tell, ``study.optimize`` without a callback calling
`record`), a trial told or added within the last `SNAPSHOT_S` seconds is not yet
compared against, and so with several workers for another worker's recent trials: a
decision then is Optuna's on the study as it was up to `SNAPSHOT_S` seconds earlier.
Reading the study again at each decision instead would cost the read this class saves,
once an epoch; use Optuna's pruner directly where that exactness matters more.

Successive halving and Hyperband keep Optuna's own path: they write to and read from the
running trial itself (rung attributes) and build studies of their own per bracket.
"""

from __future__ import annotations

import time
from collections.abc import Container
from typing import Any

import optuna
from optuna.pruners import BasePruner, PercentilePruner
from optuna.trial import FrozenTrial, TrialState

from tuner.spec import PrunerSpec

__all__ = ["SNAPSHOT_S", "SnapshotPruner", "make_pruner"]

SNAPSHOT_S = 5.0


def make_pruner(p: PrunerSpec, epochs: int) -> BasePruner:
    """The Optuna pruner of a study file's [pruner] section (percentile family wrapped in
    `SnapshotPruner`)."""
    opts = dict(p.options)
    if p.name == "median":
        return SnapshotPruner(optuna.pruners.MedianPruner(
            n_startup_trials=opts.get("n_startup_trials", 5),
            n_warmup_steps=opts.get("n_warmup_steps", 2)))
    if p.name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=opts.get("min_resource", 1),
                                              max_resource=epochs,
                                              reduction_factor=opts.get("reduction_factor", 3))
    if p.name == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=opts.get("min_resource", 1),
            reduction_factor=opts.get("reduction_factor", 4))
    if p.name == "none":
        return optuna.pruners.NopPruner()
    raise AssertionError(f"unvalidated pruner {p.name!r}")


class _StudySnapshot:
    """A study whose trials are a list read once; everything else is the study's own."""

    def __init__(self, study: optuna.Study, trials: list[FrozenTrial]) -> None:
        self._study = study
        self._trials = trials

    def get_trials(self, deepcopy: bool = True,
                   states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        if deepcopy:  # the percentile pruners never ask for copies; be correct if one does
            return self._study.get_trials(deepcopy=True, states=states)
        return [t for t in self._trials if states is None or t.state in states]

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)


class SnapshotPruner(BasePruner):
    """``inner`` (a `PercentilePruner`), deciding from a snapshot of the study's trials:
    exactly as ``inner`` while every trial finished since the snapshot is `record`-ed
    (see the module's docstring)."""

    def __init__(self, inner: PercentilePruner) -> None:
        self.inner = inner
        self._taken = 0.0
        self._snapshot: _StudySnapshot | None = None

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        now = time.monotonic()
        if self._snapshot is None or self._snapshot._study is not study or \
                now - self._taken >= SNAPSHOT_S:
            self._snapshot = _StudySnapshot(study, study.get_trials(deepcopy=False))
            self._taken = now
        return self.inner.prune(self._snapshot, trial)  # type: ignore[arg-type]

    def record(self, trial: FrozenTrial) -> None:
        """A trial this process has just finished, seen by the next decision at once."""
        if self._snapshot is not None and trial.state.is_finished():
            trials = self._snapshot._trials
            self._snapshot._trials = [t for t in trials if t.number != trial.number]
            self._snapshot._trials.append(trial)

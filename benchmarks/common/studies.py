"""Studies run in memory with tuner's sampler, pruner and objective, and the accuracy of
what they chose."""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from common.results import progress

# Optuna, tuner and scikit-learn are imported where they are used (see common/__init__.py).
if TYPE_CHECKING:
    import optuna

    from tuner.data import Splits
    from tuner.spec import StudySpec


def quiet() -> None:
    """No per-trial log lines and no experimental/independent-sampling warnings."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message=".*balance properties of Sobol.*")
    warnings.filterwarnings("ignore", category=UserWarning, module="optuna")


def with_seed(spec: StudySpec, *, sampler: str | None = None, seed: int) -> StudySpec:
    """``spec`` with the sampler ``sampler`` seeded ``seed`` and the model seeded ``seed``
    (initialization and mini-batch order)."""
    from tuner.spec import SamplerSpec

    s = spec.sampler
    return replace(spec, sampler=SamplerSpec(name=sampler or s.name, seed=seed,
                                             options=s.options),
                   model=replace(spec.model, seed=seed))


def spec_splits(spec: StudySpec) -> Splits:
    from tuner.data import spec_splits as _spec_splits

    return _spec_splits(spec)


def run_study(spec: StudySpec, splits: Splits, n_trials: int | None = None) -> optuna.Study:
    """Run ``spec`` in memory with tuner's sampler, pruner and objective; the study.

    The evidence scripts measure ideas, not storages: an in-memory storage keeps
    Optuna's bookkeeping out of the way.
    """
    import optuna

    from tuner.objective import make_objective
    from tuner.pruning import make_pruner
    from tuner.space import make_sampler

    study = optuna.create_study(
        direction=spec.direction,
        sampler=make_sampler(spec),
        pruner=make_pruner(spec.pruner, spec.model.epochs),
    )
    study.optimize(make_objective(spec, splits), n_trials=n_trials or spec.n_trials)
    return study


def best_value(study: optuna.Study) -> float:
    """The best value, or NaN when every trial diverged (a result worth seeing)."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return float("nan")
    values = [t.value for t in complete]
    return max(values) if study.direction == optuna.study.StudyDirection.MAXIMIZE \
        else min(values)


def accuracy_grid(spec: StudySpec, splits: Splits, alphas: np.ndarray, betas: np.ndarray,
                  seeds: int, *, report: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validation accuracy of ``spec``'s model at every (beta, alpha), one fit per model
    seed: (accuracy, shape (betas, alphas, seeds); diverged share, shape (betas, alphas)).
    A diverged fit counts as accuracy 0. ``report``: a progress line per beta."""
    from tuner.mlp import DivergedError, MLPClassifierBN
    from tuner.objective import model_params

    acc = np.zeros((len(betas), len(alphas), seeds))
    diverged = np.zeros((len(betas), len(alphas)))
    for i, b in enumerate(betas):
        for j, a in enumerate(alphas):
            for seed in range(seeds):
                kwargs = model_params(spec, {"alpha": float(a), "beta": float(b),
                                             "seed": seed})
                try:
                    clf = MLPClassifierBN(**kwargs).fit(splits.X_train, splits.y_train)
                    acc[i, j, seed] = clf.score(splits.X_val, splits.y_val)
                except DivergedError:
                    diverged[i, j] += 1 / seeds
        if report:
            progress(f"sweep: row {i + 1}/{len(betas)} (1 - beta = {1 - b:.2g}) done, "
                     f"best so far {acc[: i + 1].mean(axis=-1).max():.3f}")
    return acc, diverged


def test_accuracy(spec: StudySpec, splits: Splits, params: dict) -> float:
    """The model of a trial's Optuna ``params``, retrained on the training split, scored
    on the test split (NaN if it diverges). Training is deterministic for a given seed,
    so this is the trial's own model."""
    from tuner.mlp import DivergedError, MLPClassifierBN
    from tuner.objective import model_params
    from tuner.space import to_course

    clf = MLPClassifierBN(**model_params(spec, to_course(params, spec.search)))
    try:
        clf.fit(splits.X_train, splits.y_train)
    except DivergedError:
        return float("nan")
    return clf.score(splits.X_test, splits.y_test)


def best_test_accuracy(spec: StudySpec, splits: Splits, study: optuna.Study) -> float:
    """``test_accuracy`` of the study's best trial; NaN when every trial diverged."""
    if not np.isfinite(best_value(study)):
        return float("nan")
    return test_accuracy(spec, splits, study.best_trial.params)


def diverged_trials(study: optuna.Study) -> int:
    return sum(bool(t.user_attrs.get("tuner:diverged")) for t in study.trials)

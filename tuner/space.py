"""The search space in Optuna's terms: distributions, suggestions, grids and samplers.

The study file speaks course notation; Optuna sees what is actually sampled. The one
place they differ is a complement-log-uniform parameter such as the momentum `beta`:
Optuna samples `one_minus_beta` on a log scale, so that beta in [0.9, 0.999] spends as
many trials in [0.99, 0.999] as in [0.9, 0.99], and `beta` itself is kept as a trial user
attribute. A categorical choice of layer sizes is stored as a string like "64x64",
because Optuna's categorical values must be scalars.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from tuner.spec import ParamSpec, SamplerSpec, StudySpec

__all__ = [
    "COMPLEMENT_PREFIX", "distribution", "grid_space", "make_sampler", "optuna_name",
    "suggest", "to_course",
]

COMPLEMENT_PREFIX = "one_minus_"


def optuna_name(p: ParamSpec) -> str:
    """The name Optuna stores ``p`` under."""
    return COMPLEMENT_PREFIX + p.name if p.prior == "complement-log-uniform" else p.name


def _encode(value: Any) -> Any:
    return "x".join(map(str, value)) if isinstance(value, tuple) else value


def _decode(name: str, value: Any) -> Any:
    if name == "hidden" and isinstance(value, str):
        return tuple(int(h) for h in value.split("x"))
    return value


def distribution(p: ParamSpec) -> BaseDistribution:
    """The Optuna distribution of ``p`` in Optuna's space (1 - beta for complement priors)."""
    if p.prior == "categorical":
        assert p.choices is not None
        return CategoricalDistribution([_encode(c) for c in p.choices])
    if p.prior == "uniform":
        return FloatDistribution(p.low, p.high, step=p.step)
    if p.prior == "log-uniform":
        return FloatDistribution(p.low, p.high, log=True)
    if p.prior == "complement-log-uniform":
        return FloatDistribution(1.0 - p.high, 1.0 - p.low, log=True)
    if p.prior == "int":
        return IntDistribution(int(p.low), int(p.high), step=int(p.step or 1))
    if p.prior == "log-int":
        return IntDistribution(int(p.low), int(p.high), log=True)
    raise AssertionError(f"unvalidated prior {p.prior!r}")


def _from_optuna(p: ParamSpec, value: Any) -> Any:
    if p.prior == "complement-log-uniform":
        # 1 - (1 - high) can land a hair outside [low, high] in floating point.
        return min(max(1.0 - value, p.low), p.high)
    return _decode(p.name, value)


def suggest(trial: optuna.Trial, search: Iterable[ParamSpec]) -> dict[str, Any]:
    """Sample every parameter of ``search``; return the values in course notation."""
    values = {}
    for p in search:
        dist = distribution(p)
        name = optuna_name(p)
        if isinstance(dist, CategoricalDistribution):
            raw = trial.suggest_categorical(name, dist.choices)
        elif isinstance(dist, IntDistribution):
            raw = trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
        else:
            raw = trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
        values[p.name] = _from_optuna(p, raw)
        if p.prior == "complement-log-uniform":
            trial.set_user_attr(p.name, values[p.name])
    return values


def to_course(params: Mapping[str, Any], search: Iterable[ParamSpec] = ()) -> dict[str, Any]:
    """Optuna's parameters of a trial, back in course notation (``one_minus_beta`` -> beta).

    Works without the spec too (for studies read back from a storage): any
    ``one_minus_X`` becomes ``X``.
    """
    by_name = {optuna_name(p): p for p in search}
    out = {}
    for name, value in params.items():
        if name in by_name:
            out[by_name[name].name] = _from_optuna(by_name[name], value)
        elif name.startswith(COMPLEMENT_PREFIX):
            out[name[len(COMPLEMENT_PREFIX):]] = 1.0 - value
        else:
            out[name] = _decode(name, value)
    return out


def _grid_values(p: ParamSpec, points: int) -> list[Any]:
    """Values of ``p`` for a grid, in Optuna's space."""
    if p.grid is not None:
        course = p.grid
        if p.prior == "complement-log-uniform":
            return [1.0 - v for v in course]
        return list(course)
    if p.prior == "categorical":
        assert p.choices is not None
        return [_encode(c) for c in p.choices]
    dist = distribution(p)
    low, high = dist.low, dist.high
    if isinstance(dist, IntDistribution):
        if (high - low) // dist.step + 1 <= points:
            return list(range(low, high + 1, dist.step))
        raw = np.geomspace(low, high, points) if dist.log else np.linspace(low, high, points)
        return sorted({int(round(v)) for v in raw})
    if dist.step is not None:
        n = int(round((high - low) / dist.step)) + 1
        if n <= points:
            return [float(low + i * dist.step) for i in range(n)]
    raw = np.geomspace(low, high, points) if dist.log else np.linspace(low, high, points)
    return [float(v) for v in raw]


def grid_space(search: Iterable[ParamSpec], points: int = 3) -> dict[str, list[Any]]:
    """Optuna GridSampler search space: explicit `grid` values, categorical choices, or
    ``points`` values per parameter spread on the prior's own scale."""
    return {optuna_name(p): _grid_values(p, points) for p in search}


def make_sampler(spec: StudySpec, *, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The study's sampler, seeded with ``seed`` (default: the file's seed).

    Each worker passes its own seed: the same seed on every worker proposes duplicates.
    """
    s: SamplerSpec = spec.sampler
    seed = s.seed if seed is None else seed
    opts = dict(s.options)
    if s.name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, **opts)
    if s.name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if s.name == "grid":
        return optuna.samplers.GridSampler(grid_space(spec.search, opts.get("grid_points", 3)),
                                           seed=seed)
    if s.name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False, **opts)
    if s.name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, scramble=True, warn_independent_sampling=False,
                                          **opts)
    raise AssertionError(f"unvalidated sampler {s.name!r}")

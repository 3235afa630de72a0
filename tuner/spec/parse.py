"""Reading a study file: `load_spec` (TOML, with the standard library's tomllib) and
`parse_spec`, section by section, into the frozen objects of `tuner.spec.schema`."""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuner.data import DATASET_TASKS
from tuner.files import not_a_regular_file
from tuner.metrics import REGRESSION, TASKS, metric_problem
from tuner.spec.data_section import _parse_data
from tuner.spec.deploy_section import _parse_deploy
from tuner.spec.limits import (
    EPOCHS_MAX,
    N_TRIALS_MAX,
    UNITS_MAX,
    _check_memory,
    _check_name,
    _check_seed,
)
from tuner.spec.reader import NUMBER, Reader
from tuner.spec.retune_section import _parse_retune
from tuner.spec.schema import (
    CLASS_WEIGHTS,
    METRICS,
    PRIORS,
    PRUNER_OPTIONS,
    PRUNERS,
    SAMPLER_OPTIONS,
    SAMPLERS,
    DataSpec,
    ModelSpec,
    ParamSpec,
    PrunerSpec,
    SamplerSpec,
    SpecError,
    StudySpec,
)

_SECTIONS = ("study", "data", "model", "search", "sampler", "pruner", "deploy",
             "retune")
_STUDY_KEYS = ("name", "task", "direction", "metric", "n_trials", "timeout_s", "storage")
_MODEL_KEYS = tuple(ModelSpec.__dataclass_fields__)
# Searchable names: the model's keys except dtype/seed, plus `units` (width of every
# hidden layer, an int, since Optuna cannot sample a list).
SEARCHABLE = ("alpha", "beta", "units", "hidden", "epochs", "batch_size", "eps", "bn_decay",
              "use_batchnorm", "class_weight")
_INT_PARAMS = ("units", "epochs", "batch_size")
_PARAM_KEYS = ("prior", "low", "high", "step", "choices", "grid")


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate the study file at ``path``."""
    path = Path(path)
    # Before opening: reading a FIFO blocks until a writer comes, a device (a symlink to
    # /dev/zero) never ends. A missing file or a folder keeps its own message below.
    problem = not_a_regular_file(path)
    if problem not in (None, "no such file", "is a folder, not a file"):
        raise SpecError(f"{path}: {problem}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{path}: no such study file") from None
    except IsADirectoryError:
        raise SpecError(f"{path}: is a directory, not a study file") from None
    except UnicodeDecodeError as e:
        raise SpecError(f"{path}: not a UTF-8 text file ({e.reason})") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: malformed TOML: {e}") from None
    except RecursionError:
        # tomllib recurses once per level of nested arrays or inline tables.
        raise SpecError(f"{path}: malformed TOML: arrays or inline tables nested too deeply"
                        ) from None
    return parse_spec(raw, path)


def parse_spec(raw: Mapping[str, Any], path: Path) -> StudySpec:
    r = Reader(path)
    for section, table in raw.items():
        if section not in _SECTIONS:
            close = difflib.get_close_matches(section, _SECTIONS, n=1)
            hint = f" (did you mean [{close[0]}]?)" if close else \
                f"; valid: {', '.join('[' + s + ']' for s in _SECTIONS)}"
            raise r.fail(f"[{section}]", f"unknown section{hint}")
        if not isinstance(table, dict):
            raise r.fail(section, "must be a [table]")
    if "study" not in raw:
        raise r.fail("[study]", "missing required section")

    study = raw["study"]
    r.check_keys("study", study, _STUDY_KEYS)
    name = r.get("study", study, "name", str)
    if not name.strip() or "/v" in name:
        raise r.fail("[study] name", f"{name!r} must be non-empty and must not contain '/v' "
                     "(tuner names later versions NAME/v2, NAME/v3, ...)")
    _check_name(r, name)
    data = _parse_data(r, raw.get("data", {}))
    task, task_stated = _task(r, study, data)
    metric = r.get("study", study, "metric", str, _DEFAULT_METRIC[task])
    if (problem := metric_problem(metric, task)) is not None:
        if not task_stated and task == "classification" and metric in REGRESSION:
            problem += " (set task = \"regression\" in [study] for a regression study)"
        raise r.fail("[study] metric", problem)
    direction = r.get("study", study, "direction", str, METRICS[metric])
    if direction not in ("maximize", "minimize"):
        raise r.fail("[study] direction", f"{direction!r} must be 'maximize' or 'minimize'")
    if direction != METRICS[metric]:
        raise r.fail("[study] direction", f"{direction!r} contradicts metric {metric!r}, "
                     f"which must be {METRICS[metric]}d")
    n_trials = r.get("study", study, "n_trials", int)
    if n_trials <= 0:
        raise r.fail("[study] n_trials", f"must be a positive integer, got {n_trials}")
    if n_trials > N_TRIALS_MAX:
        raise r.fail("[study] n_trials", f"must be at most {N_TRIALS_MAX}, got {n_trials}")
    timeout_s = r.get("study", study, "timeout_s", NUMBER, None)
    if timeout_s is not None and timeout_s <= 0:
        raise r.fail("[study] timeout_s", f"must be positive, got {timeout_s}")
    storage = r.get("study", study, "storage", str, None)

    model = _parse_model(r, raw.get("model", {}))
    search = _parse_search(r, raw.get("search", {}), model)
    if task == "regression":
        for where, used in (("[model] class_weight", model.class_weight != "none"),
                            ("[search] class_weight", any(p.name == "class_weight"
                                                          for p in search))):
            if used:
                raise r.fail(where, "weighs classes in a classifier's loss; a regression "
                             "study has no classes: remove it")
    sampler = _parse_named(r, "sampler", raw.get("sampler", {}), SAMPLERS, SAMPLER_OPTIONS,
                           "tpe", with_seed=True)
    pruner = _parse_named(r, "pruner", raw.get("pruner", {}), PRUNERS, PRUNER_OPTIONS,
                          "median", with_seed=False)
    if not search:
        raise r.fail("[search]", "nothing to search: every trial would train the same model; "
                     "add a parameter, e.g. alpha = { prior = \"log-uniform\", low = 1e-2, "
                     "high = 10.0 }")
    deploy = _parse_deploy(r, raw.get("deploy", {}), data)
    retune = _parse_retune(r, raw.get("retune", {}), stated="retune" in raw)
    if data.dataset is not None:  # your own data's shape is known only once it is read
        _check_memory(r, data, model, search)
    return StudySpec(path=path, name=name, direction=direction, metric=metric,
                     n_trials=n_trials, timeout_s=float(timeout_s) if timeout_s else None,
                     storage=storage, data=data, model=model, search=search,
                     sampler=sampler, pruner=pruner, task=task, task_stated=task_stated,
                     deploy=deploy, retune=retune)


_DEFAULT_METRIC = {"classification": "val_accuracy", "regression": "val_rmse"}


def _task(r: Reader, study: Mapping[str, Any], data: DataSpec) -> tuple[str, bool]:
    """The study's task and whether the file states it: [study] task, else a built-in
    dataset's own, else classification (tuner/target.py checks a file's target then)."""
    own = DATASET_TASKS.get(data.dataset) if data.dataset is not None else None
    if "task" not in study:
        return own or "classification", False
    task = r.get("study", study, "task", str)
    if task not in TASKS:
        raise r.unknown("[study] task", task, TASKS)
    if own is not None and task != own:
        raise r.fail("[study] task", f"{task!r}, but dataset {data.dataset!r} is a {own} "
                     f"dataset: remove task, or choose a {task} dataset")
    return task, True


def _check_model_value(r: Reader, where: str, key: str, value: Any) -> Any:
    """Check one model value (fixed or a categorical choice); return it normalized."""
    if key == "hidden":
        if (not isinstance(value, list) or not value or
                not all(isinstance(h, int) and not isinstance(h, bool) and h > 0
                        for h in value)):
            raise r.fail(where, f"must be a non-empty list of positive integers, got {value!r}")
        if max(value) > UNITS_MAX:
            raise r.fail(where, f"must be at most {UNITS_MAX} units per layer, got {max(value)}")
        return tuple(value)
    if key in ("epochs", "batch_size", "units", "seed"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise r.fail(where, f"must be an integer, got {value!r}")
        if key == "seed":
            return _check_seed(r, where, value)
        if value <= 0:
            raise r.fail(where, f"must be positive, got {value}")
        if key == "epochs" and value > EPOCHS_MAX:
            raise r.fail(where, f"must be at most {EPOCHS_MAX}, got {value}")
        if key == "units" and value > UNITS_MAX:
            raise r.fail(where, f"must be at most {UNITS_MAX} units per layer, got {value}")
        return value
    if key == "dtype":
        if value not in ("float32", "float64"):
            raise r.fail(where, f"must be 'float32' or 'float64', got {value!r}")
        return value
    if key == "class_weight":
        if value not in CLASS_WEIGHTS:
            raise r.fail(where, f"must be one of {', '.join(repr(c) for c in CLASS_WEIGHTS)}, "
                         f"got {value!r}")
        return value
    if key == "use_batchnorm":
        if not isinstance(value, bool):
            raise r.fail(where, f"must be true or false, got {value!r}")
        return value
    if not isinstance(value, NUMBER) or isinstance(value, bool) or not math.isfinite(value):
        raise r.fail(where, f"must be a number, got {value!r}")
    value = float(value)
    if key in ("alpha", "eps") and value <= 0:
        raise r.fail(where, f"must be > 0, got {value}")
    if key in ("beta", "bn_decay") and not 0 <= value < 1:
        raise r.fail(where, f"must be in [0, 1), got {value}")
    return value


def _parse_model(r: Reader, table: Mapping[str, Any]) -> ModelSpec:
    r.check_keys("model", table, _MODEL_KEYS)
    values = {key: _check_model_value(r, f"[model] {key}", key, value)
              for key, value in table.items()}
    return ModelSpec(**values)


def _parse_search(r: Reader, table: Mapping[str, Any], model: ModelSpec
                  ) -> tuple[ParamSpec, ...]:
    params = []
    for name, entry in table.items():
        where = f"[search] {name}"
        if name not in SEARCHABLE:
            raise r.unknown("[search]", name, SEARCHABLE)
        if not isinstance(entry, dict):
            raise r.fail(where, "must be an inline table like "
                         "{ prior = \"log-uniform\", low = 1e-2, high = 10.0 }")
        for key in entry:
            if key not in _PARAM_KEYS:
                raise r.unknown(where, key, _PARAM_KEYS)
        prior = r.get("search", entry, "prior", str, label=f"{where}.prior")
        if prior not in PRIORS:
            raise r.unknown(f"{where}.prior", prior, PRIORS)
        params.append(_parse_param(r, where, name, prior, entry))
    return tuple(params)


def _parse_param(r: Reader, where: str, name: str, prior: str, entry: Mapping[str, Any]
                 ) -> ParamSpec:
    if prior == "categorical":
        for key in ("low", "high", "step", "grid"):
            if key in entry:
                raise r.fail(f"{where}.{key}", "does not apply to a categorical prior "
                             "(list the values in choices)")
        choices = entry.get("choices")
        if not isinstance(choices, list) or not choices:
            raise r.fail(f"{where}.choices", "a categorical prior needs a non-empty list "
                         "choices = [...]")
        checked = tuple(_check_model_value(r, f"{where}.choices", name, c) for c in choices)
        if len(set(checked)) != len(checked):
            raise r.fail(f"{where}.choices", f"has duplicates: {choices!r}")
        return ParamSpec(name=name, prior=prior, choices=checked)

    if "choices" in entry:
        raise r.fail(f"{where}.choices", f"only applies to prior 'categorical', not {prior!r}")
    if name in ("hidden", "use_batchnorm", "class_weight"):
        raise r.fail(f"{where}.prior", f"{name!r} can only be searched with prior "
                     "'categorical'" + (" (or search 'units')" if name == "hidden" else ""))
    integer = prior in ("int", "log-int")
    if name in _INT_PARAMS and not integer:
        raise r.fail(f"{where}.prior", f"{name!r} is an integer: use 'int' or 'log-int'")
    if name not in _INT_PARAMS and integer:
        raise r.fail(f"{where}.prior", f"{name!r} is a real number: use 'uniform', "
                     "'log-uniform' or 'complement-log-uniform'")
    kind = int if integer else NUMBER
    low = r.get("search", entry, "low", kind, label=f"{where}.low")
    high = r.get("search", entry, "high", kind, label=f"{where}.high")
    if low >= high:
        raise r.fail(where, f"low ({low}) must be less than high ({high})")
    if prior in ("log-uniform", "log-int") and low <= 0:
        raise r.fail(f"{where}.low", f"must be > 0 for a log prior, got {low}")
    if prior == "complement-log-uniform" and not (0 < low and high < 1):
        raise r.fail(where, f"complement-log-uniform needs 0 < low < high < 1 "
                     f"(1 - {name} is log-uniform), got [{low}, {high}]")
    for value in (low, high):
        _check_model_value(r, where, name, value)
    step = None
    if "step" in entry:
        if prior not in ("uniform", "int"):
            raise r.fail(f"{where}.step", f"only applies to 'uniform' and 'int', not {prior!r}")
        step = r.get("search", entry, "step", kind, label=f"{where}.step")
        if step <= 0:
            raise r.fail(f"{where}.step", f"must be positive, got {step}")
    grid = None
    if "grid" in entry:
        values = entry["grid"]
        if not isinstance(values, list) or not values:
            raise r.fail(f"{where}.grid", "must be a non-empty list of values")
        for v in values:
            if not isinstance(v, kind) or isinstance(v, bool) or not low <= v <= high:
                raise r.fail(f"{where}.grid", f"value {v!r} is not within [{low}, {high}]")
        grid = tuple(values)
    if integer:
        return ParamSpec(name=name, prior=prior, low=low, high=high, step=step, grid=grid)
    return ParamSpec(name=name, prior=prior, low=float(low), high=float(high),
                     step=None if step is None else float(step), grid=grid)


def _parse_named(r: Reader, section: str, table: Mapping[str, Any], names: tuple[str, ...],
                 options: Mapping[str, Mapping[str, type]], default: str, *, with_seed: bool
                 ) -> Any:
    name = r.get(section, table, "name", str, default)
    if name not in names:
        raise r.unknown(f"[{section}] name", name, names)
    allowed = ("name", *(("seed",) if with_seed else ()), *options[name])
    r.check_keys(section, table, allowed)
    opts = []
    for key, kind in options[name].items():
        if key in table:
            value = r.get(section, table, key, kind)
            if kind is int and value <= 0 and key != "n_warmup_steps":
                raise r.fail(f"[{section}] {key}", f"must be positive, got {value}")
            if kind is int and value < 0:
                raise r.fail(f"[{section}] {key}", f"must not be negative, got {value}")
            if kind is int and value > 2**31 - 1:
                raise r.fail(f"[{section}] {key}", f"must be at most {2**31 - 1}, got {value}")
            if key == "reduction_factor" and value < 2:
                raise r.fail(f"[{section}] {key}", f"must be at least 2, got {value}")
            if key == "qmc_type" and value not in ("sobol", "halton"):
                raise r.fail(f"[{section}] {key}", f"must be 'sobol' or 'halton', got {value!r}")
            opts.append((key, value))
    if with_seed:
        seed = _check_seed(r, f"[{section}] seed", r.get(section, table, "seed", int, 0))
        return SamplerSpec(name=name, seed=seed, options=tuple(opts))
    return PrunerSpec(name=name, options=tuple(opts))


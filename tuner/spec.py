"""A study file, read with tomllib and validated into frozen objects before any work starts.

Every error names the file, the section and the key, and says what would be valid, so a
user can fix a study file from the one line `tuner` prints.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from tuner.data import DATASETS, SYNTHETIC_DEFAULTS
from tuner.errors import TunerError
from tuner.sources import FILE_FORMATS, file_format

__all__ = [
    "METRICS", "PRIORS", "PRUNERS", "SAMPLERS", "DataSpec", "ModelSpec", "ParamSpec",
    "PrunerSpec", "SamplerSpec", "SpecError", "StudySpec", "load_spec",
]


class SpecError(TunerError, ValueError):
    """A study file that cannot be used as it is."""


# metric -> the only direction that makes sense for it
METRICS: dict[str, str] = {"val_accuracy": "maximize", "val_loss": "minimize"}
SAMPLERS = ("tpe", "random", "grid", "cmaes", "qmc")
PRUNERS = ("median", "hyperband", "successive-halving", "none")
PRIORS = ("uniform", "log-uniform", "complement-log-uniform", "int", "log-int", "categorical")

# Options each sampler / pruner accepts besides `name` (and `seed` for samplers), with type.
SAMPLER_OPTIONS: dict[str, dict[str, type]] = {
    "tpe": {"n_startup_trials": int},
    "random": {},
    "grid": {"grid_points": int},
    "cmaes": {"n_startup_trials": int},
    "qmc": {"qmc_type": str},
}
PRUNER_OPTIONS: dict[str, dict[str, type]] = {
    "median": {"n_startup_trials": int, "n_warmup_steps": int},
    "hyperband": {"min_resource": int, "reduction_factor": int},
    "successive-halving": {"min_resource": int, "reduction_factor": int},
    "none": {},
}


@dataclass(frozen=True)
class DataSpec:
    """Where a study's rows come from: exactly one of a built-in ``dataset``, a file
    ``path``, or a database ``table`` / ``query`` (read with the URL in ``url_env``)."""

    dataset: str | None = "digits"
    test_fraction: float = 0.2
    validation_fraction: float = 0.2
    seed: int = 0
    test_seed: int | None = None
    params: tuple[tuple[str, int], ...] = ()  # synthetic only: n_samples, n_features, ...
    # The user's own data (tuner/sources.py reads it, tuner/table.py types it):
    path: str | None = None  # as written; relative to the study file
    table: str | None = None
    query: str | None = None
    url_env: str | None = None  # the environment variable holding the database URL
    target: str | None = None
    features: tuple[str, ...] | None = None  # None: every column but target and drop
    drop: tuple[str, ...] = ()
    categorical: tuple[str, ...] | None = None  # None: text, boolean and category columns

    @property
    def source(self) -> str:
        """Which source key the study file used: dataset, path, table or query."""
        for key in ("path", "table", "query"):
            if getattr(self, key) is not None:
                return key
        return "dataset"

    @property
    def is_table(self) -> bool:
        """True for the user's own rows (file or database), False for a built-in dataset."""
        return self.source != "dataset"

    def hash_fields(self) -> dict[str, Any]:
        """The fields `StudySpec.spec_hash` covers.

        The table-source fields are left out while they are unset, so a study over a
        built-in dataset keeps the spec hash it had before they existed (otherwise every
        existing chain would re-tune for a "definition" change nobody made).
        """
        fields = asdict(self)
        for key in _TABLE_FIELDS:
            if fields[key] is None or fields[key] == ():
                del fields[key]
        return fields

    def loader_kwargs(self) -> dict[str, Any]:
        return {"test_fraction": self.test_fraction,
                "validation_fraction": self.validation_fraction,
                "seed": self.seed, "test_seed": self.test_seed, "params": dict(self.params)}


_TABLE_FIELDS = ("path", "table", "query", "url_env", "target", "features", "drop",
                 "categorical")


@dataclass(frozen=True)
class ModelSpec:
    """Fixed values of the model, in course notation (`alpha`, `beta`)."""

    hidden: tuple[int, ...] = (64, 64)
    epochs: int = 20
    batch_size: int = 64
    dtype: str = "float32"
    alpha: float = 0.05
    beta: float = 0.9
    eps: float = 1e-5
    bn_decay: float = 0.9
    use_batchnorm: bool = True
    seed: int = 0


@dataclass(frozen=True)
class ParamSpec:
    """One searched hyperparameter, named as in the study file."""

    name: str
    prior: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] | None = None
    grid: tuple[Any, ...] | None = None  # explicit values for the grid sampler


@dataclass(frozen=True)
class SamplerSpec:
    name: str = "tpe"
    seed: int = 0
    options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class PrunerSpec:
    name: str = "median"
    options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class StudySpec:
    path: Path
    name: str
    direction: str
    metric: str
    n_trials: int
    timeout_s: float | None
    storage: str | None
    data: DataSpec
    model: ModelSpec
    search: tuple[ParamSpec, ...]
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    pruner: PrunerSpec = field(default_factory=PrunerSpec)

    @property
    def spec_hash(self) -> str:
        """Hash of what defines the search: data, model, search space, metric.

        Computed from the parsed values, so key order, comments and spelling (1e-4 vs
        0.0001) do not change it; sampler, pruner and budget do not either.
        """
        defining = {
            "data": self.data.hash_fields(), "model": asdict(self.model),
            "search": [asdict(p) for p in sorted(self.search, key=lambda p: p.name)],
            "metric": self.metric, "direction": self.direction,
        }
        blob = json.dumps(defining, sort_keys=True, separators=(",", ":"), default=list)
        return hashlib.sha256(blob.encode()).hexdigest()

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.search if p.name == name), None)


# --- limits checked before anything is written ------------------------------------------

# numpy's legacy seeding (and so scikit-learn's random_state and Optuna's samplers) takes
# 0 .. 2**32 - 1; anything else crashes after the study exists.
SEED_MAX = 2**32 - 1
# Optuna stores a study name in a VARCHAR(512) on PostgreSQL and MySQL; tuner appends
# "/vN" for later versions, so room is kept for "/v999999".
NAME_MAX = 512 - len("/v999999")
# Runs that are certainly a typo rather than a plan: a billion-epoch trial never ends.
EPOCHS_MAX = 100_000
# Code points a name must not hold: control characters (NUL included: PostgreSQL refuses
# it) and the bidirectional overrides and isolates that make a name print as another.
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F,
                          0x061C)}
# (samples, features, classes, smallest class) of the bundled datasets, so splits and
# memory are checked without loading scikit-learn.
DATASET_SHAPES: dict[str, tuple[int, int, int, int]] = {
    "digits": (1797, 64, 10, 174), "breast_cancer": (569, 30, 2, 212),
    "wine": (178, 13, 3, 48), "iris": (150, 4, 3, 50),
}


def _machine_memory() -> int:
    """Physical memory in bytes (the limit a single trial can never exceed)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**28 else f"{n / 2**20:.0f} MiB"


# --- parsing --------------------------------------------------------------------------

_SECTIONS = ("study", "data", "model", "search", "sampler", "pruner")
_STUDY_KEYS = ("name", "direction", "metric", "n_trials", "timeout_s", "storage")
_DATA_KEYS = ("dataset", "path", "table", "query", "url_env", "target", "features", "drop",
              "categorical", "test_fraction", "validation_fraction", "seed", "test_seed",
              *SYNTHETIC_DEFAULTS)
_MODEL_KEYS = tuple(ModelSpec.__dataclass_fields__)
# Searchable names: the model's keys except dtype/seed, plus `units` (width of every
# hidden layer, an int, since Optuna cannot sample a list).
SEARCHABLE = ("alpha", "beta", "units", "hidden", "epochs", "batch_size", "eps", "bn_decay",
              "use_batchnorm")
_INT_PARAMS = ("units", "epochs", "batch_size")
_PARAM_KEYS = ("prior", "low", "high", "step", "choices", "grid")


class _Reader:
    """Validation helpers that know which file and section they are reading."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, message: str) -> SpecError:
        return SpecError(f"{self.path}: {where}: {message}")

    def unknown(self, where: str, key: str, valid: tuple[str, ...] | list[str]) -> SpecError:
        close = difflib.get_close_matches(key, valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; valid: {', '.join(valid)}"
        return self.fail(where, f"unknown key {key!r}{hint}")

    def check_keys(self, section: str, table: Mapping[str, Any], valid: tuple[str, ...]) -> None:
        for key in table:
            if key not in valid:
                raise self.unknown(f"[{section}]", key, valid)

    def get(self, section: str, table: Mapping[str, Any], key: str, kind: type | tuple,
            default: Any = ..., *, label: str | None = None) -> Any:
        label = label or f"[{section}] {key}"
        if key not in table:
            if default is ...:
                raise self.fail(label, "missing required key")
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # TOML booleans are Python ints: only accept one where a boolean is asked for.
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise self.fail(label, f"must be {_type_name(kinds)}, "
                            f"got {type(value).__name__} {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(label, f"must be finite, got {value!r}")
        return value


def _type_name(kinds: tuple[type, ...]) -> str:
    if set(kinds) == {int, float}:
        return "a number"
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


_NUMBER = (int, float)


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate the study file at ``path``."""
    path = Path(path)
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
    return parse_spec(raw, path)


def parse_spec(raw: Mapping[str, Any], path: Path) -> StudySpec:
    r = _Reader(path)
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
    if len(name) > NAME_MAX:
        raise r.fail("[study] name", f"is {len(name)} characters; at most {NAME_MAX} (the "
                     "databases store 512, and later versions add '/vN')")
    bad = next((c for c in name if unicodedata.category(c) == "Cc" or c in _BIDI), None)
    if bad is not None:
        raise r.fail("[study] name", f"must not contain control or bidirectional-override "
                     f"characters (found U+{ord(bad):04X})")
    metric = r.get("study", study, "metric", str, "val_accuracy")
    if metric not in METRICS:
        raise r.unknown("[study] metric", metric, list(METRICS))
    direction = r.get("study", study, "direction", str, METRICS[metric])
    if direction not in ("maximize", "minimize"):
        raise r.fail("[study] direction", f"{direction!r} must be 'maximize' or 'minimize'")
    if direction != METRICS[metric]:
        raise r.fail("[study] direction", f"{direction!r} contradicts metric {metric!r}, "
                     f"which must be {METRICS[metric]}d")
    n_trials = r.get("study", study, "n_trials", int)
    if n_trials <= 0:
        raise r.fail("[study] n_trials", f"must be a positive integer, got {n_trials}")
    timeout_s = r.get("study", study, "timeout_s", _NUMBER, None)
    if timeout_s is not None and timeout_s <= 0:
        raise r.fail("[study] timeout_s", f"must be positive, got {timeout_s}")
    storage = r.get("study", study, "storage", str, None)

    data = _parse_data(r, raw.get("data", {}))
    model = _parse_model(r, raw.get("model", {}))
    search = _parse_search(r, raw.get("search", {}), model)
    sampler = _parse_named(r, "sampler", raw.get("sampler", {}), SAMPLERS, SAMPLER_OPTIONS,
                           "tpe", with_seed=True)
    pruner = _parse_named(r, "pruner", raw.get("pruner", {}), PRUNERS, PRUNER_OPTIONS,
                          "median", with_seed=False)
    if not search:
        raise r.fail("[search]", "nothing to search: every trial would train the same model; "
                     "add a parameter, e.g. alpha = { prior = \"log-uniform\", low = 1e-4, "
                     "high = 1.0 }")
    if data.dataset is not None:  # your own data's shape is known only once it is read
        _check_memory(r, data, model, search)
    return StudySpec(path=path, name=name, direction=direction, metric=metric,
                     n_trials=n_trials, timeout_s=float(timeout_s) if timeout_s else None,
                     storage=storage, data=data, model=model, search=search,
                     sampler=sampler, pruner=pruner)


def _check_seed(r: _Reader, where: str, value: int) -> int:
    if not 0 <= value <= SEED_MAX:
        raise r.fail(where, f"must be between 0 and {SEED_MAX} (2**32 - 1), got {value}")
    return value


def _dataset_shape(data: DataSpec) -> tuple[int, int, int, int]:
    if data.dataset in DATASET_SHAPES:
        return DATASET_SHAPES[data.dataset]
    p = {**SYNTHETIC_DEFAULTS, **dict(data.params)}
    # make_classification balances the classes, then flips 1% of the labels at random.
    smallest = int(0.9 * p["n_samples"] // p["n_classes"])
    return p["n_samples"], p["n_features"], p["n_classes"], smallest


def _check_splits(r: _Reader, data: DataSpec) -> None:
    """What scikit-learn's stratified splits need, checked here so the error names the
    key: every split holds at least one sample per class, and every class keeps two
    samples in what is split again."""
    n, _, classes, smallest = _dataset_shape(data)
    n_test = math.ceil(data.test_fraction * n)
    rest = n - n_test
    n_val = math.ceil(data.validation_fraction * rest)
    train = rest - n_val
    for key, count in (("test_fraction", n_test), ("test_fraction", rest),
                       ("validation_fraction", n_val), ("validation_fraction", train)):
        if count < classes:
            raise r.fail(f"[data] {key}", f"test_fraction={data.test_fraction} and "
                         f"validation_fraction={data.validation_fraction} split {data.dataset}'s "
                         f"{n} samples into {train} train, {n_val} validation and {n_test} "
                         f"test: each needs at least {classes} (one per class)")
    if math.floor(smallest * (1 - data.test_fraction)) < 2:
        raise r.fail("[data] test_fraction", f"{data.test_fraction} leaves fewer than 2 "
                     f"samples of {data.dataset}'s smallest class ({smallest}) to split "
                     "into train and validation")


def _check_memory(r: _Reader, data: DataSpec, model: ModelSpec,
                  search: tuple[ParamSpec, ...]) -> None:
    """Refuse a dataset or model that cannot fit in this machine's memory, with the
    estimate: the largest the search can ask for, not the typical case."""
    n, features, classes, _ = _dataset_shape(data)
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
    layers = [features, *widths, classes]
    weights = sum(a * b + 2 * b for a, b in pairwise(layers))
    # raw float64 data + scaled copies of every split; weights, gradient, momentum and a
    # saved copy; forward and backward activations of one batch with batch-norm caches.
    data_bytes = n * features * (8 * 2 + itemsize)
    model_bytes = 4 * weights * itemsize + 6 * min(batch, n) * sum(layers) * itemsize
    # A validation pass runs the whole validation split through the network at once.
    model_bytes += 2 * n * sum(layers) * itemsize
    total, memory = data_bytes + model_bytes, _machine_memory()
    if total > memory:
        key = "[data] n_samples" if data_bytes > model_bytes and data.dataset == "synthetic" \
            else where
        raise r.fail(key, f"needs about {_gib(total)} of memory (data {_gib(data_bytes)}, "
                     f"model {_gib(model_bytes)}); this machine has {_gib(memory)}")


def _parse_data(r: _Reader, table: Mapping[str, Any]) -> DataSpec:
    if "url" in table:
        raise r.fail("[data] url", _URL_IN_FILE.format(
            what="a database URL" + (" with a password" if _has_password(table["url"])
                                     else "")))
    r.check_keys("data", table, _DATA_KEYS)
    sources = [key for key in _SOURCE_KEYS if key in table]
    if len(sources) > 1:
        raise r.fail("[data]", f"give exactly one source of {', '.join(_SOURCE_KEYS)}; "
                     f"this file gives {' and '.join(sources)}")
    if not sources and any(key in table for key in _TABLE_KEYS):
        raise r.fail("[data]", "no source: give one of path = \"data.csv\", table = \"...\" "
                     "or query = \"SELECT ...\" (with url_env), or dataset = \"...\"")
    source = sources[0] if sources else "dataset"
    fractions = {}
    for key in ("test_fraction", "validation_fraction"):
        value = r.get("data", table, key, _NUMBER, 0.2)
        if not 0 < value < 1:
            raise r.fail(f"[data] {key}", f"must be strictly between 0 and 1, got {value}")
        fractions[key] = float(value)
    seed = _check_seed(r, "[data] seed", r.get("data", table, "seed", int, 0))
    test_seed = r.get("data", table, "test_seed", int, None)
    if test_seed is not None:
        _check_seed(r, "[data] test_seed", test_seed)
    common = {"seed": seed, "test_seed": test_seed, **fractions}
    if source != "dataset":
        for key in SYNTHETIC_DEFAULTS:
            if key in table:
                raise r.fail(f"[data] {key}", "only applies to dataset 'synthetic'")
        return DataSpec(dataset=None, **_parse_table_source(r, table, source), **common)
    for key in _TABLE_KEYS:
        if key in table:
            raise r.fail(f"[data] {key}", "only applies to your own data (path, table or "
                         "query), not to a built-in dataset")
    dataset = r.get("data", table, "dataset", str, "digits")
    if dataset not in DATASETS:
        raise r.unknown("[data] dataset", dataset, list(DATASETS))
    params = {}
    for key in SYNTHETIC_DEFAULTS:
        if key in table:
            if dataset != "synthetic":
                raise r.fail(f"[data] {key}", f"only applies to dataset 'synthetic', "
                             f"not {dataset!r}")
            value = r.get("data", table, key, int)
            if value <= 0:
                raise r.fail(f"[data] {key}", f"must be a positive integer, got {value}")
            params[key] = value
    if dataset == "synthetic":
        merged = {**SYNTHETIC_DEFAULTS, **params}
        if merged["n_informative"] > merged["n_features"]:
            raise r.fail("[data] n_informative", f"{merged['n_informative']} must not exceed "
                         f"n_features={merged['n_features']}")
        if merged["n_classes"] < 2:
            raise r.fail("[data] n_classes", "must be at least 2")
        if merged["n_classes"] * 2 > 2 ** merged["n_informative"]:
            raise r.fail("[data] n_classes", f"{merged['n_classes']} classes need "
                         f"n_informative >= {math.ceil(math.log2(merged['n_classes'] * 2))}")
        if merged["n_samples"] < 10 * merged["n_classes"]:
            raise r.fail("[data] n_samples", f"{merged['n_samples']} is too small for "
                         f"{merged['n_classes']} classes")
    spec = DataSpec(dataset=dataset, params=tuple(sorted(params.items())), **common)
    _check_splits(r, spec)
    return spec


_SOURCE_KEYS = ("dataset", "path", "table", "query")
_TABLE_KEYS = ("url_env", "target", "features", "drop", "categorical")
_URL_IN_FILE = ("{what} does not belong in a study file, which goes into git: put the URL "
                "in an environment variable and name it here, e.g. "
                "url_env = \"CHURN_DATABASE_URL\"")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# scheme://user:password@host...  (userinfo with a colon before the @)
_PASSWORD_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/@]*:[^/@]*@")


def _has_password(value: Any) -> bool:
    return isinstance(value, str) and _PASSWORD_URL.match(value.strip()) is not None


def _names(r: _Reader, table: Mapping[str, Any], key: str, *, empty_ok: bool
           ) -> tuple[str, ...] | None:
    """A list of column names, or None if ``key`` is absent."""
    if key not in table:
        return None
    value = table[key]
    where = f"[data] {key}"
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise r.fail(where, f"must be a list of column names, got {value!r}")
    if not value and not empty_ok:
        raise r.fail(where, "must name at least one column")
    seen = set()
    for name in value:
        if name in seen:
            raise r.fail(where, f"names column {name!r} twice")
        seen.add(name)
    return tuple(value)


def _parse_table_source(r: _Reader, table: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The keys of a path / table / query source, checked against each other."""
    value = r.get("data", table, source, str)
    if not value.strip():
        raise r.fail(f"[data] {source}", "must not be empty")
    if source == "path":
        if "://" in value:
            raise r.fail("[data] path", "is a file path; for a database use table = "
                         "\"...\" or query = \"...\" with url_env")
        if file_format(Path(value)) is None:
            raise r.fail("[data] path", f"{value!r}: unknown file type; use one of "
                         f"{', '.join(FILE_FORMATS)}")
        if "url_env" in table:
            raise r.fail("[data] url_env", "only applies to table and query, not to path")
        url_env = None
    else:
        if "url_env" not in table:
            raise r.fail("[data] url_env", f"required with {source}: the name of the "
                         "environment variable that holds the database URL, e.g. "
                         "url_env = \"CHURN_DATABASE_URL\"")
        url_env = table["url_env"]
        if _has_password(url_env):
            raise r.fail("[data] url_env", _URL_IN_FILE.format(
                what="a database URL with a password"))
        if not isinstance(url_env, str) or not _ENV_NAME.fullmatch(url_env):
            shown = "a URL" if isinstance(url_env, str) and "://" in url_env else repr(url_env)
            raise r.fail("[data] url_env", f"must be the name of an environment variable "
                         f"(letters, digits, _), got {shown}")
    target = r.get("data", table, "target", str)
    if not target:
        raise r.fail("[data] target", "must name a column")
    features = _names(r, table, "features", empty_ok=False)
    drop = _names(r, table, "drop", empty_ok=True) or ()
    categorical = _names(r, table, "categorical", empty_ok=True)
    for key, names in (("features", features), ("drop", drop), ("categorical", categorical)):
        if names and target in names:
            raise r.fail(f"[data] {key}", f"names the target column {target!r}")
    both = sorted(set(features or ()) & set(drop))
    if both:
        raise r.fail("[data] drop", f"column {both[0]!r} is also in features")
    for name in categorical or ():
        if name in drop:
            raise r.fail("[data] categorical", f"column {name!r} is also in drop")
        if features is not None and name not in features:
            raise r.fail("[data] categorical", f"column {name!r} is not in features")
    return {source: value, "url_env": url_env, "target": target, "features": features,
            "drop": drop, "categorical": categorical}


def _check_model_value(r: _Reader, where: str, key: str, value: Any) -> Any:
    """Check one model value (fixed or a categorical choice); return it normalized."""
    if key == "hidden":
        if (not isinstance(value, list) or not value or
                not all(isinstance(h, int) and not isinstance(h, bool) and h > 0
                        for h in value)):
            raise r.fail(where, f"must be a non-empty list of positive integers, got {value!r}")
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
        return value
    if key == "dtype":
        if value not in ("float32", "float64"):
            raise r.fail(where, f"must be 'float32' or 'float64', got {value!r}")
        return value
    if key == "use_batchnorm":
        if not isinstance(value, bool):
            raise r.fail(where, f"must be true or false, got {value!r}")
        return value
    if not isinstance(value, _NUMBER) or isinstance(value, bool) or not math.isfinite(value):
        raise r.fail(where, f"must be a number, got {value!r}")
    value = float(value)
    if key in ("alpha", "eps") and value <= 0:
        raise r.fail(where, f"must be > 0, got {value}")
    if key in ("beta", "bn_decay") and not 0 <= value < 1:
        raise r.fail(where, f"must be in [0, 1), got {value}")
    return value


def _parse_model(r: _Reader, table: Mapping[str, Any]) -> ModelSpec:
    r.check_keys("model", table, _MODEL_KEYS)
    values = {key: _check_model_value(r, f"[model] {key}", key, value)
              for key, value in table.items()}
    return ModelSpec(**values)


def _parse_search(r: _Reader, table: Mapping[str, Any], model: ModelSpec
                  ) -> tuple[ParamSpec, ...]:
    params = []
    for name, entry in table.items():
        where = f"[search] {name}"
        if name not in SEARCHABLE:
            raise r.unknown("[search]", name, SEARCHABLE)
        if not isinstance(entry, dict):
            raise r.fail(where, "must be an inline table like "
                         "{ prior = \"log-uniform\", low = 1e-4, high = 1.0 }")
        for key in entry:
            if key not in _PARAM_KEYS:
                raise r.unknown(where, key, _PARAM_KEYS)
        prior = r.get("search", entry, "prior", str, label=f"{where}.prior")
        if prior not in PRIORS:
            raise r.unknown(f"{where}.prior", prior, PRIORS)
        params.append(_parse_param(r, where, name, prior, entry))
    return tuple(params)


def _parse_param(r: _Reader, where: str, name: str, prior: str, entry: Mapping[str, Any]
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
    if name in ("hidden", "use_batchnorm"):
        raise r.fail(f"{where}.prior", f"{name!r} can only be searched with prior "
                     "'categorical'" + (" (or search 'units')" if name == "hidden" else ""))
    integer = prior in ("int", "log-int")
    if name in _INT_PARAMS and not integer:
        raise r.fail(f"{where}.prior", f"{name!r} is an integer: use 'int' or 'log-int'")
    if name not in _INT_PARAMS and integer:
        raise r.fail(f"{where}.prior", f"{name!r} is a real number: use 'uniform', "
                     "'log-uniform' or 'complement-log-uniform'")
    kind = int if integer else _NUMBER
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


def _parse_named(r: _Reader, section: str, table: Mapping[str, Any], names: tuple[str, ...],
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

"""The [data] section: a built-in dataset, or exactly one of a file ``path``, a database
``table`` or ``query`` (with ``url_env``), with the target and the columns to use."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuner.data import DATASETS, SYNTHETIC_DEFAULTS, fraction_problem, synthetic_problem
from tuner.sources import FILE_FORMATS, file_format
from tuner.spec.limits import _check_seed, _check_splits
from tuner.spec.reader import NUMBER, Reader
from tuner.spec.schema import DataSpec

_DATA_KEYS = ("dataset", "path", "table", "query", "url_env", "target", "features", "drop",
              "categorical", "key", "test_fraction", "validation_fraction", "seed", "test_seed",
              "folds", *SYNTHETIC_DEFAULTS)


def _parse_data(r: Reader, table: Mapping[str, Any]) -> DataSpec:
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
        value = r.get("data", table, key, NUMBER, 0.2)
        if (problem := fraction_problem(value)) is not None:
            raise r.fail(f"[data] {key}", problem)
        fractions[key] = float(value)
    seed = _check_seed(r, "[data] seed", r.get("data", table, "seed", int, 0))
    test_seed = r.get("data", table, "test_seed", int, None)
    if test_seed is not None:
        _check_seed(r, "[data] test_seed", test_seed)
    common = {"seed": seed, "test_seed": test_seed, "folds": _folds(r, table), **fractions}
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
            params[key] = r.get("data", table, key, int)
    if dataset == "synthetic" and (problem := synthetic_problem(params)) is not None:
        raise r.fail(f"[data] {problem[0]}", problem[1])
    spec = DataSpec(dataset=dataset, params=tuple(sorted(params.items())), **common)
    _check_splits(r, spec)
    return spec


def _folds(r: Reader, table: Mapping[str, Any]) -> int | None:
    """``folds = K``: an integer of at least 2, or None. That every class has K rows in
    train + validation is checked when the rows are loaded (tuner/folds.py)."""
    folds = r.get("data", table, "folds", int, None)
    if folds is None:
        return None
    if folds < 2:
        raise r.fail("[data] folds", f"must be an integer of at least 2 (the number of "
                     f"cross-validation folds), got {folds}; leave it out for one "
                     "validation split")
    if "validation_fraction" in table:
        raise r.fail("[data] validation_fraction", f"has no use with folds = {folds}: "
                     "each fold is the validation split in turn; remove one of the two")
    return folds


_SOURCE_KEYS = ("dataset", "path", "table", "query")
_TABLE_KEYS = ("url_env", "target", "features", "drop", "categorical", "key")
_URL_IN_FILE = ("{what} does not belong in a study file, which goes into git: put the URL "
                "in an environment variable and name it here, e.g. "
                "url_env = \"CHURN_DATABASE_URL\"")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# scheme://user:password@host...  (userinfo with a colon before the @)
_PASSWORD_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/@]*:[^/@]*@")


def _has_password(value: Any) -> bool:
    return isinstance(value, str) and _PASSWORD_URL.match(value.strip()) is not None


def _names(r: Reader, table: Mapping[str, Any], key: str, *, empty_ok: bool
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


def _parse_table_source(r: Reader, table: Mapping[str, Any], source: str) -> dict[str, Any]:
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
    key = _names(r, {"key": [table["key"]]} if isinstance(table.get("key"), str) else table,
                 "key", empty_ok=False) or ()
    if target in key:
        raise r.fail("[data] key", f"names the target column {target!r}")
    both = sorted(set(features or ()) & set(drop))
    if both:
        raise r.fail("[data] drop", f"column {both[0]!r} is also in features")
    for name in categorical or ():
        if name in drop:
            raise r.fail("[data] categorical", f"column {name!r} is also in drop")
        if features is not None and name not in features:
            raise r.fail("[data] categorical", f"column {name!r} is not in features")
    return {source: value, "url_env": url_env, "target": target, "features": features,
            "drop": drop, "categorical": categorical, "key": key}


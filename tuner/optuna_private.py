"""The few pieces of Optuna's private API that `tuner` relies on, behind one door.

Optuna may move or rename any of these in a minor release. Everything `tuner` needs from
``optuna.storages._rdb`` and from distributions' private methods is reached through this
module, and ``tests/test_optuna_private.py`` fails with a message naming what is missing
when the installed Optuna no longer has it.

- The RDB tables (``optuna.storages._rdb.models``): the budget check counts trials and
  reads a study attribute in one SQL query under a lock, and finds RUNNING trials that
  never wrote a heartbeat by their start time (`tuner.storage`); `tuner train`
  writes an artifact's metadata on a finished trial (`tuner.train`).
- ``BaseDistribution._contains``: Optuna's own check that a value fits a distribution,
  used to keep warm-start values that the new search space can take (`tuner.versions`).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from optuna.distributions import BaseDistribution

__all__ = ["REQUIRED", "distribution_contains", "missing", "rdb_models"]

# (module, attribute) pairs this module reaches into; checked by `missing`.
REQUIRED = (
    ("optuna.storages._rdb.models", "StudyUserAttributeModel"),
    ("optuna.storages._rdb.models", "TrialModel"),
    ("optuna.storages._rdb.models", "TrialSystemAttributeModel"),
    ("optuna.storages._rdb.models", "StudyModel"),
    ("optuna.storages._rdb.models", "TrialHeartbeatModel"),
    ("optuna.storages._rdb.models", "TrialModel._datetime_start_utc"),
    ("optuna.distributions", "BaseDistribution._contains"),
    # Hooks `tuner.storage.TunerStorage` overrides (the budget check runs inside
    # `_get_prepared_new_trial`, on the transaction that has locked the study's row).
    ("optuna.storages._rdb.storage", "RDBStorage._create_new_trial"),
    ("optuna.storages._rdb.storage", "RDBStorage._get_prepared_new_trial"),
    ("optuna.storages._rdb.storage", "RDBStorage._get_stale_trial_ids"),
    # ... and retries through an outage, as Optuna's _CachedStorage calls them directly.
    ("optuna.storages._rdb.storage", "RDBStorage._set_trial_param"),
    ("optuna.storages._rdb.storage", "RDBStorage._get_best_trial_id"),
    ("optuna.storages._rdb.storage", "RDBStorage._get_trials"),
)


def rdb_models() -> ModuleType:
    """``optuna.storages._rdb.models``: the SQLAlchemy models of Optuna's tables."""
    from optuna.storages._rdb import models

    return models


def distribution_contains(dist: BaseDistribution, value: Any) -> bool:
    """Whether ``value`` (external representation) is one ``dist`` can take, as Optuna
    checks an enqueued value (``Trial._is_fixed_param``)."""
    try:
        return bool(dist._contains(dist.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False


def missing() -> list[str]:
    """The names in `REQUIRED` that the installed Optuna does not have (empty: all there)."""
    import importlib

    gone = []
    for module_name, path in REQUIRED:
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError:
            gone.append(f"{module_name}.{path}")
            continue
        for part in path.split("."):
            if not hasattr(obj, part):
                gone.append(f"{module_name}.{path}")
                break
            obj = getattr(obj, part)
    return gone

"""What tuner takes from Optuna's private API is still there (tuner/storage/_optuna_private.py).

If this fails after an Optuna upgrade, the message names what is gone: adapt
tuner/storage/_optuna_private.py (and only it) to the new Optuna.
"""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

from tuner.storage._optuna_private import REQUIRED, distribution_contains, missing, rdb_models

pytestmark = pytest.mark.unit


def test_installed_optuna_has_every_private_name_tuner_uses() -> None:
    gone = missing()
    assert not gone, (f"Optuna {optuna.__version__} no longer has {', '.join(gone)}, which "
                      "tuner uses through tuner/storage/_optuna_private.py: adapt that module")


def test_missing_names_what_is_gone(monkeypatch) -> None:
    import tuner.storage._optuna_private as private

    monkeypatch.setattr(private, "REQUIRED", (*REQUIRED, ("optuna.storages._rdb.models",
                                                          "NoSuchModel")))
    assert private.missing() == ["optuna.storages._rdb.models.NoSuchModel"]


def test_the_tables_tuner_queries_have_the_columns_it_reads() -> None:
    models = rdb_models()
    columns = {name: set(getattr(models, name).__table__.columns.keys())
               for name in ("StudyUserAttributeModel", "TrialModel",
                            "TrialSystemAttributeModel", "StudyModel", "TrialHeartbeatModel")}
    assert {"study_id", "key", "value_json"} <= columns["StudyUserAttributeModel"]
    assert {"trial_id", "study_id", "state"} <= columns["TrialModel"]
    assert {"trial_id", "key", "value_json"} <= columns["TrialSystemAttributeModel"]
    assert {"study_id"} <= columns["StudyModel"]
    assert {"trial_id", "heartbeat"} <= columns["TrialHeartbeatModel"]


def test_distribution_contains_as_optuna_checks_an_enqueued_value() -> None:
    alpha = FloatDistribution(1e-3, 1.0, log=True)
    assert distribution_contains(alpha, 0.1)
    assert not distribution_contains(alpha, 2.0)
    assert not distribution_contains(alpha, "a string")
    hidden = CategoricalDistribution(["16", "32x32"])
    assert distribution_contains(hidden, "32x32") and not distribution_contains(hidden, "8")

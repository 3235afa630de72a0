"""`tuner.versions`: a version appears whole, so a study tuner did not create is refused at
once rather than after waiting to see whether it becomes one."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from sqlalchemy import event

from helpers import write_study
from tuner import keys
from tuner.data import spec_splits
from tuner.fingerprint import study_fingerprints
from tuner.spec import load_spec
from tuner.storage import open_storage
from tuner.versions import ChainError, chain, create_version, decide


@pytest.mark.unit
def test_a_version_is_created_in_one_transaction(tmp_path: Path, sqlite_url: str) -> None:
    spec = load_spec(write_study(tmp_path, n_trials=2))
    fps = study_fingerprints(spec, spec_splits(spec))
    storage = open_storage(sqlite_url)
    decision = decide(storage, spec.name, fps)
    log: list[str] = []
    event.listen(storage.engine, "before_cursor_execute",
                 lambda _c, _cur, sql, *_a: log.append(sql.split("(")[0].strip()))
    event.listen(storage.engine, "commit", lambda _conn: log.append("COMMIT"))
    study, created = create_version(storage, spec, fps, decision, n_trials=2)
    assert created
    start = log.index("INSERT INTO studies")
    first = log[start:log.index("COMMIT", start)]
    assert {sql for sql in first if sql.startswith("INSERT")} == {
        "INSERT INTO studies", "INSERT INTO study_directions",
        "INSERT INTO study_system_attributes", "INSERT INTO study_user_attributes"}
    # Everything but the budget (tuner:n_trials, written after, as before) in that one
    # transaction: the study is never seen without its metric name and tuner's attributes.
    study = optuna.load_study(storage=sqlite_url, study_name="tiny")
    assert study.metric_names == [spec.metric]
    assert study.direction.name.lower() == spec.direction
    assert study.user_attrs[keys.VERSION] == 1 and study.user_attrs[keys.N_TRIALS] == 2
    assert set(study.user_attrs) == {keys.VERSION, keys.N_TRIALS, keys.PARENT, keys.REASON,
                                     keys.FINGERPRINTS, keys.STUDY_FILE,
                                     *(keys.HASHES[p] for p in ("data", "hardware",
                                                                "definition"))}
    assert [v.name for v in chain(storage, "tiny")] == ["tiny"]


@pytest.mark.unit
def test_a_second_creation_of_the_same_version_loads_it(tmp_path: Path,
                                                         sqlite_url: str) -> None:
    spec = load_spec(write_study(tmp_path, n_trials=2))
    fps = study_fingerprints(spec, spec_splits(spec))
    storage = open_storage(sqlite_url)
    decision = decide(storage, spec.name, fps)
    assert create_version(storage, spec, fps, decision, n_trials=2)[1] is True
    study, created = create_version(storage, spec, fps, decision, n_trials=2)
    assert created is False and study.user_attrs[keys.N_TRIALS] == 2


@pytest.mark.unit
def test_an_empty_study_tuner_did_not_create_is_refused_at_once(sqlite_url: str) -> None:
    # Not after a wait: a version on an RDB storage never exists without tuner:version,
    # so an empty study without it is not one being created.
    optuna.create_study(study_name="tiny", storage=sqlite_url)
    storage = open_storage(sqlite_url)
    looks: list[int] = []
    read = storage.get_all_studies

    def counted():
        looks.append(1)
        return read()

    storage.get_all_studies = counted
    with pytest.raises(ChainError, match="not created by tuner"):
        chain(storage, "tiny")
    assert len(looks) == 1, "one look, not a poll"

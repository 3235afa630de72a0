"""`tuner.study_file.open_study_file`: the one door from a study file to its storage, data,
fingerprints, sampler and pruner, each made once and only when asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import write_study
from tuner.errors import TunerError
from tuner.study_file import open_study_file


@pytest.mark.unit
def test_a_read_only_look_opens_no_storage_and_loads_no_data(tmp_path: Path) -> None:
    door = open_study_file(write_study(tmp_path), tmp_path / "none.db", read_only=True)
    assert door.spec.name == "tiny"
    assert not {"url", "storage", "splits", "fingerprints", "pruner"} & set(vars(door))
    assert not (tmp_path / "none.db").exists()


@pytest.mark.unit
def test_a_run_resolves_the_url_and_checks_the_search_first(tmp_path: Path) -> None:
    seen: list[str] = []
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    door = open_study_file(write_study(tmp_path), url, seed=7, n_trials=2, on_url=seen.append)
    assert seen == [url] and door.url == url
    assert (door.spec.sampler.seed, door.spec.n_trials) == (7, 2)
    assert "storage" not in vars(door) and "splits" not in vars(door), "opened when used"
    # The sampler checked at the door is the one handed out for the file's seed; the
    # pruner is one for the whole run.
    first = door.sampler(7)
    assert first is not door.sampler(7) and door.pruner is door.pruner
    assert door.sampler(8) is not first


@pytest.mark.unit
def test_a_sampler_value_optuna_refuses_names_the_file_and_section(tmp_path: Path) -> None:
    file = write_study(tmp_path)
    with pytest.raises(TunerError, match=rf"^{file}: \[sampler\]: "):
        open_study_file(file, f"sqlite:///{tmp_path / 'tuner.db'}", seed=2**40)
    assert not (tmp_path / "tuner.db").exists(), "nothing written"


@pytest.mark.unit
def test_fingerprints_of_a_built_in_dataset_keep_their_splits(tmp_path: Path) -> None:
    door = open_study_file(write_study(tmp_path), read_only=True)
    fp = door.fingerprints
    assert "splits" in vars(door), "the splits the hash was computed from are kept"
    assert fp["data"]["components"]["X_train_shape"] == list(door.splits.X_train.shape)


@pytest.mark.unit
def test_a_table_is_fingerprinted_from_its_rows_without_a_split(tmp_path: Path) -> None:
    (tmp_path / "rows.csv").write_text("x,label\n" + "".join(
        f"{i},{'ab'[i % 2]}\n" for i in range(40)))
    file = tmp_path / "table.toml"
    file.write_text(write_study(tmp_path).read_text().replace(
        'dataset = "iris"', 'path = "rows.csv"\ntarget = "label"'))
    door = open_study_file(file, read_only=True)
    assert door.fingerprints["data"]["components"]["rows"] == 40
    assert "splits" not in vars(door)

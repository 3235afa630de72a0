"""The [deploy] section: where the champion goes, refused in one line when it is no
place for a model file; moving it is not a change of definition."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_tuner, write_study
from tuner.spec import SpecError, load_spec


def error(tmp_path: Path, deploy: str, *, data: str = "") -> str:
    path = write_study(tmp_path, extra=data + "\n[deploy]\n" + deploy)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert message.startswith(f"{path}: [deploy]") and "\n" not in message
    return message[len(str(path)) + 2:]


@pytest.mark.unit
def test_a_path_is_relative_to_the_study_file(tmp_path: Path) -> None:
    (tmp_path / "studies").mkdir()
    spec = load_spec(write_study(tmp_path / "studies",
                                 extra='\n[deploy]\npath = "../models/churn.npz"\n'))
    assert spec.deploy.path == tmp_path / "models" / "churn.npz"
    assert spec.deploy.written == "../models/churn.npz"
    assert load_spec(write_study(tmp_path)).deploy.path is None


@pytest.mark.unit
def test_the_deploy_path_is_not_part_of_the_definition(tmp_path: Path) -> None:
    plain = load_spec(write_study(tmp_path, name="a"))
    deployed = load_spec(write_study(tmp_path, name="a",
                                     extra='\n[deploy]\npath = "m/a.npz"\n'))
    assert plain.spec_hash == deployed.spec_hash


@pytest.mark.unit
@pytest.mark.parametrize(("deploy", "says"), [
    ('path = "models/churn.json"', "must end in .npz"),
    ('path = "models/"', "names a folder"),
    ('path = ""', "must name a file"),
    ('path = "/proc/self/churn.npz"', "not a place for files"),
    ('path = "/dev/churn.npz"', "not a place for files"),
    ("path = 3", "must be a string"),
    ('where = "x.npz"', "unknown key 'where'"),
])
def test_a_bad_path_is_one_line(tmp_path: Path, deploy: str, says: str) -> None:
    assert says in error(tmp_path, deploy)


@pytest.mark.unit
def test_a_folder_or_an_input_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m.npz").mkdir()
    assert "is a folder" in error(tmp_path, 'path = "m.npz"')
    # The champion's card (a.npz -> a.json) would overwrite a study file named a.json.
    study = write_study(tmp_path, extra='\n[deploy]\npath = "a.npz"\n')
    named = study.rename(tmp_path / "a.json")
    with pytest.raises(SpecError, match=r"'a.npz' would overwrite the study file"):
        load_spec(named)


@pytest.mark.integration
def test_the_cli_refuses_it_in_one_line_and_writes_nothing(tmp_path: Path) -> None:
    file = write_study(tmp_path, extra='\n[deploy]\npath = "/proc/champion.npz"\n')
    result = run_tuner("promote", file, "--storage", f"sqlite:///{tmp_path / 't.db'}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {file}: [deploy] path: '/proc/champion.npz' is inside /proc, not a place "
        "for files; write the champion to a folder of yours"]
    assert not (tmp_path / "t.db").exists()

"""Where the champion's files go (`tuner.deploy`): [deploy] path or the artifact folder,
the kept copies' names, and a folder that cannot be written, refused before training."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import write_study
from test_champion import tuned
from tuner import history
from tuner.champion import promote
from tuner.deploy import PromoteError, champion_path, kept_path
from tuner.spec import load_spec
from tuner.storage import open_storage


@pytest.mark.unit
def test_kept_copies_are_named_by_version_and_trial(tmp_path: Path) -> None:
    assert kept_path(Path("/m/churn.npz"), 2, 17) == Path("/m/churn.v2.t17.npz")
    file = write_study(tmp_path)
    url = f"sqlite:///{tmp_path / 'x.db'}"
    odd = tmp_path / "odd.toml"
    odd.write_text(file.read_text().replace('name = "tiny"', 'name = "a b/c"'))
    path = champion_path(load_spec(odd), url)
    assert path.parent == tmp_path / "x-artifacts" / "champions"
    assert path.name.startswith("a_b_c-") and path.suffix == ".npz"  # safe, no collision
    assert champion_path(load_spec(file), url).name == "tiny.npz"


@pytest.mark.unit
def test_without_a_deploy_path_the_champion_is_in_the_artifact_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TUNER_ARTIFACTS", raising=False)
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    file = tuned(tmp_path, url, deploy="")
    champion = promote(file, storage=url)
    assert champion.model_path == tmp_path / "tuner-artifacts" / "champions" / "tiny.npz"
    assert champion_path(load_spec(file), url) == champion.model_path
    monkeypatch.setenv("TUNER_ARTIFACTS", str(tmp_path / "elsewhere"))
    assert champion_path(load_spec(file), url) == \
        tmp_path / "elsewhere" / "champions" / "tiny.npz"


@pytest.mark.unit
def test_a_deploy_folder_that_cannot_be_made_is_refused_before_training(
        tmp_path: Path, sqlite_url: str) -> None:
    (tmp_path / "models").write_text("a file, not a folder")
    file = tuned(tmp_path, sqlite_url, deploy='\n[deploy]\npath = "models/sub/tiny.npz"\n')
    with pytest.raises(PromoteError, match=r"\[deploy\] path: 'models/sub/tiny.npz': .* is "
                       r"not a folder"):
        promote(file, storage=sqlite_url)
    st = open_storage(sqlite_url, heartbeat=False)
    assert history.read(st, "tiny") == []
    assert not list(tmp_path.glob("tuner-artifacts/**/*.npz"))

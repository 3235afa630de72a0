"""Which storage URL a command uses, and what is refused before any connection
(tuner/storage/_url.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuner.storage._url import (
    DEFAULT_STORAGE,
    StorageError,
    check_url,
    default_artifact_dir,
    env_seconds,
    resolve_storage_url,
)

pytestmark = pytest.mark.unit


def test_first_found_wins_option_environment_study_file_default(monkeypatch) -> None:
    monkeypatch.delenv("TUNER_REQUIRE_STORAGE", raising=False)
    monkeypatch.setenv("TUNER_STORAGE", "sqlite:///env.db")
    assert resolve_storage_url("sqlite:///opt.db", "sqlite:///spec.db") == "sqlite:///opt.db"
    assert resolve_storage_url(None, "sqlite:///spec.db") == "sqlite:///env.db"
    monkeypatch.delenv("TUNER_STORAGE")
    assert resolve_storage_url(None, "sqlite:///spec.db") == "sqlite:///spec.db"
    assert resolve_storage_url(None) == DEFAULT_STORAGE


def test_require_storage_refuses_the_study_file_and_the_default(monkeypatch) -> None:
    monkeypatch.setenv("TUNER_REQUIRE_STORAGE", "1")
    monkeypatch.delenv("TUNER_STORAGE", raising=False)
    with pytest.raises(StorageError, match="TUNER_STORAGE is not set"):
        resolve_storage_url(None, "sqlite:///spec.db")
    monkeypatch.setenv("TUNER_STORAGE", "")
    with pytest.raises(StorageError, match="TUNER_STORAGE is empty"):
        resolve_storage_url(None)
    assert resolve_storage_url("sqlite:///opt.db") == "sqlite:///opt.db"


@pytest.mark.parametrize(("url", "message"), [
    ("not a url", "malformed storage URL"),
    ("redis://localhost/0", "unsupported storage URL"),
    ("sqlite://", "names no file"),
    ("sqlite:///:memory:", "names no file"),
    ("sqlite:////no/such/folder/tuner.db", "does not exist"),
    ("postgresql+psycopg2://u:pa55@Hid3den@127.0.0.1/db", "un-encoded '@'"),
])
def test_check_url_refuses_what_no_connection_can_fix(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=message) as raised:
        check_url(url)
    assert "pa55" not in str(raised.value)


def test_check_url_accepts_the_three_backends(tmp_path: Path) -> None:
    assert check_url(f"sqlite:///{tmp_path / 't.db'}").get_backend_name() == "sqlite"
    assert check_url("postgresql+psycopg2://u:p%40w@h/db").password == "p@w"
    assert check_url("mysql+pymysql://root@h/db").get_backend_name() == "mysql"


def test_env_seconds_takes_whole_positive_seconds_only(monkeypatch) -> None:
    monkeypatch.delenv("TUNER_X_S", raising=False)
    assert env_seconds("TUNER_X_S", 7) == 7
    monkeypatch.setenv("TUNER_X_S", "30")
    assert env_seconds("TUNER_X_S", 7) == 30
    for bad, message in (("1.5", "whole number"), ("0", "positive"), ("-3", "positive")):
        monkeypatch.setenv("TUNER_X_S", bad)
        with pytest.raises(StorageError, match=message):
            env_seconds("TUNER_X_S", 7)


def test_artifacts_sit_beside_a_sqlite_file_and_in_the_folder_for_a_server(
        tmp_path: Path, monkeypatch) -> None:
    assert default_artifact_dir(f"sqlite:///{tmp_path / 'runs.db'}") == tmp_path / "runs-artifacts"
    monkeypatch.chdir(tmp_path)
    assert default_artifact_dir("postgresql+psycopg2://u@h/db") == tmp_path / "tuner-artifacts"

"""The chain's history (`tuner.history`): rows recorded beside the version chain, read
oldest first, kept small for every database, and shown as the study's note in
optuna-dashboard; on real SQLite files, the real PostgreSQL and MariaDB."""

from __future__ import annotations

import json
import math

import optuna
import pytest
from optuna_dashboard import get_note, save_note

from conftest import write_study
from tuner import history, keys
from tuner.api import run_study
from tuner.history import NOTE_MARK, NOTE_ROWS, ROW_MAX_BYTES, HistoryError
from tuner.retune import retune_file
from tuner.storage import open_storage


@pytest.fixture
def chain(tmp_path, sqlite_url):
    file = write_study(tmp_path)
    run_study(file, sqlite_url, emit=lambda _line: None)
    return file, open_storage(sqlite_url, heartbeat=False)


@pytest.mark.unit
def test_rows_come_back_oldest_first_with_their_time(chain) -> None:
    _, st = chain
    for i in range(5):
        history.record(st, "tiny", {"decision": "holds", "rows": 100 + i, "champion_score": 0.9})
    rows = history.read(st, "tiny")
    assert [r["rows"] for r in rows] == [100, 101, 102, 103, 104]
    assert all(r["family"] == "tiny" and r["time"].endswith("+00:00") for r in rows)
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
    # Each row is its own attribute of the first version, under a key of tuner.keys.
    attrs = st.get_study_user_attrs(st.get_study_id_from_name("tiny"))
    assert sum(k.startswith(keys.HISTORY) for k in attrs) == 5


@pytest.mark.unit
def test_no_chain_no_history(tmp_path, sqlite_url) -> None:
    st = open_storage(sqlite_url, heartbeat=False)
    assert history.read(st, "nothing") == []
    with pytest.raises(HistoryError, match=r"no study 'nothing' in this storage"):
        history.record(st, "nothing", {"decision": "holds"})


@pytest.mark.unit
def test_bad_rows_are_refused(chain) -> None:
    _, st = chain
    with pytest.raises(HistoryError, match="'decision' string"):
        history.record(st, "tiny", {"rows": 3})
    with pytest.raises(HistoryError, match="finite numbers"):
        history.record(st, "tiny", {"decision": "holds", "champion_score": math.nan})
    with pytest.raises(HistoryError, match="larger than"):
        history.record(st, "tiny", {"decision": "holds", "blob": "x" * ROW_MAX_BYTES})
    assert history.read(st, "tiny") == []


@pytest.mark.unit
def test_a_row_with_too_many_drift_figures_keeps_the_largest(chain) -> None:
    _, st = chain
    drift = {f"feature_{i:04d}_with_a_long_name": i / 1000 for i in range(1000)}
    history.record(st, "tiny", {"decision": "holds", "drift": drift})
    (row,) = history.read(st, "tiny")
    assert len(json.dumps(row)) <= ROW_MAX_BYTES
    assert sorted(row["drift"].values(), reverse=True) == \
        [i / 1000 for i in range(999, 999 - history.DRIFT_KEPT, -1)]
    assert row["drift_dropped"] == 1000 - history.DRIFT_KEPT
    assert "feature_0999_with_a_long_name 0.999" in history.history_text([row])


@pytest.mark.unit
def test_the_text_table(chain) -> None:
    _, st = chain
    history.record(st, "tiny", {"decision": "holds", "version": "tiny", "rows": 600,
                                "data_fingerprint": "ab" * 32, "champion_score": 0.8125,
                                "drift": {"tenure": 0.04, "plan": {"psi": 0.31}},
                                "reason": "champion holds"})
    lines = history.history_text(history.read(st, "tiny")).splitlines()
    assert lines[0].split() == ["TIME", "(UTC)", "DECISION", "VERSION", "DATA", "ROWS",
                                "CHAMPION", "CHALLENGER", "LARGEST", "DRIFT"]
    assert lines[1].split()[2:] == ["holds", "tiny", "abababababab", "600", "0.8125", "-",
                                    "plan", "0.31"]
    assert lines[2] == "    champion holds"


@pytest.mark.unit
def test_the_dashboard_note_shows_it_on_the_first_and_newest_versions(chain, sqlite_url
                                                                      ) -> None:
    file, st = chain
    first = optuna.load_study(storage=st, study_name="tiny")
    save_note(first, "my own words")
    file.write_text(file.read_text().replace("epochs = 3", "epochs = 4"))
    retune_file(file, sqlite_url, emit=lambda _line: None)
    for i in range(NOTE_ROWS + 2):
        history.record(st, "tiny", {"decision": "holds", "rows": i}, note=False)
    history.record(st, "tiny", {"decision": "promoted", "version": "tiny/v2", "rows": 7,
                                "reason": "beat it | by far"})
    for name in ("tiny", "tiny/v2"):
        note = get_note(optuna.load_study(storage=st, study_name=name))
        body = note.split(NOTE_MARK)[1]
        assert f"{NOTE_ROWS + 3} decisions, newest first (the {NOTE_ROWS} newest shown" in body
        table = [line for line in body.splitlines() if line.startswith("| 20")]
        assert len(table) == NOTE_ROWS and "| promoted | tiny/v2 |" in table[0]
        assert table[0].endswith("| beat it \\| by far |")
    assert get_note(first).startswith("my own words\n\n" + NOTE_MARK)


@pytest.mark.integration
@pytest.mark.parametrize("server", ["pg_url", "mysql_url"])
def test_on_server_databases(tmp_path, request, server: str) -> None:
    url = request.getfixturevalue(server)
    file = write_study(tmp_path)
    run_study(file, url, emit=lambda _line: None)
    st = open_storage(url, heartbeat=False)
    drift = {f"feature_{i:05d}": float(i) for i in range(3000)}  # ~70 KB: over MySQL TEXT
    history.record(st, "tiny", {"decision": "holds", "drift": drift, "reason": "é ✓"})
    history.record(st, "tiny", {"decision": "promoted"})
    rows = history.read(st, "tiny")
    assert [r["decision"] for r in rows] == ["holds", "promoted"]
    assert rows[0]["reason"] == "é ✓" and len(rows[0]["drift"]) == history.DRIFT_KEPT
    assert NOTE_MARK in get_note(optuna.load_study(storage=st, study_name="tiny"))


@pytest.mark.integration
def test_optuna_dashboard_serves_the_history_as_the_study_note(chain, sqlite_url) -> None:
    from test_dashboard import dashboard, get_json, study_id

    _, st = chain
    history.record(st, "tiny", {"decision": "holds", "version": "tiny", "rows": 150,
                                "champion_score": 0.8125, "reason": "champion holds"})
    with dashboard("--storage", sqlite_url) as (_, base):
        detail = get_json(base, f"/api/studies/{study_id(base, 'tiny')}?after=0")
    body = detail["note"]["body"]
    assert body.startswith(NOTE_MARK) and "## History of tiny (tuner)" in body
    assert "| holds | tiny | " in body and "| 0.8125 |" in body and "champion holds" in body


@pytest.mark.integration
def test_recording_loads_only_the_dashboards_note_module(chain, sqlite_url) -> None:
    """`import optuna_dashboard` imports its web app and scikit-learn (~2.5 s a
    decision); the note is written with its `_note` module alone."""
    import subprocess
    import sys

    code = ("import sys; from tuner import history; from tuner.storage import open_storage; "
            f"st = open_storage({sqlite_url!r}, heartbeat=False); "
            "history.record(st, 'tiny', {'decision': 'holds'}); "
            "print(sorted(m for m in ('sklearn', 'optuna_dashboard') if m in sys.modules))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"
    _, st = chain
    note = get_note(optuna.load_study(storage=st, study_name="tiny"))
    assert "| holds |" in note

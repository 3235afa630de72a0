"""`tuner dashboard`: a real server in a real subprocess, a real headless chromium, real
workers writing to the same SQLite file, real signals."""

from __future__ import annotations

import json
import re
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from html import unescape
from pathlib import Path

import optuna
import pytest

from conftest import invoke, tuner_cmd, write_study
from helpers import wait_until
from report_helpers import run_chromium


@contextmanager
def dashboard(*args: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """`tuner dashboard --port 0 ARGS` in a subprocess; yields it and its base URL.

    On leaving, SIGTERM: the process must stop by itself, cleanly."""
    proc = subprocess.Popen(tuner_cmd("dashboard", "--port", "0", *args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # printed once the storage is open and bound
        found = re.fullmatch(r"open (http://127\.0\.0\.1:\d+)/dashboard\n", line)
        assert found, f"unexpected first line {line!r}; stderr: {proc.stderr.read()}"
        base = found.group(1)
        assert get_json(base, "/api/meta")["artifact_is_available"] is True
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)


def get(base: str, path: str) -> tuple[int, bytes]:
    # Accept-Encoding as a browser sends it (optuna-dashboard needs the header).
    req = urllib.request.Request(base + path, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.status, r.read()


def get_json(base: str, path: str) -> dict:
    status, body = get(base, path)
    assert status == 200, (path, status)
    return json.loads(body)


def study_id(base: str, name: str) -> int:
    studies = get_json(base, "/api/studies")["study_summaries"]
    return next(s["study_id"] for s in studies if s["study_name"] == name)


def page_text(dom: str) -> list[str]:
    """The visible text of a dumped DOM, one piece per line."""
    dom = re.sub(r"<(style|script)\b.*?</\1>", "", dom, flags=re.S)
    return [unescape(t).strip() for t in re.split(r"<[^>]+>", dom) if t.strip()]


@pytest.mark.e2e
def test_dashboard_in_a_real_browser(tmp_path: Path, sqlite_url: str) -> None:
    study = write_study(tmp_path, name="browser-study", n_trials=5)
    assert invoke("study", "run", study, "--storage", sqlite_url).exit_code == 0
    with dashboard("--storage", sqlite_url) as (proc, base):
        sid = study_id(base, "browser-study")
        # The study's trial list: a React page that exists only once the SPA has fetched
        # the study from the API and rendered it.
        url = f"{base}/dashboard/studies/{sid}/trials"
        dom = run_chromium(["--virtual-time-budget=20000", "--dump-dom", url],
                           tmp_path / "profile")
        assert dom.returncode == 0, dom.stderr[-2000:]
        text = page_text(dom.stdout)
        assert f"browser-study (id={sid})" in text, text[:40]
        assert "5 Trials" in text, text[:40]
        assert sum(t == "Complete" for t in text) >= 5

        shot = tmp_path / "dashboard.png"
        r = run_chromium(["--virtual-time-budget=20000", "--window-size=1400,1000",
                          "--hide-scrollbars", f"--screenshot={shot}",
                          f"{base}/dashboard/studies/{sid}"], tmp_path / "profile")
        assert r.returncode == 0, r.stderr[-2000:]
        from PIL import Image

        with Image.open(shot) as im:
            assert im.size == (1400, 1000)
            assert len(im.convert("RGB").getcolors(maxcolors=1_000_000)) > 100
        assert proc.poll() is None
    assert proc.returncode == 0
    err = proc.stderr.read()
    assert "dashboard stopped (SIGTERM)" in err and "Traceback" not in err


@pytest.mark.integration
def test_json_api_while_two_workers_write_sqlite(tmp_path: Path, sqlite_url: str) -> None:
    """The known pitfall: a dashboard on the SQLite file of a running study. Here it starts
    first, on a file with no tables yet, and polls its API while 2 workers write.

    The study asks for more trials than the test lets run: the workers are stopped (SIGTERM,
    as Docker stops them) only once the API has been read while both wrote and showed trials
    finishing, so how fast a trial trains on this machine cannot end the test early."""
    study = write_study(tmp_path, name="busy", n_trials=10_000, epochs=10, dataset="digits")
    with dashboard("--storage", sqlite_url) as (proc, base):
        workers = [subprocess.Popen(tuner_cmd("worker", study, "--storage", sqlite_url),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True) for _ in range(2)]
        seen: list[int] = []          # finished trials the API showed, poll after poll
        seen_while_both_ran: set[int] = set()
        deadline = time.monotonic() + 900  # a hang guard, not a speed limit
        stopping = False
        while any(w.poll() is None for w in workers):
            assert time.monotonic() < deadline, "the workers never both wrote while polled"
            both = all(w.poll() is None for w in workers)
            names = [s["study_name"] for s in get_json(base, "/api/studies")
                     ["study_summaries"]]
            if "busy" in names:
                detail = get_json(base, f"/api/studies/{study_id(base, 'busy')}?after=0")
                assert detail["name"] == "busy"
                seen.append(sum(t["state"] in ("Complete", "Pruned")
                                for t in detail["trials"]))
                if both and not stopping:
                    seen_while_both_ran.add(seen[-1])
            if len(seen_while_both_ran) >= 3 and not stopping:
                for w in workers:
                    w.send_signal(signal.SIGTERM)
                stopping = True
            time.sleep(0.05)
        outs = [w.communicate() for w in workers]
        for w, (_, err) in zip(workers, outs, strict=True):
            assert w.returncode == 0, err
            assert "SIGTERM received" in err, err
            assert "database is locked" not in err and "Traceback" not in err
        assert seen == sorted(seen), "the API never goes back in time"

        # Finally the API agrees with the storage, and the dashboard is still up. The
        # trials the signal interrupted were handed back: FAIL, and queued again (WAITING).
        sid = study_id(base, "busy")
        stored = optuna.load_study(storage=sqlite_url, study_name="busy").get_trials()
        assert len(stored) > max(seen_while_both_ran)
        assert {t.state.name for t in stored} <= {"COMPLETE", "PRUNED", "FAIL", "WAITING"}
        # optuna-dashboard caches a study's trials for a while (a trial it last read running
        # stays "Running" there): wait for it to catch up with the storage.
        wait_until(lambda: [(t["number"], t["state"]) for t in
                            get_json(base, f"/api/studies/{sid}?after=0")["trials"]]
                   == [(t.number, t.state.name.title()) for t in stored],
                   what=f"the API to list all {len(stored)} trials as stored", timeout=60)
        status, csv = get(base, f"/csv/{sid}")
        assert status == 200 and len(csv.decode().splitlines()) == len(stored) + 1
        assert proc.poll() is None
    assert proc.returncode == 0


@pytest.mark.unit
def test_dashboard_reads_without_the_write_lock(tmp_path: Path, sqlite_url: str) -> None:
    """While a worker holds SQLite's write lock, the dashboard's storage still reads, and
    it leaves the file in WAL mode (so its reads never block the writers either)."""
    from tuner.dashboard import dashboard_storage

    study = write_study(tmp_path, n_trials=2)
    assert invoke("study", "run", study, "--storage", sqlite_url).exit_code == 0
    storage = dashboard_storage(sqlite_url)
    db = sqlite_url.removeprefix("sqlite:///")
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        assert writer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        writer.execute("BEGIN IMMEDIATE")  # what a worker's transaction takes
        writer.execute("UPDATE studies SET study_name = study_name")
        studies = storage.get_all_studies()
        assert [s.study_name for s in studies] == ["tiny"]
        assert len(storage.get_all_trials(studies[0]._study_id)) == 2
    finally:
        writer.execute("ROLLBACK")
        writer.close()


@pytest.mark.integration
def test_dashboard_serves_the_artifacts_of_tuner_train(tmp_path: Path, sqlite_url: str
                                                       ) -> None:
    from tuner.storage import default_artifact_dir, open_storage
    from tuner.train import upload_model

    study = write_study(tmp_path, n_trials=1)
    assert invoke("study", "run", study, "--storage", sqlite_url).exit_code == 0
    payload = tmp_path / "model.json"
    payload.write_text('{"model": "card"}')
    storage = open_storage(sqlite_url, heartbeat=False)
    s = optuna.load_study(storage=storage, study_name="tiny")
    # What `tuner train` does with its files, into the default folder beside tuner.db.
    ids = upload_model(storage, s.trials[0], [payload], default_artifact_dir(sqlite_url))
    artifact_id = ids["model.json"]
    with dashboard("--storage", sqlite_url) as (_, base):
        sid = study_id(base, "tiny")
        trial_id = s.trials[0]._trial_id
        status, body = get(base, f"/artifacts/{sid}/{trial_id}/{artifact_id}")
        assert status == 200 and body == b'{"model": "card"}'

    other = tmp_path / "elsewhere"
    with dashboard("--storage", sqlite_url, "--artifacts", str(other)) as (_, base):
        with pytest.raises(urllib.error.HTTPError):  # not in that store
            get(base, f"/artifacts/{sid}/{trial_id}/{artifact_id}")
    assert other.is_dir()


@pytest.mark.unit
def test_port_in_use_is_one_line_exit_2(sqlite_url: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = invoke("dashboard", "--port", port, "--storage", sqlite_url)
    assert r.exit_code == 2
    assert r.stderr == (f"error: port {port} on 127.0.0.1 is already in use: stop what "
                        "uses it or pick another with --port\n")


@pytest.mark.unit
def test_bad_storage_is_one_line_exit_2(tmp_path: Path) -> None:
    r = invoke("dashboard", "--port", "0", "--storage", f"sqlite:///{tmp_path}/no/x.db")
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1
    assert "does not exist" in r.stderr


@pytest.mark.integration
def test_non_loopback_host_warns_and_sigint_stops(sqlite_url: str) -> None:
    from tuner.dashboard import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("::")

    proc = subprocess.Popen(tuner_cmd("dashboard", "--host", "0.0.0.0", "--port", "0",
                                      "--storage", sqlite_url),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    port = int(re.fullmatch(r"open http://127\.0\.0\.1:(\d+)/dashboard\n", line).group(1))
    assert get_json(f"http://127.0.0.1:{port}", "/api/studies") == {"study_summaries": []}
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0
    lines = err.splitlines()
    assert lines[0] == ("warning: listening on 0.0.0.0: the dashboard has no "
                        "authentication; anyone who reaches this port can read, change "
                        "and delete studies")
    assert lines[-1] == "dashboard stopped (SIGINT)" and "Traceback" not in err


@pytest.mark.integration
def test_dashboard_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    study = write_study(tmp_path, name="pg-study", n_trials=2)
    assert invoke("study", "run", study, "--storage", pg_url).exit_code == 0
    with dashboard("--storage", pg_url, "--artifacts", str(tmp_path / "art")) as (proc, base):
        sid = study_id(base, "pg-study")
        detail = get_json(base, f"/api/studies/{sid}?after=0")
        assert [t["state"] for t in detail["trials"]] == ["Complete", "Complete"]
    assert proc.returncode == 0
    assert "optuna-dashboard on postgresql+psycopg2://" in proc.stderr.read()

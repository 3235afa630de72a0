"""A private PgBouncer in transaction mode in front of a PostgreSQL server, for the tests
and benchmarks/load.py.

Debian's ``pgbouncer`` binary on a free loopback port, its configuration and log in a
temporary folder, every database of the server behind it (``* = host=... port=...``) and
at most ``pool_size`` server connections per database however many clients connect.
PgBouncer refuses to run as root: as root (CI containers) it runs as ``postgres`` (or
``nobody``), like the private servers of tests/servers.py. Nothing here imports pytest, so
a benchmark can use it too; a test checks ``binary()`` first and fails without it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from sqlalchemy.engine import make_url

__all__ = ["PgBouncer", "binary"]

# Debian's package installs it in /usr/sbin, which is not on a non-root PATH.
_CANDIDATES = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")


def binary() -> str | None:
    """The pgbouncer executable, or None when it is not installed."""
    found = shutil.which("pgbouncer")
    return found or next((c for c in _CANDIDATES if os.access(c, os.X_OK)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unprivileged() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root with no unprivileged account for pgbouncer")


class PgBouncer:
    """``with PgBouncer(server_url) as bouncer:`` then ``bouncer.url(database)``.

    ``server_url``: a SQLAlchemy URL of the PostgreSQL server (its host, port and user are
    used; trust or a password in ``auth_file`` is the server's business, PgBouncer passes
    the client's password through). ``pool_size``: the most server connections per
    database and user, the whole point of the pooler.
    """

    def __init__(self, server_url: str, *, pool_size: int = 10,
                 max_clients: int = 2000) -> None:
        self.server = make_url(server_url)
        self.pool_size, self.max_clients = pool_size, max_clients
        self.port = _free_port()
        self._folder: tempfile.TemporaryDirectory | None = None
        self._proc: subprocess.Popen | None = None

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of ``database`` through the pooler (same user, password)."""
        return (self.server.set(host="127.0.0.1", port=self.port, database=database)
                .render_as_string(hide_password=False))

    def _config(self, folder: Path) -> Path:
        user = self.server.username or "postgres"
        # Trust between client and pooler (loopback only); the server authenticates the
        # pooler's own connections as it would the client's.
        (folder / "userlist.txt").write_text(f'"{user}" ""\n')
        conf = folder / "pgbouncer.ini"
        conf.write_text("\n".join([
            "[databases]",
            f"* = host={self.server.host or '127.0.0.1'} port={self.server.port or 5432}",
            "",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = trust",
            f"auth_file = {folder / 'userlist.txt'}",
            # A server connection is a client's only for the length of a transaction.
            "pool_mode = transaction",
            f"default_pool_size = {self.pool_size}",
            f"max_db_connections = {self.pool_size}",
            "reserve_pool_size = 0",
            f"max_client_conn = {self.max_clients}",
            f"logfile = {folder / 'pgbouncer.log'}",
            f"pidfile = {folder / 'pgbouncer.pid'}",
            "",
        ]))
        return conf

    def log(self) -> str:
        """The pooler's log so far (for a failure message)."""
        if self._folder is None:
            return ""
        path = Path(self._folder.name) / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        exe = binary()
        if exe is None:
            raise RuntimeError("pgbouncer is not installed: apt-get install pgbouncer")
        self._folder = tempfile.TemporaryDirectory(prefix="tuner-pgbouncer-")
        folder = Path(self._folder.name)
        conf = self._config(folder)
        account = _unprivileged()
        ids = {}
        if account is not None:
            for path in (folder, *folder.iterdir()):
                os.chown(path, account.pw_uid, account.pw_gid)
            ids = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        self._proc = subprocess.Popen([exe, str(conf)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, **ids)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"pgbouncer exited {self._proc.returncode}: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"pgbouncer did not listen on {self.port}: {self.log()}")

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()  # SIGTERM: immediate shutdown
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def __enter__(self) -> PgBouncer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

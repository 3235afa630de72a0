"""optuna-dashboard on a tuner storage, served until Ctrl-C or SIGTERM.

Three things differ from running `optuna-dashboard URL` by hand:

- The schema is created through `tuner.storage.open_storage` first. optuna-dashboard
  exits on a database with no tables, and creating them from a second process while
  workers create them too is the fresh-database race that crashes a starting study.
- On SQLite the dashboard reads through an engine of its own: a 60 s busy timeout (the
  default 5 s turns a busy moment into HTTP 500s) and *deferred* transactions. The
  workers' engine opens every transaction with BEGIN IMMEDIATE, which takes the write
  lock; a dashboard polling through it would queue behind and in front of every worker.
  In WAL mode (set on the file by `open_storage`) a plain reader never blocks a writer.
- The server is the threaded wsgiref server optuna-dashboard's own CLI uses when
  gunicorn is absent (no new dependency), run in a thread so that a signal in the main
  thread can stop it: in-flight requests finish, then the process exits.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from tuner.errors import TunerError

__all__ = ["Dashboard", "DashboardError", "bind", "dashboard_storage", "is_loopback",
           "make_app", "run", "serve_until_signal"]

log = logging.getLogger(__name__)


class DashboardError(TunerError):
    """The dashboard cannot start: port in use, unknown host, ..."""


def dashboard_storage(url: str) -> Any:
    """An Optuna storage for the dashboard on ``url``, its tables created if missing."""
    from optuna.storages import RDBStorage
    from sqlalchemy.engine import make_url

    from tuner.storage import open_storage

    # Race-safe schema creation (retries while workers create it), and on SQLite the WAL
    # journal mode, which is a property of the file: one query through tuner's engine
    # sets it before the dashboard's own engine connects.
    tuner_storage = open_storage(url, heartbeat=False)
    tuner_storage.get_all_studies()
    if make_url(url).get_backend_name() != "sqlite":
        # Pre-ping and recycling matter more than locks on a server database.
        return tuner_storage
    tuner_storage.engine.dispose()
    # No heartbeat: the dashboard runs no trial. skip_table_creation: done above.
    return RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}},
                      skip_table_creation=True)


def make_app(url: str, artifact_dir: Path | None = None) -> Callable:
    """optuna-dashboard's WSGI app on ``url``, serving the artifacts in ``artifact_dir``
    (created if missing: `tuner train` and the dashboard's upload button write there)."""
    import optuna_dashboard
    from optuna.artifacts import FileSystemArtifactStore

    store = None
    if artifact_dir is not None:
        try:
            artifact_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DashboardError(f"cannot create the artifact folder {artifact_dir}: "
                                 f"{e.strerror}; pass --artifacts DIR") from None
        store = FileSystemArtifactStore(artifact_dir)
    return optuna_dashboard.wsgi(dashboard_storage(url), artifact_store=store)


def is_loopback(host: str) -> bool:
    """True when ``host`` only ever means this machine (127.0.0.0/8, ::1, localhost)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback
                               for i in infos)


class _QuietHandler(WSGIRequestHandler):
    """Request lines go to the log (shown with -vv), not to the terminal."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        log.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingMixIn, WSGIServer):
    # In-flight requests finish before server_close() returns (block_on_close).
    daemon_threads = False


class _Server6(_Server):
    address_family = socket.AF_INET6


@dataclass
class Dashboard:
    """A bound, not yet serving, dashboard server."""

    server: WSGIServer
    host: str
    port: int

    @property
    def url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"  # the "any address" is not an address a browser opens
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/dashboard"


def bind(host: str = "127.0.0.1", port: int = 8080) -> Dashboard:
    """Listen on ``host``:``port`` (0: any free port), serving nothing yet.

    Binding comes first so that a port in use is reported at once, before the storage is
    touched. Raises DashboardError.
    """
    server_class = _Server6 if ":" in host else _Server
    try:
        server = server_class((host.strip("[]"), port), _QuietHandler)
    except socket.gaierror as e:
        raise DashboardError(f"cannot bind to host {host!r}: {e.strerror}") from None
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise DashboardError(f"port {port} on {host} is already in use: stop what uses "
                                 "it or pick another with --port") from None
        raise DashboardError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    return Dashboard(server, host, server.server_address[1])


def serve_until_signal(dashboard: Dashboard, app: Callable,
                       stop: threading.Event | None = None) -> str:
    """Serve ``app`` until SIGINT or SIGTERM (or ``stop`` is set); returns what stopped it.

    serve_forever runs in a thread because shutdown() must be called from another one;
    the main thread only waits, so Python's signal handlers run promptly there.
    """
    stop = stop or threading.Event()
    why: list[str] = []

    def handler(signum: int, _frame: Any) -> None:
        why.append(signal.Signals(signum).name)
        stop.set()

    dashboard.server.set_app(app)
    in_main = threading.current_thread() is threading.main_thread()
    previous = ({s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
                if in_main else {})
    thread = threading.Thread(target=dashboard.server.serve_forever, name="dashboard",
                              kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    try:
        while not stop.wait(0.5):
            if not thread.is_alive():  # serve_forever died: say so rather than hang
                why.append("server thread ended")
                break
    finally:
        dashboard.server.shutdown()
        dashboard.server.server_close()  # waits for in-flight requests
        for s, h in previous.items():
            signal.signal(s, h)
    return why[0] if why else "stopped"


def run(url: str, *, host: str = "127.0.0.1", port: int = 8080,
        artifact_dir: Path | None = None, stop: threading.Event | None = None,
        ready: Callable[[Dashboard], None] | None = None) -> str:
    """Bind, open the storage, call ``ready`` (to print the URL), serve until a signal or
    ``stop``; returns what stopped it."""
    dashboard = bind(host, port)
    try:
        app = make_app(url, artifact_dir)
    except BaseException:
        dashboard.server.server_close()
        raise
    if ready is not None:
        ready(dashboard)
    return serve_until_signal(dashboard, app, stop)

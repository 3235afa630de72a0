"""optuna-dashboard on a tuner storage, served until Ctrl-C or SIGTERM.

Three things differ from running `optuna-dashboard URL` by hand:

- The schema is created through `tuner.storage.open_storage` first. optuna-dashboard
  exits on a database with no tables, and creating them from a second process while
  workers create them too is the fresh-database race that crashes a starting study.
- On SQLite the dashboard's storage keeps a 60 s busy timeout (the default 5 s turns a
  busy moment into HTTP 500s) but *deferred* transactions (``lock_on_begin=False``). The
  workers' engine opens every transaction with BEGIN IMMEDIATE, which takes the write
  lock; a dashboard polling through it would queue behind and in front of every worker.
  In WAL mode a plain reader never blocks a writer.
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
from tuner.signals import on_stop_signals

__all__ = ["Dashboard", "DashboardError", "bind", "dashboard_storage", "is_loopback",
           "make_app", "run", "serve_until_signal"]

log = logging.getLogger(__name__)


class DashboardError(TunerError):
    """The dashboard cannot start: port in use, unknown host, ..."""


def dashboard_storage(url: str) -> Any:
    """An Optuna storage for the dashboard on ``url``, its tables created if missing
    (race-safe: workers may be creating them too). No heartbeat: it runs no trial."""
    from tuner.storage import open_storage

    return open_storage(url, heartbeat=False, lock_on_begin=False)


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

    def handler(sig: signal.Signals) -> None:
        why.append(sig.name)
        stop.set()

    dashboard.server.set_app(app)
    thread = threading.Thread(target=dashboard.server.serve_forever, name="dashboard",
                              kwargs={"poll_interval": 0.2}, daemon=True)
    with on_stop_signals(handler):
        thread.start()
        try:
            while not stop.wait(0.5):
                if not thread.is_alive():  # serve_forever died: say so rather than hang
                    why.append("server thread ended")
                    break
        finally:
            dashboard.server.shutdown()
            dashboard.server.server_close()  # waits for in-flight requests
    return why[0] if why else "stopped"


def run(url: str, *, host: str = "127.0.0.1", port: int = 8080,
        artifact_dir: Path | None = None, stop: threading.Event | None = None,
        ready: Callable[[Dashboard], None] | None = None,
        warn: Callable[[str], None] | None = None) -> str:
    """Bind, open the storage, call ``ready`` (to print the URL), serve until a signal or
    ``stop``; returns what stopped it. ``warn`` is told first when ``host`` exposes the
    dashboard, which has no authentication, beyond this machine."""
    if warn is not None and not is_loopback(host):
        warn(f"listening on {host}: the dashboard has no authentication; anyone who reaches "
             "this port can read, change and delete studies")
    dashboard = bind(host, port)
    try:
        app = make_app(url, artifact_dir)
    except BaseException:
        dashboard.server.server_close()
        raise
    if ready is not None:
        ready(dashboard)
    return serve_until_signal(dashboard, app, stop)

"""Many `tuner worker` processes on one PostgreSQL study, through PgBouncer in transaction
mode and direct to PostgreSQL side by side: trials per second, the peak number of server
connections, errors, and whether exactly n_trials finished.

For each worker count (32, 64 and 128 by default) and each route a fresh database on the
PostgreSQL server (TUNER_TEST_PG, default the machine's 127.0.0.1:5432) receives one study
of very short trials (iris, 2 epochs, a 4-unit layer), and that many `tuner worker`
processes are started at once, each with one BLAS thread. The "pgbouncer" route is a
private PgBouncer (tests/support/pgbouncer.py: Debian's binary, transaction mode, at most
``--pool`` server connections per database) on a free loopback port in front of the same
server; "direct" is the server's own URL. The server's ``max_connections`` is left as it
is: past it, direct workers are refused connections, which is what the route is for.

While they run, a poller counts the server connections to that database in
``pg_stat_activity`` every 50 ms (from a connection to another database, so it does not
count itself) and keeps the peak; the server-wide peak and ``max_connections`` are
reported beside it, since other users share the server.

Throughput is reported two ways: steady (trials / (last finish - first start), from the
trials' own timestamps) and wall (trials / time around the processes, which includes
starting 128 Python interpreters on this machine's cores). Errors: workers that exited
non-zero, and stderr lines with a traceback or an ``error:``. Writes
benchmarks/results/load.md.

    python benchmarks/load.py [--workers 32,64,128] [--trials 256] [--pool 10] [--quick]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import optuna
import sqlalchemy

from common.arguments import file_parser
from common.results import progress, table, write_table
from common.shared_machine import Machine
from common.study_files import study_toml, write_study

# The private pooler the tests use: one way to start it, in tests/support/pgbouncer.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
from pgbouncer import PgBouncer  # noqa: E402

NAME = "load"
PG_ADMIN = os.environ.get("TUNER_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


class ConnectionPeak:
    """Polls pg_stat_activity in a thread: the peak connections to ``database`` and to the
    whole server while the block runs."""

    def __init__(self, admin: sqlalchemy.Engine, database: str) -> None:
        self.admin, self.database = admin, database
        self.peak = self.server_peak = 0
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        query = sqlalchemy.text("SELECT count(*) FILTER (WHERE datname = :db), count(*) "
                                "FROM pg_stat_activity WHERE backend_type = 'client backend'")
        with self.admin.connect() as conn:
            while not self._stop.is_set():
                mine, everyone = conn.execute(query, {"db": self.database}).one()
                self.samples.append(int(mine))
                self.peak = max(self.peak, int(mine))
                self.server_peak = max(self.server_peak, int(everyone))
                self._stop.wait(0.05)

    def __enter__(self) -> ConnectionPeak:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def fresh_database(admin: sqlalchemy.Engine) -> tuple[str, str]:
    name = f"tuner_load_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = sqlalchemy.engine.make_url(PG_ADMIN).set(database=name)
    return name, url.render_as_string(hide_password=False)


def drop_database(admin: sqlalchemy.Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run(file: Path, admin: sqlalchemy.Engine, workers: int, n_trials: int,
        bouncer: PgBouncer | None) -> dict:
    name, url = fresh_database(admin)
    worker_url = bouncer.url(name) if bouncer else url
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    try:
        with ConnectionPeak(admin, name) as peak, tempfile.TemporaryDirectory() as logs:
            started = time.perf_counter()
            procs, errs = [], []
            for i in range(workers):
                err = open(Path(logs) / f"{i}.err", "w+", encoding="utf-8")  # noqa: SIM115
                errs.append(err)
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "tuner", "-q", "worker", str(file),
                     "--storage", worker_url], env=env, stdout=subprocess.DEVNULL,
                    stderr=err))
            codes = []
            for p in procs:
                try:
                    codes.append(p.wait(timeout=max(60, 1800 - (time.perf_counter() - started))))
                except subprocess.TimeoutExpired:  # stuck: counted as a bad exit
                    p.kill()
                    codes.append(p.wait())
            wall = time.perf_counter() - started
            stderr = []
            for err in errs:
                err.seek(0)
                stderr.append(err.read())
                err.close()
        trials = optuna.load_study(study_name="load", storage=url).get_trials(deepcopy=False)
    finally:
        drop_database(admin, name)
    done = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    left = [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    span = (max(t.datetime_complete for t in done)
            - min(t.datetime_start for t in done)).total_seconds() if done else float("nan")
    error_lines = [line for text in stderr for line in text.splitlines()
                   if "Traceback" in line or line.startswith("error:")]
    # One line per kind of error: the storage URL differs per database, the cause does not.
    kinds = sorted({line.split(":", 1)[0] if "Traceback" in line else line.replace(name, "DB")
                    for line in error_lines})
    return {
        "route": "pgbouncer" if bouncer else "direct", "workers": workers,
        "finished": len(done), "left": len(left),
        "failed": sum(t.state.name == "FAIL" for t in trials),
        "steady": len(done) / span, "wall": len(done) / wall, "wall_s": wall,
        "peak": peak.peak, "server_peak": peak.server_peak,
        "held": sorted(peak.samples)[len(peak.samples) // 2] if peak.samples else 0,
        "bad_exits": sum(c != 0 for c in codes), "exit_codes": sorted(set(codes)),
        "errors": error_lines, "kinds": kinds,
    }


def main() -> None:
    parser = file_parser(__doc__, NAME)
    parser.add_argument("--workers", default="32,64,128",
                        help="comma-separated worker counts (default 32,64,128)")
    parser.add_argument("--trials", type=int, default=256)
    parser.add_argument("--pool", type=int, default=10,
                        help="PgBouncer's server connections per database (default 10)")
    args = parser.parse_args()
    machine = Machine()
    counts = [int(w) for w in args.workers.split(",")]
    if args.quick:
        counts, args.trials = [2, 4], 8
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="tuner-load-"))
    file = write_study(tmp, study_toml("load", trials=args.trials, epochs=2, dataset="iris",
                                       hidden=(4,), batch_size=32, sampler="random", seed=0),
                       stem="load")
    admin = sqlalchemy.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", poolclass=
                                     sqlalchemy.pool.NullPool)
    with admin.connect() as conn:
        max_connections = int(conn.exec_driver_sql("SHOW max_connections").scalar())
    from tuner.storage._engine import MAX_OVERFLOW, POOL_SIZE

    results = []
    with PgBouncer(PG_ADMIN, pool_size=args.pool) as bouncer:
        for workers in counts:
            for route in (bouncer, None):
                progress(f"{workers} workers, {args.trials} trials, "
                         f"{'pgbouncer' if route else 'direct'} ...")
                r = run(file, admin, workers, args.trials, route)
                progress(f"  {r['finished']} finished, {r['steady']:.1f} trials/s steady, "
                         f"peak {r['peak']} connections, {r['bad_exits']} bad exits, "
                         f"{len(r['errors'])} error lines")
                results.append(r)
    admin.dispose()

    def exact(r: dict) -> str:
        ok = r["finished"] == args.trials and not r["left"]
        return f"{r['finished']} of {args.trials} " + ("**exact**" if ok else "**NOT exact**")

    rows = [[r["workers"], r["route"], exact(r),
             r["left"], r["failed"], f"{r['steady']:.1f}", f"{r['wall']:.1f}",
             f"{r['wall_s']:.0f}", r["peak"], f"{r['peak'] / r['workers']:.2f}", r["held"],
             f"{r['server_peak']} / {max_connections}",
             f"{r['bad_exits']} ({', '.join(map(str, r['exit_codes']))})", len(r["errors"])]
            for r in results]
    errors = [f"- {r['workers']} workers, {r['route']}: `{line[:400]}`" for r in results
              for line in r["kinds"][:5]]
    text = "\n".join([
        f"# Load: many `tuner worker` processes on one PostgreSQL study ({args.trials} "
        "trials of iris, 2 epochs, hidden (4,)), through PgBouncer and direct",
        "",
        "Each row: a fresh database on the shared server, that many workers started at once "
        "(1 BLAS thread each), either through a private PgBouncer 1.18 in transaction mode "
        f"(`pool_mode = transaction`, at most {args.pool} server connections per database; "
        "tests/support/pgbouncer.py) or direct to PostgreSQL. The server's `max_connections` is "
        "left as it is. Steady = trials / (last finish - first start); wall = trials "
        "/ time around the processes (includes starting every interpreter). Peak = most "
        "server connections to the study's database seen in `pg_stat_activity` (polled every "
        "50 ms); median held = the median of those samples; server = the server-wide peak "
        "(other users included) against `max_connections`.",
        "",
        f"Pool settings of a worker (tuner/storage/_engine.py): pool_size {POOL_SIZE}, "
        f"max_overflow {MAX_OVERFLOW}; creating a trial takes no extra connection.",
        "",
        table(["workers", "route", "finished", "left RUNNING/WAITING", "FAIL",
               "trials/s (steady)",
               "trials/s (wall)", "wall s", "peak connections", "peak per worker",
               "median held", "server peak / max", "non-zero exits (codes)", "error lines"],
              rows),
        "",
        *(["Distinct error lines (first 5 per row):", "", *errors] if errors else
          ["No worker exited non-zero and no stderr line held a traceback or `error:`."]),
    ])
    write_table(args.out, text, machine)


if __name__ == "__main__":
    main()

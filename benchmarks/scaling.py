"""Trials per minute with 1 and with 2 `tuner worker` processes, on PostgreSQL and on
SQLite, in one run.

Each run is a fresh study (same file, same seeds) with a model sized so that a trial
takes about a second, and every worker limited to one BLAS thread. Throughput is
measured two ways: from the trials' own timestamps (first start to last finish: the
steady state) and from the wall clock around the processes (including their start-up).
Writes benchmarks/results/scaling.md.

    python benchmarks/scaling.py [--trials 24] [--epochs 30] [--quick]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import optuna
import sqlalchemy

from common.arguments import file_parser
from common.results import write_table
from common.shared_machine import Machine
from common.study_files import study_toml, write_study

NAME = "scaling"
PG_ADMIN = os.environ.get("TUNER_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
# A model sized so that a trial takes about a second.
DATA = {"n_samples": 8000, "n_features": 40, "n_informative": 20, "n_classes": 4}
SEARCH = {"alpha": ("log-uniform", 1e-3, 0.5), "beta": ("complement-log-uniform", 0.9, 0.99)}


def run(file: Path, url: str, workers: int) -> dict[str, float]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "tuner", "-q", "worker", str(file),
                               "--storage", url], env=env) for _ in range(workers)]
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - started
    if any(codes):
        raise SystemExit(f"a worker failed: exit codes {codes}")
    trials = optuna.load_study(study_name="scaling", storage=url).trials
    done = [t for t in trials if t.state.is_finished() and t.state.name != "FAIL"]
    span = (max(t.datetime_complete for t in done) -
            min(t.datetime_start for t in done)).total_seconds()
    return {"trials": len(done), "per_min_steady": 60 * len(done) / span,
            "per_min_wall": 60 * len(done) / wall,
            "trial_s": sum((t.datetime_complete - t.datetime_start).total_seconds()
                           for t in done) / len(done)}


def fresh_pg() -> tuple[str, callable]:
    name = f"tuner_bench_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = sqlalchemy.engine.make_url(PG_ADMIN).set(database=name).render_as_string(False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()
    return url, drop


def main() -> None:
    parser = file_parser(__doc__, NAME)
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    machine = Machine()
    if args.quick:
        args.trials, args.epochs = 4, 1
    tmp = Path(tempfile.mkdtemp(prefix="tuner-scaling-"))
    file = write_study(tmp, study_toml(NAME, trials=args.trials, epochs=args.epochs,
                                       dataset="synthetic", data=DATA, hidden=(256, 256),
                                       search=SEARCH, seed=0), stem=NAME)

    rows = []
    storages = ["sqlite"] + ([] if args.no_postgres else ["postgresql"])
    for kind in storages:
        results = {}
        for workers in (1, 2):
            if kind == "sqlite":
                url, drop = f"sqlite:///{tmp / f'scaling-{workers}.db'}", (lambda: None)
            else:
                url, drop = fresh_pg()
            try:
                results[workers] = run(file, url, workers)
            finally:
                drop()
            print(f"{kind}, {workers} worker(s): {results[workers]}", file=sys.stderr)
        one, two = results[1], results[2]
        rows.append(f"| {kind} | {one['trial_s']:.2f} | {one['per_min_steady']:.1f} | "
                    f"{two['per_min_steady']:.1f} | "
                    f"**{two['per_min_steady'] / one['per_min_steady']:.2f}x** | "
                    f"{one['per_min_wall']:.1f} | {two['per_min_wall']:.1f} | "
                    f"{two['per_min_wall'] / one['per_min_wall']:.2f}x |")
    table = "\n".join([
        f"# Scaling: trials per minute with 1 and 2 workers ({args.trials} trials, "
        f"synthetic 8000x40, hidden (256, 256), {args.epochs} epochs, 1 BLAS thread each)",
        "",
        "Steady = trials / (last finish - first start); "
        "wall = trials / time around the worker processes (includes their start-up).",
        "",
        "| storage | s per trial | 1 worker /min | 2 workers /min | ratio (steady) | "
        "1 worker /min (wall) | 2 workers /min (wall) | ratio (wall) |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ])
    write_table(args.out, table, machine)


if __name__ == "__main__":
    main()

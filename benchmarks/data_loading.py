"""Loading a study's own data: tuner against pandas reading the same data alone.

For a CSV and a Parquet file of 100,000 and 1,000,000 rows x (20 numeric + 5 categorical
columns, some gaps, a text target) and a PostgreSQL table of 100,000 rows, side by side:

- bare:         pandas.read_csv / read_parquet / read_sql, nothing else;
- fingerprint:  tuner's read + column typing + row hashes + content fingerprint
                (tuner/table.py `load_table`: what `tuner fingerprint` and `retune` pay);
- full:         the above + canonical stratified split + preprocessing fitted on the
                training rows + model inputs for all three splits (`table_splits`: what a
                worker pays before its first trial).

Each case runs in a fresh subprocess, so its peak RSS is its own. Wall time excludes
importing pandas / scikit-learn (both sides import what they use before the clock starts;
the import times are printed beside). Memory is compared with the loaded table's own size
(`DataFrame.memory_usage(deep=True)`), both as the process's whole peak RSS and as the
peak above the RSS after imports.

Targets: time within 2x of the bare read; peak memory within 3x of the table.

    python benchmarks/data_loading.py                # all cases, ~5 min on 2 cores
    python benchmarks/data_loading.py --rows 100000  # the small cases only
    TUNER_BENCH_PG=postgresql+psycopg2://postgres@127.0.0.1:5432/test  (default)

Writes benchmarks/results/data_loading.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tuner import machine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "data_loading.md"
PG_ADMIN = os.environ.get("TUNER_BENCH_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
N_NUMERIC, N_CATEGORICAL = 20, 5


def make_frame(n: int, seed: int = 0):  # -> pandas.DataFrame
    """n rows: 20 normal numeric columns (3 with 2% gaps), 5 categorical columns of 3..11
    levels (one with 2% gaps), a yes/no target that depends on a few of them."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data = {f"x{i}": rng.normal(size=n) for i in range(N_NUMERIC)}
    for i in range(N_CATEGORICAL):
        levels = np.array([f"c{i}_{k}" for k in range(3 + 2 * i)])
        data[f"k{i}"] = levels[rng.integers(0, len(levels), n)]
    score = data["x0"] - data["x1"] + (data["k0"] == "c0_1") + rng.normal(scale=0.5, size=n)
    data["y"] = np.where(score > 0.3, "yes", "no")
    frame = pd.DataFrame(data)
    for i in range(3):
        frame.loc[rng.random(n) < 0.02, f"x{i}"] = np.nan
    frame.loc[rng.random(n) < 0.02, "k0"] = None
    return frame


def write_inputs(folder: Path, rows: list[int], pg_url: str | None) -> dict[str, dict]:
    """The data files (and table), written once; returns case name -> case description."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    cases: dict[str, dict] = {}
    for n in rows:
        frame = make_frame(n)
        csv, parquet = folder / f"rows{n}.csv", folder / f"rows{n}.parquet"
        # pyarrow writes the CSV 10x faster than pandas; pandas and tuner read it back.
        pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), csv)
        frame.to_parquet(parquet, index=False)
        cases[f"CSV {n:,} rows"] = {"kind": "csv", "path": str(csv), "rows": n}
        cases[f"Parquet {n:,} rows"] = {"kind": "parquet", "path": str(parquet), "rows": n}
    if pg_url is not None:
        import sqlalchemy

        n = 100_000
        frame = make_frame(n, seed=1)
        engine = sqlalchemy.create_engine(pg_url)
        frame.to_sql("bench", engine, index=False, chunksize=20_000, method="multi")
        engine.dispose()
        # Set hint bits and the visibility map now, so that the first timed read does
        # not pay for them (and whichever side reads first is not penalised).
        autocommit = sqlalchemy.create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with autocommit.connect() as conn:
            conn.exec_driver_sql("VACUUM ANALYZE bench")
        autocommit.dispose()
        cases[f"PostgreSQL table {n:,} rows"] = {"kind": "sql", "url": pg_url, "rows": n}
    return cases


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc: VmRSS now, VmHWM its peak. (Not
    getrusage's ru_maxrss: Linux carries that across exec from the parent process.)"""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_case(case: dict, mode: str) -> dict:
    """One measurement, in this (fresh) process; printed as JSON by the child."""
    t0 = time.perf_counter()
    import pandas as pd

    if mode != "bare":
        # What tuner imports to read, split and fit, imported before the clock starts as
        # pandas is for the bare read (their time is reported on its own).
        import sklearn.compose  # noqa: F401
        import sklearn.impute  # noqa: F401
        import sklearn.model_selection  # noqa: F401
        import sklearn.pipeline  # noqa: F401
        import sklearn.preprocessing  # noqa: F401

        from tuner.spec import DataSpec
        from tuner.table import load_table, table_splits
    if case["kind"] == "sql":
        import sqlalchemy  # noqa: F401
        if mode != "bare":
            import tuner.passwords  # noqa: F401  - mask_url, for error messages
    import_s = time.perf_counter() - t0
    rss_after_imports = _status_mb("VmRSS")

    start = time.perf_counter()
    if mode == "bare":
        if case["kind"] == "csv":
            frame = pd.read_csv(case["path"])
        elif case["kind"] == "parquet":
            frame = pd.read_parquet(case["path"])
        else:
            import sqlalchemy

            engine = sqlalchemy.create_engine(case["url"])
            with engine.connect() as conn:
                frame = pd.read_sql("SELECT * FROM bench", conn)
            engine.dispose()
        seconds = time.perf_counter() - start
        extra = {"table_mb": float(frame.memory_usage(deep=True).sum()) / 2**20}
    else:
        if case["kind"] == "sql":
            os.environ["TUNER_BENCH_URL"] = case["url"]
            data = DataSpec(dataset=None, table="bench", url_env="TUNER_BENCH_URL",
                            target="y")
        else:
            data = DataSpec(dataset=None, path=case["path"], target="y")
        table = load_table(data, Path(case.get("path", "study.toml")))
        extra = {"fingerprint": table.digest[:12], "rows": table.n_rows,
                 "columns": table.n_columns}
        if mode == "full":
            splits = table_splits(table, dtype="float32")
            extra["inputs"] = list(splits.X_train.shape)
        seconds = time.perf_counter() - start
    peak = _status_mb("VmHWM")
    return {"seconds": seconds, "import_s": import_s, "peak_mb": peak,
            "rss_after_imports_mb": rss_after_imports, **extra}


def measure(case: dict, mode: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(case), mode],
                         capture_output=True, text=True, cwd=ROOT, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{mode} failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--no-pg", action="store_true", help="skip the PostgreSQL case")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs per case and mode; the fastest counts")
    args = parser.parse_args()

    pg_db = None
    pg_url = None
    if not args.no_pg:
        import sqlalchemy
        from sqlalchemy.engine import make_url

        pg_db = f"tuner_bench_{uuid.uuid4().hex[:10]}"
        admin = sqlalchemy.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {pg_db}")
            pg_url = make_url(PG_ADMIN).set(database=pg_db).render_as_string(
                hide_password=False)
        except Exception as e:  # noqa: BLE001 - no server: report it and go on
            print(f"PostgreSQL case skipped: {str(e).splitlines()[0]}", file=sys.stderr)
            pg_db = None
    rows_out = []
    try:
        with tempfile.TemporaryDirectory(prefix="tuner-bench-data-") as tmp:
            cases = write_inputs(Path(tmp), args.rows, pg_url)
            for name, case in cases.items():
                runs: dict[str, list[dict]] = {"bare": [], "fingerprint": [], "full": []}
                for _ in range(args.repeats):  # interleaved: load drifts hit all alike
                    for mode in runs:
                        runs[mode].append(measure(case, mode))
                results = {mode: min(rs, key=lambda r: r["seconds"])
                           for mode, rs in runs.items()}
                bare = results["bare"]
                table_mb = bare["table_mb"]
                row = {"case": name, "table_mb": table_mb, "bare_s": bare["seconds"],
                       "bare_peak_mb": bare["peak_mb"]}
                for mode in ("fingerprint", "full"):
                    r = results[mode]
                    row[f"{mode}_s"] = r["seconds"]
                    row[f"{mode}_ratio"] = r["seconds"] / bare["seconds"]
                    row[f"{mode}_peak_mb"] = r["peak_mb"]
                    row[f"{mode}_peak_x"] = r["peak_mb"] / table_mb
                    row[f"{mode}_above_imports_x"] = (
                        (r["peak_mb"] - r["rss_after_imports_mb"]) / table_mb)
                row["fingerprint"] = results["fingerprint"]["fingerprint"]
                row["import_s"] = results["full"]["import_s"]
                row["bare_import_s"] = bare["import_s"]
                rows_out.append(row)
                print(json.dumps(row), flush=True)
    finally:
        if pg_db is not None:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {pg_db} WITH (FORCE)")
            admin.dispose()
    write_report(rows_out, args)


def write_report(rows: list[dict], args: argparse.Namespace) -> None:
    lines = [
        "# Loading a study's own data: tuner vs pandas alone",
        "",
        f"`python benchmarks/data_loading.py` on {platform.machine()}, "
        f"{machine.logical_cores()} logical cores, Python {platform.python_version()}; "
        f"fastest of {args.repeats} run(s) per cell, each in a fresh process.",
        "",
        "- **bare**: `pandas.read_csv` / `read_parquet` / `read_sql` alone.",
        "- **fingerprint**: tuner's read + typing + row hashes + content fingerprint "
        "(`tuner.table.load_table`).",
        "- **full**: + canonical split + preprocessing fitted on train + float32 model "
        "inputs for train/validation/test (`tuner.table.table_splits`).",
        "- **table MB**: the bare DataFrame's `memory_usage(deep=True)`. Peak RSS is the "
        "whole process (interpreter, numpy, pandas, scikit-learn included); "
        "'above imports' subtracts the RSS measured after the imports.",
        "",
        "Targets: time within 2x of bare; peak memory within 3x of the table.",
        "",
        "| case | table MB | bare s | fingerprint s (ratio) | full s (ratio) | "
        "bare peak MB | fingerprint peak MB (x table; above imports) | "
        "full peak MB (x table; above imports) | imports s (bare; tuner) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['table_mb']:.0f} | {r['bare_s']:.2f} | "
            f"{r['fingerprint_s']:.2f} ({r['fingerprint_ratio']:.2f}x) | "
            f"{r['full_s']:.2f} ({r['full_ratio']:.2f}x) | {r['bare_peak_mb']:.0f} | "
            f"{r['fingerprint_peak_mb']:.0f} ({r['fingerprint_peak_x']:.1f}x; "
            f"{r['fingerprint_above_imports_x']:.1f}x) | {r['full_peak_mb']:.0f} "
            f"({r['full_peak_x']:.1f}x; {r['full_above_imports_x']:.1f}x) | "
            f"{r['bare_import_s']:.1f}; {r['import_s']:.1f} |")
    met_t = [r["case"] for r in rows if r["fingerprint_ratio"] <= 2]
    met_f = [r["case"] for r in rows if r["full_ratio"] <= 2]
    met_m = [r["case"] for r in rows if r["full_peak_x"] <= 3]
    met_m2 = [r["case"] for r in rows if r["full_above_imports_x"] <= 3]
    lines += [
        "",
        f"Time target (2x) met by fingerprint on {len(met_t)} of {len(rows)} cases, by "
        f"full on {len(met_f)} of {len(rows)}.",
        f"Memory target (3x, whole-process peak of full) met on {len(met_m)} of "
        f"{len(rows)} cases; above imports on {len(met_m2)} of {len(rows)}.",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(run_case(json.loads(sys.argv[2]), sys.argv[3])))
    else:
        main()

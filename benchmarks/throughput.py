"""Throughput of `tuner study run`: start-up and per-trial cost, old code against new.

The old code is a git ref (default ``8ab7d59``, the code before lean bookkeeping, the
budget's single count and the snapshot pruner) exported with ``git archive`` into a
temporary folder and run with ``PYTHONPATH`` pointing there; the new code is this
checkout. Both run with the same Python, libraries, study files and machine, taking turns
within each repeat:

1. the fixed cost of ``tuner study run FILE --n-trials 1`` on a fresh SQLite file and on
   an existing study, against ``python -c "import optuna"`` (the new code's splits cache
   is warmed once first: the steady state of a user who runs more than one command);
2. per trial, for ``studies/digits-momentum.toml`` (the demo) and
   ``studies/synthetic-caviar.toml`` on SQLite and PostgreSQL: trials per minute (first
   trial's start to last trial's end, from the stored datetimes), each trial's wall time
   against the same model fitted alone in this process right after (same data, params,
   epochs, validation pass), and their difference, the bookkeeping per trial;
3. the demo study as ``make demo`` runs it (``--jobs auto``), end to end.

The whole-job comparison against RandomizedSearchCV is `benchmarks/vs_alternatives.py`
(results/vs_alternatives.md); the stacking decision is `benchmarks/stacking.py`.

    python benchmarks/throughput.py [--old REF] [--repeats 5] [--quick] [--out DIR]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import sqlalchemy

from common.arguments import parser
from common.results import progress, table, write_result
from common.shared_machine import Machine

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "studies" / "digits-momentum.toml"
CAVIAR = ROOT / "studies" / "synthetic-caviar.toml"
PG_ADMIN = os.environ.get("TUNER_BENCH_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


class Code:
    """One version of tuner: its source folder on PYTHONPATH, its own splits cache."""

    def __init__(self, label: str, source: Path, cache: Path) -> None:
        self.label, self.source, self.cache = label, source, cache

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(self.source), "TUNER_CACHE_DIR": str(self.cache),
                "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

    def run(self, *args: object, timeout: float = 1800) -> float:
        start = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "tuner", *map(str, args)], env=self.env(),
                           capture_output=True, text=True, timeout=timeout, cwd=self.source)
        wall = time.perf_counter() - start
        if r.returncode != 0:
            raise SystemExit(f"{self.label}: tuner {' '.join(map(str, args))} failed:\n"
                             f"{r.stderr[-2000:]}")
        return wall

    def python(self, code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=self.env(), check=True,
                       capture_output=True)
        return time.perf_counter() - start


def export_old(ref: str, folder: Path) -> Path:
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "tuner", "studies"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def pg_database(name: str) -> str:
    engine = sqlalchemy.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}"'))
        c.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return str(sqlalchemy.engine.make_url(PG_ADMIN).set(database=name).render_as_string(
        hide_password=False))


def drop_pg(name: str) -> None:
    engine = sqlalchemy.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- 1. fixed cost ------------------------------------------------------------------------

def fixed_cost(codes: list[Code], work: Path, repeats: int) -> tuple[str, dict]:
    existing = {}
    for code in codes:  # untimed: the existing study, and the new code's warm cache
        existing[code.label] = f"sqlite:///{work / f'existing-{code.label}.db'}"
        code.run("study", "run", DEMO, "--storage", existing[code.label], "--n-trials", 1, "-q")
    times: dict[tuple[str, str], list[float]] = {}
    for r in range(repeats):
        progress(f"fixed cost, repeat {r + 1}/{repeats}")
        for code in codes:
            fresh = f"sqlite:///{work / f'fresh-{code.label}-{r}.db'}"
            times.setdefault((code.label, "fresh"), []).append(
                code.run("study", "run", DEMO, "--storage", fresh, "--n-trials", 1, "-q"))
            times.setdefault((code.label, "existing"), []).append(
                code.run("study", "run", DEMO, "--storage", existing[code.label],
                         "--n-trials", 1, "-q"))
            times.setdefault((code.label, "import optuna"), []).append(
                code.python("import optuna"))
    rows, figures = [], {}
    for what in ("fresh", "existing"):
        cells = [f"`study run --n-trials 1`, {what} SQLite study"]
        for code in codes:
            t, base = med(times[(code.label, what)]), med(times[(code.label, "import optuna")])
            figures[(code.label, what)] = (t, t / base)
            cells.append(f"{t:.2f} s = {t / base:.1f}x")
        old, new = figures[(codes[0].label, what)][0], figures[(codes[1].label, what)][0]
        rows.append([*cells, f"{new / old:.2f}x"])
    rows.append(["`python -c \"import optuna\"`",
                 *[f"{med(times[(c.label, 'import optuna')]):.2f} s" for c in codes], ""])
    text = table([f"what (median of {repeats})", *[f"{c.label}: wall = x import optuna"
                                                     for c in codes], "new / old"], rows)
    return text, figures


# --- 2. per trial -------------------------------------------------------------------------

def fit_alone(spec, splits, trial: optuna.trial.FrozenTrial) -> float:
    from tuner.mlp import MLPCore
    from tuner.objective import model_params

    epochs = len(trial.intermediate_values) or spec.model.epochs
    clf = MLPCore(**{**model_params(spec, trial.params), "epochs": epochs})
    start = time.perf_counter()
    try:
        clf.fit(splits.X_train, splits.y_train, splits.X_val, splits.y_val)
    except Exception:  # noqa: BLE001 - a diverged trial: its time until it stopped
        pass
    return time.perf_counter() - start


def per_trial(codes: list[Code], work: Path, n_trials: dict[Path, int]) -> tuple[str, dict]:
    from tuner.data import spec_splits
    from tuner.spec import load_spec

    rows, figures = [], {}
    for file, n in n_trials.items():
        spec = load_spec(file)
        splits = spec_splits(spec)
        for backend in ("sqlite", "postgresql"):
            for code in codes:
                progress(f"per trial: {file.stem}, {backend}, {code.label} ({n} trials)")
                db = f"thr_{code.label}_{file.stem.replace('-', '_')}_{os.getpid()}"
                url = (f"sqlite:///{work / (db + '.db')}" if backend == "sqlite"
                       else pg_database(db))
                try:
                    code.run("study", "run", file, "--storage", url, "--n-trials", n,
                             "--jobs", 1, "-q")
                    trials = [t for s in optuna.get_all_study_summaries(url)
                              for t in optuna.load_study(study_name=s.study_name,
                                                         storage=url).trials]
                finally:
                    if backend == "postgresql":
                        drop_pg(db)
                done = [t for t in trials if t.datetime_complete is not None]
                walls = [(t.datetime_complete - t.datetime_start).total_seconds() for t in done]
                alone = [fit_alone(spec, splits, t) for t in done]
                span = (max(t.datetime_complete for t in done)
                        - min(t.datetime_start for t in done)).total_seconds()
                per_min = len(done) / span * 60
                book = med([w - a for w, a in zip(walls, alone, strict=True)])
                ratio = med([w / a for w, a in zip(walls, alone, strict=True)])
                # The 1.3x is for a trial that reports all its epochs: a trial the
                # pruner stopped at epoch 2 has a 3-epoch fit to hide its bookkeeping in.
                whole = [w / a for t, w, a in zip(done, walls, alone, strict=True)
                         if len(t.intermediate_values) == spec.model.epochs]
                ratio_whole = med(whole) if whole else float("nan")
                figures[(file.stem, backend, code.label)] = (per_min, book, ratio,
                                                             ratio_whole)
                rows.append([file.stem, backend, code.label, len(done), f"{per_min:.0f}",
                             f"{med(walls) * 1e3:.0f}", f"{med(alone) * 1e3:.0f}",
                             f"{book * 1e3:.0f}", f"{ratio:.2f}x",
                             f"{ratio_whole:.2f}x ({len(whole)})"])
    text = table(["study", "storage", "code", "trials", "trials/min",
                  "trial wall, median ms", "fit alone, median ms",
                  "bookkeeping per trial, median ms", "trial / fit alone, median",
                  "same, trials that ran every epoch (how many)"], rows)
    return text, figures


# --- 3. make demo -------------------------------------------------------------------------

def demo(codes: list[Code], work: Path, repeats: int) -> tuple[str, dict]:
    times: dict[str, list[float]] = {}
    for r in range(repeats):
        for code in codes:
            progress(f"make demo's study, {code.label}, repeat {r + 1}/{repeats}")
            url = f"sqlite:///{work / f'demo-{code.label}-{r}.db'}"
            times.setdefault(code.label, []).append(
                code.run("study", "run", DEMO, "--storage", url, "--jobs", "auto", "-q"))
    old, new = med(times[codes[0].label]), med(times[codes[1].label])
    rows = [[c.label, ", ".join(f"{t:.1f}" for t in times[c.label]), f"{med(times[c.label]):.1f}"]
            for c in codes]
    rows.append(["old / new", "", f"{old / new:.2f}x faster"])
    return table(["code", "runs (s)", "median (s)"], rows), {"old": old, "new": new}


def targets(fixed: dict, trials: dict, demo_fig: dict) -> str:
    """Issue 15's targets against this run's figures for the new code."""
    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    fresh, fresh_x = fixed[("new", "fresh")]
    existing, existing_x = fixed[("new", "existing")]
    _, book, ratio, ratio_whole = trials[("digits-momentum", "sqlite", "new")]
    speed = demo_fig["old"] / demo_fig["new"]
    rows = [
        ["fixed cost, fresh SQLite", "< 1.0 s", f"{fresh:.2f} s", verdict(fresh < 1.0)],
        ["fixed cost, existing study", "< 0.6 s", f"{existing:.2f} s",
         verdict(existing < 0.6)],
        ["fixed cost / `import optuna`, fresh and existing", "about 2.5x at most",
         f"{fresh_x:.1f}x and {existing_x:.1f}x", verdict(max(fresh_x, existing_x) <= 2.5)],
        ["bookkeeping per trial, demo, SQLite", "< 20 ms", f"{book * 1e3:.0f} ms",
         verdict(book < 0.020)],
        ["trial wall / fit alone, demo, SQLite, trials that ran every epoch", "<= 1.3x",
         f"{ratio_whole:.2f}x (all trials: {ratio:.2f}x)", verdict(ratio_whole <= 1.3)],
        ["`make demo`'s study, old / new", ">= 2x", f"{speed:.2f}x", verdict(speed >= 2)],
    ]
    return table(["target", "wanted", "new code, this run", ""], rows)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--old", default="8ab7d59",
                   help="git ref of the code to compare against (default: the code before "
                   "lean bookkeeping)")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    machine = Machine()
    # The fits alone get what a trial gets: one BLAS thread (the CLI runs set it too).
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    repeats = 1 if args.quick else args.repeats
    with tempfile.TemporaryDirectory(prefix="tuner-throughput-") as tmp:
        work = Path(tmp)
        codes = [Code(f"old ({args.old})", export_old(args.old, work / "old"), work / "c-old"),
                 Code("new", ROOT, work / "c-new")]
        codes[0].label, codes[1].label = "old", "new"
        fixed, fixed_fig = fixed_cost(codes, work, repeats)
        load_fixed = os.getloadavg()
        trials_text, trial_fig = per_trial(codes, work, {DEMO: 6 if args.quick else 20,
                                                 CAVIAR: 3 if args.quick else 10})
        load_trials = os.getloadavg()
        demo_text, demo_fig = demo(codes, work, 1 if args.quick else 2)
        load_demo = os.getloadavg()
    body = "\n".join([
        f"Old code: `{args.old}` (git archive, run with PYTHONPATH); new: this checkout. "
        "Both take turns within each repeat; medians. Load averages (1, 5, 15 min) after "
        "each section are given: the machine is shared, so read the ratios, not the "
        "seconds.", "",
        "## 1. Fixed cost of `tuner study run` (`--n-trials 1`)", "",
        "The study file is the demo (`studies/digits-momentum.toml`); \"fresh\" creates the "
        "SQLite file and the study and runs one trial, \"existing\" opens a study that "
        "already has its trial. The new code's splits cache was warmed once before.", "",
        fixed, "", f"Load average after this section: {load_fixed[0]:.1f}, "
        f"{load_fixed[1]:.1f}, {load_fixed[2]:.1f}.", "",
        "## 2. Per trial (`--jobs 1`, the study file's own pruner)", "",
        "Bookkeeping per trial = the trial's wall time (stored start to end) minus the same "
        "model fitted alone in this process (same data, parameters, epochs, validation "
        "pass); medians over the trials.", "",
        trials_text, "", f"Load average after this section: {load_trials[0]:.1f}, "
        f"{load_trials[1]:.1f}, {load_trials[2]:.1f}.", "",
        "## 3. `make demo`'s study end to end (`--jobs auto`, fresh SQLite)", "",
        demo_text, "", f"Load average after this section: {load_demo[0]:.1f}, "
        f"{load_demo[1]:.1f}, {load_demo[2]:.1f}.", "",
        "## Targets", "", targets(fixed_fig, trial_fig, demo_fig),
    ])
    path = write_result(args.out, "throughput",
                        "Throughput: start-up and per-trial cost, old vs new", body, machine,
                        quick=args.quick, plot=False)
    progress(f"wrote {path}")


if __name__ == "__main__":
    main()

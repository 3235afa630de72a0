"""Helpers shared by the evidence benchmarks: arguments, study specs, in-memory
studies, robust statistics, the machine description and the result files.

Each benchmark is a script (``python benchmarks/NAME.py [--quick] [--out DIR]``) that
writes ``DIR/NAME.md`` and ``DIR/NAME.png``; ``DIR`` defaults to ``benchmarks/results``.
``--quick`` runs a tiny budget for the smoke tests: its numbers mean nothing, and its
result file says so at the top.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: never open a window, work without a display

import numpy as np  # noqa: E402
import optuna  # noqa: E402

from tuner.data import Splits, load_splits  # noqa: E402
from tuner.objective import make_objective, make_pruner  # noqa: E402
from tuner.space import make_sampler  # noqa: E402
from tuner.spec import SamplerSpec, StudySpec, load_spec  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


# --- arguments ---------------------------------------------------------------------------

QUICK_RESULTS = Path(tempfile.gettempdir()) / "tuner-benchmarks-quick"


class _Parser(argparse.ArgumentParser):
    def parse_args(self, *args, **kwargs):  # type: ignore[override]
        ns = super().parse_args(*args, **kwargs)
        if ns.out is None:  # a quick run never overwrites the published results by default
            ns.out = QUICK_RESULTS if ns.quick else RESULTS
        return ns


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark takes."""
    first = (doc or "").strip().splitlines()[0] if doc else None
    p = _Parser(description=first, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="tiny budget, for the smoke tests: the numbers mean nothing")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help=f"folder for NAME.md and NAME.png (default: {RESULTS}; with "
                        f"--quick: {QUICK_RESULTS})")
    return p


# --- studies -----------------------------------------------------------------------------

def quiet() -> None:
    """No per-trial log lines and no experimental/independent-sampling warnings."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message=".*balance properties of Sobol.*")
    warnings.filterwarnings("ignore", category=UserWarning, module="optuna")


def spec_from_toml(text: str) -> StudySpec:
    """A validated StudySpec from study-file text, through tuner's own parser."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "study.toml"
        path.write_text(text, encoding="utf-8")
        return load_spec(path)


def with_seed(spec: StudySpec, *, sampler: str | None = None, seed: int) -> StudySpec:
    """``spec`` with the sampler ``sampler`` seeded ``seed`` and the model seeded ``seed``
    (initialization and mini-batch order)."""
    s = spec.sampler
    return replace(spec, sampler=SamplerSpec(name=sampler or s.name, seed=seed,
                                             options=s.options),
                   model=replace(spec.model, seed=seed))


def splits_for(spec: StudySpec) -> Splits:
    return load_splits(spec.data.dataset, dtype=spec.model.dtype, **spec.data.loader_kwargs())


def run_study(spec: StudySpec, splits: Splits, n_trials: int | None = None) -> optuna.Study:
    """Run ``spec`` in memory with tuner's sampler, pruner and objective; the study.

    The evidence scripts measure ideas, not storages: an in-memory storage keeps
    Optuna's bookkeeping out of the way.
    """
    study = optuna.create_study(
        direction=spec.direction,
        sampler=make_sampler(spec),
        pruner=make_pruner(spec.pruner, spec.model.epochs),
    )
    study.optimize(make_objective(spec, splits), n_trials=n_trials or spec.n_trials)
    return study


def best_value(study: optuna.Study) -> float:
    """The best value, or NaN when every trial diverged (a result worth seeing)."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return float("nan")
    values = [t.value for t in complete]
    return max(values) if study.direction == optuna.study.StudyDirection.MAXIMIZE \
        else min(values)


# --- statistics --------------------------------------------------------------------------

def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(25th percentile, median, 75th percentile), NaNs ignored."""
    a = np.asarray(values, dtype=float)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return (float("nan"),) * 3
    q1, q2, q3 = np.percentile(a, [25, 50, 75])
    return float(q1), float(q2), float(q3)


def median(values: Sequence[float]) -> float:
    a = [v for v in values if np.isfinite(v)]
    return float(statistics.median(a)) if a else float("nan")


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of log y against log x."""
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


# --- the machine -------------------------------------------------------------------------

def _cpu_ticks() -> tuple[int, int, float] | None:
    """(busy ticks of all CPUs, all ticks, this process's CPU ticks) from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + values[4]  # idle + iowait
    own = os.times()  # children count once reaped: a block that waits for its subprocesses
    ticks = os.sysconf("SC_CLK_TCK")  # sees their CPU time as its own
    mine = own.user + own.system + own.children_user + own.children_system
    return sum(values) - idle, sum(values), mine * ticks


class OtherLoad:
    """The share of the machine's CPU time that *other* processes used during a block.

    The machine is shared: a timing taken while something else ran is reported with
    this figure beside it. Subprocesses waited for inside the block count as this
    process. None where /proc/stat is unavailable.
    """

    fraction: float | None = None

    def __enter__(self) -> OtherLoad:
        self._start = _cpu_ticks()
        return self

    def __exit__(self, *exc_info: object) -> None:
        end = _cpu_ticks()
        if self._start is None or end is None:
            return
        busy, total, own = (e - s for e, s in zip(end, self._start))
        # Below ~100 ticks (half a second on 2 cores) the 10 ms tick makes it noise.
        if total >= 100:
            self.fraction = min(1.0, max(0.0, (busy - own) / total))


def load_text(fraction: float | None) -> str:
    """An OtherLoad fraction for a table: "3%", or "n/a" for a block too short to tell."""
    return "n/a" if fraction is None else f"{100 * fraction:.0f}%"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _version(module: str) -> str | None:
    mod = sys.modules.get(module)
    return getattr(mod, "__version__", None) if mod else None


class Machine:
    """What a reader needs to judge the numbers: cores, BLAS, versions, load."""

    def __init__(self) -> None:
        self.started = datetime.now(timezone.utc)
        self.load_start = os.getloadavg()
        self.clock_start = time.perf_counter()

    def lines(self) -> list[str]:
        from threadpoolctl import threadpool_info

        try:
            usable = len(os.sched_getaffinity(0))
        except AttributeError:
            usable = os.cpu_count()
        load_end = os.getloadavg()
        versions = ", ".join(
            f"{name} {v}" for name in ("numpy", "scipy", "sklearn", "optuna", "torch",
                                       "matplotlib")
            if (v := _version(name)))
        out = [
            f"- date: {self.started:%Y-%m-%d %H:%M} UTC, run took "
            f"{time.perf_counter() - self.clock_start:.0f} s",
            f"- CPU: {_cpu_model()}, {os.cpu_count()} logical cores ({usable} usable), "
            f"{platform.machine()}, {platform.system()} {platform.release()}",
            f"- python {platform.python_version()}, {versions}",
        ]
        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                out.append(
                    f"- BLAS: {pool.get('internal_api')} {pool.get('version')} "
                    f"({pool.get('architecture', '?')}, {pool.get('threading_layer', '?')}, "
                    f"{pool.get('num_threads')} threads) from "
                    f"{Path(pool.get('filepath', '?')).name}")
        for pool in threadpool_info():
            if pool.get("user_api") == "openmp":
                out.append(f"- OpenMP: {pool.get('internal_api')} "
                           f"({pool.get('num_threads')} threads) from "
                           f"{Path(pool.get('filepath', '?')).name}")
        threads = {k: v for k, v in os.environ.items()
                   if k.endswith("_NUM_THREADS") or k.startswith("OPENBLAS_")}
        if threads:
            out.append("- environment: " + ", ".join(f"{k}={v}" for k, v in
                                                     sorted(threads.items())))
        out.append(f"- load average (1, 5, 15 min) at start: "
                   f"{', '.join(f'{x:.2f}' for x in self.load_start)}; at end: "
                   f"{', '.join(f'{x:.2f}' for x in load_end)} "
                   "(the machine is shared by several engineers)")
        return out


# --- results -----------------------------------------------------------------------------

def write_result(out: Path, name: str, title: str, body: str, machine: Machine, *,
                 quick: bool, command: str | None = None) -> Path:
    """Write ``out/NAME.md``: title, how to re-run, body, the machine. Returns the path."""
    out.mkdir(parents=True, exist_ok=True)
    command = command or f"python benchmarks/{name}.py"
    head = [f"# {title}", ""]
    if quick:
        head += ["> **QUICK RUN** (`--quick`): a tiny budget for the smoke test. "
                 "These numbers mean nothing; re-run without `--quick`.", ""]
    head += [f"Re-run: `{command}` (script: [`benchmarks/{name}.py`](../{name}.py)); "
             f"plot: [`{name}.png`]({name}.png).", ""]
    text = "\n".join(head) + "\n" + body.rstrip() + "\n\n## Machine\n\n" + \
        "\n".join(machine.lines()) + "\n"
    path = out / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    return path


def save_figure(fig, out: Path, name: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; floats as given (format them before)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_acc(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.3f}"


def progress(message: str) -> None:
    """One line on stderr, so a long run shows it is alive."""
    print(message, file=sys.stderr, flush=True)

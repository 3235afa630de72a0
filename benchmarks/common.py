"""What every benchmark shares. Read this before writing a new one.

A benchmark is a script, ``python benchmarks/NAME.py [--quick] [--out ...]``, that measures
one thing and writes ``benchmarks/results/NAME.md`` (and, for the evidence scripts,
``NAME.png``). ``--quick`` runs a tiny budget for the smoke tests in tests/test_benchmarks*.py:
its numbers mean nothing and its result file says so. The skeleton of a new one::

    from common import Machine, finish, parser, study_toml, spec_from_toml, table

    def main() -> None:
        args = parser(__doc__).parse_args()          # --quick, --out DIR
        machine = Machine()                           # starts the clock and the load record
        spec = spec_from_toml(study_toml("mine", trials=8, epochs=3, dataset="digits"))
        ...                                           # measure; time blocks in OtherLoad()
        finish(args, machine, "mine", "My title", body_markdown)

The API, by topic:

- arguments: ``parser(doc)`` (``--quick``, ``--out DIR``; a quick run writes to a temporary
  folder, never over the published results), ``file_parser(doc, name)`` (``--quick``,
  ``--out FILE``), ``add_options(p, seeds=, epochs=, dataset=)`` for the usual extras.
- study files: ``study_toml(name, trials=, epochs=, ...)`` writes the TOML of a study file
  (search space, sampler, pruner, data and model keys as arguments; the search space
  defaults to ``ALPHA_BETA``, the shipped studies' alpha and beta); ``spec_from_toml``
  parses it with tuner's own parser; ``write_study(folder, text)`` puts it on disk for a CLI;
  ``fmt_range(low, high)`` writes a range for a result file.
- running studies in memory: ``quiet``, ``with_seed``, ``splits_for``, ``run_study``,
  ``best_value``; ``accuracy_grid`` trains the model over a grid of (alpha, beta) with
  several seeds (the learning-rate sweeps).
- training time per epoch, same architecture and optimizer steps for everyone:
  ``time_tuner``, ``time_sklearn``, ``time_torch`` (PyTorch, when importable) return an
  ``EpochTimes``; ``sklearn_mlp`` is scikit-learn's MLPClassifier set up to take tuner's
  steps; ``torch_or_none()``.
- the shared machine: ``OtherLoad`` (the share of CPU time other processes used during a
  block: report it beside every timing, redo a block above ~10%), ``wait_until_idle``,
  ``SpeedProbe`` (a virtual machine slowed by its neighbours), ``blas_threads``,
  ``Machine`` (cores, BLAS, versions, load: the result file's "## Machine" section).
- statistics: ``quartiles``, ``median``, ``loglog_slope``.
- results: ``table``, ``fmt_acc``, ``load_text``, ``save_figure``, ``write_result``,
  ``finish`` (write the result file and say so) for the evidence scripts; ``write_table``
  for the timing scripts' one-table files; ``median_time``; ``progress`` (stderr).

Timing rules (README "Timing on a shared machine"): competitors take turns within each
repeat, report ratios of medians, never a bare number of seconds as the verdict.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

# Optuna, tuner and scikit-learn are imported where they are used: a subprocess that
# imports this module for one helper (vs_alternatives.py's scikit-learn job) must not pay
# for the others' imports inside its timing.
if TYPE_CHECKING:
    import optuna

    from tuner.data import Splits
    from tuner.spec import StudySpec

# Files only: never open a window, work without a display (read when pyplot is imported).
os.environ.setdefault("MPLBACKEND", "Agg")

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
QUICK_RESULTS = Path(tempfile.gettempdir()) / "tuner-benchmarks-quick"
ALPHA, BETA = 0.05, 0.9  # tuner's default learning rate and momentum


# --- arguments ---------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def parse_args(self, *args, **kwargs):  # type: ignore[override]
        ns = super().parse_args(*args, **kwargs)
        if ns.out is None:  # a quick run never overwrites the published results by default
            ns.out = QUICK_RESULTS if ns.quick else RESULTS
        return ns


def _first_line(doc: str | None) -> str | None:
    return doc.strip().splitlines()[0] if doc and doc.strip() else None


def parser(doc: str | None) -> argparse.ArgumentParser:
    """``--quick`` and ``--out DIR`` (for NAME.md and NAME.png)."""
    p = _Parser(description=_first_line(doc),
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="tiny budget, for the smoke tests: the numbers mean nothing")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help=f"folder for NAME.md and NAME.png (default: {RESULTS}; with "
                        f"--quick: {QUICK_RESULTS})")
    return p


def file_parser(doc: str | None, name: str) -> argparse.ArgumentParser:
    """``--quick`` and ``--out FILE`` (default results/NAME.md), for the timing scripts
    that write one table."""
    p = argparse.ArgumentParser(description=_first_line(doc))
    p.add_argument("--quick", action="store_true", help="tiny budget (smoke test)")
    p.add_argument("--out", type=Path, default=RESULTS / f"{name}.md", metavar="FILE",
                   help=f"markdown file (default {RESULTS / (name + '.md')})")
    return p


def add_options(p: argparse.ArgumentParser, *, seeds: int | None = None,
                epochs: int | None = None, dataset: bool = False) -> argparse.ArgumentParser:
    """The options most evidence scripts take, with their defaults."""
    if seeds is not None:
        p.add_argument("--seeds", type=int, default=seeds)
    if epochs is not None:
        p.add_argument("--epochs", type=int, default=epochs)
    if dataset:
        p.add_argument("--dataset", default="synthetic", choices=["synthetic", "digits"])
    return p


# --- study files -------------------------------------------------------------------------

# tuner's shipped search space (studies/digits-momentum.toml): the two hyperparameters
# every study tunes. alpha spans [0.01, 10]: log_scale.md found the good learning rates of
# this batch-norm model at about 0.2-5.
ALPHA_BETA = {"alpha": ("log-uniform", 1e-2, 10.0),
              "beta": ("complement-log-uniform", 0.9, 0.999)}


def fmt_range(low: float, high: float) -> str:
    """``[low, high]`` as the result files write a range: ``[0.01, 10]``, ``[1e-8, 0.1]``."""
    def one(v: float) -> str:
        return f"{v:g}".replace("e-0", "e-").replace("e+0", "e+")

    return f"[{one(low)}, {one(high)}]"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def study_toml(name: str, *, trials: int, epochs: int, dataset: str = "digits",
               data: Mapping[str, Any] | None = None, hidden: Sequence[int] = (64, 64),
               batch_size: int | None = 64, model: Mapping[str, Any] | None = None,
               search: Mapping[str, tuple[str, float, float]] = ALPHA_BETA,
               sampler: str = "random", seed: int | None = None,
               pruner: str = "none") -> str:
    """The text of a study file. ``search`` maps a hyperparameter to (prior, low, high);
    ``data`` and ``model`` add keys to those tables (e.g. ``{"use_batchnorm": False}``)."""
    model_keys = {"hidden": list(hidden), "epochs": epochs,
                  **({"batch_size": batch_size} if batch_size is not None else {}),
                  **(model or {})}
    lines = ["[study]", f"name = {_toml(name)}", f"n_trials = {trials}", "",
             "[data]", f"dataset = {_toml(dataset)}"]
    lines += [f"{k} = {_toml(v)}" for k, v in (data or {}).items()]
    lines += ["", "[model]"] + [f"{k} = {_toml(v)}" for k, v in model_keys.items()]
    lines += ["", "[search]"] + [
        f'{k} = {{ prior = "{prior}", low = {low!r}, high = {high!r} }}'
        for k, (prior, low, high) in search.items()]
    lines += ["", "[sampler]", f"name = {_toml(sampler)}"]
    if seed is not None:
        lines.append(f"seed = {seed}")
    lines += ["", "[pruner]", f"name = {_toml(pruner)}", ""]
    return "\n".join(lines)


def write_study(folder: Path, text: str, stem: str = "study") -> Path:
    """``text`` as ``folder/STEM.toml``, for the CLI."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def spec_from_toml(text: str) -> StudySpec:
    """A validated StudySpec from study-file text, through tuner's own parser."""
    from tuner.spec import load_spec

    with tempfile.TemporaryDirectory() as tmp:
        return load_spec(write_study(Path(tmp), text))


# --- studies in memory -------------------------------------------------------------------

def quiet() -> None:
    """No per-trial log lines and no experimental/independent-sampling warnings."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message=".*balance properties of Sobol.*")
    warnings.filterwarnings("ignore", category=UserWarning, module="optuna")


def with_seed(spec: StudySpec, *, sampler: str | None = None, seed: int) -> StudySpec:
    """``spec`` with the sampler ``sampler`` seeded ``seed`` and the model seeded ``seed``
    (initialization and mini-batch order)."""
    from tuner.spec import SamplerSpec

    s = spec.sampler
    return replace(spec, sampler=SamplerSpec(name=sampler or s.name, seed=seed,
                                             options=s.options),
                   model=replace(spec.model, seed=seed))



def spec_splits(spec: StudySpec) -> Splits:
    from tuner.data import spec_splits as _spec_splits

    return _spec_splits(spec)


def run_study(spec: StudySpec, splits: Splits, n_trials: int | None = None) -> optuna.Study:
    """Run ``spec`` in memory with tuner's sampler, pruner and objective; the study.

    The evidence scripts measure ideas, not storages: an in-memory storage keeps
    Optuna's bookkeeping out of the way.
    """
    import optuna

    from tuner.objective import make_objective
    from tuner.pruning import make_pruner
    from tuner.space import make_sampler

    study = optuna.create_study(
        direction=spec.direction,
        sampler=make_sampler(spec),
        pruner=make_pruner(spec.pruner, spec.model.epochs),
    )
    study.optimize(make_objective(spec, splits), n_trials=n_trials or spec.n_trials)
    return study


def best_value(study: optuna.Study) -> float:
    """The best value, or NaN when every trial diverged (a result worth seeing)."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return float("nan")
    values = [t.value for t in complete]
    return max(values) if study.direction == optuna.study.StudyDirection.MAXIMIZE \
        else min(values)


def accuracy_grid(spec: StudySpec, splits: Splits, alphas: np.ndarray, betas: np.ndarray,
                  seeds: int, *, report: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validation accuracy of ``spec``'s model at every (beta, alpha), one fit per model
    seed: (accuracy, shape (betas, alphas, seeds); diverged share, shape (betas, alphas)).
    A diverged fit counts as accuracy 0. ``report``: a progress line per beta."""
    from tuner.mlp import DivergedError, MLPClassifierBN
    from tuner.objective import model_params

    acc = np.zeros((len(betas), len(alphas), seeds))
    diverged = np.zeros((len(betas), len(alphas)))
    for i, b in enumerate(betas):
        for j, a in enumerate(alphas):
            for seed in range(seeds):
                kwargs = model_params(spec, {"alpha": float(a), "beta": float(b),
                                             "seed": seed})
                try:
                    clf = MLPClassifierBN(**kwargs).fit(splits.X_train, splits.y_train)
                    acc[i, j, seed] = clf.score(splits.X_val, splits.y_val)
                except DivergedError:
                    diverged[i, j] += 1 / seeds
        if report:
            progress(f"sweep: row {i + 1}/{len(betas)} (1 - beta = {1 - b:.2g}) done, "
                     f"best so far {acc[: i + 1].mean(axis=-1).max():.3f}")
    return acc, diverged


# --- training time per epoch -------------------------------------------------------------

@dataclass
class EpochTimes:
    """Seconds of each epoch but the first (the warm-up), and the validation accuracy."""

    seconds: list[float]
    val_accuracy: float

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def per_epoch(start: float, stamps: Sequence[float]) -> list[float]:
    """Durations of the epochs after the first (the first is the warm-up)."""
    times = np.diff([start, *stamps])
    return list(times[1:]) if len(times) > 1 else list(times)


def time_tuner(X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, *,
               hidden: Sequence[int], batch_size: int, epochs: int, dtype: str = "float32",
               alpha: float = ALPHA, beta: float = BETA, seed: int = 0) -> EpochTimes:
    """tuner's MLPClassifierBN; the data are converted to ``dtype`` outside the clock."""
    from tuner.mlp import MLPClassifierBN

    X, X_val = X.astype(dtype), X_val.astype(dtype)
    stamps: list[float] = []
    clf = MLPClassifierBN(hidden=tuple(hidden), learning_rate=alpha, momentum=beta,
                          epochs=epochs, batch_size=batch_size, seed=seed, dtype=dtype)
    start = time.perf_counter()
    clf.fit(X, y, on_epoch=lambda epoch, metrics: stamps.append(time.perf_counter()))
    return EpochTimes(per_epoch(start, stamps), clf.score(X_val, y_val))


def sklearn_mlp(*, hidden: Sequence[int], batch_size: int, epochs: int, alpha: float = ALPHA,
                beta: float = BETA, seed: int | None = 0, verbose: bool = False):
    """scikit-learn's MLPClassifier taking tuner's steps: tuner's velocity
    ``v = beta v + (1 - beta) g; p -= alpha v`` is sklearn's with learning rate
    ``alpha (1 - beta)`` (sklearn's does not scale the gradient by 1 - beta). No L2, no
    early stopping, every epoch run; no batch norm (sklearn has none)."""
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        hidden_layer_sizes=tuple(hidden), solver="sgd", momentum=beta,
        nesterovs_momentum=False, alpha=0.0, learning_rate="constant",
        learning_rate_init=alpha * (1 - beta), batch_size=batch_size, max_iter=epochs,
        shuffle=True, tol=0.0, n_iter_no_change=epochs + 1, early_stopping=False,
        random_state=seed, verbose=verbose)


class _EpochClock(io.TextIOBase):
    """Stands in for stdout while sklearn fits verbosely: stamps each epoch's line."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def write(self, text: str) -> int:
        if text.startswith("Iteration"):
            self.stamps.append(time.perf_counter())
        return len(text)


def time_sklearn(X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, *,
                 hidden: Sequence[int], batch_size: int, epochs: int, alpha: float = ALPHA,
                 beta: float = BETA, seed: int = 0) -> EpochTimes:
    from sklearn.exceptions import ConvergenceWarning

    clf = sklearn_mlp(hidden=hidden, batch_size=batch_size, epochs=epochs, alpha=alpha,
                      beta=beta, seed=seed, verbose=True)
    clock = _EpochClock()
    with warnings.catch_warnings(), contextlib.redirect_stdout(clock):
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        clf.fit(X, y)
    return EpochTimes(per_epoch(start, clock.stamps), clf.score(X_val, y_val))


def torch_or_none():
    """The torch module, or None where it is not importable (never installed here)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def time_torch(X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, *,
               hidden: Sequence[int], batch_size: int, epochs: int, alpha: float = ALPHA,
               beta: float = BETA, seed: int = 0) -> EpochTimes:
    """PyTorch on the CPU, float32: Linear(bias=False) + BatchNorm1d + ReLU per hidden
    layer, ``SGD(lr=alpha (1 - beta), momentum=beta)``: tuner's steps. Call
    ``torch.set_num_threads`` first to match the others' BLAS threads."""
    import torch

    torch.manual_seed(seed)
    layers: list = []
    fan_in = X.shape[1]
    for units in hidden:
        layers += [torch.nn.Linear(fan_in, units, bias=False),
                   torch.nn.BatchNorm1d(units, eps=1e-5, momentum=0.1),  # = bn_decay 0.9
                   torch.nn.ReLU()]
        fan_in = units
    layers.append(torch.nn.Linear(fan_in, int(y.max()) + 1))
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.SGD(model.parameters(), lr=alpha * (1 - beta), momentum=beta)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    yt = torch.from_numpy(y.astype(np.int64))
    generator = torch.Generator().manual_seed(seed)
    n = Xt.shape[0]
    stamps: list[float] = []
    start = time.perf_counter()
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=generator)
        Xs, ys = Xt[perm], yt[perm]
        for i in range(0, n, batch_size):
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(Xs[i:i + batch_size]), ys[i:i + batch_size]).backward()
            optimizer.step()
        stamps.append(time.perf_counter())
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(np.ascontiguousarray(X_val, dtype=np.float32)))
    return EpochTimes(per_epoch(start, stamps), float(np.mean(pred.argmax(1).numpy() == y_val)))


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


# --- the shared machine ------------------------------------------------------------------

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

    The machine is shared: a timing taken while something else ran is redone or reported
    with this figure beside it. Subprocesses waited for inside the block count as this
    process. None where /proc/stat is unavailable or the block was too short to tell
    (under ~100 ticks, half a second on 2 cores, the 10 ms tick makes it noise).
    """

    fraction: float | None = None

    def __enter__(self) -> OtherLoad:
        self._start = _cpu_ticks()
        return self

    def __exit__(self, *exc_info: object) -> None:
        end = _cpu_ticks()
        if self._start is None or end is None:
            return
        busy, total, own = (e - s for e, s in zip(end, self._start, strict=True))
        if total >= 100:
            self.fraction = min(1.0, max(0.0, (busy - own) / total))


def load_text(fraction: float | None) -> str:
    """An OtherLoad fraction for a table: "3%", or "n/a" for a block too short to tell."""
    return "n/a" if fraction is None else f"{100 * fraction:.0f}%"


def wait_until_idle(max_wait: float, threshold: float = 0.10) -> float | None:
    """Sleep until other processes leave the CPUs idle (at most ``max_wait`` seconds).
    Returns the share of the machine they used in the last second checked."""
    deadline = time.monotonic() + max_wait
    while True:
        with OtherLoad() as load:
            time.sleep(1.0)  # 100 ticks on one core: long enough for OtherLoad to tell
        if load.fraction is None or load.fraction <= threshold or time.monotonic() > deadline:
            return load.fraction


_PROBE: list[np.ndarray] = []


def probe_seconds() -> float:
    """Time a fixed mix like a training step's (best of 3, ~5 ms): 64 x 256 x 256
    matmuls and elementwise passes over 24 arrays of 64 KiB in turn.

    The machine may be a virtual one whose cores and caches are shared with other
    machines: work there can slow this one down by half for minutes without showing in
    /proc/stat. Comparing this probe with its best time tells when it runs at full speed.
    """
    if not _PROBE:
        rng = np.random.default_rng(0)
        _PROBE.append(rng.random((256, 256), dtype=np.float32) / 256)
        _PROBE.extend(rng.random((64, 256), dtype=np.float32) for _ in range(24))
    W, *bufs = _PROBE
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        for i in range(24):
            x, y, z = bufs[i], bufs[(i + 1) % 24], bufs[(i + 2) % 24]
            np.matmul(x, W, out=z)
            np.multiply(z, W[0], out=y)
            np.add(y, x, out=z)
            np.maximum(z, x, out=y)
            np.multiply(y, 0.5, out=y)
        best = min(best, time.perf_counter() - start)
    return best


class SpeedProbe:
    """Tells how much slower than its best the machine runs now (1.0 is full speed)."""

    def __init__(self) -> None:
        self.best = min(probe_seconds() for _ in range(5))

    def slowdown(self) -> float:
        seconds = probe_seconds()
        self.best = min(self.best, seconds)
        return seconds / self.best

    def wait_for_full_speed(self, max_wait: float, tolerance: float = 1.10) -> float:
        """Sleep until the probe runs within ``tolerance`` of its best (``max_wait`` s at
        most). Returns the last slowdown seen."""
        deadline = time.monotonic() + max_wait
        while True:
            slowdown = self.slowdown()
            if slowdown <= tolerance or time.monotonic() > deadline:
                return slowdown
            time.sleep(1.0)


def blas_threads() -> int:
    """The BLAS threads numpy uses: give PyTorch as many, for a fair comparison."""
    from threadpoolctl import threadpool_info

    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    numpy_blas = [i for i in blas if "numpy" in i.get("filepath", "")] or blas
    return numpy_blas[0]["num_threads"] if numpy_blas else (os.cpu_count() or 1)


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
    """What a reader needs to judge the numbers: cores, BLAS, versions, load. Make one
    when the run starts; ``lines()`` at the end is the result file's "## Machine"."""

    def __init__(self) -> None:
        self.started = datetime.now(UTC)
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
        for api, label in (("blas", "BLAS"), ("openmp", "OpenMP")):
            for pool in threadpool_info():
                if pool.get("user_api") == api:
                    detail = (f"{pool.get('version')} ({pool.get('architecture', '?')}, "
                              f"{pool.get('threading_layer', '?')}, "
                              if api == "blas" else "(")
                    out.append(f"- {label}: {pool.get('internal_api')} {detail}"
                               f"{pool.get('num_threads')} threads) from "
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
                 quick: bool, command: str | None = None, plot: bool = True) -> Path:
    """Write ``out/NAME.md``: title, how to re-run, body, the machine. Returns the path."""
    out.mkdir(parents=True, exist_ok=True)
    command = command or f"python benchmarks/{name}.py"
    head = [f"# {title}", ""]
    if quick:
        head += ["> **QUICK RUN** (`--quick`): a tiny budget for the smoke test. "
                 "These numbers mean nothing; re-run without `--quick`.", ""]
    head += [f"Re-run: `{command}` (script: [`benchmarks/{name}.py`](../{name}.py))"
             + (f"; plot: [`{name}.png`]({name}.png)." if plot else "."), ""]
    text = "\n".join(head) + "\n" + body.rstrip() + "\n\n## Machine\n\n" + \
        "\n".join(machine.lines()) + "\n"
    path = out / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    return path


def finish(args: argparse.Namespace, machine: Machine, name: str, title: str,
           body: str) -> Path:
    """The evidence scripts' last step: ``args.out/NAME.md`` beside ``NAME.png``."""
    path = write_result(args.out, name, title, body, machine, quick=args.quick)
    progress(f"wrote {path} and {name}.png")
    return path


def write_table(out: Path, text: str, machine: Machine, extra: Sequence[str] = ()) -> Path:
    """The timing scripts' result file ``out`` (a path): ``text``, then "## Machine" with
    ``extra`` lines after the machine's own. Printed too."""
    text = text.rstrip() + "\n\n## Machine\n\n" + "\n".join([*machine.lines(), *extra]) + "\n"
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out


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


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """The median wall seconds of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def test_accuracy(spec: StudySpec, splits: Splits, params: dict) -> float:
    """The model of a trial's Optuna ``params``, retrained on the training split, scored
    on the test split (NaN if it diverges). Training is deterministic for a given seed,
    so this is the trial's own model."""
    from tuner.mlp import DivergedError, MLPClassifierBN
    from tuner.objective import model_params
    from tuner.space import to_course

    clf = MLPClassifierBN(**model_params(spec, to_course(params, spec.search)))
    try:
        clf.fit(splits.X_train, splits.y_train)
    except DivergedError:
        return float("nan")
    return clf.score(splits.X_test, splits.y_test)


def best_test_accuracy(spec: StudySpec, splits: Splits, study: optuna.Study) -> float:
    """``test_accuracy`` of the study's best trial; NaN when every trial diverged."""
    if not np.isfinite(best_value(study)):
        return float("nan")
    return test_accuracy(spec, splits, study.best_trial.params)


def diverged_trials(study: optuna.Study) -> int:
    return sum(bool(t.user_attrs.get("tuner:diverged")) for t in study.trials)

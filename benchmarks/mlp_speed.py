"""Time tuner's MLPClassifierBN against scikit-learn and PyTorch, per epoch.

Every competitor trains the same architecture on the same standardized data, with
the same batch size, the same number of epochs and the same BLAS thread count:

- tuner float32 and float64: hidden layers Linear(no bias) -> BatchNorm -> ReLU,
  SGD with momentum `v = beta v + (1 - beta) g; p -= alpha v`;
- scikit-learn `MLPClassifier(solver="sgd", momentum=beta, nesterovs_momentum=False,
  alpha=0, learning_rate_init=alpha (1 - beta))` (the same steps: sklearn's momentum
  does not scale the gradient by 1 - beta), on the same float32 data, no batch norm,
  no early stopping;
- PyTorch on the CPU when it is importable: Linear(bias=False) + BatchNorm1d + ReLU,
  `torch.optim.SGD(lr=alpha (1 - beta), momentum=beta)`, float32;
- "before": tuner's float32 MLP as it was before its layers returned true gradients
  (benchmarks/mlp_before.py, a frozen copy kept only as the baseline of this table), so
  that one run shows the ratios of the code before and after side by side;
- "fused", with `--fused REF`: the single-file MLP (`tuner/mlp.py`) at git commit REF,
  read from the repository's history, not kept as a copy. `--fused 5acce29^` is the last
  code before the layers were split into forward/backward pairs, whose ratios the
  redesign was asked to keep: one run shows whether the split cost anything here.

Seconds per epoch are medians over every epoch after the first (the warm-up), pooled
over the repeats; competitors take turns within each repeat so that a noisy moment
on a shared machine hits them alike, and a row during which other processes used
more than 10% of the CPUs is redone. The GEMM floor is the epoch's matmul FLOPs
(3 matmuls of 2 m k n FLOPs per layer: forward, weight gradient, input gradient)
divided by this machine's rate on a large square matmul; the "needed" floor leaves
out the first layer's input gradient, which no trainer computes.

Usage: python benchmarks/mlp_speed.py [--quick] [--cpu-time] [--fused REF] [--rows SUBSTRING ...]
    [--out PATH]

--cpu-time times every epoch (and the matmul rate) by this process's CPU time
(`time.process_time`) with one BLAS thread, instead of the wall clock with the
machine's threads: on a machine other processes load, a single-threaded process's CPU
time hardly moves when it waits for a core, so the ratios hold where wall-clock ones
do not. It does not wait for an idle machine or redo repeats; its noise column is
the spread of the f32 / sklearn ratio over the repeats (min-max).

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, where this machine sets them, slow a current
numpy: run it as `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python ...` (the Machine
section lists the BLAS kernel that ran).
"""

from __future__ import annotations

import contextlib
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from sklearn.datasets import load_digits, make_classification
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from common.arguments import file_parser
from common.epoch_timing import (
    ALPHA,
    BETA,
    EpochTimes,
    per_epoch,
    time_sklearn,
    time_torch,
    time_tuner,
    torch_or_none,
)
from common.shared_machine import Machine, OtherLoad, SpeedProbe, wait_until_idle
from mlp_before import BaselineMLP
from tuner.machine import blas_threads

torch = torch_or_none()  # the PyTorch column is skipped, with a note, when it is missing
NAME = "mlp_speed"


@dataclass(frozen=True)
class Row:
    dataset: str
    hidden: tuple[int, ...]
    batch_size: int

    @property
    def name(self) -> str:
        return f"{self.dataset} {'x'.join(map(str, self.hidden))} b{self.batch_size}"


def load_data(name: str, quick: bool) -> tuple[np.ndarray, ...]:
    """Standardized float32 train/validation split (80/20, stratified, seed 0)."""
    if name == "digits":
        X, y = load_digits(return_X_y=True)
    else:
        n = 2_000 if quick else 20_000
        X, y = make_classification(
            n_samples=n, n_features=40, n_informative=20, n_classes=4, random_state=0
        )
    X_train, X_val, y_train, y_val = train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    X_train = scaler.transform(X_train).astype(np.float32)
    X_val = scaler.transform(X_val).astype(np.float32)
    return X_train, y_train, X_val, y_val


# ----------------------------------------------------------------- competitors
# Each trains the same architecture with the same steps (see common.py); tuner converts
# the data to its dtype outside the clock.

def run_tuner(row: Row, data, epochs: int, dtype: str) -> EpochTimes:
    return time_tuner(*data, hidden=row.hidden, batch_size=row.batch_size, epochs=epochs,
                      dtype=dtype)


def time_before(X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, *,
                hidden: Sequence[int], batch_size: int, epochs: int) -> EpochTimes:
    """The frozen baseline (benchmarks/mlp_before.py) in float32, timed as `time_tuner`
    times tuner's."""
    X, X_val = X.astype("float32"), X_val.astype("float32")
    stamps: list[float] = []
    clf = BaselineMLP(hidden=tuple(hidden), learning_rate=ALPHA, momentum=BETA,
                      epochs=epochs, batch_size=batch_size, seed=0, dtype="float32")
    start = time.perf_counter()
    clf.fit(X, y, on_epoch=lambda epoch, metrics: stamps.append(time.perf_counter()))
    return EpochTimes(per_epoch(start, stamps), clf.score(X_val, y_val))


def run_before(row: Row, data, epochs: int) -> EpochTimes:
    return time_before(*data, hidden=row.hidden, batch_size=row.batch_size, epochs=epochs)


def fused_class(ref: str) -> Any:
    """`MLPClassifierBN` of the single-file `tuner/mlp.py` at git commit ``ref``, imported
    from a temporary copy of that file (it imports only numpy and tuner.errors)."""
    root = Path(__file__).resolve().parents[1]
    shown = subprocess.run(["git", "-C", str(root), "show", f"{ref}:tuner/mlp.py"],
                           capture_output=True, text=True)
    if shown.returncode != 0:
        why = shown.stderr.strip().splitlines()[-1] if shown.stderr.strip() else "git failed"
        raise ValueError(f"--fused {ref}: no tuner/mlp.py at that commit ({why})")
    with tempfile.TemporaryDirectory(prefix="mlp_fused_") as folder:
        path = Path(folder) / "mlp_fused.py"
        path.write_text(shown.stdout, encoding="utf-8")
        spec = importlib.util.spec_from_file_location("mlp_fused", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # the file is needed only while it is executed
    return module.MLPClassifierBN


def time_fused(cls: Any, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, *,
               hidden: Sequence[int], batch_size: int, epochs: int) -> EpochTimes:
    """The single-file MLP of `--fused REF` in float32, timed as `time_tuner` times tuner's."""
    X, X_val = X.astype("float32"), X_val.astype("float32")
    stamps: list[float] = []
    clf = cls(hidden=tuple(hidden), learning_rate=ALPHA, momentum=BETA, epochs=epochs,
              batch_size=batch_size, seed=0, dtype="float32")
    start = time.perf_counter()
    clf.fit(X, y, on_epoch=lambda epoch, metrics: stamps.append(time.perf_counter()))
    return EpochTimes(per_epoch(start, stamps), clf.score(X_val, y_val))


def run_sklearn(row: Row, data, epochs: int) -> EpochTimes:
    return time_sklearn(*data, hidden=row.hidden, batch_size=row.batch_size, epochs=epochs)


def run_torch(row: Row, data, epochs: int) -> EpochTimes:
    return time_torch(*data, hidden=row.hidden, batch_size=row.batch_size, epochs=epochs)


# ----------------------------------------------------------------- the floor


def matmul_rate(dtype: str, n: int, repeats: int = 10) -> float:
    """FLOP/s of an n x n matmul in `dtype` on this machine (best of `repeats`)."""
    rng = np.random.default_rng(0)
    a = rng.random((n, n)).astype(dtype)
    b = rng.random((n, n)).astype(dtype)
    c = np.empty((n, n), dtype)
    np.matmul(a, b, out=c)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, b, out=c)
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best


def epoch_flops(
    row: Row, n_train: int, n_features: int, n_classes: int, needed: bool = False
) -> float:
    """Matmul FLOPs of one training epoch: 3 matmuls (forward, dW, d input) of
    2 m k n FLOPs per layer; with `needed`, without the first layer's input
    gradient, which no trainer computes."""
    sizes = (n_features, *row.hidden, n_classes)
    total = 0.0
    for layer, (k, n) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        total += (2 if needed and layer == 0 else 3) * 2.0 * n_train * k * n
    return total


# ----------------------------------------------------------------- main


def machine_lines(machine: Machine, threads: int, rates: dict[str, float]) -> list[str]:
    lines = machine.lines() + [f"- threads for every competitor: {threads}"]
    for dtype, rate in rates.items():
        lines.append(
            f"- large matmul rate, {dtype}: {rate / 1e9:.0f} GFLOP/s (the best of the "
            "measurements before each row)"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = file_parser(__doc__, NAME)
    parser.add_argument(
        "--rows", nargs="*", default=[], help="only rows whose name contains one of these"
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="epochs per fit, the first a warm-up"
    )
    parser.add_argument("--repeats", type=int, default=None, help="fits per competitor and row")
    parser.add_argument(
        "--wait-idle", type=float, default=None, metavar="SECONDS",
        help="before each row and repeat, wait up to this long for other processes to leave "
        "the CPUs idle and the machine to run at full speed (default 120, 0 with --quick)",
    )
    parser.add_argument(
        "--retries", type=int, default=None,
        help="redo up to this many times the repeats a row needs when the machine ran "
        "slow around them (default 3, 0 with --quick)",
    )
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even when installed")
    parser.add_argument(
        "--fused", metavar="REF", default=None,
        help="add the single-file MLP of git commit REF as a column (5acce29^: the code "
        "before the layers were split into pairs)",
    )
    parser.add_argument(
        "--cpu-time", action="store_true",
        help="time by CPU time with 1 BLAS thread (see the module's docstring)",
    )
    args = parser.parse_args(argv)
    machine = Machine()
    try:
        fused = fused_class(args.fused) if args.fused else None
    except ValueError as e:
        parser.error(str(e))

    epochs = args.epochs or (3 if args.quick else 6)
    repeats = args.repeats or (1 if args.quick else (11 if args.cpu_time else 5))
    wait_idle = args.wait_idle if args.wait_idle is not None else (0.0 if args.quick else 120.0)
    if args.retries is None:
        args.retries = 0 if args.quick else 3
    if args.cpu_time:
        wait_idle, args.retries = 0.0, 0
    use_torch = torch is not None and not args.no_torch
    threads = 1 if args.cpu_time else blas_threads()
    if use_torch:
        torch.set_num_threads(threads)

    rows = [
        Row(dataset, hidden, batch)
        for dataset in (("digits",) if args.quick else ("digits", "synthetic"))
        for hidden in ((64, 64),) + (() if args.quick else ((256, 256),))
        for batch in (64, 256)
    ]
    if args.rows:
        rows = [row for row in rows if any(s in row.name for s in args.rows)]
    datasets = {name: load_data(name, args.quick) for name in {row.dataset for row in rows}}

    size, rate_repeats = (512, 3) if args.quick else (2048, 10)
    # every stamp the timers take (time.perf_counter) reads CPU time instead
    clock = (
        mock.patch("time.perf_counter", time.process_time)
        if args.cpu_time
        else contextlib.nullcontext()
    )
    with threadpool_limits(threads, user_api="blas"), clock:
        rates = {"float32": 0.0, "float64": 0.0}
        probe = SpeedProbe()
        table = []
        for row in rows:
            # the machine's matmul rate: the best seen, measured again before each row
            if wait_idle > 0:
                wait_until_idle(wait_idle)
                probe.wait_for_full_speed(wait_idle)
            for dtype in rates:
                rates[dtype] = max(rates[dtype], matmul_rate(dtype, size, rate_repeats))
            data = datasets[row.dataset]
            competitors = {
                "tuner32": partial(run_tuner, row, data, epochs, "float32"),
                "tuner64": partial(run_tuner, row, data, epochs, "float64"),
                "sklearn": partial(run_sklearn, row, data, epochs),
                "before32": partial(run_before, row, data, epochs),
            }
            if use_torch:
                competitors["torch"] = partial(run_torch, row, data, epochs)
            if fused is not None:
                competitors["fused32"] = partial(time_fused, fused, *data, hidden=row.hidden,
                                                 batch_size=row.batch_size, epochs=epochs)
            runs: dict[str, list[EpochTimes]] = {name: [] for name in competitors}
            others, slowdowns, redone = [], [], 0
            while len(runs["tuner32"]) < repeats:
                # a repeat runs every competitor in turn; one during which other processes
                # took over 10% of the CPUs, or after which the speed probe ran over 15%
                # slow, is redone (up to `retries` times per repeat)
                before = 1.0
                if wait_idle > 0:
                    wait_until_idle(wait_idle)
                    before = probe.wait_for_full_speed(wait_idle)
                with OtherLoad() as load:
                    results = {name: run() for name, run in competitors.items()}
                after = probe.slowdown() if wait_idle > 0 else 1.0
                other = load.fraction or 0.0
                if (other > 0.10 or max(before, after) > 1.15) and redone < args.retries * repeats:
                    redone += 1
                    continue
                others.append(other)
                slowdowns.append(max(before, after))
                for name, result in results.items():
                    runs[name].append(result)
            other = max(others)
            pooled = {
                name: EpochTimes(
                    [t for r in results for t in r.seconds], results[-1].val_accuracy
                )
                for name, results in runs.items()
            }
            # ratios of the runs of the same repeat, which ran side by side in time
            ratios = {
                name: statistics.median(
                    ours.median / theirs.median
                    for ours, theirs in zip(runs["tuner32"], results, strict=True)
                )
                for name, results in runs.items()
            }
            for name in ("before32", "fused32"):
                if name in runs:
                    ratios[f"{name}_sklearn"] = statistics.median(
                        base.median / theirs.median
                        for base, theirs in zip(runs[name], runs["sklearn"], strict=True))
            X_train, y_train = data[0], data[1]
            shape = (row, X_train.shape[0], X_train.shape[1], len(np.unique(y_train)))
            flops = (epoch_flops(*shape), epoch_flops(*shape, needed=True))
            noise = f"{other:.0%} / {max(slowdowns):.2f} / {redone}"
            if args.cpu_time:
                spread = [
                    ours.median / theirs.median
                    for ours, theirs in zip(runs["tuner32"], runs["sklearn"], strict=True)
                ]
                noise = f"{min(spread):.2f}-{max(spread):.2f} / {other:.0%}"
            table.append((row, pooled, ratios, flops, noise))
            print(format_row(*table[-1], rates["float32"], use_torch, fused is not None),
                  flush=True)

    clock_name = "CPU seconds (time.process_time, 1 BLAS thread)" if args.cpu_time else "seconds"
    lines = [
        "# MLP training speed: tuner vs scikit-learn vs PyTorch, and tuner before vs after",
        "",
        f"Median {clock_name} per epoch ({epochs} epochs per fit, the first a warm-up, "
        f"{repeats} fits each, pooled). Learning rate {ALPHA}, momentum {BETA} "
        f"(sklearn and PyTorch: learning rate {ALPHA * (1 - BETA):g}, the same steps).",
        "Ratios are tuner float32 time over the other's: the median, over the repeats, of the "
        "ratio within a repeat (competitors run side by side). The GEMM floor is the epoch's "
        "matmul FLOPs (3 matmuls of 2 m k n FLOPs per layer: forward, dW, d input) over this "
        "machine's float32 rate on a large square matmul; \"needed\" leaves out the first "
        "layer's input gradient, which no trainer computes. Accuracy is on the 20% validation "
        "split. \"before\" is tuner's float32 MLP before its layers returned true gradients "
        "(benchmarks/mlp_before.py, frozen; timed in the same repeats as the others): "
        "\"before / sklearn\" and \"before / floor\" are its ratios, \"f32 / before\" "
        "the current code's time over it."
        + (f" \"fused\" is the single-file MLP at git commit {args.fused} "
           "(`--fused`), timed in the same repeats." if args.fused else ""),
        "",
        header(use_torch, fused is not None),
        "|" + "---|" * len(header(use_torch, fused is not None).strip("|").split("|")),
    ]
    lines += [format_row(*entry, rates["float32"], use_torch, fused is not None) for entry in table]
    lines += ["", "## Machine", ""] + machine_lines(machine, threads, rates)
    if not use_torch:
        lines.append(
            "- PyTorch column skipped: torch is not importable"
            if torch is None
            else "- PyTorch column skipped (--no-torch)"
        )
    lines.append(
        "- noise: the f32 / sklearn ratio's range over the repeats / the largest share of the "
        "CPUs' time that other processes used during a repeat"
        if args.cpu_time
        else "- noise: the largest share of the CPUs' time that other processes used during a kept "
        "repeat / the slowest speed probe around a kept repeat, over the probe's best time "
        "(1.00 is full speed) / repeats redone because other processes took over 10% or a "
        "probe ran over 15% slow (the machine is shared, and may be a virtual one whose cores "
        "other machines use)"
    )
    if args.quick:
        lines.append("- --quick run: tiny budget, numbers are not meaningful")
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"\nwrote {args.out}")
    return 0


def header(use_torch: bool, fused: bool = False) -> str:
    cols = ["row", "tuner f32 s/epoch", "tuner f64 s/epoch", "sklearn s/epoch"]
    if use_torch:
        cols.append("torch f32 s/epoch")
    cols += ["before f32 s/epoch", "f32 / sklearn", "before / sklearn"]
    if use_torch:
        cols.append("f32 / torch")
    cols += ["f32 / before", "GEMM floor s", "f32 / floor", "before / floor",
             "f32 / floor needed"]
    cols += ["acc f32", "acc f64", "acc sklearn"]
    if use_torch:
        cols.append("acc torch")
    if fused:
        cols += ["fused f32 s/epoch", "fused / sklearn", "f32 / fused", "fused / floor"]
    cols.append("noise")
    return "| " + " | ".join(cols) + " |"


def format_row(
    row: Row,
    pooled: dict[str, EpochTimes],
    ratios: dict[str, float],
    flops: tuple[float, float],
    noise: str,
    rate: float,
    use_torch: bool,
    fused: bool = False,
) -> str:
    floor, floor_needed = (f / rate for f in flops)
    ours = pooled["tuner32"].median
    cells = [row.name] + [
        f"{pooled[name].median:.5f}" for name in ("tuner32", "tuner64", "sklearn")
    ]
    if use_torch:
        cells.append(f"{pooled['torch'].median:.5f}")
    before = pooled["before32"].median
    cells += [f"{before:.5f}", f"{ratios['sklearn']:.2f}",
              f"{ratios['before32_sklearn']:.2f}"]
    if use_torch:
        cells.append(f"{ratios['torch']:.2f}")
    cells += [f"{ratios['before32']:.2f}", f"{floor:.5f}", f"{ours / floor:.2f}",
              f"{before / floor:.2f}", f"{ours / floor_needed:.2f}"]
    names = ["tuner32", "tuner64", "sklearn"] + (["torch"] if use_torch else [])
    cells += [f"{pooled[name].val_accuracy:.3f}" for name in names]
    if fused:
        old = pooled["fused32"].median
        cells += [f"{old:.5f}", f"{ratios['fused32_sklearn']:.2f}", f"{ratios['fused32']:.2f}",
                  f"{old / floor:.2f}"]
    cells.append(noise)
    return "| " + " | ".join(cells) + " |"


if __name__ == "__main__":
    sys.exit(main())

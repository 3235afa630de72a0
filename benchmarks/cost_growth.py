"""How the cost of `MLPClassifierBN` grows with the number of rows and with the width.

Time per epoch and peak memory of one fit, on `synthetic` data (20 features, 3 classes),
float32, batch size 64, 2 hidden layers:

- rows: 1 000 -> 100 000 training rows, width 64;
- width: 32 -> 1 024 units per hidden layer, 10 000 rows.

Seconds per epoch: the median over every epoch but the first (the warm-up) of
`--repeats` fits. Peak memory: `tracemalloc`'s peak over one fit, started after the data
exist, so it is what `fit` itself allocates (numpy reports its buffers to tracemalloc):
shuffled copies of the data, the parameters, gradients, momentum and the per-batch
workspace. The fitted slope is the least-squares slope of log(cost) on log(size):
1 means linear.

    python benchmarks/cost_growth.py [--repeats 5] [--epochs 5] [--quick]
"""

from __future__ import annotations

import tracemalloc

import numpy as np

from common.arguments import parser
from common.epoch_timing import time_tuner
from common.results import finish, progress, save_figure, table
from common.shared_machine import Machine, OtherLoad, load_text
from common.stats import loglog_slope
from tuner.data import load_xy
from tuner.mlp import MLPClassifierBN

NAME = "cost_growth"
BATCH = 64


def data(n: int) -> tuple[np.ndarray, np.ndarray]:
    X, y = load_xy("synthetic", seed=0, params={"n_samples": n})
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return np.ascontiguousarray(X, dtype=np.float32), y


def epoch_times(X: np.ndarray, y: np.ndarray, width: int, epochs: int, seed: int
                ) -> list[float]:
    """Seconds of each epoch of one fit, but the first (the warm-up)."""
    return time_tuner(X, y, X, y, hidden=(width, width), batch_size=BATCH, epochs=epochs,
                      seed=seed).seconds


def peak_memory(X: np.ndarray, y: np.ndarray, width: int) -> int:
    """Peak bytes that one 1-epoch fit allocates (the data already exist)."""
    clf = MLPClassifierBN(hidden=(width, width), epochs=1, batch_size=BATCH, seed=0)
    tracemalloc.start()
    try:
        clf.fit(X, y)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def measure_all(points: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, int]],
                epochs: int, repeats: int) -> tuple[dict, list[float | None]]:
    """Every point, in rounds: round r fits each point once, so a noisy moment on the
    shared machine touches one fit of many points rather than every fit of one."""
    durations: dict = {key: [] for key in points}
    loads = []
    for r in range(repeats):
        with OtherLoad() as load:
            for key, (X, y, width) in points.items():
                durations[key] += epoch_times(X, y, width, epochs, seed=r)
        loads.append(load.fraction)
        progress(f"round {r + 1}/{repeats} done (other load {load_text(load.fraction)})")
    out = {}
    for key, (X, y, width) in points.items():
        q1, q2, q3 = np.percentile(durations[key], [25, 50, 75])
        out[key] = {"seconds": float(q2), "q1": float(q1), "q3": float(q3),
                    "peak": peak_memory(X, y, width), "data": X.nbytes}
    return out, loads


def plot(by_rows: dict[int, dict], by_width: dict[int, dict], slopes: dict, out) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for col, (series, xlabel, key) in enumerate(
            ((by_rows, "training rows (width 64)", "rows"),
             (by_width, "units per hidden layer (10 000 rows)", "width"))):
        x = np.array(list(series))
        for row, (field, ylabel, scale) in enumerate(
                (("seconds", "seconds per epoch (median)", 1.0),
                 ("peak", "peak memory allocated by fit, MB", 1 / 2**20))):
            ax = axes[row, col]
            yv = np.array([series[k][field] for k in x]) * scale
            ax.loglog(x, yv, "o-", label=f"measured, slope {slopes[(key, field)]:.2f}")
            if field == "seconds":  # the IQR of the epoch times
                q1 = np.array([series[k]["q1"] for k in x])
                q3 = np.array([series[k]["q3"] for k in x])
                ax.fill_between(x, q1, q3, alpha=0.25, label="IQR of epochs")
            for ref in ((1, 2) if key == "width" else (1,)):
                # through the largest point: the slope that matters is the one at scale
                ax.loglog(x, yv[-1] * (x / x[-1]) ** ref, ":", color="gray", linewidth=1,
                          label=f"slope {ref}")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle("MLPClassifierBN: cost per epoch and memory as the problem grows (log-log)")
    save_figure(fig, out, NAME)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--epochs", type=int, default=5)
    args = p.parse_args()
    machine = Machine()
    rows_grid = [1_000, 3_000, 10_000, 30_000, 100_000]
    widths = [32, 64, 128, 256, 512, 1024]
    width_rows = 10_000
    repeats, epochs = args.repeats, args.epochs
    if args.quick:
        rows_grid, widths, width_rows, repeats, epochs = [300, 1_000], [16, 32], 1_000, 1, 2

    points = {}
    for n in rows_grid:
        X, y = data(n)
        points[("rows", n)] = (X, y, 64)
    X, y = data(width_rows)
    for w in widths:
        points[("width", w)] = (X, y, w)
    with OtherLoad() as whole:
        measured, loads = measure_all(points, epochs, repeats)
    by_rows = {n: measured[("rows", n)] for n in rows_grid}
    by_width = {w: measured[("width", w)] for w in widths}
    for (kind, k), v in measured.items():
        progress(f"{kind} {k}: {v['seconds'] * 1e3:.2f} ms/epoch, peak {v['peak'] / 2**20:.1f} MB")

    slopes = {}
    upper = {}
    for key, series in (("rows", by_rows), ("width", by_width)):
        x = list(series)
        for field in ("seconds", "peak"):
            values = [series[k][field] for k in x]
            slopes[(key, field)] = loglog_slope(x, values)
            half = len(x) // 2
            upper[(key, field)] = loglog_slope(x[half:], values[half:]) if len(x) - half >= 2 \
                else float("nan")
    plot(by_rows, by_width, slopes, args.out)

    def rows_of(series: dict, per_row: bool) -> list[list]:
        first = next(iter(series))
        out = []
        for k, v in series.items():
            row = [f"{k:,}", f"{v['seconds'] * 1e3:.2f}",
                   f"{v['q1'] * 1e3:.2f} – {v['q3'] * 1e3:.2f}",
                   f"{v['seconds'] / series[first]['seconds']:.1f}"]
            if per_row:
                row.append(f"{v['seconds'] / k * 1e9:.0f}")
            row += [f"{v['peak'] / 2**20:.1f}", f"{v['data'] / 2**20:.1f}"]
            out.append(row)
        return out

    head_rows = ["training rows", "ms per epoch (median)", "IQR of epochs, ms",
                 "time / first row's", "ns per row", "peak MB in fit", "input X MB"]
    head_width = ["units per layer", "ms per epoch (median)", "IQR of epochs, ms",
                  "time / first row's", "peak MB in fit", "input X MB"]
    largest = by_rows[rows_grid[-1]]
    t_rows = slopes[("rows", "seconds")]
    verdict_rows = (
        f"Time per epoch grows with slope {t_rows:.2f} in the number of rows "
        f"({upper[('rows', 'seconds')]:.2f} over the upper half of the range): "
        + ("linear, as it should be." if 0.85 <= t_rows <= 1.15 else
           "**not** linear: see the table for where it bends."))
    t_w = slopes[("width", "seconds")]
    fast = {key: loglog_slope(list(series), [v["q1"] for v in series.values()])
            for key, series in (("rows", by_rows), ("width", by_width))}
    spread = [(kind, k) for (kind, k), v in measured.items() if v["q3"] > 1.2 * v["q1"]]
    known = [f for f in loads if f is not None]
    spread_note = "" if not spread else (
        f"- Epoch times spread by more than 20% between their 25th and 75th percentiles at "
        f"{len(spread)} point(s) ({', '.join(f'{kind} {k:,}' for kind, k in spread)}): "
        "there, whole rounds ran at one of two speeds, while other processes on this "
        f"machine used at most {load_text(max(known) if known else None)} of its CPU. "
        "The variation comes from outside what this machine's /proc shows (the host "
        "under the virtual machine), so the medians above mix the two speeds; the slope "
        f"of the 25th percentiles (the faster speed) is {fast['rows']:.2f} in rows and "
        f"{fast['width']:.2f} in width.")
    body = [
        "DESIGN idea 6: running speed first. A mini-batch epoch should cost time in "
        "proportion to the rows; a hidden-to-hidden matmul in proportion to the square of "
        "the width once it dominates.",
        "",
        "## Set-up",
        "",
        f"- synthetic data (20 features, 10 informative, 3 classes), standardized, float32; "
        f"2 hidden layers with batch norm, batch size {BATCH}, alpha 0.05, beta 0.9.",
        f"- {repeats} fit(s) of {epochs} epochs per point, in {repeats} round(s) that each "
        "fit every point once; seconds per epoch = median of the epochs after the first "
        "of every fit, pooled. Peak memory from a separate 1-epoch fit under tracemalloc "
        "(the input arrays are allocated before tracing starts).",
        "- Other load (the share of the machine's CPU time other processes used; the "
        f"machine is shared): {load_text(whole.fraction)} over the whole run; per round: "
        + ", ".join(load_text(f) for f in loads) + ".",
        "",
        "## Rows (width 64)",
        "",
        table(head_rows, rows_of(by_rows, True)),
        "",
        f"- time: slope {t_rows:.2f} (upper half {upper[('rows', 'seconds')]:.2f}); "
        f"peak memory: slope {slopes[('rows', 'peak')]:.2f} "
        f"(upper half {upper[('rows', 'peak')]:.2f})",
        "",
        f"## Width ({width_rows:,} rows)",
        "",
        table(head_width, rows_of(by_width, False)),
        "",
        f"- time: slope {t_w:.2f} (upper half {upper[('width', 'seconds')]:.2f}); peak "
        f"memory: slope {slopes[('width', 'peak')]:.2f} "
        f"(upper half {upper[('width', 'peak')]:.2f})",
        "",
        "## Verdict",
        "",
        f"- {verdict_rows}",
        *([spread_note] if spread_note else []),
        f"- Peak memory in fit grows with slope {slopes[('rows', 'peak')]:.2f} in the rows "
        f"({upper[('rows', 'peak')]:.2f} over the upper half); at {rows_grid[-1]:,} rows "
        f"it is {largest['peak'] / largest['data']:.2f}x the input X. What grows with the "
        "rows is the shuffled copy of the data each epoch gathers into (one copy, reused) "
        "and the one-hot labels; the rest (parameters, a batch's workspace) does not.",
        f"- Width: slope {t_w:.2f} over the whole range, "
        f"{upper[('width', 'seconds')]:.2f} over the upper half. At small widths the "
        "per-batch cost that does not depend on the width (numpy calls, the input and "
        "output layers) dominates; the hidden-to-hidden matmul, quadratic in the width, "
        "takes over as the width grows, so a slope near 2 is expected only at the top "
        f"(from {widths[-2]} to {widths[-1]} units: "
        f"{loglog_slope(widths[-2:], [by_width[w]['seconds'] for w in widths[-2:]]):.2f}).",
        "",
        f"![cost growth]({NAME}.png)",
    ]
    finish(args, machine, NAME, "Cost growth of MLPClassifierBN: rows and width", "\n".join(body))


if __name__ == "__main__":
    main()

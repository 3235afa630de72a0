"""How long the data fingerprint takes, next to what it fingerprints.

The data fingerprint hashes the exact train/validation/test arrays a worker sees, every
time a study runs or re-tunes, so it has to be cheap: the target is a 20,000 x 40 float
array in well under a tenth of a second. Timed side by side with loading and splitting
the same data (which every run does anyway) and with one training epoch of the default
model on it. Writes benchmarks/results/fingerprint_speed.md.

    python benchmarks/fingerprint_speed.py [--repeats 21] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from tuner.data import load_splits
from tuner.fingerprint import data_fingerprint, hardware_fingerprint
from tuner.mlp import MLPClassifierBN
from tuner.spec import DataSpec

HERE = Path(__file__).resolve().parent


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--quick", action="store_true", help="tiny budget (smoke test)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "fingerprint_speed.md")
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    params = {"n_samples": 20_000, "n_features": 40, "n_informative": 20, "n_classes": 4}
    data = DataSpec(dataset="synthetic", params=tuple(sorted(params.items())))
    rows = []
    for dtype in ("float32", "float64"):
        splits = load_splits("synthetic", dtype=dtype, params=params)
        total = sum(a.nbytes for a in splits.arrays().values())
        fp = median_time(lambda: data_fingerprint(splits, data), repeats)
        load = median_time(lambda: load_splits("synthetic", dtype=dtype, params=params),
                           max(3, repeats // 5))
        clf = MLPClassifierBN(hidden=(64, 64), epochs=1, dtype=dtype)
        epoch = median_time(lambda: clf.fit(splits.X_train, splits.y_train),
                            max(3, repeats // 5))
        rows.append(f"| {dtype} | {total / 2**20:.1f} | {fp * 1000:.1f} | {load * 1000:.0f} | "
                    f"{fp / load:.3f} | {epoch * 1000:.0f} | {fp / epoch:.3f} | "
                    f"{total / fp / 2**30:.2f} |")
    hw = median_time(hardware_fingerprint, repeats)
    table = "\n".join([
        "# Data fingerprint speed: 20,000 x 40 synthetic data, all three splits",
        "",
        f"Machine: {os.cpu_count()} cores, numpy {np.__version__}. Medians over "
        f"{repeats} repeats. Target: well under 100 ms.",
        "",
        "| dtype | MiB hashed | fingerprint ms | load + split ms | fingerprint / load | "
        "one epoch ms | fingerprint / epoch | GiB/s |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Hardware fingerprint (CPU, cores, memory, BLAS, GPUs): {hw * 1000:.1f} ms.",
    ])
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()

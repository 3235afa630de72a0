"""How long the data fingerprint takes, next to what it fingerprints.

The data fingerprint hashes the exact train/validation/test arrays a worker sees, every
time a study runs or re-tunes, so it has to be cheap: the target is a 20,000 x 40 float
array in well under a tenth of a second. Timed side by side with loading and splitting
the same data (which every run does anyway) and with one training epoch of the default
model on it. Writes benchmarks/results/fingerprint_speed.md.

    python benchmarks/fingerprint_speed.py [--repeats 21] [--quick]
"""

from __future__ import annotations

from functools import partial

from common.arguments import file_parser
from common.results import median_time, write_table
from common.shared_machine import Machine
from tuner.data import load_splits
from tuner.fingerprint import data_fingerprint, hardware_fingerprint
from tuner.mlp import MLPClassifierBN
from tuner.spec import DataSpec

NAME = "fingerprint_speed"


def main() -> None:
    parser = file_parser(__doc__, NAME)
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    machine = Machine()
    repeats = 3 if args.quick else args.repeats
    params = {"n_samples": 20_000, "n_features": 40, "n_informative": 20, "n_classes": 4}
    data = DataSpec(dataset="synthetic", params=tuple(sorted(params.items())))
    rows = []
    for dtype in ("float32", "float64"):
        splits = load_splits("synthetic", dtype=dtype, params=params)
        total = sum(a.nbytes for a in splits.arrays().values())
        fp = median_time(partial(data_fingerprint, splits, data), repeats)
        load = median_time(partial(load_splits, "synthetic", dtype=dtype, params=params),
                           max(3, repeats // 5))
        clf = MLPClassifierBN(hidden=(64, 64), epochs=1, dtype=dtype)
        epoch = median_time(partial(clf.fit, splits.X_train, splits.y_train),
                            max(3, repeats // 5))
        rows.append(f"| {dtype} | {total / 2**20:.1f} | {fp * 1000:.1f} | {load * 1000:.0f} | "
                    f"{fp / load:.3f} | {epoch * 1000:.0f} | {fp / epoch:.3f} | "
                    f"{total / fp / 2**30:.2f} |")
    hw = median_time(hardware_fingerprint, repeats)
    table = "\n".join([
        "# Data fingerprint speed: 20,000 x 40 synthetic data, all three splits",
        "",
        f"Medians over {repeats} repeats. Target: well under 100 ms.",
        "",
        "| dtype | MiB hashed | fingerprint ms | load + split ms | fingerprint / load | "
        "one epoch ms | fingerprint / epoch | GiB/s |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Hardware fingerprint (CPU, cores, memory, BLAS, GPUs): {hw * 1000:.1f} ms.",
    ])
    write_table(args.out, table, machine)


if __name__ == "__main__":
    main()

"""The same MLP with and without batch normalization: tuned accuracy and the width of
the good learning-rate region.

DESIGN idea 5 puts batch norm in every hidden layer. Without it (`use_batchnorm =
false`), a hidden layer is `a_prev @ W + b` -> ReLU, everything else unchanged.

1. Tuned with the same budget and sampler: random search, 27 trials, 10 seeds, the
   shipped studies' search space: alpha log-uniform [0.01, 10], beta
   complement-log-uniform [0.9, 0.999].
2. A 1-D sweep of alpha, log-spaced over [1e-4, 100], at beta = 0.9, each point the
   mean validation accuracy of 5 model seeds (a diverged fit counts as 0), smoothed with
   its two neighbours (the maximum of 31 noisy means is inflated by the noise). The
   width of the good alpha region is measured in decades of alpha whose smoothed,
   log-linearly interpolated accuracy is within N points of that model's own smoothed
   best, for N = 1, 2 and 5.

    python benchmarks/batchnorm.py [--seeds 10] [--dataset synthetic] [--quick]
"""

from __future__ import annotations

import math

import numpy as np

from common.arguments import add_options, parser
from common.results import finish, fmt_acc, progress, save_figure, table
from common.shared_machine import Machine
from common.stats import median, quartiles
from common.studies import (
    accuracy_grid,
    best_test_accuracy,
    best_value,
    diverged_trials,
    quiet,
    run_study,
    spec_splits,
    with_seed,
)
from common.study_files import ALPHA_BETA, fmt_range, spec_from_toml, study_toml

NAME = "batchnorm"
BUDGET = 27
SWEEP_ALPHA = (1e-4, 100.0)
BETA = 0.9
TOLERANCES = (0.01, 0.02, 0.05)
PRIMARY = 0.05  # the tolerance of the plot's shading and the verdict
MODELS = {"with batch norm": True, "without batch norm": False}
ALPHA_PRIOR, ALPHA_LOW, ALPHA_HIGH = ALPHA_BETA["alpha"]  # the shipped range
BETA_PRIOR, BETA_LOW, BETA_HIGH = ALPHA_BETA["beta"]


def study_text(dataset: str, trials: int, epochs: int, bn: bool) -> str:
    return study_toml("batchnorm", trials=trials, epochs=epochs, dataset=dataset,
                      model={"use_batchnorm": bn})


def sweep(spec, splits, alphas: np.ndarray, seeds: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean validation accuracy, share of seeds that diverged) per alpha, at BETA."""
    acc, diverged = accuracy_grid(spec, splits, alphas, np.array([BETA]), seeds)
    return acc[0].mean(axis=-1), diverged[0]


def smooth(acc: np.ndarray) -> np.ndarray:
    """Each point averaged with its two neighbours on the log-alpha grid."""
    from scipy.ndimage import uniform_filter1d

    return uniform_filter1d(acc, size=3, mode="nearest")


def good_region(alphas: np.ndarray, acc: np.ndarray, tol: float
                ) -> tuple[float, float | None, float | None]:
    """(decades of alpha within ``tol`` of the best, lowest and highest such alpha),
    on the smoothed curve interpolated linearly in log alpha."""
    acc = smooth(acc)
    fine = np.linspace(math.log10(alphas[0]), math.log10(alphas[-1]), 4001)
    curve = np.interp(fine, np.log10(alphas), acc)
    inside = curve >= acc.max() - tol
    if not inside.any():
        return 0.0, None, None
    decades = inside.mean() * (fine[-1] - fine[0])
    return float(decades), float(10 ** fine[inside].min()), float(10 ** fine[inside].max())


def tuned(dataset: str, bn: bool, seeds: int, trials: int, epochs: int, splits) -> list[dict]:
    base = spec_from_toml(study_text(dataset, trials, epochs, bn))
    runs = []
    for seed in range(seeds):
        spec = with_seed(base, seed=seed)
        result = run_study(spec, splits, n_trials=trials)
        runs.append({"best_val": best_value(result),
                     "test": best_test_accuracy(spec, splits, result),
                     "diverged": diverged_trials(result),
                     "params": [t.params for t in result.trials]})
    return runs


def plot(alphas, curves, out, dataset: str, seeds: int) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.6))
    colors = ("tab:blue", "tab:orange")
    for (label, (acc, diverged)), color in zip(curves.items(), colors, strict=True):
        ax.plot(alphas, acc, marker="o", markersize=3.5, color=color, label=label)
        _, lo, hi = good_region(alphas, acc, PRIMARY)
        if lo is not None:
            ax.axvspan(lo, hi, color=color, alpha=0.12)
        mask = diverged > 0
        if mask.any():
            ax.scatter(alphas[mask], acc[mask], marker="x", s=40, color=color, zorder=3)
    ax.set_xscale("log")
    ax.set_xlabel("alpha (learning rate), log scale")
    ax.set_ylabel(f"validation accuracy (mean of {seeds} seeds)")
    ax.set_title(f"{dataset}, beta = {BETA}: accuracy vs alpha. Shaded: within "
                 f"{round(PRIMARY * 100)} points of each model's (smoothed) best;\n"
                 "x: some seed diverged (counted as 0); dotted: the tuned alpha range "
                 f"{fmt_range(ALPHA_LOW, ALPHA_HIGH)}", fontsize=9)
    for x in (ALPHA_LOW, ALPHA_HIGH):  # the range the tuned studies search
        ax.axvline(x, color="gray", linestyle=":", linewidth=1)
    ax.legend()
    ax.grid(alpha=0.3)
    save_figure(fig, out, NAME)


def main() -> None:
    args = add_options(parser(__doc__), seeds=10, epochs=20, dataset=True).parse_args()
    quiet()
    machine = Machine()
    seeds, trials, epochs, n_alpha, sweep_seeds = args.seeds, BUDGET, args.epochs, 31, 5
    if args.quick:
        seeds, trials, epochs, n_alpha, sweep_seeds = 2, 4, 2, 5, 1

    alphas = np.geomspace(*SWEEP_ALPHA, n_alpha)
    splits = None
    curves, runs = {}, {}
    for label, bn in MODELS.items():
        spec = spec_from_toml(study_text(args.dataset, trials, epochs, bn))
        splits = splits or spec_splits(spec)
        curves[label] = sweep(spec, splits, alphas, sweep_seeds)
        runs[label] = tuned(args.dataset, bn, seeds, trials, epochs, splits)
        progress(f"{label}: sweep best {curves[label][0].max():.3f}, tuned median "
                 f"{median([r['best_val'] for r in runs[label]]):.3f}")
    plot(alphas, curves, args.out, args.dataset, sweep_seeds)

    rows = []
    for label in MODELS:
        q1, q2, q3 = quartiles([r["best_val"] for r in runs[label]])
        rows.append([label, fmt_acc(q2), f"{fmt_acc(q1)} – {fmt_acc(q3)}",
                     fmt_acc(median([r["test"] for r in runs[label]])),
                     sum(r["diverged"] for r in runs[label])])
    tuned_table = table(["model", "median best val acc", "IQR", "median test acc of the "
                         "chosen trial", "diverged trials (all seeds)"], rows)

    rows, widths = [], {}
    for label in MODELS:
        acc, diverged = curves[label]
        best_j = int(np.argmax(smooth(acc)))
        row = [label, f"{acc.max():.3f}; smoothed {smooth(acc).max():.3f} at alpha "
                      f"{alphas[best_j]:.3g}"]
        for tol in TOLERANCES:
            dec, lo, hi = good_region(alphas, acc, tol)
            widths[(label, tol)] = dec
            row.append("none" if lo is None else f"{dec:.2f} ({lo:.2g} – {hi:.2g})")
        first_div = alphas[diverged > 0]
        row.append(f"{first_div.min():.3g}" if first_div.size else "none in range")
        rows.append(row)
    width_table = table(["model", "sweep best (mean of seeds)",
                         *(f"good alpha, within {round(t * 100)} pt: decades (from – to)"
                           for t in TOLERANCES), "smallest alpha where a seed diverged"],
                        rows)

    with_bn, without = MODELS
    d_best = median([r["best_val"] for r in runs[with_bn]]) - \
        median([r["best_val"] for r in runs[without]])
    d_width = widths[(with_bn, PRIMARY)] - widths[(without, PRIMARY)]
    # The random sampler with the same seed draws the same (alpha, beta) for both models:
    # seed s is a paired comparison.
    pairs = list(zip(runs[with_bn], runs[without], strict=True))
    same_points = all(a["params"] == b["params"] for a, b in pairs)
    wins = sum(a["best_val"] > b["best_val"] for a, b in pairs)
    ties = sum(a["best_val"] == b["best_val"] for a, b in pairs)
    edges = {label: good_region(alphas, curves[label][0], PRIMARY)[1:] for label in MODELS}

    def edge(x):
        return "none" if x is None else f"{x:.2g}"

    verdict = [
        f"- Tuned accuracy, with minus without batch norm: {100 * d_best:+.1f} points "
        "(median of the seeds' best validation accuracy); batch norm was better on "
        f"{wins}, tied on {ties}, worse on {len(runs[with_bn]) - wins - ties} of "
        f"{len(runs[with_bn])} seeds"
        + (" (each seed tried the very same alpha and beta values on both models)"
           if same_points else "") + ". "
        + ("Batch norm tunes to a better model here." if d_best > 0.005 else
           "Batch norm does **not** tune to a better model here." if d_best < -0.005 else
           "No clear difference in tuned accuracy here (within half a point)."),
        f"- Width of the good alpha region ({round(PRIMARY * 100)} points): "
        f"{widths[(with_bn, PRIMARY)]:.2f} decades with batch norm, from "
        f"{edge(edges[with_bn][0])} to {edge(edges[with_bn][1])}, vs "
        f"{widths[(without, PRIMARY)]:.2f} without, from {edge(edges[without][0])} to "
        f"{edge(edges[without][1])} ({d_width:+.2f} decades). "
        + ("Batch norm widens it: a good learning rate is easier to find." if d_width > 0.2
           else "Batch norm does **not** widen it here." if d_width < -0.2 else
           "About the same width (within 0.2 decades)."),
    ]
    (lo_bn, hi_bn), (lo_no, hi_no) = edges[with_bn], edges[without]
    if None not in (lo_bn, hi_bn, lo_no, hi_no):
        d_lo, d_hi = math.log10(lo_no / lo_bn), math.log10(hi_bn / hi_no)
        line = (f"- Where the width comes from: the lower edge moves by {d_lo:+.2f} decades, "
                f"the upper edge by {d_hi:+.2f} (positive: wider with batch norm).")
        if d_hi > d_lo + 0.2:
            line += " Batch norm mostly lets larger learning rates train" + (
                f"; the searched range reaches that extra room (it ends at alpha = "
                f"{ALPHA_HIGH:g}; the batch-norm model's good region ends at {edge(hi_bn)})."
                if hi_bn <= ALPHA_HIGH else
                f"; the searched range ends at alpha = {ALPHA_HIGH:g}, so the extra room "
                f"from there to {edge(hi_bn)} lies beyond it.")
        if hi_no < ALPHA_HIGH:
            line += (f" Without batch norm, the top {math.log10(ALPHA_HIGH / hi_no):.2f} of "
                     f"the searched range's {math.log10(ALPHA_HIGH / ALPHA_LOW):.0f} decades "
                     f"(alpha {edge(hi_no)} to {ALPHA_HIGH:g}) lies above that model's good "
                     "region.")
        verdict.append(line)
    body = [
        "DESIGN idea 5: batch norm in every hidden layer (W without bias, BN's learned "
        "shift replaces it).",
        "",
        "## Set-up",
        "",
        f"- Dataset {args.dataset}, 2 hidden layers of 64 units, batch size 64, {epochs} "
        "epochs, data seed 0 (one fixed split). Without batch norm, hidden layers get a "
        "bias; nothing else changes (same initialization scheme, optimizer, data).",
        f"- Tuning: random search, {trials} trials, {seeds} seeds (sampler and model seed), "
        f"the shipped studies' search space: alpha {ALPHA_PRIOR} "
        f"{fmt_range(ALPHA_LOW, ALPHA_HIGH)}, beta {BETA_PRIOR} "
        f"{fmt_range(BETA_LOW, BETA_HIGH)}, no pruner. That alpha range was chosen "
        "from the batch-norm model's sweep ([log_scale.md](log_scale.md)).",
        f"- Sweep: {n_alpha} values of alpha log-spaced over "
        f"{fmt_range(*SWEEP_ALPHA)} at beta = {BETA}, {sweep_seeds} model seed(s) "
        "each. The sweep goes past the searched range on both sides to find where each "
        "model stops training.",
        "",
        "## Tuned with the same budget",
        "",
        tuned_table,
        "",
        "## Width of the good alpha region",
        "",
        width_table,
        "",
        "## Verdict",
        "",
        *verdict,
        "",
        f"![accuracy vs alpha]({NAME}.png)",
    ]
    finish(args, machine, NAME,
           "Batch norm: tuned accuracy and the good learning-rate region", "\n".join(body))


if __name__ == "__main__":
    main()

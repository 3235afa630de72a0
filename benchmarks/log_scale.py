"""Log-scale priors for alpha and 1 - beta against uniform priors over the same ranges.

DESIGN idea 2: `alpha` log-uniform and `1 - beta` log-uniform, so that beta in
[0.9, 0.999] spends as many trials in [0.99, 0.999] as in [0.9, 0.99].

1. A dense sweep first: a log-spaced grid over alpha in [1e-4, 100] (from too small to
   learn anything in the epochs given, to diverging) and 1 - beta in [1e-3, 1e-1], each
   point trained with 3 model seeds; a diverged fit counts as accuracy 0. The surface is
   smoothed by averaging each point with its neighbours (3 x 3 on the log grid): the
   maximum of 375 noisy means is itself inflated by the noise, and "within 1 point of
   it" would otherwise outline noise. The "good region" is every (alpha, beta) whose
   smoothed mean accuracy, interpolated linearly on the log axes, is within TOL of the
   smoothed surface's best (TOL = 1 and 2 points of accuracy are both reported).
2. Random search, 27 trials, 10 seeds, with (a) alpha log-uniform and beta
   complement-log-uniform, (b) alpha uniform and beta uniform, over the same ranges. Three
   alpha ranges: the shipped studies' [0.01, 10] (studies/*.toml, chosen from this
   sweep), the old default [1e-4, 1], and the whole swept range [1e-4, 100].
   Reported: best validation accuracy per prior and the share of trials in the good
   region, both as observed in the 27-trial searches and as expected from the prior
   itself (200 000 draws from it, placed on the interpolated sweep).

Everything else is fixed: 2 hidden layers of 64 units with batch norm, batch size 64,
the study's epochs; the data split is fixed (data seed 0).

    python benchmarks/log_scale.py [--seeds 10] [--dataset synthetic] [--quick]
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import RegularGridInterpolator

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
from tuner.space import to_course

NAME = "log_scale"
BUDGET = 27
SWEEP_ALPHA = (1e-4, 100.0)
SWEEP_ONE_MINUS_BETA = (1e-3, 1e-1)
SHIPPED = ALPHA_BETA["alpha"][1:]  # the shipped studies' alpha range, [0.01, 10]
SHIPPED_NAME = f"shipped {fmt_range(*SHIPPED)}"
OLD_NAME = "old default [1e-4, 1]"
RANGES = {SHIPPED_NAME: SHIPPED, OLD_NAME: (1e-4, 1.0), "wide [1e-4, 100]": (1e-4, 100.0)}
TOLERANCES = (0.01, 0.02)
PRIMARY = 0.02  # the tolerance the plot's bars and the verdict use
PRIORS = {"log": ("log-uniform", "complement-log-uniform"), "uniform": ("uniform", "uniform")}


def study_text(dataset: str, trials: int, epochs: int, prior: str = "log",
               low: float = SHIPPED[0], high: float = SHIPPED[1]) -> str:
    alpha_prior, beta_prior = PRIORS[prior]
    return study_toml("log-scale", trials=trials, epochs=epochs, dataset=dataset,
                      search={"alpha": (alpha_prior, low, high),
                              "beta": (beta_prior, 0.9, 0.999)})


def sweep(spec, splits, n_alpha: int, n_beta: int, seeds: int
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(alphas, one_minus_betas, accuracy per seed (n_beta, n_alpha, seeds), diverged
    share (n_beta, n_alpha)); a diverged fit has accuracy 0."""
    alphas = np.geomspace(*SWEEP_ALPHA, n_alpha)
    omb = np.geomspace(*SWEEP_ONE_MINUS_BETA, n_beta)
    acc, diverged = accuracy_grid(spec, splits, alphas, 1 - omb, seeds, report=True)
    return alphas, omb, acc, diverged


class Surface:
    """The sweep's mean accuracy, smoothed over each point's 3 x 3 neighbourhood and
    interpolated linearly on log alpha and log (1 - beta)."""

    def __init__(self, alphas: np.ndarray, omb: np.ndarray, acc: np.ndarray) -> None:
        from scipy.ndimage import uniform_filter

        acc = uniform_filter(acc, size=3, mode="nearest")
        self.smoothed = acc
        self.best = float(acc.max())
        self._f = RegularGridInterpolator((np.log10(omb), np.log10(alphas)), acc,
                                          bounds_error=False, fill_value=None)

    def accuracy(self, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
        pts = np.column_stack([np.log10(1 - np.asarray(beta, float)),
                               np.log10(np.asarray(alpha, float))])
        return self._f(pts)

    def good(self, alpha, beta, tol: float) -> np.ndarray:
        return self.accuracy(alpha, beta) >= self.best - tol


def draw_prior(prior: str, low: float, high: float, n: int, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
    """n (alpha, beta) draws from the prior, as Optuna's random sampler draws them."""
    if prior == "log":
        alpha = np.exp(rng.uniform(np.log(low), np.log(high), n))
        beta = 1 - np.exp(rng.uniform(np.log(0.001), np.log(0.1), n))
    else:
        alpha = rng.uniform(low, high, n)
        beta = rng.uniform(0.9, 0.999, n)
    return alpha, beta


def search(dataset: str, prior: str, low: float, high: float, seeds: int, trials: int,
           epochs: int, surface: Surface, splits) -> list[dict]:
    base = spec_from_toml(study_text(dataset, trials, epochs, prior, low, high))
    runs = []
    for seed in range(seeds):
        spec = with_seed(base, seed=seed)
        result = run_study(spec, splits, n_trials=trials)
        course = [to_course(t.params, spec.search) for t in result.trials]
        alpha = np.array([c["alpha"] for c in course])
        beta = np.array([c["beta"] for c in course])
        runs.append({
            "best_val": best_value(result),
            "test": best_test_accuracy(spec, splits, result),
            "share": {tol: float(surface.good(alpha, beta, tol).mean()) for tol in TOLERANCES},
            "diverged": diverged_trials(result),
            "alpha": alpha, "beta": beta,
        })
    return runs


def plot(alphas, omb, acc, surface: Surface, results, out, dataset: str) -> None:
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5), width_ratios=[1.35, 1])
    mesh = ax.pcolormesh(alphas, omb, acc, shading="nearest", cmap="viridis",
                         vmin=max(0.0, float(np.percentile(acc, 5))), vmax=surface.best)
    fig.colorbar(mesh, ax=ax, label="mean validation accuracy (diverged = 0)")
    # the good region, drawn on a fine grid of the interpolated surface
    fa = np.geomspace(*SWEEP_ALPHA, 300)
    fo = np.geomspace(*SWEEP_ONE_MINUS_BETA, 200)
    A, OMB = np.meshgrid(fa, fo)
    Z = surface.accuracy(A.ravel(), 1 - OMB.ravel()).reshape(A.shape)
    cs = ax.contour(A, OMB, Z, levels=[surface.best - TOLERANCES[1], surface.best - TOLERANCES[0]],
                    colors=["white", "red"], linestyles=["--", "-"], linewidths=[1.3, 1.8])
    ax.clabel(cs, fmt={surface.best - TOLERANCES[1]: "best - 2 pts",
                       surface.best - TOLERANCES[0]: "best - 1 pt"}, fontsize=7)
    for edge in SHIPPED:
        ax.axvline(edge, color="orange", linestyle=":", linewidth=1.5)
    ax.text(SHIPPED[1] * 0.9, omb[0] * 1.1,
            f"shipped range\n{fmt_range(*SHIPPED)}\nbetween the dotted lines",
            color="white", fontsize=7, va="bottom", ha="right",
            bbox={"facecolor": "black", "alpha": 0.6, "pad": 2})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("alpha (learning rate), log scale")
    ax.set_ylabel("1 - beta, log scale")
    ticks = [0.001, 0.01, 0.1]
    ax.set_yticks(ticks, [f"{t:g}\n(beta {1 - t:g})" for t in ticks], fontsize=8)
    ax.set_title(f"{dataset}: sweep of {acc.size} points; good region outlined")

    labels, expected, observed = [], [], []
    for (prior, rng_name), (exp_share, runs) in results.items():
        labels.append(f"{prior}\n{rng_name.replace(' [', chr(10) + '[')}")
        expected.append(exp_share[PRIMARY])
        observed.append(median([r["share"][PRIMARY] for r in runs]))
    x = np.arange(len(labels))
    bx.bar(x - 0.2, expected, 0.4, label="expected from the prior")
    bx.bar(x + 0.2, observed, 0.4, label="observed, median over seeds")
    bx.set_xticks(x, labels, fontsize=7)
    bx.set_ylabel(f"share of trials in the good region (best - {round(PRIMARY * 100)} pts)")
    bx.set_title("Where each prior puts its trials")
    bx.legend(fontsize=8)
    bx.grid(axis="y", alpha=0.3)
    save_figure(fig, out, NAME)


def main() -> None:
    args = add_options(parser(__doc__), seeds=10, epochs=20, dataset=True).parse_args()
    quiet()
    machine = Machine()
    seeds, trials, epochs = args.seeds, BUDGET, args.epochs
    n_alpha, n_beta, sweep_seeds = 25, 15, 3
    if args.quick:
        seeds, trials, epochs, n_alpha, n_beta, sweep_seeds = 2, 4, 2, 4, 3, 1

    base = spec_from_toml(study_text(args.dataset, trials, epochs))
    splits = spec_splits(base)
    alphas, omb, per_seed, diverged = sweep(base, splits, n_alpha, n_beta, sweep_seeds)
    acc = per_seed.mean(axis=-1)
    plateau = acc >= acc.max() - 0.05  # the typical seed-to-seed spread where it matters
    seed_std = float(np.median(per_seed.std(axis=-1, ddof=1)[plateau])) if sweep_seeds > 1 \
        else float("nan")
    surface = Surface(alphas, omb, acc)
    i, j = np.unravel_index(np.argmax(acc), acc.shape)
    si, sj = np.unravel_index(np.argmax(surface.smoothed), acc.shape)

    rng = np.random.default_rng(0)
    results = {}
    for rng_name, (low, high) in RANGES.items():
        for prior in PRIORS:
            a, b = draw_prior(prior, low, high, 200_000, rng)
            expected = {tol: float(surface.good(a, b, tol).mean()) for tol in TOLERANCES}
            runs = search(args.dataset, prior, low, high, seeds, trials, epochs, surface, splits)
            results[(prior, rng_name)] = (expected, runs)
            best = median([r["best_val"] for r in runs])
            progress(f"{prior} {rng_name}: median best {best:.3f}")
    plot(alphas, omb, acc, surface, results, args.out, args.dataset)

    rows = []
    for (prior, rng_name), (expected, runs) in results.items():
        q1, q2, q3 = quartiles([r["best_val"] for r in runs])
        rows.append([
            rng_name, prior, fmt_acc(q2), f"{fmt_acc(q1)} – {fmt_acc(q3)}",
            fmt_acc(median([r["test"] for r in runs])),
            *(f"{100 * expected[t]:.0f}% / {100 * median([r['share'][t] for r in runs]):.0f}%"
              for t in TOLERANCES),
            sum(r["diverged"] for r in runs),
        ])
    head = ["alpha range", "prior", "median best val acc", "IQR", "median test acc of the "
            "chosen trial", "in good region, 1 pt: expected / observed",
            "in good region, 2 pts: expected / observed", "diverged trials (all seeds)"]

    def verdict(rng_name: str) -> str:
        log_exp, log_runs = results[("log", rng_name)]
        uni_exp, uni_runs = results[("uniform", rng_name)]
        d_best = median([r["best_val"] for r in log_runs]) - \
            median([r["best_val"] for r in uni_runs])
        d_share = log_exp[PRIMARY] - uni_exp[PRIMARY]
        spread = max(np.subtract(*quartiles([r["best_val"] for r in runs])[::-2])
                     for runs in (log_runs, uni_runs))
        within = (f" That difference is within the spread between seeds (IQR up to "
                  f"{100 * spread:.1f} points): with {len(log_runs[0]['alpha'])} trials both "
                  "priors land a few trials near the best; the prior decides how many."
                  if abs(d_best) <= spread else "")
        better = ("the **log** prior puts more of its" if d_share > 0.005 else
                  "the **uniform** prior puts more of its" if d_share < -0.005 else
                  "both priors put about as many of their")
        return (f"- alpha range {rng_name}: {better} trials in "
                f"the good region ({100 * log_exp[PRIMARY]:.0f}% log vs "
                f"{100 * uni_exp[PRIMARY]:.0f}% uniform, expected, "
                f"{round(PRIMARY * 100)} pts); median best "
                f"accuracy log minus uniform: {100 * d_best:+.1f} points.{within}")

    def range_verdict(prior: str) -> str:
        """The shipped alpha range against the old default and the wide one, for one prior."""
        best = {name: median([r["best_val"] for r in results[(prior, name)][1]])
                for name in RANGES}
        share = {name: results[(prior, name)][0][PRIMARY] for name in RANGES}
        new, old = results[(prior, SHIPPED_NAME)][1], results[(prior, OLD_NAME)][1]
        d_best = best[SHIPPED_NAME] - best[OLD_NAME]
        spread = max(np.subtract(*quartiles([r["best_val"] for r in runs])[::-2])
                     for runs in (new, old))
        wins = sum(a["best_val"] > b["best_val"] for a, b in zip(new, old, strict=True))
        ties = sum(a["best_val"] == b["best_val"] for a, b in zip(new, old, strict=True))
        if d_best > 0.005:
            say = "the shipped range finds better models than the old default"
        elif d_best < -0.005:
            say = "the shipped range finds **worse** models than the old default"
        else:
            say = "no clear difference in best accuracy from the old default (within half a point)"
        if abs(d_best) > 0.005 and abs(d_best) <= spread:
            say += (f", but by less than the spread between seeds (IQR up to "
                    f"{100 * spread:.1f} points)")
        top = max(best, key=best.get)
        return (f"- {prior} prior, by alpha range: median best val acc "
                + ", ".join(f"{name} {best[name]:.3f}" for name in RANGES)
                + "; expected share in the good region "
                + ", ".join(f"{100 * share[name]:.0f}%" for name in RANGES)
                + f". Shipped minus old default: {100 * d_best:+.1f} points, better on {wins}, "
                f"tied on {ties}, worse on {len(new) - wins - ties} of {len(new)} seeds: "
                f"{say}. Highest median here: {top}.")

    good_alpha = {}
    for tol in TOLERANCES:
        fa = np.geomspace(*SWEEP_ALPHA, 2000)
        for beta in (0.9, 0.99, 0.999):
            inside = fa[surface.good(fa, np.full_like(fa, beta), tol)]
            good_alpha[(tol, beta)] = (inside.min(), inside.max()) if inside.size else None

    def span(r):
        return "none" if r is None else f"{r[0]:.2g} – {r[1]:.2g}"

    body = [
        "DESIGN idea 2: *`alpha` log-uniform, and `1 - beta` log-uniform, so that beta in "
        "[0.9, 0.999] spends as many trials in [0.99, 0.999] as in [0.9, 0.99].*",
        "",
        "## Set-up",
        "",
        f"- Dataset {args.dataset} (the same as the primary one of "
        "[random_vs_grid.md](random_vs_grid.md)), 2 hidden layers of 64 units with batch "
        f"norm, batch size 64, {epochs} epochs, data seed 0 (one fixed split).",
        f"- Sweep: {n_alpha} alpha values log-spaced over [{SWEEP_ALPHA[0]:g}, "
        f"{SWEEP_ALPHA[1]:g}] x {n_beta} values of 1 - beta log-spaced over "
        f"[{SWEEP_ONE_MINUS_BETA[0]:g}, {SWEEP_ONE_MINUS_BETA[1]:g}] = {acc.size} points, "
        f"each the mean validation accuracy of {sweep_seeds} model seed(s) (a diverged fit "
        "counts as 0).",
        f"- Sweep's best mean accuracy: {acc.max():.3f} at alpha {alphas[j]:.3g}, beta "
        f"{1 - omb[i]:.4g}; smoothed: {surface.best:.3f} at alpha {alphas[sj]:.3g}, beta "
        f"{1 - omb[si]:.4g}. Validation split: {len(splits.y_val)} rows, so 1 point of "
        f"accuracy is {len(splits.y_val) / 100:.1f} rows. Sweep fits that diverged: "
        f"{100 * diverged.mean():.0f}%.",
        "- Good region: every (alpha, beta) whose smoothed, interpolated mean accuracy is "
        "within 1 point (red outline in the plot) or 2 points (white dashes) of the "
        "smoothed best. The verdict and the bar chart use 2 points: the spread of a "
        "point's seeds is of that order (median standard deviation over seeds, over the "
        f"points within 5 points of the best: {seed_std:.3f}).",
        "- Good alpha interval along fixed beta (1 pt; 2 pts): " + "; ".join(
            f"beta {b}: {span(good_alpha[(0.01, b)])}; {span(good_alpha[(0.02, b)])}"
            for b in (0.9, 0.99, 0.999)),
        f"- Searches: random sampler, {trials} trials, {seeds} seeds (the seed sets the "
        "sampler and the model), no pruner. beta range [0.9, 0.999] for both priors.",
        "",
        "## Results",
        "",
        table(head, rows),
        "",
        "\"expected\" is the share of 200 000 draws from the prior that land in the good "
        "region; \"observed\" the median over seeds of the share of a search's "
        f"{trials} trials that did.",
        "",
        "## Verdict",
        "",
        *(verdict(name) for name in RANGES),
        "",
        f"The shipped range {fmt_range(*SHIPPED)} against the others (same seeds, so "
        "seed s is a paired comparison):",
        "",
        *(range_verdict(prior) for prior in PRIORS),
        "",
        "Where a prior wins is decided by where the good region sits inside the range. A "
        "uniform prior puts 90% of its alpha draws in the top decade of the range and 91% "
        "of its beta draws in [0.9, 0.99]; a log prior spreads them evenly over the "
        "decades. If the good region is the top decade of alpha and low momentum, uniform "
        "wins; if the range extends past the good region (here: into divergence), the log "
        "prior wins. The log prior's case is that it does not need to know where the good "
        "region is: its share stays the same fraction of the decades the region covers.",
        "",
        f"![sweep and shares]({NAME}.png)",
    ]
    finish(args, machine, NAME, "Log-scale priors for alpha and 1 - beta vs uniform priors",
           "\n".join(body))


if __name__ == "__main__":
    main()

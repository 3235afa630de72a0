"""Random (and model-based) search against a grid, with five hyperparameters and 27 trials.

DESIGN idea 1: a grid tries few distinct values of the hyperparameter that matters.
Five hyperparameters are searched (alpha, beta, hidden units, batch size, BN decay) with
a budget of 27 trials. A grid user can only afford 3 values of 3 of them and must fix the
other two at their defaults (batch_size 64, bn_decay 0.9). Two grids are run, so the
result does not hang on one unlucky choice of grid:

- grid (ends): tuner's own grid sampler (`grid_points = 3`): low, middle, high of each
  range on the prior's own scale (alpha 0.01, 0.32, 10);
- grid (centres): the centres of three equal bins of each range on the same scale
  (alpha 0.032, 0.32, 3.2): what a careful grid user would pick.

alpha and beta are searched over the shipped studies' ranges (alpha log-uniform
[0.01, 10], beta complement-log-uniform [0.9, 0.999]).

Random, TPE and QMC (scrambled Sobol) search all five over the same priors. Every method
runs with seeds 0..9. The seed sets the model's seed (initialization and mini-batch
order) for every method, and the sampler's seed for random, TPE and QMC; the grid's 27
points do not change with the seed. The data split is the same for all (data seed 0), so
every method is scored on the same validation rows and seed s of one method is paired
with seed s of another. No pruner: every trial trains its full epochs.

    python benchmarks/random_vs_grid.py [--seeds 10] [--datasets synthetic digits] [--quick]
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np

from common.arguments import add_options, parser
from common.results import finish, fmt_acc, progress, save_figure, table
from common.shared_machine import Machine
from common.stats import median, quartiles
from common.studies import best_value, quiet, run_study, spec_splits, test_accuracy, with_seed
from common.study_files import ALPHA_BETA, fmt_range, spec_from_toml, study_toml
from tuner.space import grid_space, optuna_name, to_course
from tuner.spec import ParamSpec, SamplerSpec

NAME = "random_vs_grid"
BUDGET = 27
# alpha and beta as the shipped studies search them (ALPHA_BETA: alpha [0.01, 10]).
SEARCH = {**ALPHA_BETA, "units": ("log-int", 16, 256),
          "batch_size": ("log-int", 16, 256), "bn_decay": ("uniform", 0.5, 0.99)}


def study_text(dataset: str, trials: int, epochs: int) -> str:
    return study_toml("random-vs-grid", trials=trials, epochs=epochs, dataset=dataset,
                      model={"bn_decay": 0.9}, search=SEARCH)


GRID_PARAMS = ("alpha", "beta", "units")
METHODS = ("grid (ends)", "grid (centres)", "random", "tpe", "qmc")
WHY_DATASET = {
    "synthetic": "primary: its best accuracy (~0.9) is far from 1 and keeps moving with "
                 "alpha, width and batch size, so the methods have room to differ",
    "digits": "secondary, run for honesty: many settings reach ~0.96-0.97 on digits, so "
              "the methods have less room to differ",
}


def _centres(p: ParamSpec) -> tuple:
    """The centres of three equal bins of ``p``'s range, on its prior's scale."""
    if p.prior == "complement-log-uniform":
        lo, hi = math.log10(1 - p.high), math.log10(1 - p.low)
        return tuple(1 - 10 ** (lo + (hi - lo) * f) for f in (5 / 6, 1 / 2, 1 / 6))
    if p.prior in ("log-uniform", "log-int"):
        lo, hi = math.log10(p.low), math.log10(p.high)
        values = [10 ** (lo + (hi - lo) * f) for f in (1 / 6, 1 / 2, 5 / 6)]
    else:
        values = [p.low + (p.high - p.low) * f for f in (1 / 6, 1 / 2, 5 / 6)]
    return tuple(int(round(v)) for v in values) if p.prior.endswith("int") else tuple(values)


def grid_spec(spec, centres: bool):
    """``spec`` searching only alpha, beta and units, 3 values each, as a grid."""
    search = tuple(replace(p, grid=_centres(p) if centres else None)
                   for p in spec.search if p.name in GRID_PARAMS)
    return replace(spec, search=search,
                   sampler=SamplerSpec(name="grid", options=(("grid_points", 3),)))


def grid_values(spec) -> dict[str, list]:
    """The grid's values in course notation, for the result file."""
    space = grid_space(spec.search, 3)
    out = {}
    for p in spec.search:
        values = space[optuna_name(p)]
        out[p.name] = [1 - v for v in values] if p.prior == "complement-log-uniform" else values
    return out


def run_dataset(dataset: str, seeds: int, trials: int, epochs: int) -> dict[str, list[dict]]:
    base = spec_from_toml(study_text(dataset, trials, epochs))
    splits = spec_splits(base)
    results: dict[str, list[dict]] = {m: [] for m in METHODS}
    for seed in range(seeds):
        for method in METHODS:
            if method.startswith("grid"):
                spec = with_seed(grid_spec(base, centres="centres" in method), seed=seed)
            else:
                spec = with_seed(base, sampler=method, seed=seed)
            started = time.perf_counter()
            study = run_study(spec, splits, n_trials=trials)
            alphas = {t.params["alpha"] for t in study.trials if "alpha" in t.params}
            best = best_value(study)
            chosen = study.best_trial if np.isfinite(best) else None
            results[method].append({
                "seed": seed,
                "best_val": best,
                "test": (test_accuracy(spec, splits, chosen.params) if chosen
                         else float("nan")),
                "distinct_alpha": len(alphas),
                "diverged": sum(bool(t.user_attrs.get("tuner:diverged")) for t in study.trials),
                "best_params": to_course(chosen.params, spec.search) if chosen else {},
                "seconds": time.perf_counter() - started,
            })
        progress(f"{dataset}: seed {seed} done: " + ", ".join(
            f"{m} {results[m][-1]['best_val']:.3f}" for m in METHODS))
    return results


def paired(a: list[dict], b: list[dict]) -> tuple[int, int, int]:
    """(wins, ties, losses) of a against b, seed by seed, on best validation accuracy."""
    wins = ties = losses = 0
    for x, y in zip(a, b, strict=True):
        if x["best_val"] > y["best_val"]:
            wins += 1
        elif x["best_val"] == y["best_val"]:
            ties += 1
        else:
            losses += 1
    return wins, ties, losses


def summary(dataset: str, results: dict[str, list[dict]]) -> str:
    rows = []
    for method, runs in results.items():
        q1, q2, q3 = quartiles([r["best_val"] for r in runs])
        vals = [r["best_val"] for r in runs]
        rows.append([
            method, fmt_acc(q2), f"{fmt_acc(q1)} – {fmt_acc(q3)}",
            f"{q3 - q1:.3f}",
            f"{fmt_acc(np.nanmin(vals))} – {fmt_acc(np.nanmax(vals))}",
            fmt_acc(median([r["test"] for r in runs])),
            f"{median([r['distinct_alpha'] for r in runs]):.0f}",
            sum(r["diverged"] for r in runs),
        ])
    head = ["method", "median best val acc", "IQR (25% – 75%)", "IQR width", "min – max",
            "median test acc of the chosen trial", "distinct alpha tried (median)",
            "diverged trials (all seeds)"]
    lines = [table(head, rows), ""]
    for other in ("random", "tpe", "qmc"):
        for grid in ("grid (ends)", "grid (centres)"):
            w, t, lost = paired(results[other], results[grid])
            lines.append(f"- {other} vs {grid}, seed by seed: better on {w}, tied on {t}, "
                         f"worse on {lost} of {len(results[other])} seeds")
    return "\n".join(lines)


def verdict(results: dict[str, list[dict]]) -> str:
    """Honest sentences: did random, TPE and QMC beat the better of the two grids here?"""
    med = {m: median([r["best_val"] for r in runs]) for m, runs in results.items()}
    grid = max(("grid (ends)", "grid (centres)"), key=med.get)
    lines = []
    for method in ("random", "tpe", "qmc"):
        diff = med[method] - med[grid]
        if diff > 0.005:
            say = f"beat it by {diff * 100:.1f} points: the claim holds for {method}"
        elif diff < -0.005:
            say = (f"did **worse**, by {-diff * 100:.1f} points: the claim does **not** "
                   f"hold for {method}")
        else:
            say = f"is within half a point of it ({diff * 100:+.1f}): no clear winner"
        lines.append(f"- {method} vs {grid} (the better grid), median best validation "
                     f"accuracy: {say}.")
    ends = results["grid (ends)"]
    points = grid_values(grid_spec(spec_from_toml(study_text("synthetic", 1, 1)), False))

    def where(name: str) -> str:
        """How many seeds' best trial of grid (ends) had each of ``name``'s 3 values."""
        counts = [sum(math.isclose(r["best_params"].get(name, math.nan), v) for r in ends)
                  for v in points[name]]
        return (f"{name} = " + " / ".join(f"{v:.2g}" if isinstance(v, float) else str(v)
                                          for v in points[name]) + " on "
                + " / ".join(map(str, counts)))

    def at_end(r: dict) -> bool:
        return any(math.isclose(r["best_params"].get(name, math.nan), points[name][k])
                   for name in ("alpha", "units") for k in (0, -1))

    n_end = sum(at_end(r) for r in ends)
    test = {m: median([r["test"] for r in runs]) for m, runs in results.items()}
    order = sorted(test, key=test.get, reverse=True)
    lines.append("- On the held-out test split, the chosen trials' models rank "
                 + " > ".join(f"{m} {test[m]:.3f}" for m in order)
                 + f" (median over seeds; a spread of "
                 f"{100 * (test[order[0]] - test[order[-1]]):.1f} points)"
                 + (": the same order as on validation." if order == sorted(
                     med, key=med.get, reverse=True) else
                    ": not the validation order, so part of the differences above is the "
                    "noise of choosing the best of 27 on one validation split."))
    lines.append(f"- Where grid (ends) found its best, of {len(ends)} seeds: {where('alpha')}; "
                 f"{where('units')}; alpha or units at an end of its range on {n_end}."
                 + (" A grid with points on the ends of the ranges wins when the best "
                    "settings sit at the ends, where random search rarely lands with 27 "
                    "trials in 5 dimensions." if med["grid (ends)"] > med["random"] + 0.005
                    and n_end > len(ends) / 2 else ""))
    return "\n".join(lines)


def plot(all_results: dict[str, dict[str, list[dict]]], out, trials: int) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(all_results), figsize=(5.2 * len(all_results), 4.2),
                             squeeze=False)
    for ax, (dataset, results) in zip(axes[0], all_results.items(), strict=True):
        data = [[r["best_val"] for r in results[m] if np.isfinite(r["best_val"])]
                for m in METHODS]
        ax.boxplot(data, tick_labels=[m.replace(" (", "\n(") for m in METHODS],
                   showfliers=False)
        rng = np.random.default_rng(0)
        for i, values in enumerate(data, start=1):
            ax.scatter(i + rng.uniform(-0.12, 0.12, len(values)), values, s=12, alpha=0.6,
                       color="tab:blue", zorder=3)
        distinct = [median([r["distinct_alpha"] for r in results[m]]) for m in METHODS]
        ax.set_xticks(range(1, len(METHODS) + 1),
                      [f"{m.replace(' (', chr(10) + '(')}\n{d:.0f} alphas"
                       for m, d in zip(METHODS, distinct, strict=True)], fontsize=8)
        ax.set_title(f"{dataset}: best val. accuracy, {len(data[0])} seeds")
        ax.set_ylabel(f"best validation accuracy of {trials} trials")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"Grid vs random / TPE / QMC, 5 hyperparameters, {trials} trials")
    save_figure(fig, out, NAME)


def main() -> None:
    p = parser(__doc__)
    add_options(p, seeds=10, epochs=20)
    p.add_argument("--datasets", nargs="+", default=["synthetic", "digits"],
                   choices=["synthetic", "digits"])
    args = p.parse_args()
    quiet()
    machine = Machine()
    seeds, trials, epochs = args.seeds, BUDGET, args.epochs
    if args.quick:
        seeds, trials, epochs = 2, 4, 2

    all_results = {d: run_dataset(d, seeds, trials, epochs) for d in args.datasets}
    plot(all_results, args.out, trials)

    base = spec_from_toml(study_text("synthetic", trials, epochs))
    ends, centres = grid_values(grid_spec(base, False)), grid_values(grid_spec(base, True))

    def show(values: dict) -> str:
        return "; ".join(f"{k} " + ", ".join(f"{v:.4g}" for v in vs) for k, vs in values.items())

    body = [
        "DESIGN idea 1: *random (or model-based) search beats a grid when there are many "
        "hyperparameters: a grid tries few distinct values of the one that matters.*",
        "",
        "## Set-up",
        "",
        f"- Budget: {trials} trials per search, {seeds} seeds per method, {epochs} epochs per "
        "trial, MLP with 2 hidden layers and batch norm, no pruner.",
        "- Searched by random, TPE (tuner's default, Optuna 5: multivariate) and QMC "
        "(scrambled Sobol): "
        + ", ".join(f"{name} {prior} {fmt_range(low, high)}"
                    for name, (prior, low, high) in SEARCH.items())
        + " (alpha and beta: the shipped studies' ranges; units: the width of both hidden "
        "layers).",
        "- Grids: 3 values of alpha, beta and units (27 points), batch_size fixed at 64 and "
        "bn_decay at 0.9 (the defaults).",
        f"  - grid (ends), tuner's grid sampler with `grid_points = 3`: {show(ends)}",
        f"  - grid (centres), centres of three equal bins on the prior's scale: "
        f"{show(centres)}",
        "- How the grid is made comparable: seed s sets the model seed (initialization, "
        "mini-batch order) of every method, and the sampler seed of random, TPE and QMC; "
        "the grid's points do not move with the seed, so its spread is the spread of "
        "training noise alone. The data split is fixed (data seed 0), so all methods are "
        "scored on the same validation rows and compared seed by seed.",
        "- \"best val acc\" is the best trial's validation accuracy at its last epoch "
        "(what the study ranks by). The test accuracy is of the model that trial trained, "
        "on the held-out test split no trial saw: a check that the best validation score "
        "is not a lucky draw.",
        "",
    ]
    for dataset, results in all_results.items():
        body += [f"## {dataset}", "", f"Why this dataset: {WHY_DATASET[dataset]}.", "",
                 summary(dataset, results), "", f"**Verdict ({dataset}):**", "",
                 verdict(results), ""]
        best_by = {m: max(results[m], key=lambda r: r["best_val"])["best_params"]
                   for m in ("grid (ends)", "grid (centres)", "random")}
        body += ["Best trial found by each (over all seeds), course notation:", ""]
        body += [f"- {m}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else
                                        f"{k}={v}" for k, v in bp.items())
                 for m, bp in best_by.items()]
        body.append("")
    body += [
        "## Reading it",
        "",
        "- \"distinct alpha tried\" is the point of idea 1: each grid spends its 27 trials "
        "on 3 values of alpha, the hyperparameter with the largest effect "
        "(see [importance.md](importance.md)); random, TPE and QMC try 27.",
        "- The grids cannot change batch_size or bn_decay at all: whatever those are worth "
        "is out of a grid user's reach at this budget.",
        f"- ![box plot]({NAME}.png)",
    ]
    finish(args, machine, NAME, "Random vs grid search: 5 hyperparameters, 27 trials",
           "\n".join(body))


if __name__ == "__main__":
    main()

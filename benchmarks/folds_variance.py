"""Cross-validation for small data: how much a trial's value moves with the seeds, with
``[data] folds = 5`` against one validation split, and what the folds cost per trial.

Two few-hundred-row file studies (CSV files written from scikit-learn's bundled data:
a stratified 300-row subsample of breast_cancer, and the whole of wine, 178 rows). For
each seed s, one trial with FIXED hyperparameters (alpha, beta, the model) is run through
tuner's own objective with ``[data] seed = s`` and ``[model] seed = s`` (the
train/validation split or the folds, the initialization and the mini-batch order move;
``test_seed`` stays 0, so the held-out test rows are the same throughout), once with one
validation split (``validation_fraction`` 0.2) and once with ``folds = 5``. The spread of
the trial values over the seeds is what the study's ranking of two parameter sets is
up against: the smaller it is, the less a trial's value is luck of the split.

Reported per dataset and metric: the standard deviation of the trial values over the
seeds (ddof 1) for each set-up, their ratio folds/one split with a 90% bootstrap
interval (seeds resampled), and the median wall time of one trial (the objective call)
for each set-up and their ratio. The folds are built once per process (preprocessing
fitted per fold), timed separately.

    python benchmarks/folds_variance.py [--seeds 30] [--epochs 30] [--quick] [--out DIR]
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from common.arguments import add_options, parser
from common.results import progress, table, write_result
from common.shared_machine import Machine, OtherLoad, load_text
from common.studies import quiet

ALPHA, BETA, HIDDEN, BATCH = 0.3, 0.9, 16, 32


def write_csv(folder: Path, name: str) -> tuple[Path, int]:
    """``name``'s rows as a CSV with a ``label`` column; the number of rows."""
    import pandas as pd
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    if name == "breast_cancer":
        X, y = datasets.load_breast_cancer(return_X_y=True, as_frame=True)
        X, _, y, _ = train_test_split(X, y, train_size=300, stratify=y, random_state=0)
    else:
        X, y = datasets.load_wine(return_X_y=True, as_frame=True)
    frame = pd.concat([X.reset_index(drop=True),
                       y.rename("label").reset_index(drop=True)], axis=1)
    path = folder / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path, len(frame)


def study_file(folder: Path, csv: Path, *, metric: str, seed: int, folds: int | None,
               epochs: int) -> Path:
    direction = "maximize" if metric == "val_accuracy" else "minimize"
    text = f"""[study]
name = "cv"
metric = "{metric}"
direction = "{direction}"
n_trials = 1

[data]
path = "{csv.name}"
target = "label"
seed = {seed}
test_seed = 0
{f"folds = {folds}" if folds else ""}

[model]
hidden = [{HIDDEN}]
epochs = {epochs}
batch_size = {BATCH}
seed = {seed}

[search]
alpha = {{ prior = "log-uniform", low = 0.01, high = 10.0 }}
beta = {{ prior = "complement-log-uniform", low = 0.8, high = 0.999 }}
"""
    path = folder / f"study-{metric}-{seed}-{folds}.toml"
    path.write_text(text)
    return path


def one_trial(file: Path) -> tuple[float, float, float, float]:
    """(trial value, wall and CPU seconds of the objective call, seconds to build the
    folds)."""
    import optuna

    from tuner.data import spec_splits
    from tuner.objective import make_objective
    from tuner.spec import load_spec

    spec = load_spec(file)
    splits = spec_splits(spec)
    started = time.perf_counter()
    if splits.folds is not None:
        splits.folds()  # built once per process; timed apart from the trial
    built = time.perf_counter() - started
    study = optuna.create_study(direction=spec.direction)
    study.enqueue_trial({"alpha": ALPHA, "one_minus_beta": 1 - BETA})
    objective = make_objective(spec, splits)
    started, cpu = time.perf_counter(), time.process_time()
    study.optimize(objective, n_trials=1)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    trial = study.trials[0]
    if trial.value is None:
        raise RuntimeError(f"{file}: the fixed trial ended {trial.state.name}")
    return float(trial.value), seconds, cpu, built


def interleaved_vs_sequential(file: Path, repeats: int) -> tuple[float, float]:
    """Median CPU seconds of the 5 fold models stepped one epoch each in turn (what a
    trial does, `tuner.folds.fit_folds`) and of the same 5 models fitted one after the
    other, on the same folds."""
    from tuner.data import spec_splits
    from tuner.folds import fit_folds
    from tuner.mlp import MLPCore
    from tuner.objective import model_params
    from tuner.spec import load_spec

    spec = load_spec(file)
    folds = spec_splits(spec).folds()
    params = model_params(spec, {"alpha": ALPHA, "beta": BETA})

    def interleaved() -> None:
        fit_folds(params, folds, lambda epoch, mean: False)

    def sequential() -> None:
        for f in folds:
            MLPCore(**params).fit(f.X_train, f.y_train, f.X_val, f.y_val)

    times: dict[str, list[float]] = {"interleaved": [], "sequential": []}
    for _ in range(repeats):  # the two take turns within each repeat
        for name, fn in (("interleaved", interleaved), ("sequential", sequential)):
            started = time.process_time()
            fn()
            times[name].append(time.process_time() - started)
    return statistics.median(times["interleaved"]), statistics.median(times["sequential"])


def ratio_interval(a: np.ndarray, b: np.ndarray, rng: np.random.Generator,
                   n: int = 2000) -> tuple[float, float]:
    """90% bootstrap interval of std(b) / std(a), seeds resampled (paired)."""
    idx = rng.integers(0, len(a), size=(n, len(a)))
    with np.errstate(divide="ignore", invalid="ignore"):  # a resample of equal values
        ratios = np.std(b[idx], axis=1, ddof=1) / np.std(a[idx], axis=1, ddof=1)
    ratios = ratios[np.isfinite(ratios)]
    return float(np.quantile(ratios, 0.05)), float(np.quantile(ratios, 0.95))


def main() -> None:
    p = add_options(parser(__doc__), seeds=30, epochs=30)
    args = p.parse_args()
    if args.quick:
        args.seeds, args.epochs = 3, 3
    quiet()
    machine = Machine()
    rng = np.random.default_rng(0)
    rows, time_rows, design_rows, lines = [], [], [], []
    folder = Path(tempfile.mkdtemp(prefix="folds-variance-"))
    for name in ("breast_cancer", "wine"):
        csv, n_rows = write_csv(folder, name)
        for metric in ("val_accuracy", "val_loss"):
            values: dict[str, list[float]] = {"one split": [], "folds = 5": []}
            seconds: dict[str, list[float]] = {"one split": [], "folds = 5": []}
            cpu: dict[str, list[float]] = {"one split": [], "folds = 5": []}
            builds = []
            with OtherLoad() as load:
                for seed in range(args.seeds):
                    for label, folds in (("one split", None), ("folds = 5", 5)):
                        value, took, cpu_took, built = one_trial(study_file(
                            folder, csv, metric=metric, seed=seed, folds=folds,
                            epochs=args.epochs))
                        values[label].append(value)
                        seconds[label].append(took)
                        cpu[label].append(cpu_took)
                        if folds:
                            builds.append(built)
            progress(f"{name} {metric}: {args.seeds} seeds done")
            one, cv = (np.array(values[k]) for k in ("one split", "folds = 5"))
            sd_one, sd_cv = float(np.std(one, ddof=1)), float(np.std(cv, ddof=1))
            low, high = ratio_interval(one, cv, rng)
            rows.append([name, n_rows, metric, f"{one.mean():.4f}", f"{sd_one:.4f}",
                         f"{cv.mean():.4f}", f"{sd_cv:.4f}",
                         f"{sd_cv / sd_one:.2f}" if sd_one > 0 else "n/a",
                         f"{low:.2f} – {high:.2f}"])
            t_one = statistics.median(seconds["one split"])
            t_cv = statistics.median(seconds["folds = 5"])
            c_one = statistics.median(cpu["one split"])
            c_cv = statistics.median(cpu["folds = 5"])
            time_rows.append([name, metric, f"{1000 * t_one:.1f}", f"{1000 * t_cv:.1f}",
                              f"{t_cv / t_one:.2f}", f"{1000 * c_one:.1f}",
                              f"{1000 * c_cv:.1f}", f"{c_cv / c_one:.2f}",
                              f"{1000 * statistics.median(builds):.1f}",
                              load_text(load.fraction)])
            lines.append((name, metric, sd_one, sd_cv, c_cv / c_one))
        with OtherLoad() as load:
            inter, seq = interleaved_vs_sequential(
                study_file(folder, csv, metric="val_accuracy", seed=0, folds=5,
                           epochs=args.epochs), repeats=3 if args.quick else 15)
        design_rows.append([name, f"{1000 * inter:.1f}", f"{1000 * seq:.1f}",
                            f"{inter / seq:.2f}", load_text(load.fraction)])

    spread = table(["data", "rows", "metric", "mean, one split", "sd, one split",
                    "mean, folds = 5", "sd, folds = 5", "sd ratio (folds / one)",
                    "90% bootstrap"], rows)
    timing = table(["data", "metric", "wall ms, one split", "wall ms, folds = 5",
                    "wall ratio", "CPU ms, one split", "CPU ms, folds = 5", "CPU ratio",
                    "ms to build the 5 folds (once)", "other load"], time_rows)
    design = table(["data", "CPU ms, interleaved", "CPU ms, one after the other",
                    "ratio", "other load"], design_rows)
    ratios = [cv / one for _, _, one, cv, _ in lines if one > 0]
    design_ratios = [float(r[3]) for r in design_rows]
    times = [t for *_, t in lines]
    verdict = (
        f"Over {args.seeds} seeds, the trial values of 5-fold cross-validation had "
        f"{min(ratios):.2f}–{max(ratios):.2f} times the standard deviation of one "
        f"validation split's (a ratio below 1 means they vary less), at "
        f"{min(times):.1f}–{max(times):.1f} times the CPU time per trial. "
        if ratios else "No spread measured (every value equal). ")
    body = f"""Fixed hyperparameters (alpha {ALPHA}, beta {BETA}, hidden [{HIDDEN}], batch
{BATCH}, {args.epochs} epochs); for each seed 0..{args.seeds - 1}, `[data] seed` and `[model]
seed` are the seed, `test_seed` is 0. "One split": train 64%, validation 16% of the rows
(the defaults, test 20%); "folds = 5": the 80% of train + validation in 5 stratified folds,
the trial's value the mean of the 5 models' validation metric.

## The spread of a trial's value over the seeds

{spread}

## What the folds cost

The objective call of one trial (training and scoring, Optuna's in-memory bookkeeping),
median over the seeds; the folds are built once per process before the first trial.

{timing}

## The design: folds stepped in turn vs one after the other

A trial steps its 5 models one epoch each in turn (so the pruner sees every epoch's mean);
the alternative, each fold trained to the end before the next, could only report a
running mean. The same 5 models both ways, median CPU time of the five fits ({'3' if
args.quick else '15'} repeats, taking turns):

{design}

## Verdict

{verdict}For scale: five models on 80% of the rows train on 6.25 times the rows of one
model on 64%, and run 5 validation passes of 16% of the rows instead of one; the
per-trial bookkeeping is the same for both. Pruning stops all five models at once, so a
pruned trial saves in proportion. Stepping the folds in turn, which lets the pruner see
each epoch's mean, costs {min(design_ratios):.2f}–{max(design_ratios):.2f} times training
them one after the other.
"""
    path = write_result(args.out, "folds_variance", "Cross-validation for small data: "
                        "spread of trial values over seeds, and cost", body, machine,
                        quick=args.quick, plot=False)
    progress(f"wrote {path}")


if __name__ == "__main__":
    main()

"""Regression and an imbalanced table through the CLI, each beside a linear baseline on
the same rows.

Two example studies, run as a user runs them, every step a real `tuner` subprocess:

- studies/diabetes-regression.toml (data/diabetes.csv, 442 rows, ``task =
  "regression"``, ``metric = "val_rmse"``): `tuner study run`, `tuner train`, `tuner
  split`, `tuner predict` on the exported test rows. Beside it, scikit-learn's
  `LinearRegression` fitted on the exported train + validation rows (the rows tuner's
  final model is trained on) and scored on the same test rows. Reported: test R² and
  RMSE of both, and the R² recomputed from `tuner predict`'s output (it must equal the
  model card's). The same file without ``task`` is run too: it must be refused in one
  line (exit 2).
- studies/imbalanced.toml (data/imbalanced.csv, 3,000 rows, ~10 % "pos", ``metric =
  "val_balanced_accuracy"``, ``class_weight`` searched over none / balanced): the same
  steps; beside it `LogisticRegression(class_weight="balanced")` (and unweighted) in a
  pipeline with a `StandardScaler`, on the same rows. Reported: test balanced accuracy
  of each, which class_weight the best trial chose, and the largest deviation from 1 of
  a row sum of `tuner predict --proba`.

Each is repeated for several seeds (``[data] seed`` = ``[sampler] seed`` = ``[model]
seed`` = s: the split, the search and the initialization move together), so the table
shows how much the comparison moves with the split. Nothing is tuned to make tuner win:
the study files are the shipped ones, with the seed and (``--quick``) the budget changed.

    python benchmarks/targets.py [--seeds 10] [--trials 40] [--quick] [--out DIR]
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from common.arguments import add_options, parser
from common.results import progress, table, write_result
from common.shared_machine import Machine, OtherLoad, load_text

ROOT = Path(__file__).resolve().parent.parent
TUNER = [sys.executable, "-m", "tuner"]


def tuner(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TUNER_CACHE_DIR": ""}
    env.pop("TUNER_STORAGE", None)
    done = subprocess.run([*TUNER, *args], capture_output=True, text=True, env=env,
                          cwd=ROOT)
    if check and done.returncode != 0:
        raise RuntimeError(f"tuner {' '.join(args)}: exit {done.returncode}: "
                           f"{done.stderr.strip()}")
    return done


def study_copy(name: str, folder: Path, *, seed: int, trials: int,
               epochs: int | None, drop_task: bool = False) -> Path:
    """The shipped study file with its seeds set to ``seed``, its data path absolute,
    ``n_trials`` (and with ``epochs``, the epochs) changed."""
    text = (ROOT / "studies" / f"{name}.toml").read_text()
    text = re.sub(r'(?m)^path = "\.\./data/', f'path = "{ROOT}/data/', text)
    text = re.sub(r"(?m)^seed = \d+", f"seed = {seed}", text)
    text = re.sub(r"(?m)^n_trials = \d+", f"n_trials = {trials}", text)
    text = re.sub(r"(?m)^name = \"([^\"]+)\"", rf'name = "\1-s{seed}"', text, count=1)
    if epochs is not None:
        text = re.sub(r"(?m)^epochs = \d+", f"epochs = {epochs}", text)
    if drop_task:
        text = re.sub(r"(?m)^(task|metric) = .*\n", "", text)
    # [model] seed: the initialization and the mini-batch order move with the split
    text = text.replace("[model]\n", f"[model]\nseed = {seed}\n", 1)
    path = folder / f"{name}-s{seed}{'-notask' if drop_task else ''}.toml"
    path.write_text(text)
    return path


def run_one(name: str, folder: Path, seed: int, trials: int, epochs: int | None
            ) -> dict[str, object]:
    """Run, train, split and predict one study; its card, the exported rows, and what
    `tuner predict` wrote for the test rows (and with --proba, for a classifier)."""
    import pandas as pd

    study = study_copy(name, folder, seed=seed, trials=trials, epochs=epochs)
    storage = f"sqlite:///{folder / f'{name}-s{seed}.db'}"
    tuner("study", "run", str(study), "--storage", storage, "-q")
    model = folder / f"{name}-s{seed}.npz"
    tuner("train", str(study), "--storage", storage, "-o", str(model),
          "--artifacts", str(folder / "artifacts"), "-q")
    card = json.loads(model.with_suffix(".json").read_text())
    splits = folder / f"{name}-s{seed}-splits"
    tuner("split", str(study), "-o", str(splits), "-q")
    frames = {part: pd.read_csv(splits / f"{part}.csv")
              for part in ("train", "validation", "test")}
    predicted = tuner("predict", str(model), str(splits / "test.csv")).stdout
    out: dict[str, object] = {"card": card, "frames": frames, "predicted": predicted}
    if card["task"] == "classification":
        out["proba"] = tuner("predict", str(model), str(splits / "test.csv"),
                             "--proba").stdout
    return out


def diabetes(folder: Path, seed: int, trials: int, epochs: int | None) -> dict[str, float]:
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score, root_mean_squared_error

    r = run_one("diabetes-regression", folder, seed, trials, epochs)
    frames, card = r["frames"], r["card"]
    target = "progression"
    fit = pd_concat([frames["train"], frames["validation"]])
    test = frames["test"]
    linear = LinearRegression().fit(fit.drop(columns=target), fit[target])
    y = test[target].to_numpy(dtype=float)
    lin = linear.predict(test.drop(columns=target))
    net = np.array([float(v) for v in str(r["predicted"]).split()])
    return {"seed": seed, "trained_rows": len(fit), "test_rows": len(test),
            "net_r2": card["test_metrics"]["val_r2"], "net_rmse": card["test_score"],
            "net_r2_from_predict": r2_score(y, net),
            "lin_r2": r2_score(y, lin), "lin_rmse": root_mean_squared_error(y, lin),
            "val_rmse": card["validation_score"], "alpha": card["params"]["alpha"]}


def imbalanced(folder: Path, seed: int, trials: int, epochs: int | None
               ) -> dict[str, object]:
    import csv
    import io

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    r = run_one("imbalanced", folder, seed, trials, epochs)
    frames, card = r["frames"], r["card"]
    fit = pd_concat([frames["train"], frames["validation"]])
    test = frames["test"]
    scores = {}
    for weight in ("balanced", None):
        logistic = make_pipeline(StandardScaler(), LogisticRegression(class_weight=weight))
        logistic.fit(fit.drop(columns="label"), fit["label"])
        scores[weight] = balanced_accuracy_score(test["label"],
                                                 logistic.predict(test.drop(columns="label")))
    net = str(r["predicted"]).split()
    rows = list(csv.reader(io.StringIO(str(r["proba"]))))
    sums = np.array([[float(p) for p in row] for row in rows[1:]]).sum(axis=1)
    return {"seed": seed, "trained_rows": len(fit), "test_rows": len(test),
            "test_pos": int((test["label"] == "pos").sum()),
            "net_bacc": card["test_score"],
            "net_bacc_from_predict": balanced_accuracy_score(test["label"], net),
            "class_weight": card["params"].get("class_weight", "none"),
            "log_bal_bacc": scores["balanced"], "log_bacc": scores[None],
            "val_bacc": card["validation_score"], "alpha": card["params"]["alpha"],
            "proba_header": rows[0],
            "proba_max_dev": float(np.max(np.abs(sums - 1.0)))}


def pd_concat(frames):  # noqa: ANN001, ANN201 - pandas is imported where it is used
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def refusal(folder: Path) -> tuple[int, str]:
    study = study_copy("diabetes-regression", folder, seed=0, trials=1, epochs=1,
                       drop_task=True)
    done = tuner("study", "run", str(study), "--storage",
                 f"sqlite:///{folder / 'refused.db'}", check=False)
    return done.returncode, done.stderr.strip()


def main() -> None:
    p = add_options(parser(__doc__), seeds=10)
    p.add_argument("--trials", type=int, default=40)
    args = p.parse_args()
    trials, epochs = (4, 5) if args.quick else (args.trials, None)
    seeds = range(1 if args.quick else args.seeds)
    machine = Machine()
    with tempfile.TemporaryDirectory(prefix="tuner-targets-") as tmp, OtherLoad() as load:
        folder = Path(tmp)
        code, message = refusal(folder)
        reg, clf = [], []
        for s in seeds:
            progress(f"diabetes seed {s}")
            reg.append(diabetes(folder, s, trials, epochs))
            progress(f"imbalanced seed {s}")
            clf.append(imbalanced(folder, s, trials, epochs))
    body = report(reg, clf, code, message, trials, load_text(load.fraction))
    path = write_result(args.out, "targets", "Regression and an imbalanced table through "
                        "the CLI, beside linear baselines on the same rows", body, machine,
                        quick=args.quick, plot=False)
    progress(f"wrote {path}")


def paired(d: list[float]) -> str:
    """How the paired differences (network - baseline, one per seed) spread: how many
    are positive, and a 90 % interval of their mean (t, n - 1 degrees of freedom)."""
    wins = sum(x > 0 for x in d)
    if len(d) < 2:
        return f"network ahead on {wins} of {len(d)} seed"
    from scipy import stats

    half = stats.t.ppf(0.95, len(d) - 1) * statistics.stdev(d) / len(d) ** 0.5
    mean = statistics.mean(d)
    return (f"90 % interval of the mean difference [{mean - half:+.3f}, {mean + half:+.3f}],"
            f" network ahead on {wins} of {len(d)} seeds")


def report(reg: list[dict], clf: list[dict], code: int, message: str, trials: int,
           load: str) -> str:
    def f(x: float) -> str:
        return f"{x:.3f}"

    reg_rows = [[r["seed"], r["trained_rows"], r["test_rows"], f(r["net_r2"]),
                 f(r["lin_r2"]), f(r["net_r2"] - r["lin_r2"]), f"{r['net_rmse']:.1f}",
                 f"{r['lin_rmse']:.1f}", f"{r['val_rmse']:.1f}", f"{r['alpha']:.3g}",
                 f(r["net_r2_from_predict"])] for r in reg]
    clf_rows = [[c["seed"], c["test_rows"], c["test_pos"], f(c["net_bacc"]),
                 f(c["log_bal_bacc"]), f(c["net_bacc"] - c["log_bal_bacc"]),
                 f(c["log_bacc"]), f(c["val_bacc"]), c["class_weight"], f"{c['alpha']:.3g}",
                 f(c["net_bacc_from_predict"]), f"{c['proba_max_dev']:.1e}"] for c in clf]
    gaps = [c for c in clf if c["val_bacc"] - c["net_bacc"] > 0.1]
    gap_text = "".join(
        f" Seed {c['seed']}: the best trial scored {c['val_bacc']:.3f} on validation at "
        f"alpha {c['alpha']:.3g}, and its retrain on train + validation (same epochs and "
        f"seed, no early stopping) scored {c['net_bacc']:.3f} on test: a high learning "
        "rate's last epoch is luck, and `tuner train` retrains once." for c in gaps)
    d_r2 = [r["net_r2"] - r["lin_r2"] for r in reg]
    d_ba = [c["net_bacc"] - c["log_bal_bacc"] for c in clf]
    net_r2 = statistics.mean(r["net_r2"] for r in reg)
    lin_r2 = statistics.mean(r["lin_r2"] for r in reg)
    per_seed = ", ".join(f"{d:+.3f}" for d in d_r2)
    reg_verdict = (
        f"Mean test R² over {len(reg)} seed(s): network {net_r2:.3f}, LinearRegression "
        f"{lin_r2:.3f} (network minus linear: {statistics.mean(d_r2):+.3f}, "
        f"{paired(d_r2)}; per seed {per_seed}).")
    clf_verdict = (
        f"Mean test balanced accuracy over {len(clf)} seed(s): network "
        f"{statistics.mean(c['net_bacc'] for c in clf):.3f}, LogisticRegression(balanced) "
        f"{statistics.mean(c['log_bal_bacc'] for c in clf):.3f} (network minus logistic: "
        f"{statistics.mean(d_ba):+.3f}, {paired(d_ba)}; per seed "
        f"{', '.join(f'{d:+.3f}' for d in d_ba)}); "
        f"class_weight of the best trials: {', '.join(str(c['class_weight']) for c in clf)}.")
    return "\n".join([
        "The imbalanced table is synthetic (`make_classification`: clusters on the corners "
        "of a hypercube, a boundary no straight line draws), which favours a network over "
        "a linear model; diabetes is real and small (442 rows), where a linear model is "
        "hard to beat.", "",
        f"Budget: {trials} trials per study and seed; the shipped study files otherwise. "
        "Each seed moves the split (test rows included), the sampler and the "
        "initialization; the baselines see exactly the rows `tuner split` exported "
        "(fitted on train + validation, as `tuner train`'s model is).", "",
        "## Regression: studies/diabetes-regression.toml", "",
        table(["seed", "trained rows", "test rows", "network test R²",
               "LinearRegression test R²", "network - linear", "network test RMSE",
               "linear test RMSE", "best trial's validation RMSE", "its alpha",
               "R² from `tuner predict`'s output"], reg_rows), "",
        f"**Verdict:** {reg_verdict} Predictions written by `tuner predict` give the "
        "card's R² (last column).", "",
        "The same file without `task` (and without its regression metric), `tuner study "
        f"run`: exit {code}, stderr:", "", "```", message, "```", "",
        "## Imbalanced binary table: studies/imbalanced.toml", "",
        table(["seed", "test rows", "of them pos", "network test bal. acc.",
               "LogisticRegression(balanced)", "network - logistic(balanced)",
               "LogisticRegression (unweighted)", "best trial's validation bal. acc.",
               "its class_weight", "its alpha", "bal. acc. from `tuner predict`",
               "max abs(row sum - 1), `--proba`"], clf_rows), "",
        f"**Verdict:** {clf_verdict}{gap_text} `predict --proba` header: "
        f"{', '.join(clf[0]['proba_header'])}.", "",
        f"Other load on the machine during the run: {load}.",
    ])


if __name__ == "__main__":
    main()

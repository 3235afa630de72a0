"""What tuner costs on top of training, against a bare Optuna loop, in one run.

Four ways to run the same 40 trials (digits, same model, same search space: the shipped
studies' alpha log-uniform [0.01, 10] and 1 - beta log-uniform [0.001, 0.1]; same TPE
seed, same pruner) on a fresh SQLite file each, interleaved over repeats:

- bare:        optuna.create_study(storage="sqlite:///...").optimize(objective)
- bare+tuned:  the same loop on tuner's storage (WAL, busy timeout, BEGIN IMMEDIATE)
- tuner:       tuner's own path (`study run`: version, queue, worker loop), in process
- tuner CLI:   `tuner study run` as a subprocess (adds interpreter start and imports)

It prints the wall times, the sum of the training times alone, the overhead per trial
(wall - training) and the ratios, and writes benchmarks/results/overhead.md.

    python benchmarks/overhead.py [--trials 40] [--epochs 3] [--repeats 3] [--quick]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import optuna

from common.arguments import file_parser
from common.results import write_table
from common.shared_machine import Machine
from common.study_files import ALPHA_BETA, study_toml, write_study
from tuner.data import load_splits
from tuner.fingerprint import study_fingerprints
from tuner.mlp import MLPClassifierBN
from tuner.spec import load_spec
from tuner.storage import open_storage
from tuner.versions import prepare_version
from tuner.worker import work

NAME = "overhead"
# The shipped studies' alpha range (common.study_files.ALPHA_BETA, which tuner's study
# here searches), for the bare loop too.
_, ALPHA_LOW, ALPHA_HIGH = ALPHA_BETA["alpha"]


def bare_loop(url: str, spec, splits, *, tuned: bool) -> tuple[float, float]:
    """The loop a user writes by hand with Optuna; returns (wall, training seconds).

    ``tuned`` opens the same SQLite file through tuner's storage settings instead of
    Optuna's defaults (the open is timed too, as it is for tuner)."""
    train = [0.0]

    def objective(trial: optuna.Trial) -> float:
        alpha = trial.suggest_float("alpha", ALPHA_LOW, ALPHA_HIGH, log=True)
        one_minus_beta = trial.suggest_float("one_minus_beta", 1e-3, 0.1, log=True)
        clf = MLPClassifierBN(hidden=(64, 64), learning_rate=alpha, momentum=1 - one_minus_beta,
                              epochs=spec.model.epochs, batch_size=64)
        last = {}

        def on_epoch(epoch, metrics):
            trial.report(metrics["val_accuracy"], epoch)
            last.update(metrics)
            return False

        started = time.perf_counter()
        try:
            clf.fit(splits.X_train, splits.y_train, splits.X_val, splits.y_val,
                    on_epoch=on_epoch)
        except ArithmeticError:
            raise optuna.TrialPruned() from None
        finally:
            train[0] += time.perf_counter() - started
        return last["val_accuracy"]

    started = time.perf_counter()
    storage = open_storage(url, heartbeat=False) if tuned else url
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.TPESampler(seed=0),
                                pruner=optuna.pruners.NopPruner(), direction="maximize")
    study.optimize(objective, n_trials=spec.n_trials)
    return time.perf_counter() - started, train[0]


def tuner_path(url: str, spec, splits, file: Path) -> tuple[float, float]:
    """What `tuner study run FILE` does after parsing its arguments."""
    started = time.perf_counter()
    storage = open_storage(url)
    version, _ = prepare_version(storage, spec, study_fingerprints(spec, splits), file=file)
    work(storage, spec, splits, version, seed=0, stop=threading.Event())
    wall = time.perf_counter() - started
    study = optuna.load_study(study_name=version, storage=url)
    return wall, sum(t.user_attrs["tuner:train_seconds"] for t in study.trials)


def tuner_cli(url: str, file: Path) -> tuple[float, float]:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tuner", "-q", "study", "run", str(file),
                    "--storage", url], check=True)
    wall = time.perf_counter() - started
    study = optuna.load_study(study_name="overhead", storage=url)
    return wall, sum(t.user_attrs["tuner:train_seconds"] for t in study.trials)


def main() -> None:
    parser = file_parser(__doc__, NAME)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    machine = Machine()
    if args.quick:
        args.trials, args.epochs, args.repeats = 4, 1, 1
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    tmp = Path(tempfile.mkdtemp(prefix="tuner-overhead-"))
    file = write_study(tmp, study_toml(NAME, trials=args.trials, epochs=args.epochs,
                                       sampler="tpe", seed=0), stem=NAME)
    spec = load_spec(file)
    splits = load_splits("digits")
    runs: dict[str, list[tuple[float, float]]] = {
        "bare Optuna, default SQLite": [], "bare Optuna, tuner's SQLite settings": [],
        "tuner (in process)": [], "tuner study run (subprocess)": []}
    for r in range(args.repeats):
        def db(name: str, r: int = r) -> str:
            return f"sqlite:///{tmp / f'{name}-{r}.db'}"
        runs["bare Optuna, default SQLite"].append(
            bare_loop(db("bare"), spec, splits, tuned=False))
        runs["bare Optuna, tuner's SQLite settings"].append(
            bare_loop(db("tuned"), spec, splits, tuned=True))
        runs["tuner (in process)"].append(tuner_path(db("tuner"), spec, splits, file))
        runs["tuner study run (subprocess)"].append(tuner_cli(db("cli"), file))
        print(f"repeat {r + 1}/{args.repeats} done", file=sys.stderr)

    n = args.trials
    rows = []
    base_wall = statistics.median(w for w, _ in runs["bare Optuna, default SQLite"])
    base_over = statistics.median((w - t) / n for w, t in runs["bare Optuna, default SQLite"])
    for name, samples in runs.items():
        wall = statistics.median(w for w, _ in samples)
        train = statistics.median(t for _, t in samples)
        overhead_ms = statistics.median((w - t) / n for w, t in samples) * 1000
        rows.append(f"| {name} | {wall:.2f} | {train:.2f} | {wall / train:.2f} | "
                    f"{overhead_ms:.1f} | {wall / base_wall:.2f} | "
                    f"{overhead_ms / (base_over * 1000):.2f} |")

    table = "\n".join([
        f"# Overhead of tuner per trial ({n} trials, digits, {args.epochs} epochs, TPE)",
        "",
        f"Medians over {args.repeats} interleaved repeats; a fresh SQLite file each run.",
        "",
        "| run | wall s | training s | wall / training | overhead ms/trial | "
        "wall vs bare | overhead vs bare |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Overhead per trial = (wall - training) / trials: sampling, storage, queueing, "
        "reporting. The subprocess row adds the interpreter start and imports once.",
    ])
    write_table(args.out, table, machine)


if __name__ == "__main__":
    main()

"""Start-up of `tuner predict` on six rows, against `python -c "import numpy"` (issue 21).

A saved model needs only numpy to predict: `tuner predict` should cost a small multiple
of numpy's own import, not the 2-4 s of importing scikit-learn, pandas and Optuna. Two
models are trained once, tiny (the figures do not depend on the weights): one of a
built-in dataset (iris) and one of a CSV table (data/churn.csv: numeric and categorical
columns with gaps). Then, in one run, alternating so that the machine's load falls on
all three alike: `tuner predict` of each model on a six-row CSV, and `python -c "import
numpy"`. Reports wall-clock medians and quartiles, the ratios of medians (targets: 3x
for the built-in model, 5x for the table model), and which heavy modules each predict
imported. Writes benchmarks/results/predict_startup.md.

    python benchmarks/predict_startup.py [--repeats 31] [--quick]
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common.arguments import file_parser
from common.results import write_table
from common.shared_machine import Machine, OtherLoad, load_text
from common.stats import quartiles

NAME = "predict_startup"
ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("sklearn", "pandas", "optuna", "scipy", "sqlalchemy")
TARGETS = {"built-in (iris)": 3.0, "table (churn CSV)": 5.0}

STUDY = """
[study]
name = "{name}"
n_trials = 1

[data]
{data}
seed = 0

[model]
hidden = [16]
epochs = 2
batch_size = 64

[search]
alpha = {{ prior = "log-uniform", low = 1e-2, high = 1.0 }}

[sampler]
name = "random"
seed = 0
"""


def tuner(*args: str | Path) -> list[str]:
    """The `tuner` console script of this environment, as a user runs it."""
    script = Path(sys.executable).parent / "tuner"
    head = [str(script)] if script.exists() else [sys.executable, "-m", "tuner"]
    return [*head, *map(str, args)]


def make_models(folder: Path) -> dict[str, tuple[Path, Path]]:
    """Train the two models; each name's (model file, six-row CSV)."""
    churn = ROOT / "data" / "churn.csv"
    studies = {
        "built-in (iris)": ("iris", 'dataset = "iris"',
                            "5.1,3.5,1.4,0.2\n6.0,3.0,5.0,2.0\n5.0,3.0,1.0,0.2\n"
                            "7.0,3.2,6.0,2.1\n5.5,2.5,4.0,1.3\n6.3,2.8,4.9,1.5\n"),
        "table (churn CSV)": ("churn", f'path = "{churn}"\ntarget = "churned"\n'
                              'drop = ["customer_id"]',
                              "".join(churn.read_text().splitlines(keepends=True)[:7])),
    }
    url = f"sqlite:///{folder / 'tuner.db'}"
    models = {}
    for label, (name, data, rows) in studies.items():
        study = folder / f"{name}.toml"
        study.write_text(STUDY.format(name=name, data=data))
        model = folder / f"{name}.npz"
        for args in (("study", "run", study), ("train", study, "-o", model, "--no-upload")):
            subprocess.run(tuner(*args, "--storage", url, "-q"), check=True,
                           capture_output=True, text=True)
        csv = folder / f"{name}-6.csv"
        csv.write_text(rows)
        models[label] = (model, csv)
    return models


def imported(model: Path, csv: Path) -> list[str]:
    """The heavy packages a `tuner predict` process imports (from -X importtime)."""
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "tuner", "predict",
                        str(model), str(csv)], capture_output=True, text=True, check=True)
    names = {line.split("|")[-1].strip().split(".")[0] for line in p.stderr.splitlines()
             if line.startswith("import time:")}
    return [h for h in HEAVY if h in names]


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system) of one run of ``argv``. The CPU time
    hardly moves with the machine's load; the wall clock is what a user waits."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = file_parser(__doc__, NAME)
    parser.add_argument("--repeats", type=int, default=31)
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    machine = Machine()
    with tempfile.TemporaryDirectory() as tmp:
        models = make_models(Path(tmp))
        commands = {"python -c \"import numpy\"": [sys.executable, "-c", "import numpy"]}
        commands.update({label: tuner("predict", model, csv)
                         for label, (model, csv) in models.items()})
        for argv in commands.values():  # warm the file cache before timing
            timed(argv)
        times: dict[str, list[float]] = {label: [] for label in commands}
        cpus: dict[str, list[float]] = {label: [] for label in commands}
        with OtherLoad() as load:
            for _ in range(repeats):  # alternating: a busy second hits all three alike
                for label, argv in commands.items():
                    wall, cpu = timed(argv)
                    times[label].append(wall)
                    cpus[label].append(cpu)
        heavy = {label: imported(*models[label]) for label in models}
    numpy_label = "python -c \"import numpy\""
    base = quartiles(times[numpy_label])[1]
    base_cpu = quartiles(cpus[numpy_label])[1]
    rows = []
    for label, values in times.items():
        q1, med, q3 = quartiles(values)
        cpu = quartiles(cpus[label])[1]
        if label in models:
            ratio = med / base
            verdict = "met" if ratio <= TARGETS[label] else "MISSED"
            extra = (f"{ratio:.2f}x | {cpu * 1000:.0f} | {cpu / base_cpu:.2f}x | "
                     f"{TARGETS[label]:.0f}x, {verdict} | {', '.join(heavy[label]) or 'none'}")
        else:
            extra = f"1 | {cpu * 1000:.0f} | 1 | | "
        rows.append(f"| {label} | {med * 1000:.0f} | {q1 * 1000:.0f}-{q3 * 1000:.0f} | {extra} |")
    text = "\n".join([
        "# `tuner predict` start-up: six rows, against `python -c \"import numpy\"`",
        "",
        f"Wall clock of a whole process, {repeats} runs each, alternating (one run of each "
        f"command in turn); other load while timing: {load_text(load.fraction)}. The "
        "ratios are of medians; CPU is user + system time of the process, which the "
        "machine's load moves far less than the wall clock. Heavy modules: which of "
        f"{', '.join(HEAVY)} the predict process imported (`python -X importtime`).",
        "",
        "| command | median ms | quartiles ms | ratio to numpy | median CPU ms | CPU ratio | "
        "target (wall) | heavy modules |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ])
    write_table(args.out, text, machine, [f"PYTHONPATH={os.environ.get('PYTHONPATH', '')}"]
                if os.environ.get("PYTHONPATH") else [])


if __name__ == "__main__":
    main()

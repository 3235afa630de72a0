"""Start-up of `tuner study run`, phase by phase, each phase timed in a fresh interpreter
in the order the command meets it (issue 15). Prints medians over --repeat runs.

    python benchmarks/startup_probe.py [--repeat 5] [--study studies/digits-momentum.toml]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r'''
import json, sys, time
T = {}
t0 = time.perf_counter()
def mark(name):
    global t0
    t = time.perf_counter(); T[name] = 1000 * (t - t0); t0 = t
import click, tuner.cli; mark("import click + tuner.cli")
import numpy; mark("import numpy")
import optuna; mark("import optuna")
import sqlalchemy.orm; mark("import sqlalchemy.orm")
import alembic.migration, alembic.script; mark("import alembic (RDBStorage)")
import tuner.storage, tuner.retune, tuner.worker, tuner.objective; mark("import tuner.storage/retune/worker/objective")
import sklearn.model_selection, sklearn.preprocessing, sklearn.datasets; mark("import sklearn (model_selection, preprocessing, datasets)")
from tuner.spec import load_spec
spec = load_spec(sys.argv[1]); mark("load_spec")
from sklearn import datasets
X, y = datasets.load_digits(return_X_y=True) if spec.data.dataset == "digits" else (None, None); mark("sklearn load_digits (csv.gz)")
from tuner.data import load_splits
splits = load_splits(spec.data.dataset, dtype=spec.model.dtype, **spec.data.loader_kwargs()); mark("load_splits (load + split + scale)")
import numpy as np
np.savez(sys.argv[3], **splits.arrays()); mark("(cache) save splits .npz")
z = np.load(sys.argv[3] + ".npz"); arrays = {k: z[k] for k in z.files}; mark("(cache) load splits .npz")
from tuner.fingerprint import data_fingerprint, hardware_fingerprint, software_versions, study_fingerprints
data_fingerprint(splits, spec.data); mark("data_fingerprint")
hardware_fingerprint(); mark("hardware_fingerprint (threadpoolctl, /proc)")
software_versions(); mark("software_versions (importlib.metadata)")
fps = study_fingerprints(spec, splits); mark("study_fingerprints (all again)")
from tuner.storage import open_storage
url = "sqlite:///" + sys.argv[2]
st = open_storage(url); mark("open_storage (" + sys.argv[4] + ")")
from tuner.worker import prepare_version
version, decision = prepare_version(st, spec, fps, file=sys.argv[1], n_trials=1); mark("prepare_version (" + decision.action + ")")
study = optuna.load_study(storage=st, study_name=version); mark("load_study")
print(json.dumps(T))
'''


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--study", default="studies/digits-momentum.toml")
    a = ap.parse_args()
    runs: dict[str, list[float]] = {}
    for _ in range(a.repeat):
        with tempfile.TemporaryDirectory() as d:
            db = str(Path(d) / "t.db")
            for state in ("fresh", "existing"):
                out = subprocess.run([sys.executable, "-c", CHILD, a.study, db, str(Path(d) / "c"),
                                      state], capture_output=True, text=True, check=True).stdout
                for k, v in json.loads(out.strip().splitlines()[-1]).items():
                    runs.setdefault(f"{k}", []).append(v)
    for k, v in runs.items():
        print(f"{statistics.median(v):8.1f} ms  (min {min(v):6.1f}, max {max(v):6.1f})  {k}")


if __name__ == "__main__":
    main()

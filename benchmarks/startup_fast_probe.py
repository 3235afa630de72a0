"""Prototype of a fast `study run` start-up (issue 15, phase 1), timed against today's CLI.

The child (`--child`) does what `tuner study run FILE --n-trials 1 --jobs 1` does, with the
phase-2 plan applied outside tuner/: prepared splits from a cache keyed by everything that
determines them (no scikit-learn import on a hit), the hardware fingerprint once, and on an
existing database `RDBStorage(skip_table_creation=True, skip_compatibility_check=True)`
after a one-query check of `alembic_version` against the installed Optuna's head revision
(cached per Optuna version); with `--no-alembic` also a `_VersionManager` that does not
import alembic at all on such a database.

The parent runs, interleaved for --repeat rounds, fresh interpreters of:
`python -c "import optuna"`, today's CLI (fresh SQLite / existing study), and the
prototype (fresh / existing, with and without the alembic bypass). Medians printed.

    python benchmarks/startup_fast_probe.py [--repeat 5] [--study studies/digits-momentum.toml]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def cache_dir() -> Path:
    base = os.environ.get("TUNER_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tuner")
    return Path(base)


def cached_splits(spec):
    """The prepared splits of spec's data: from the cache, or computed and stored."""
    import hashlib
    import json
    import platform
    from importlib import metadata

    import numpy as np

    from tuner.data import Splits
    from tuner.fingerprint import data_fingerprint

    d = spec.data
    key = {"format": 1, "dataset": d.dataset, "params": dict(d.params),
           "test_fraction": d.test_fraction, "validation_fraction": d.validation_fraction,
           "seed": d.seed, "test_seed": d.test_seed, "dtype": spec.model.dtype,
           "numpy": np.__version__, "sklearn": metadata.version("scikit-learn"),
           "tuner": metadata.version("tuner"), "python": platform.python_version()}
    digest = hashlib.blake2b(json.dumps(key, sort_keys=True).encode(), digest_size=16).hexdigest()
    path = cache_dir() / "splits" / f"{digest}.npz"
    names = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        splits = Splits(**{k: arrays[k] for k in names},
                        scaler_mean=arrays["scaler_mean"].astype(spec.model.dtype),
                        scaler_scale=arrays["scaler_scale"].astype(spec.model.dtype))
        fp = data_fingerprint(splits, d)
        if fp.digest == str(arrays["fingerprint"]):
            return splits, fp, "hit"
    except (OSError, KeyError, ValueError):
        pass
    from tuner.data import load_splits

    splits = load_splits(d.dataset, dtype=spec.model.dtype, **d.loader_kwargs())
    fp = data_fingerprint(splits, d)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **splits.arrays(), scaler_mean=splits.scaler.mean_,
             scaler_scale=splits.scaler.scale_, fingerprint=np.array(fp.digest))
    os.replace(tmp, path)
    return splits, fp, "miss"


def alembic_head() -> str:
    """The installed Optuna's alembic head revision, cached per Optuna version."""
    import optuna

    path = cache_dir() / f"optuna-{optuna.__version__}.alembic-head"
    try:
        return path.read_text().strip()
    except OSError:
        pass
    import alembic.config
    import alembic.script
    from optuna.storages._rdb import storage as rdb

    config = alembic.config.Config(os.path.join(os.path.dirname(rdb.__file__), "alembic.ini"))
    config.set_main_option("script_location", os.path.join(os.path.dirname(rdb.__file__), "alembic"))
    head = alembic.script.ScriptDirectory.from_config(config).get_current_head()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head)
    return head


def open_fast(url: str, no_alembic: bool):
    import sqlalchemy

    from tuner.storage import (
        TunerStorage,
        _engine_kwargs,
        _serialize_sqlite,
        heartbeat_settings,
        retry_trial,
    )

    parsed = sqlalchemy.engine.make_url(url)
    current = None
    if Path(parsed.database).exists():
        engine = sqlalchemy.create_engine(url)
        try:
            with engine.connect() as c:
                current = c.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        except sqlalchemy.exc.DBAPIError:
            current = None
        engine.dispose()
    up_to_date = current is not None and current == alembic_head()
    interval, grace = heartbeat_settings()
    kwargs = dict(engine_kwargs=_engine_kwargs(parsed), heartbeat_interval=interval,
                  grace_period=grace, heartbeat_stale_trial_callback=retry_trial)
    if up_to_date:
        kwargs.update(skip_table_creation=True, skip_compatibility_check=True)
        if no_alembic:
            from optuna.storages._rdb import storage as rdb

            class CheckedVersionManager(rdb._VersionManager):
                def __init__(self, url, engine, scoped_session):  # checked above already
                    self.url, self.engine, self.scoped_session = url, engine, scoped_session

            rdb._VersionManager = CheckedVersionManager
    import warnings

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        st = TunerStorage(url, **kwargs)
    _serialize_sqlite(st.engine)
    return st


def child(study_file: str, url: str, no_alembic: bool) -> None:
    import dataclasses
    import threading

    import optuna

    from tuner.fingerprint import hardware_fingerprint, short, software_versions
    from tuner.spec import load_spec
    from tuner.worker import prepare_version, work

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    spec = dataclasses.replace(load_spec(study_file), n_trials=1)
    splits, data_fp, _ = cached_splits(spec)
    hardware = hardware_fingerprint()
    fps = {"study": spec.name, "data": data_fp.as_dict(), "hardware": hardware.as_dict(),
           "spec_hash": spec.spec_hash, "spec_short": short(spec.spec_hash),
           "software": software_versions()}
    st = open_fast(url, no_alembic)
    version, _ = prepare_version(st, spec, fps, file=study_file, n_trials=1)
    work(st, spec, splits, version, seed=spec.sampler.seed, stop=threading.Event())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--study", default="studies/digits-momentum.toml")
    ap.add_argument("--child", nargs=3, metavar=("STUDY", "URL", "NO_ALEMBIC"))
    a = ap.parse_args()
    if a.child:
        child(a.child[0], a.child[1], a.child[2] == "1")
        return
    py = sys.executable
    tuner = [py, "-m", "tuner", "-q"]
    me = [py, __file__, "--child"]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as d:
        env["TUNER_CACHE_DIR"] = str(Path(d) / "cache")
        ex_today, ex_fast = f"sqlite:///{d}/ex_today.db", f"sqlite:///{d}/ex_fast.db"
        subprocess.run([*tuner, "study", "run", a.study, "--n-trials", "1", "--storage", ex_today],
                       env=env, check=True)
        subprocess.run([*me, a.study, ex_fast, "0"], env=env, check=True)  # warms the cache too
        for r in range(a.repeat):
            runs = {
                "python -c 'import optuna'": [py, "-c", "import optuna"],
                "today: study run --n-trials 1, fresh SQLite": [*tuner, "study", "run", a.study,
                    "--n-trials", "1", "--storage", f"sqlite:///{d}/f{r}a.db"],
                "today: study run, existing study": [*tuner, "study", "run", a.study,
                    "--n-trials", "1", "--storage", ex_today],
                "fast: fresh SQLite (split cache warm)": [*me, a.study, f"sqlite:///{d}/f{r}b.db", "0"],
                "fast: existing study": [*me, a.study, ex_fast, "0"],
                "fast: existing study, no alembic import": [*me, a.study, ex_fast, "1"],
            }
            for name, cmd in runs.items():
                t = time.perf_counter()
                subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
                times.setdefault(name, []).append(time.perf_counter() - t)
    base = statistics.median(times["python -c 'import optuna'"])
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"{m:6.2f} s median (min {min(ts):.2f}, max {max(ts):.2f})  {m / base:5.1f}x  {name}")
    print("load average at end:", os.getloadavg())


if __name__ == "__main__":
    main()

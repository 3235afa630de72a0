"""The `tuner` command line: a thin skin over the library.

Each command opens what it needs, calls one library function and prints the result.
Errors the user can fix are one line on stderr and exit code 2; anything unexpected is
one line and exit code 1 (the traceback with -v). A password in a URL is never printed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from tuner import __version__
from tuner.errors import TunerError

# Heavy imports (optuna, numpy, sklearn) happen inside the commands, so that `--help`
# and bad-input errors answer at once.

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
_state = {"verbose": 0, "quiet": False, "secrets": set()}


# --- output -----------------------------------------------------------------------------

def _scrub(text: str) -> str:
    for secret in _state["secrets"]:
        text = text.replace(secret, "***")
    return text


def info(message: str) -> None:
    """A progress or status line for people (stderr; silent with -q)."""
    if not _state["quiet"]:
        click.echo(_scrub(message), err=True)


def out(message: str) -> None:
    """The command's result (stdout)."""
    click.echo(_scrub(message))


def _remember_secret(url: str) -> None:
    from sqlalchemy.engine import make_url

    try:
        password = make_url(url).password
    except Exception:
        return
    if password:
        _state["secrets"].add(str(password))


class _DropInterrupted(logging.Filter):
    """Optuna logs an interrupted trial as a failure with a traceback; tuner handles that
    case itself (the trial is queued again), so keep the noise out of the terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "Interrupted(" not in message and not message.endswith("failed with value None.")


def _setup_logging() -> None:
    import warnings

    import optuna

    # tuner relies on heartbeats, retries, metric names and artifacts knowingly; Optuna's
    # "experimental" notice about them is not news to a user.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    level = {0: logging.WARNING, 1: logging.INFO}.get(_state["verbose"], logging.DEBUG)
    if _state["quiet"]:
        level = logging.ERROR
    optuna.logging.set_verbosity(level)
    optuna.logging.disable_propagation()
    for handler in logging.getLogger("optuna").handlers:
        handler.addFilter(_DropInterrupted())
    root = logging.getLogger("tuner")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s",
                                               "%Y-%m-%d %H:%M:%S"))
        root.addHandler(handler)
    root.setLevel(level)


# --- shared options ---------------------------------------------------------------------

def _set_verbose(ctx: click.Context, _param: click.Parameter, value: int) -> int:
    _state["verbose"] = max(_state["verbose"], value)
    return value


def _set_quiet(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    _state["quiet"] = _state["quiet"] or value
    return value


def verbosity(f: Callable) -> Callable:
    """-v/-q on every command, so they may follow the command as well as precede it."""
    f = click.option("-q", "--quiet", is_flag=True, expose_value=False, is_eager=True,
                     callback=_set_quiet, help="Only errors and the result itself.")(f)
    return click.option("-v", "--verbose", count=True, expose_value=False, is_eager=True,
                        callback=_set_verbose,
                        help="More detail (-vv: debug); tracebacks on errors.")(f)


storage_option = click.option(
    "--storage", metavar="URL", envvar=None,
    help="Optuna storage URL. First found wins: --storage, $TUNER_STORAGE, `storage` in "
         "[study] of the file, sqlite:///tuner.db.")


def _storage(option: str | None, from_spec: str | None = None) -> str:
    from tuner.storage import resolve_storage_url

    url = resolve_storage_url(option, from_spec)
    _remember_secret(url)
    return url


def _open(url: str, **kwargs: Any):
    from tuner.storage import open_storage

    return open_storage(url, **kwargs)


# --- the group --------------------------------------------------------------------------

class TunerGroup(click.Group):
    """Turns every error into one line and the right exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except TunerError as e:
            _fail(str(e), 2)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as e:  # an unexpected error: still one line unless -v
            if _state["verbose"]:
                click.echo(_scrub(traceback.format_exc()), err=True)
            _fail(f"unexpected error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                  + ("" if _state["verbose"] else " (run with -v for the traceback)"), 1)


def _fail(message: str, code: int) -> None:
    click.echo(_scrub(f"error: {message}"), err=True)
    sys.exit(code)


@click.group(cls=TunerGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="tuner")
@verbosity
def cli() -> None:
    """Hyperparameter tuning on Optuna, from a study file.

    \b
    Quick start:
      tuner study run studies/digits-momentum.toml     # tune, with a progress bar
      tuner study show digits-momentum                # counts, best trial, fingerprints
      tuner dashboard                                 # browse it in optuna-dashboard

    Every command that touches a storage takes --storage URL (default sqlite:///tuner.db,
    or $TUNER_STORAGE).
    """
    _setup_logging()


@cli.group(cls=TunerGroup)
@verbosity
def study() -> None:
    """Run and inspect studies."""
    _setup_logging()


# --- study run / worker -------------------------------------------------------------------

def _load(file: Path, *, sampler: str | None = None, seed: int | None = None,
          n_trials: int | None = None):
    from tuner.spec import load_spec

    spec = load_spec(file)
    if sampler is not None or seed is not None:
        spec = dataclasses.replace(spec, sampler=dataclasses.replace(
            spec.sampler, **({"name": sampler, "options": ()} if sampler and
                             sampler != spec.sampler.name else {}),
            **({"seed": seed} if seed is not None else {})))
    if n_trials is not None:
        spec = dataclasses.replace(spec, n_trials=n_trials)
    return spec


def _jobs(ctx: click.Context, _param: click.Parameter, value: str) -> int | str:
    if value == "auto":
        return value
    try:
        n = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a whole number or 'auto'") from None
    if n < 1:
        raise click.BadParameter(f"{n} must be at least 1")
    return n


file_argument = click.argument("file", type=click.Path(dir_okay=False, path_type=Path))


def _progress(total: int, done: int, label: str):
    hidden = _state["quiet"] or not (sys.stderr.isatty() and sys.stdout.isatty())
    bar = click.progressbar(length=total, label=label, hidden=hidden, file=sys.stderr,
                            show_pos=True, item_show_func=lambda best: best)
    bar.update(min(done, total))
    return bar


def _best_text(study) -> str:
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return "no complete trial yet"
    return f"best {study.best_value:.4f}"


def _counts(study) -> dict[str, int]:
    from tuner.objective import DIVERGED

    counts = {"complete": 0, "pruned": 0, "diverged": 0, "failed": 0, "running": 0,
              "waiting": 0}
    for t in study.get_trials(deepcopy=False):
        state = t.state.name.lower()
        if state == "pruned" and t.user_attrs.get(DIVERGED):
            counts["diverged"] += 1
        elif state == "fail":
            counts["failed"] += 1
        else:
            counts[state] += 1
    return counts


def _summary_line(study, spec_metric: str) -> str:
    c = _counts(study)
    finished = c["complete"] + c["pruned"] + c["diverged"]
    parts = [f"{finished} trials finished ({c['complete']} complete, {c['pruned']} pruned, "
             f"{c['diverged']} diverged)"]
    if c["failed"]:
        parts.append(f"{c['failed']} failed and re-queued")
    if c["complete"]:
        from tuner.space import to_course

        best = study.best_trial
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in to_course(best.params).items())
        parts.append(f"best {spec_metric} {best.value:.4f} (trial {best.number}: {params})")
    return "; ".join(parts)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, tuple):
        return "x".join(map(str, v))
    return str(v)


def _worker_seed(base: int, index: int | None) -> int:
    if index is not None:
        return base + index
    # A worker started on its own, anywhere: the same seed on every worker would propose
    # duplicate parameters, so mix in what tells this process apart.
    import socket
    import zlib

    return (base + zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode())) % 2**31


def _prepare(file: Path, storage: str | None, *, sampler=None, seed=None, n_trials=None,
             owner: bool):
    from tuner.data import load_splits
    from tuner.fingerprint import study_fingerprints
    from tuner.worker import prepare_version

    spec = _load(file, sampler=sampler, seed=seed, n_trials=n_trials)
    url = _storage(storage, spec.storage)
    splits = load_splits(spec.data.dataset, dtype=spec.model.dtype,
                         **spec.data.loader_kwargs())
    storage_obj = _open(url)
    version, decision = prepare_version(storage_obj, spec, study_fingerprints(spec, splits),
                                        file=file, n_trials=n_trials, owner=owner)
    return spec, url, splits, storage_obj, version, decision


@study.command("run")
@file_argument
@storage_option
@click.option("--n-trials", type=click.IntRange(min=1), metavar="N",
              help="Total trials for this version (default: n_trials of the file).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="S",
              help="Stop starting new trials after S seconds (default: timeout_s of the "
                   "file); the same command continues later.")
@click.option("--jobs", default="1", callback=_jobs, metavar="N|auto", show_default=True,
              help="Trials at once, each in its own process. 'auto' decides from the cores, "
                   "memory and model size (caviar: many at once; panda: one, all cores).")
@click.option("--sampler", type=click.Choice(["tpe", "random", "grid", "cmaes", "qmc"]),
              help="Override [sampler] name.")
@click.option("--seed", type=int, help="Override [sampler] seed.")
@verbosity
def study_run(file: Path, storage: str | None, n_trials: int | None, timeout: float | None,
              jobs: int | str, sampler: str | None, seed: int | None) -> None:
    """Create or resume the current version of the study in FILE and run its trials.

    A run stopped with Ctrl-C (or SIGTERM) finishes the current epoch, hands the running
    trial back to the queue and exits; the same command resumes it, and the version ends
    with exactly n_trials finished trials. If the data, the hardware or the file's
    definition changed since the version was tuned, this says so: run `tuner retune FILE`.
    """
    import optuna

    from tuner.retune import N_TRIALS_ATTR, finished_count
    from tuner.storage import mask_url
    from tuner.worker import plan_jobs, run_parallel, stop_on_signals, work

    stop = threading.Event()
    with stop_on_signals(stop):
        spec, url, splits, storage_obj, version, decision = _prepare(
            file, storage, sampler=sampler, seed=seed, n_trials=n_trials, owner=True)
        study_obj = optuna.load_study(storage=storage_obj, study_name=version)
        target = int(study_obj.user_attrs.get(N_TRIALS_ATTR, spec.n_trials))
        done = finished_count(study_obj)
        info(f"{version}: {'created' if decision.action == 'create' else 'resuming'} on "
             f"{mask_url(url)}, {done} of {target} trials finished")
        plan = plan_jobs(spec, splits, jobs)
        if jobs == "auto":
            info(f"--jobs auto: {plan.describe()}")
        with _progress(target, done, version) as bar:
            if plan.jobs == 1:
                def on_trial(study_, _trial) -> None:
                    if not bar.hidden:
                        bar.update(1, _best_text(study_))

                result = work(storage_obj, spec, splits, version, seed=spec.sampler.seed,
                              stop=stop, timeout_s=timeout or spec.timeout_s,
                              on_trial=on_trial)
                code, timed_out = 0, result.timed_out
            else:
                position = [done]

                def poll() -> None:
                    now = finished_count(study_obj)
                    if now > position[0] and not bar.hidden:
                        bar.update(now - position[0], _best_text(study_obj))
                    position[0] = max(position[0], now)

                flags = ["-q"] if _state["quiet"] else ["-v"] * _state["verbose"]
                code = run_parallel(file, url, plan, seed=spec.sampler.seed, sampler=sampler,
                                    stop=stop, timeout_s=timeout or spec.timeout_s, poll=poll,
                                    verbosity=flags)
                timed_out = False
    stopped = stop.is_set()
    done = finished_count(study_obj)
    if stopped or timed_out or done < target:
        why = "stopped" if stopped else "timeout" if timed_out else "incomplete"
        info(f"{why}: {done} of {target} trials finished in {version}; run the same "
             "command to resume")
    info(f"{version}: {_summary_line(study_obj, spec.metric)}")
    if code:
        sys.exit(code)


@cli.command("worker")
@file_argument
@storage_option
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="S",
              help="Stop starting new trials after S seconds.")
@click.option("--worker-index", type=click.IntRange(min=0), hidden=True)
@click.option("--seed", type=int, hidden=True)
@click.option("--sampler", type=click.Choice(["tpe", "random", "grid", "cmaes", "qmc"]),
              hidden=True)
@verbosity
def worker_cmd(file: Path, storage: str | None, timeout: float | None,
               worker_index: int | None, seed: int | None, sampler: str | None) -> None:
    """Join the current version of the study in FILE as one more worker.

    Runs queued trials until the version has all its trials finished across every worker,
    then exits 0. Start as many as you like, on as many machines, against one PostgreSQL
    or MySQL URL. SIGTERM/SIGINT: finish the epoch, hand the trial back, exit 0.
    """
    from tuner.worker import stop_on_signals, work

    stop = threading.Event()
    # Handlers first: a SIGTERM while the data loads must still end in a clean exit.
    with stop_on_signals(stop):
        spec, url, splits, storage_obj, version, _ = _prepare(
            file, storage, sampler=sampler, seed=seed, owner=False)
        result = work(storage_obj, spec, splits, version,
                      seed=_worker_seed(spec.sampler.seed, worker_index), stop=stop,
                      timeout_s=timeout or spec.timeout_s)
    how = "stopped" if result.stopped else "timeout" if result.timed_out else "done"
    info(f"worker {os.getpid()} {how}: ran {result.ran} trials of {version}"
         + (f", handed {result.requeued} back to the queue" if result.requeued else ""))


# --- inspecting ---------------------------------------------------------------------------

def _resolve_study(storage_obj, name: str):
    """The study ``name`` names, for reading: NAME is a chain's newest version, NAME/vK
    (NAME/v1 included: it is stored as NAME) one version; a study tuner did not create
    can be looked at too."""
    import optuna

    from tuner.retune import newest_version

    names = optuna.get_all_study_names(storage_obj)
    base, sep, number = name.rpartition("/v")
    if sep and number == "1" and name not in names and base in names:
        name = base
    elif name not in names:
        known = ", ".join(sorted(names)) or "none"
        raise TunerError(f"no study named {name!r} in this storage; known: {known}")
    study = optuna.load_study(storage=storage_obj, study_name=name)
    if "tuner:version" in study.user_attrs and not sep:
        newest = newest_version(storage_obj, name)
        if newest is not None and newest.name != name:
            study = optuna.load_study(storage=storage_obj, study_name=newest.name)
    return study


def _json_out(obj: Any) -> None:
    out(json.dumps(obj, indent=2, default=str))


def _trial_dict(trial) -> dict[str, Any]:
    from tuner.space import to_course

    return {"number": trial.number, "state": trial.state.name, "value": trial.value,
            "params": to_course(trial.params), "optuna_params": trial.params,
            "user_attrs": trial.user_attrs}


@study.command("list")
@storage_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@verbosity
def study_list(storage: str | None, as_json: bool) -> None:
    """Every study in the storage, with its version, trial counts and best value."""
    import optuna

    storage_obj = _open(_storage(storage), heartbeat=False, create=False)
    rows = []
    for s in sorted(optuna.get_all_study_summaries(storage_obj, include_best_trial=True),
                    key=lambda s: s.study_name):
        rows.append({"name": s.study_name, "version": s.user_attrs.get("tuner:version"),
                     "direction": s.direction.name.lower(), "n_trials": s.n_trials,
                     "best_value": s.best_trial.value if s.best_trial else None,
                     "reason": s.user_attrs.get("tuner:reason")})
    if as_json:
        _json_out(rows)
        return
    if not rows:
        info("no studies in this storage yet: run `tuner study run FILE`")
        return
    width = max(len(r["name"]) for r in rows)
    out(f"{'STUDY':<{width}}  VERSION  TRIALS  BEST      DIRECTION")
    for r in rows:
        best = "-" if r["best_value"] is None else f"{r['best_value']:.4f}"
        version = "-" if r["version"] is None else str(r["version"])
        out(f"{r['name']:<{width}}  {version:<7}  {r['n_trials']:<6}  {best:<8}  "
            f"{r['direction']}")


@study.command("show")
@click.argument("name")
@storage_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@verbosity
def study_show(name: str, storage: str | None, as_json: bool) -> None:
    """Counts by state, the best trial (alpha, beta in course notation), the fingerprints
    and the version chain of study NAME (its newest version, or NAME/vK)."""
    from tuner.retune import ATTR, chain

    storage_obj = _open(_storage(storage), heartbeat=False, create=False)
    s = _resolve_study(storage_obj, name)
    attrs = s.user_attrs
    counts = _counts(s)
    best = None
    if counts["complete"]:
        best = _trial_dict(s.best_trial)
    base = s.study_name.split("/v")[0]
    versions = [v.name for v in chain(storage_obj, base)] if "tuner:version" in attrs else []
    report = {"study": s.study_name, "direction": s.direction.name.lower(), "counts": counts,
              "best": best, "versions": versions,
              **{key: attrs.get(attr) for key, attr in ATTR.items()},
              "n_trials": attrs.get("tuner:n_trials"),
              "fingerprint_components": attrs.get("tuner:fingerprints")}
    if as_json:
        _json_out(report)
        return
    out(f"study      {s.study_name} ({report['direction']})")
    if versions:
        out(f"versions   {' -> '.join(versions)}")
    out("trials     " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    if best:
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in best["params"].items())
        out(f"best       trial {best['number']}: value {best['value']:.4f}; {params}")
    else:
        out("best       no complete trial yet")
    if report["data"]:
        out(f"data       {report['data'][:12]}")
        out(f"hardware   {report['hardware'][:12]}")
        out(f"definition {report['definition'][:12]}")
        out(f"reason     {report['reason']}")


@study.command("best")
@click.argument("name")
@storage_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@verbosity
def study_best(name: str, storage: str | None, as_json: bool) -> None:
    """The best trial of study NAME: value and parameters in course notation."""
    from optuna.trial import TrialState

    storage_obj = _open(_storage(storage), heartbeat=False, create=False)
    s = _resolve_study(storage_obj, name)
    if not s.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise TunerError(f"study {s.study_name!r} has no complete trial yet")
    best = {"study": s.study_name, **_trial_dict(s.best_trial)}
    if as_json:
        _json_out(best)
        return
    out(f"{s.study_name}: trial {best['number']}, value {best['value']:.6g}")
    for k, v in best["params"].items():
        out(f"  {k} = {_fmt(v)}")


@cli.command("fingerprint")
@file_argument
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@verbosity
def fingerprint_cmd(file: Path, as_json: bool) -> None:
    """The data and hardware fingerprints of the study in FILE, with their components."""
    from tuner.fingerprint import study_fingerprints

    spec = _load(file)
    fp = study_fingerprints(spec)
    if as_json:
        _json_out(fp)
        return
    out(f"study      {fp['study']}")
    out(f"definition {fp['spec_short']}")
    for part in ("data", "hardware"):
        out(f"{part:<10} {fp[part]['short']}")
        for k, v in fp[part]["components"].items():
            out(f"  {k}: {v}")
    out("software (recorded, not part of the hardware fingerprint): "
        + ", ".join(f"{k} {v}" for k, v in fp["software"].items()))


# --- retune / schedule -------------------------------------------------------------------

files_argument = click.argument("files", nargs=-1, required=True,
                                type=click.Path(dir_okay=False, path_type=Path))


class _RetuneProgress:
    """A progress bar for the version a retune runs (hidden unless stderr is a terminal).

    Passed as ``emit`` and ``on_trial``: a line to print first closes the bar."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self.emit, self.bar, self.version = emit, None, None

    def __call__(self, line: str) -> None:
        self.close()
        self.emit(line)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.render_finish()
            self.bar, self.version = None, None

    def on_trial(self, study_obj, _trial) -> None:
        from tuner.retune import N_TRIALS_ATTR, finished_count

        if self.version != study_obj.study_name:
            self.close()
            total = int(study_obj.user_attrs.get(N_TRIALS_ATTR, 0)) or 1
            self.bar = _progress(total, finished_count(study_obj), study_obj.study_name)
            self.version = study_obj.study_name
        elif not self.bar.hidden:
            self.bar.update(1, _best_text(study_obj))


def _remember_storage_secret(storage: str | None) -> None:
    for url in (storage, os.environ.get("TUNER_STORAGE")):
        if url:
            _remember_secret(url)


@cli.command("retune")
@files_argument
@storage_option
@click.option("--force", is_flag=True,
              help="Create and tune a new version even when nothing changed (reason: forced).")
@click.option("--dry-run", is_flag=True,
              help="Say what would happen for each file; write nothing to the storage.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON list on stdout, an object per file (the lines go to stderr).")
@verbosity
def retune_cmd(files: tuple[Path, ...], storage: str | None, force: bool, dry_run: bool,
               as_json: bool) -> None:
    """Re-tune each study in FILES whose data, hardware or definition changed.

    \b
    For each file, the current fingerprints (`tuner fingerprint FILE`) and the file's
    definition are compared with the newest version of its chain (NAME, NAME/v2, ...):
      - nothing changed: "up to date", no trial is run;
      - something changed: NAME/vK+1 is created with the reason (data / hardware /
        definition, old -> new short hashes), its first trials re-score the parent's 3
        best parameter sets, its n_trials are run, and one line compares the bests;
      - no version yet: NAME is created and run.
    A retune stopped by Ctrl-C or SIGTERM hands the running trial back and exits 0; the
    same command resumes it. Two retunes at once on one storage create one version: the
    second joins it as a worker. Set TUNER_HARDWARE_LABEL (e.g. a node-pool name) on
    machines that should share one study.
    """
    from tuner.retune import retune_file
    from tuner.worker import stop_on_signals

    _remember_storage_secret(storage)
    lines = _RetuneProgress(info if as_json else out)
    stop = threading.Event()
    results: list[dict[str, Any]] = []
    code = 0
    with stop_on_signals(stop):
        for file in files:
            if stop.is_set():
                break
            try:
                result = retune_file(file, storage, force=force, dry_run=dry_run, stop=stop,
                                     emit=lines, on_trial=lines.on_trial)
                results.append(result.as_dict())
            except Exception as e:
                lines.close()
                if len(files) == 1 and not as_json:
                    raise  # one line and the exit code, from the group
                unexpected = not isinstance(e, TunerError)
                message = str(e)
                if unexpected:
                    first = message.splitlines()[0] if message else ""
                    message = f"unexpected error: {type(e).__name__}: {first}"
                if unexpected and _state["verbose"]:
                    click.echo(_scrub(traceback.format_exc()), err=True)
                if not message.startswith(str(file)):
                    message = f"{file}: {message}"
                click.echo(_scrub(f"error: {message}"), err=True)
                results.append({"file": str(file), "error": message})
                code = max(code, 1 if unexpected else 2)
            finally:
                lines.close()
    if as_json:
        _json_out(results)
    if code:
        sys.exit(code)


@cli.command("schedule")
@click.option("--cron", "cron", required=True, metavar="EXPR",
              help="When to re-tune, as a cron expression in local time, e.g. '0 3 * * *' "
                   "(every day at 03:00) or '*/30 * * * *'.")
@files_argument
@storage_option
@click.option("--run-now", is_flag=True, help="Also re-tune once at start, then on schedule.")
@verbosity
def schedule_cmd(cron: str, files: tuple[Path, ...], storage: str | None,
                 run_now: bool) -> None:
    """Run `tuner retune FILES` at every time the cron expression names, until stopped.

    Logs one timestamped line per decision on stdout. Files are re-tuned one after the
    other; a tick that comes while the previous run still goes is skipped (and logged);
    an error in one study is logged and the others, and the next tick, go on. SIGTERM or
    Ctrl-C: the running trial finishes its epoch and goes back to the queue, exit 0.
    """
    from tuner.schedule import check_cron, run_schedule
    from tuner.spec import load_spec
    from tuner.storage import resolve_storage_url
    from tuner.worker import stop_on_signals

    check_cron(cron)
    for file in files:
        spec = load_spec(file)  # a typo in a path or a file is bad input now, not at 03:00
        # Likewise a storage TUNER_REQUIRE_STORAGE=1 refuses (the Docker stack's scheduler).
        resolve_storage_url(storage, spec.storage)
    _remember_storage_secret(storage)
    stop = threading.Event()
    with stop_on_signals(stop):
        run_schedule(cron, files, storage=storage, run_now=run_now, stop=stop, emit=out,
                     verbose=bool(_state["verbose"]))


# --- train / predict ----------------------------------------------------------------------

@cli.command("train")
@file_argument
@click.option("--best", is_flag=True,
              help="Retrain the best trial: the default (and, for now, the only choice).")
@click.option("--version", "version", metavar="vN",
              help="Take the best trial of this version (v1, v2, ... or NAME/v2) instead of "
                   "the newest.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("model.npz"), show_default=True,
              help="The model file; its card goes beside it (model.npz -> model.json).")
@storage_option
@click.option("--artifacts", metavar="DIR", envvar="TUNER_ARTIFACTS",
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder of the Optuna artifact store to attach both files to. Default: "
                   "$TUNER_ARTIFACTS, else beside the SQLite file (tuner.db -> "
                   "tuner-artifacts/), else ./tuner-artifacts.")
@click.option("--no-upload", is_flag=True,
              help="Only write the files; attach nothing to the trial.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (the card).")
@verbosity
def train_cmd(file: Path, best: bool, version: str | None, output: Path,
              storage: str | None, artifacts: Path | None, no_upload: bool,
              as_json: bool) -> None:
    """Retrain the best trial of the study in FILE and score it on the held-out test split.

    Takes the best complete trial of the newest version (or --version), retrains its
    parameters on train + validation with the same epochs and seed, and scores the test
    split that no trial ever saw. Prints the trial's validation score next to the test
    score: a large gap means the tuning flattered the validation split.

    \b
    Writes model.npz (weights, batch-norm statistics, classes and the scaler; read with
    allow_pickle=False) and model.json beside it (study, version, trial, alpha and beta,
    fingerprints, both scores, package versions), and attaches both to the trial as
    Optuna artifacts, so `tuner dashboard` with the same artifact folder serves them.
    Use the model with `tuner predict model.npz data.csv`.
    """
    from tuner.train import train_best

    spec = _load(file)
    from tuner.storage import NoDatabase

    try:
        storage_obj = _open(_storage(storage, spec.storage), heartbeat=False, create=False)
    except NoDatabase as e:
        raise TunerError(f"nothing to train yet: run `tuner study run {file}` first ({e})"
                         ) from None
    result = train_best(storage_obj, spec, output=output, version=version, file=file,
                        artifact_dir=artifacts, upload=not no_upload)
    if as_json:
        _json_out({**result.card, "model_path": str(result.model_path),
                   "card_path": str(result.card_path), "artifacts": result.artifacts,
                   "artifact_dir": None if result.artifact_dir is None
                   else str(result.artifact_dir)})
    else:
        out(result.summary)
    info(f"wrote {result.model_path} and {result.card_path}")
    if result.artifacts:
        info(f"attached both to trial {result.card['trial']} of {result.card['version']} as "
             f"Optuna artifacts in {result.artifact_dir} (browse: tuner dashboard "
             f"--artifacts {result.artifact_dir})")


@cli.command("predict")
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the labels to this file (default: stdout).")
@verbosity
def predict_cmd(model: Path, data: Path, output: Path | None) -> None:
    """Predict a class label for every row of the CSV file DATA with MODEL.

    MODEL is a file written by `tuner train`. DATA holds raw feature values (the model
    applies its own scaling), one row per sample, in the order the model was trained on;
    a first row with no number in it is taken as a header. Writes one label per row.

    A row with the wrong number of columns, or an empty, non-numeric, NaN or infinite
    cell, is reported as one line naming the row (as numbered in the file) and the
    column, and nothing is written.
    """
    from tuner.train import predict_csv

    labels = predict_csv(model, data)
    text = "".join(f"{label}\n" for label in labels.tolist())
    if output is None:
        click.echo(text, nl=False)
        return
    if not output.parent.is_dir():
        raise TunerError(f"-o {output}: folder {output.parent} does not exist")
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    info(f"wrote {len(labels)} labels to {output}")



# --- dashboard / report / importance ------------------------------------------------------

_evaluator_option = click.option(
    "--evaluator", type=click.Choice(["ped-anova", "fanova"]), default="ped-anova",
    show_default=True,
    help="Importance evaluator: PED-ANOVA (Optuna's default) or fANOVA (random forests).")


@cli.command("dashboard")
@storage_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback exposes the dashboard, "
                   "which has no authentication, to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--artifacts", metavar="DIR", envvar="TUNER_ARTIFACTS",
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder of the Optuna artifact store whose files (models written by "
                   "`tuner train`) the dashboard serves. Default: $TUNER_ARTIFACTS, else "
                   "beside the SQLite file (tuner.db -> tuner-artifacts/), else "
                   "./tuner-artifacts.")
@verbosity
def dashboard_cmd(storage: str | None, host: str, port: int, artifacts: Path | None) -> None:
    """Browse the storage's studies in optuna-dashboard, until Ctrl-C or SIGTERM.

    Safe while workers write to the same storage, SQLite included: the tables are
    created first (optuna-dashboard refuses an empty database), and on SQLite the
    dashboard reads in WAL mode without taking the write lock the workers need.
    Prints the URL to open; Ctrl-C or SIGTERM stops it.
    """
    from tuner.dashboard import is_loopback, run
    from tuner.storage import default_artifact_dir, mask_url

    url = _storage(storage)
    artifact_dir = artifacts or default_artifact_dir(url)
    if not is_loopback(host):
        click.echo(f"warning: listening on {host}: the dashboard has no authentication; "
                   "anyone who reaches this port can read, change and delete studies",
                   err=True)

    def ready(dashboard) -> None:
        info(f"optuna-dashboard on {mask_url(url)}, artifacts in {artifact_dir}; "
             "Ctrl-C to stop")
        out(f"open {dashboard.url}")

    why = run(url, host=host, port=port, artifact_dir=artifact_dir, ready=ready)
    info(f"dashboard stopped ({why})")


@study.command("report")
@click.argument("name")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("report.html"), show_default=True,
              help="The HTML file to write (self-contained: opens offline).")
@click.option("--png", "png_dir", metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Also write every figure as a PNG file in DIR.")
@_evaluator_option
@storage_option
@verbosity
def study_report(name: str, output: Path, png_dir: Path | None, evaluator: str,
                 storage: str | None) -> None:
    """A static report of study NAME (its newest version, or NAME/v1, NAME/v2, ...) in
    one HTML file.

    \b
    Optimization history (best so far; pruned and diverged trials apart), learning
    curves, the score against alpha and 1 - beta on log axes, parameter importance,
    parallel coordinates, the fingerprints, version chain and reason of the version, and
    the best value of every version side by side. plotly.js is embedded: the file opens
    with no network, as a CI artifact or an e-mail attachment.
    """
    from tuner.report import build_report

    url = _storage(storage)
    storage_obj = _open(url, heartbeat=False, create=False)
    s = _resolve_study(storage_obj, name)
    result = build_report(storage_obj, s, output, png_dir=png_dir, evaluator=evaluator,
                          storage_url=url)
    data = result.data
    if data.empty:
        info(f"{s.study_name} has no finished trial yet: the report says so")
    else:
        info(f"{s.study_name}: {len(data.trials)} finished trials, "
             f"{len(result.figures)} figures")
    if data.importance.note:
        info(f"importance: {data.importance.note}")
    for path in (result.html, *result.pngs):
        out(str(path))


@study.command("importance")
@click.argument("name")
@_evaluator_option
@storage_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@verbosity
def study_importance(name: str, evaluator: str, storage: str | None, as_json: bool) -> None:
    """Which hyperparameters mattered in study NAME, from its complete trials.

    Importances sum to 1. The momentum is shown as `beta (as 1-beta)`: it was sampled,
    and is judged, as 1 - beta on a log scale.
    """
    from tuner.report import param_importance

    storage_obj = _open(_storage(storage), heartbeat=False, create=False)
    s = _resolve_study(storage_obj, name)
    imp = param_importance(s, evaluator)
    if not imp.n_trials:
        raise TunerError(f"study {s.study_name!r} has no complete trial yet: nothing to rank")
    if as_json:
        _json_out({"study": s.study_name, **imp.as_dict()})
        return
    info(f"{s.study_name}: {imp.evaluator}, from {imp.n_trials} complete trials")
    if imp.note:
        info(f"note: {imp.note}")
    rows = imp.rows()
    if not rows:
        return
    width = max(len("PARAMETER"), *(len(label) for _, label, _ in rows))
    out(f"{'PARAMETER':<{width}}  IMPORTANCE")
    for _, label, value in rows:
        out(f"{label:<{width}}  {value:>10.3f}  {'#' * round(value * 30)}")


def main() -> None:
    cli(prog_name="tuner")

"""The `tuner` command line: a thin skin over the library.

Each command opens what it needs, calls one library function and prints the result.
Errors the user can fix are one line on stderr and exit code 2; anything unexpected is
one line and exit code 1 (the traceback with -v). A password in a URL is never printed.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from tuner import __version__
from tuner.errors import TunerError, error_line, exit_code

# Heavy imports (optuna, numpy, sklearn) happen inside the commands, so that `--help`
# and bad-input errors answer at once.

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# --- one invocation's settings, in click's context object ----------------------------------

@dataclass
class CliState:
    """-v/-q and the passwords to mask, for one invocation (``ctx.obj`` of the root)."""

    verbose: int = 0
    quiet: bool = False
    secrets: set[str] = field(default_factory=set)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def remember(self, url: str) -> None:
        """Mask the password of ``url`` in everything printed from now on."""
        from sqlalchemy.engine import make_url

        try:
            password = make_url(url).password
        except Exception:
            return
        if password:
            self.secrets.add(str(password))


def _state(ctx: click.Context | None = None) -> CliState:
    ctx = ctx or click.get_current_context(silent=True)
    if ctx is None:  # outside any command (a library caller): defaults
        return CliState()
    return ctx.find_root().ensure_object(CliState)


# --- output -----------------------------------------------------------------------------

def info(message: str) -> None:
    """A progress or status line for people (stderr; silent with -q)."""
    state = _state()
    if not state.quiet:
        click.echo(state.scrub(message), err=True)


def out(message: str) -> None:
    """The command's result (stdout)."""
    click.echo(_state().scrub(message))


class _DropInterrupted(logging.Filter):
    """Optuna logs an interrupted trial as a failure with a traceback; tuner handles that
    case itself (the trial is queued again), so keep the noise out of the terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "Interrupted(" not in message and not message.endswith("failed with value None.")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is logged, not when the handler
    was made (a second CLI call in one process may have another stderr)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


_DROP_INTERRUPTED = _DropInterrupted()


def _setup_logging(state: CliState) -> None:
    """Log levels from this invocation's -v/-q. Handlers and filters are added once per
    process; the levels are set on every call, so one call never inherits another's."""
    import warnings

    import optuna

    # tuner relies on heartbeats, retries, metric names and artifacts knowingly; Optuna's
    # "experimental" notice about them is not news to a user.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    level = {0: logging.WARNING, 1: logging.INFO}.get(state.verbose, logging.DEBUG)
    if state.quiet:
        level = logging.ERROR
    optuna.logging.set_verbosity(level)
    optuna.logging.disable_propagation()
    for handler in logging.getLogger("optuna").handlers:
        if _DROP_INTERRUPTED not in handler.filters:
            handler.addFilter(_DROP_INTERRUPTED)
    root = logging.getLogger("tuner")
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s",
                                               "%Y-%m-%d %H:%M:%S"))
        root.addHandler(handler)
    root.setLevel(level)


# --- shared options ---------------------------------------------------------------------

def _set_verbose(ctx: click.Context, _param: click.Parameter, value: int) -> int:
    state = _state(ctx)
    state.verbose = max(state.verbose, value)  # -v before and after the command add up
    return value


def _set_quiet(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    state = _state(ctx)
    state.quiet = state.quiet or value
    return value


def verbosity(f: Any) -> Any:
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
    _state().remember(url)
    return url


def _open_reading(option: str | None):
    """The storage a read-only command looks at (a missing SQLite file is an error)."""
    from tuner.storage import open_storage

    return open_storage(_storage(option), heartbeat=False, create=False)


def _remember_storage_secret(storage: str | None) -> None:
    import os

    for url in (storage, os.environ.get("TUNER_STORAGE")):
        if url:
            _state().remember(url)


def _json_out(obj: Any) -> None:
    out(json.dumps(obj, indent=2, default=str))


class _Bar:
    """A `tuner.run.Progress` drawn by click on stderr; hidden with -q or unless both
    stdout and stderr are terminals."""

    def __init__(self) -> None:
        self.bar: Any = None

    def start(self, label: str, total: int, done: int) -> None:
        self.close()
        hidden = _state().quiet or not (sys.stderr.isatty() and sys.stdout.isatty())
        self.bar = click.progressbar(length=total, label=label, hidden=hidden,
                                     file=sys.stderr, show_pos=True,
                                     item_show_func=lambda best: best)
        self.bar.update(min(done, total))
        self.bar.render_progress()

    def advance(self, n: int, text: str) -> None:
        if self.bar is not None and not self.bar.hidden:
            self.bar.update(n, text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.render_finish()
            self.bar = None


# --- the group --------------------------------------------------------------------------

class TunerCommand(click.Command):
    """Sets logging up from -v/-q once every level's options are parsed."""

    def invoke(self, ctx: click.Context) -> Any:
        _setup_logging(_state(ctx))
        return super().invoke(ctx)


class TunerGroup(click.Group):
    """Turns every error into one line and the right exit code."""

    command_class = TunerCommand
    group_class = type  # subgroups are TunerGroups too

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            _fail(ctx, "interrupted", 130)
        except Exception as e:  # noqa: BLE001 - every error ends as one line
            state = _state(ctx)
            unexpected = not isinstance(e, TunerError)
            if unexpected and state.verbose:
                click.echo(state.scrub(traceback.format_exc()), err=True)
            hint = " (run with -v for the traceback)" if unexpected and not state.verbose else ""
            _fail(ctx, error_line(e) + hint, exit_code(e))


def _fail(ctx: click.Context, message: str, code: int) -> None:
    click.echo(_state(ctx).scrub(f"error: {message}"), err=True)
    sys.exit(code)


@click.group(cls=TunerGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="tuner")
@verbosity
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Hyperparameter tuning on Optuna, from a study file.

    \b
    Quick start:
      tuner study run studies/digits-momentum.toml     # tune, with a progress bar
      tuner study show digits-momentum                # counts, best trial, fingerprints
      tuner dashboard                                 # browse it in optuna-dashboard

    Every command that touches a storage takes --storage URL (default sqlite:///tuner.db,
    or $TUNER_STORAGE).
    """
    _state(ctx)


@cli.group()
@verbosity
def study() -> None:
    """Run and inspect studies."""


# --- study run / worker -------------------------------------------------------------------

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
    from tuner.run import run_study, verbosity_flags
    from tuner.worker import stop_on_signals

    state = _state()
    stop = threading.Event()
    with stop_on_signals(stop):
        result = run_study(file, storage, n_trials=n_trials, timeout=timeout, jobs=jobs,
                           sampler=sampler, seed=seed, stop=stop, emit=info,
                           progress=_Bar(), on_url=state.remember,
                           worker_flags=verbosity_flags(state.verbose, state.quiet))
    if result.exit_code:
        sys.exit(result.exit_code)


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
    from tuner.run import run_worker
    from tuner.worker import stop_on_signals

    stop = threading.Event()
    # Handlers first: a SIGTERM while the data loads must still end in a clean exit.
    with stop_on_signals(stop):
        result = run_worker(file, storage, timeout=timeout, worker_index=worker_index,
                            seed=seed, sampler=sampler, stop=stop, on_url=_state().remember)
    info(result.message)


# --- inspecting ---------------------------------------------------------------------------

@study.command("list")
@storage_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@verbosity
def study_list(storage: str | None, as_json: bool) -> None:
    """Every study in the storage, with its version, trial counts and best value."""
    from tuner.study import list_studies, study_table

    rows = list_studies(_open_reading(storage))
    if as_json:
        _json_out(rows)
    elif not rows:
        info("no studies in this storage yet: run `tuner study run FILE`")
    else:
        out(study_table(rows))


@study.command("show")
@click.argument("name")
@storage_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@verbosity
def study_show(name: str, storage: str | None, as_json: bool) -> None:
    """Counts by state, the best trial (alpha, beta in course notation), the fingerprints
    and the version chain of study NAME (its newest version, or NAME/vK)."""
    from tuner.study import show_study, show_text
    from tuner.versions import resolve_study

    storage_obj = _open_reading(storage)
    report = show_study(storage_obj, resolve_study(storage_obj, name))
    out(json.dumps(report, indent=2, default=str) if as_json else show_text(report))


@study.command("best")
@click.argument("name")
@storage_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@verbosity
def study_best(name: str, storage: str | None, as_json: bool) -> None:
    """The best trial of study NAME: value and parameters in course notation."""
    from tuner.study import best_text_lines, best_trial
    from tuner.versions import resolve_study

    storage_obj = _open_reading(storage)
    best = best_trial(resolve_study(storage_obj, name))
    out(json.dumps(best, indent=2, default=str) if as_json else best_text_lines(best))


@cli.command("fingerprint")
@file_argument
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@verbosity
def fingerprint_cmd(file: Path, as_json: bool) -> None:
    """The data and hardware fingerprints of the study in FILE, with their components."""
    from tuner.fingerprint import fingerprint_text, study_fingerprints
    from tuner.spec import load_spec

    fp = study_fingerprints(load_spec(file))
    out(json.dumps(fp, indent=2, default=str) if as_json else fingerprint_text(fp))


# --- retune / schedule -------------------------------------------------------------------

files_argument = click.argument("files", nargs=-1, required=True,
                                type=click.Path(dir_okay=False, path_type=Path))


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
    from tuner.retune import retune_files
    from tuner.run import VersionProgress
    from tuner.worker import stop_on_signals

    _remember_storage_secret(storage)
    state = _state()
    tracker = VersionProgress(_Bar())
    say = info if as_json else out

    def emit(line: str) -> None:
        tracker.close()  # a line to print first closes the bar
        say(line)

    def on_error(e: BaseException, line: str) -> None:
        tracker.close()
        if not isinstance(e, TunerError) and state.verbose:
            click.echo(state.scrub(traceback.format_exc()), err=True)
        click.echo(state.scrub(f"error: {line}"), err=True)

    stop = threading.Event()
    with stop_on_signals(stop):
        try:
            # One file: its error is the command's (one line and the exit code, from the
            # group); several: each file's error is reported and the others go on.
            batch = retune_files(files, storage, force=force, dry_run=dry_run, stop=stop,
                                 emit=emit, on_trial=tracker.on_trial,
                                 on_error=None if len(files) == 1 and not as_json
                                 else on_error)
        finally:
            tracker.close()
    if as_json:
        _json_out(batch.results)
    if batch.exit_code:
        sys.exit(batch.exit_code)


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
                     verbose=bool(_state().verbose))


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
    from tuner.train import train_file

    result = train_file(file, storage, output=output, version=version, artifact_dir=artifacts,
                        upload=not no_upload, on_url=_state().remember)
    if as_json:
        _json_out(result.as_dict())
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
    from tuner.files import atomic_write
    from tuner.train import predict_csv

    labels = predict_csv(model, data)
    text = "".join(f"{label}\n" for label in labels.tolist())
    if output is None:
        click.echo(text, nl=False)
        return
    if not output.parent.is_dir():
        raise TunerError(f"-o {output}: folder {output.parent} does not exist")
    atomic_write(output, text)
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
    from tuner.storage import open_storage
    from tuner.versions import resolve_study

    url = _storage(storage)
    storage_obj = open_storage(url, heartbeat=False, create=False)
    s = resolve_study(storage_obj, name)
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
    from tuner.study import importance_table
    from tuner.versions import resolve_study

    storage_obj = _open_reading(storage)
    s = resolve_study(storage_obj, name)
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
    if rows:
        out(importance_table(rows))


def main() -> None:
    cli(prog_name="tuner")

"""Commands that run trials: `tuner study run`, `tuner worker`, `tuner retune`,
`tuner schedule`. Each parses its options, makes one library call, and prints."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import click

from tuner.cli.app import (
    Bar,
    cli,
    cli_state,
    file_argument,
    files_argument,
    info,
    json_option,
    json_out,
    out,
    remember_storage_secret,
    storage_option,
    study,
    verbosity,
)
from tuner.errors import error_lines

# --- study run / worker -------------------------------------------------------------------

# tuner.spec.SAMPLERS, spelled out so that `--help` does not import the study-file parser
# (and numpy); tests/cli/test_app.py checks the two agree.
SAMPLER_CHOICE = click.Choice(["tpe", "random", "grid", "cmaes", "qmc"])


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
@click.option("--sampler", type=SAMPLER_CHOICE, help="Override [sampler] name.")
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

    state = cli_state()
    stop = threading.Event()
    with stop_on_signals(stop):
        result = run_study(file, storage, n_trials=n_trials, timeout=timeout, jobs=jobs,
                           sampler=sampler, seed=seed, stop=stop, emit=info,
                           progress=Bar(), on_url=state.remember,
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
@click.option("--sampler", type=SAMPLER_CHOICE, hidden=True)
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
                            seed=seed, sampler=sampler, stop=stop, on_url=cli_state().remember)
    info(result.message)


# --- retune / schedule -------------------------------------------------------------------


@cli.command("retune")
@files_argument
@storage_option
@click.option("--force", is_flag=True,
              help="Create and tune a new version even when nothing changed (reason: "
                   "forced), once the newest is finished; while it is unfinished, join it "
                   "as a worker (so concurrent --force runs make one version).")
@click.option("--dry-run", is_flag=True,
              help="Say what would happen for each file; write nothing to the storage.")
@json_option("One JSON list on stdout, an object per file (the lines go to stderr).")
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
    With a champion (`tuner promote`), decide first: when only the data changed, the
    champion is re-scored on today's held-out rows and drift (PSI) is measured; by the
    file's [retune] policy it "holds" (recorded, no version, no trial) or a version is
    tuned. A finished version's best trial is then trained and compared with the
    champion on the same rows, and promoted only if it wins by [retune] min_gain
    (otherwise kept and recorded as refused). With a [retune] section and no champion
    yet, the first finished version's best becomes the champion. `tuner history FILE`
    lists every decision.
    A retune stopped by Ctrl-C or SIGTERM hands the running trial back and exits 0; the
    same command resumes it. Two retunes at once on one storage create one version: the
    second joins it as a worker. Set TUNER_HARDWARE_LABEL (e.g. a node-pool name) on
    machines that should share one study.
    """
    from tuner.retune import retune_files
    from tuner.run import VersionProgress
    from tuner.worker import stop_on_signals

    remember_storage_secret(storage)
    state = cli_state()
    tracker = VersionProgress(Bar())
    say = info if as_json else out

    def emit(line: str) -> None:
        tracker.close()  # a line to print first closes the bar
        say(line)

    def on_error(e: BaseException, line: str) -> None:
        tracker.close()
        for text in error_lines(e, line, verbose=bool(state.verbose)):
            click.echo(state.scrub(text), err=True)

    stop = threading.Event()
    with stop_on_signals(stop):
        try:
            batch = retune_files(files, storage, force=force, dry_run=dry_run, stop=stop,
                                 emit=emit, on_trial=tracker.on_trial, on_error=on_error,
                                 every_file=as_json)
        finally:
            tracker.close()
    if as_json:
        json_out(batch.results)
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

    Each tick decides as `tuner retune` does (the champion holds, a version is tuned, its
    challenger is promoted or refused). Logs one timestamped line per decision on
    stdout. Files are re-tuned one after the
    other; a tick that comes while the previous run still goes is skipped (and logged);
    an error in one study is logged and the others, and the next tick, go on. SIGTERM or
    Ctrl-C: the running trial finishes its epoch and goes back to the queue, exit 0.
    """
    from tuner.schedule import run_schedule
    from tuner.worker import stop_on_signals

    remember_storage_secret(storage)
    stop = threading.Event()
    with stop_on_signals(stop):
        run_schedule(cron, files, storage=storage, run_now=run_now, stop=stop, emit=out,
                     verbose=bool(cli_state().verbose))



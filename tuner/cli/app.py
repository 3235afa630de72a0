"""The root of the `tuner` command line: one invocation's settings (``ctx.obj``), output,
logging, the shared options, and the group that turns every error into one line.

Each command opens what it needs, calls one library function and prints the result.
Errors the user can fix are one line on stderr and exit code 2; anything unexpected is
one line and exit code 1 (the traceback with -v). A password in a URL is never printed.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from tuner import __version__
from tuner.errors import TunerError, error_line, error_lines, exit_code

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
        from tuner.passwords import scrub

        return scrub(text, self.secrets)

    def remember(self, url: str) -> None:
        """Mask the password of ``url`` in everything printed from now on: as typed, as
        decoded, and its pieces (`tuner.passwords.password_pieces`), whatever the URL
        parser made of an un-encoded ``@`` or ``/`` in it."""
        from tuner.passwords import password_pieces

        self.secrets.update(password_pieces(url))


def cli_state(ctx: click.Context | None = None) -> CliState:
    ctx = ctx or click.get_current_context(silent=True)
    if ctx is None:  # outside any command (a library caller): defaults
        return CliState()
    return ctx.find_root().ensure_object(CliState)


# --- output -----------------------------------------------------------------------------

def info(message: str) -> None:
    """A progress or status line for people (stderr; silent with -q)."""
    state = cli_state()
    if not state.quiet:
        click.echo(state.scrub(message), err=True)


def out(message: str) -> None:
    """The command's result (stdout)."""
    click.echo(cli_state().scrub(message))


def warning(message: str) -> None:
    """A warning a user must see (stderr, even with -q)."""
    click.echo(cli_state().scrub(f"warning: {message}"), err=True)


class _DropInterrupted(logging.Filter):
    """Optuna logs an interrupted trial as a failure with a traceback; tuner handles that
    case itself (the trial is queued again), so keep the noise out of the terminal."""

    tracebacks = False  # -v: keep Optuna's traceback of a failed trial

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        # Interrupted: handed back; _TakenAway: failed as stale by another worker, which
        # queued it again. Neither is news, and tuner.worker logs its own line.
        # (Another handler's pass of this filter may have dropped exc_info: kept aside.)
        error = record.exc_info[1] if record.exc_info else getattr(record, "error", None)
        if getattr(error, "handed_back", False):
            return False
        if "failed with parameters" in message and not self.tracebacks:
            # One line per failed trial (its error is in the line); tuner says what it
            # does about it (handed back, queued again, given up).
            record.error = error
            record.exc_info, record.exc_text = None, None
        return not message.endswith("failed with value None.")


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


class _PoolOneLine(logging.Filter):
    """SQLAlchemy's pool logs, with a traceback, every pooled connection it cannot reset
    once the database went away. tuner.storage already says it lost the storage and when
    it is back: without -v those records are dropped, and any other pool error is one
    line."""

    verbose = False

    def filter(self, record: logging.LogRecord) -> bool:
        if self.verbose:
            return True
        record.exc_info, record.exc_text = None, None
        return not record.getMessage().startswith("Exception during reset or similar")


_POOL_ONE_LINE = _PoolOneLine()


def _setup_logging(state: CliState, *, optuna_too: bool = True) -> None:
    """Log levels from this invocation's -v/-q. Handlers and filters are added once per
    process; the levels are set on every call, so one call never inherits another's.
    ``optuna_too=False`` (a command that never imports Optuna) leaves Optuna alone."""
    import warnings

    level = {0: logging.WARNING, 1: logging.INFO}.get(state.verbose, logging.DEBUG)
    if state.quiet:
        level = logging.ERROR
    root = logging.getLogger("tuner")
    if not optuna_too:
        _tuner_handler(root)
        root.setLevel(level)
        return

    import optuna

    # tuner relies on heartbeats, retries, metric names and artifacts knowingly; Optuna's
    # "experimental" notice about them is not news to a user.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    optuna.logging.set_verbosity(level)
    optuna.logging.disable_propagation()
    _DROP_INTERRUPTED.tracebacks = state.verbose >= 1
    for handler in logging.getLogger("optuna").handlers:
        if _DROP_INTERRUPTED not in handler.filters:
            handler.addFilter(_DROP_INTERRUPTED)
    pool = logging.getLogger("sqlalchemy.pool")
    for logger in (root, pool):
        _tuner_handler(logger)
    pool.propagate = False  # else Python's last-resort handler prints it with its traceback
    _POOL_ONE_LINE.verbose = state.verbose >= 1
    root.setLevel(level)


def _tuner_handler(logger: logging.Logger) -> None:
    """Our stderr handler on ``logger``, once."""
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s",
                                               "%Y-%m-%d %H:%M:%S"))
        if logger.name == "sqlalchemy.pool":
            handler.addFilter(_POOL_ONE_LINE)
        logger.addHandler(handler)


# --- shared options ---------------------------------------------------------------------

def _set_verbose(ctx: click.Context, _param: click.Parameter, value: int) -> int:
    state = cli_state(ctx)
    state.verbose = max(state.verbose, value)  # -v before and after the command add up
    return value


def _set_quiet(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    state = cli_state(ctx)
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


def storage_url(option: str | None, from_spec: str | None = None) -> str:
    from tuner.storage import resolve_storage_url

    url = resolve_storage_url(option, from_spec)
    cli_state().remember(url)
    return url


def open_reading(option: str | None):
    """The storage a read-only command looks at (`tuner.study_file.open_reading`), its
    password masked in everything printed."""
    from tuner.study_file import open_reading as open_for_reading

    return open_for_reading(option, on_url=cli_state().remember)


def remember_storage_secret(storage: str | None) -> None:
    import os

    for url in (storage, os.environ.get("TUNER_STORAGE")):
        if url:
            cli_state().remember(url)


def json_out(obj: Any) -> None:
    out(json.dumps(obj, indent=2, default=str))


def json_option(help: str = "Machine-readable output.") -> Any:  # noqa: A002 - click's name
    """``--json``, passed to the command as ``as_json``."""
    return click.option("--json", "as_json", is_flag=True, help=help)


class Bar:
    """A `tuner.run.Progress` drawn by click on stderr; hidden with -q or unless both
    stdout and stderr are terminals."""

    def __init__(self) -> None:
        self.bar: Any = None

    def start(self, label: str, total: int, done: int) -> None:
        self.close()
        hidden = cli_state().quiet or not (sys.stderr.isatty() and sys.stdout.isatty())
        self.bar = click.progressbar(length=total, label=label, hidden=hidden,
                                     file=sys.stderr, show_pos=True,
                                     item_show_func=lambda best: best)
        self.bar.update(min(done, total))
        self.bar.render_progress()

    def advance(self, n: int, study: Any) -> None:
        from tuner.study import best_text

        if self.bar is not None and not self.bar.hidden:  # best_text reads the trials
            self.bar.update(n, best_text(study))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.render_finish()
            self.bar = None


# --- the group --------------------------------------------------------------------------

class TunerCommand(click.Command):
    """Sets logging up from -v/-q once every level's options are parsed."""

    uses_optuna = True

    def invoke(self, ctx: click.Context) -> Any:
        _setup_logging(cli_state(ctx), optuna_too=self.uses_optuna)
        return super().invoke(ctx)


class LeanCommand(TunerCommand):
    """A command that never touches Optuna (`tuner predict`): its logging is set up
    without importing it (~0.25 s)."""

    uses_optuna = False


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
            _fail(ctx, ["error: interrupted"], 130)
        except Exception as e:  # noqa: BLE001 - every error ends as one line
            verbose = bool(cli_state(ctx).verbose)
            unexpected = not isinstance(e, TunerError)
            hint = " (run with -v for the traceback)" if unexpected and not verbose else ""
            _fail(ctx, error_lines(e, error_line(e) + hint, verbose=verbose), exit_code(e))


def _fail(ctx: click.Context, lines: list[str], code: int) -> None:
    for line in lines:
        click.echo(cli_state(ctx).scrub(line), err=True)
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
    cli_state(ctx)


@cli.group()
@verbosity
def study() -> None:
    """Run and inspect studies."""


file_argument = click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
files_argument = click.argument("files", nargs=-1, required=True,
                                type=click.Path(dir_okay=False, path_type=Path))


def main() -> None:
    cli(prog_name="tuner")

"""The CLI's own machinery: one invocation's settings never leak into the next, and an
outage's errors are one line."""

from __future__ import annotations

import logging
from pathlib import Path

import optuna
import pytest

from conftest import invoke
from tuner.storage import open_storage

pytestmark = pytest.mark.unit


@pytest.fixture
def empty_storage(sqlite_url: str) -> str:
    st = open_storage(sqlite_url)  # the tables, no study
    st.engine.dispose()
    return sqlite_url


def _drop_filters() -> list[int]:
    """How many of tuner's filters each handler of Optuna's logger has."""
    return [sum(type(f).__name__ == "_DropInterrupted" for f in h.filters)
            for h in logging.getLogger("optuna").handlers]


def test_a_second_call_in_one_process_does_not_inherit_quiet(empty_storage: str) -> None:
    first = invoke("-q", "study", "list", "--storage", empty_storage)
    assert first.exit_code == 0 and first.stderr == ""
    second = invoke("study", "list", "--storage", empty_storage)
    assert second.exit_code == 0
    assert "no studies in this storage yet" in second.stderr


def test_a_second_call_in_one_process_does_not_inherit_verbose(empty_storage: str) -> None:
    loud = invoke("study", "list", "-vv", "--storage", empty_storage)
    assert loud.exit_code == 0
    assert logging.getLogger("tuner").level == logging.DEBUG
    assert optuna.logging.get_verbosity() == logging.DEBUG
    filters = _drop_filters()
    plain = invoke("study", "list", "--storage", empty_storage)
    assert plain.exit_code == 0
    assert logging.getLogger("tuner").level == logging.WARNING
    assert optuna.logging.get_verbosity() == logging.WARNING
    assert _drop_filters() == filters and set(filters) == {1}, \
        "logging is set up once, not once per call"
    # -v is for the call it is given to: an unexpected error's traceback only then.
    quiet = invoke("-q", "study", "list", "--storage", empty_storage)
    assert quiet.exit_code == 0 and logging.getLogger("tuner").level == logging.ERROR


def test_a_password_masked_in_one_call_is_not_remembered_by_the_next(tmp_path: Path) -> None:
    # The mask is per call: the first call's password is not a process-wide secret that
    # would blank the same text out of a later, unrelated call's output.
    url = "postgresql+psycopg2://u:digits@127.0.0.1:1/nowhere"
    first = invoke("study", "list", "--storage", url, env={"TUNER_CONNECT_TIMEOUT": "1"})
    assert first.exit_code == 2 and "digits" not in first.stderr
    missing = tmp_path / "digits.toml"
    second = invoke("fingerprint", missing)
    assert second.exit_code == 2 and "digits.toml" in second.stderr


def test_sqlalchemy_pool_errors_of_an_outage_print_no_traceback(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture
                                                                ) -> None:
    """A database that went away makes SQLAlchemy's pool log, with a traceback, every
    connection it cannot reset; tuner.storage already reports the outage in its own lines.
    Found by the MariaDB stop test: a worker's log held that traceback."""
    invoke("study", "list", "--storage", f"sqlite:///{tmp_path / 'none.db'}")
    capsys.readouterr()
    pool = logging.getLogger("sqlalchemy.pool.impl.QueuePool")
    try:
        raise ConnectionResetError("Lost connection to MySQL server during query")
    except ConnectionResetError:
        pool.error("Exception during reset or similar", exc_info=True)
        pool.error("Exception closing connection", exc_info=True)
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Exception during reset" not in err, err
    assert err.count("\n") == 1 and "ERROR Exception closing connection" in err, err


@pytest.mark.unit
def test_the_sampler_choice_is_every_sampler_a_study_file_takes() -> None:
    from tuner.cli.tuning import SAMPLER_CHOICE
    from tuner.spec import SAMPLERS

    assert tuple(SAMPLER_CHOICE.choices) == SAMPLERS

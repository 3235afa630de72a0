"""tuner.errors: the one way an error is shown (the CLI, `retune` over many files, the
scheduler): its line, and with -v the traceback of an unexpected one."""

from __future__ import annotations

import pytest

from tuner.errors import TunerError, error_line, error_lines, exit_code, first_line

pytestmark = pytest.mark.unit


def _raised(e: Exception) -> Exception:
    try:
        raise e
    except Exception as caught:  # noqa: BLE001 - a raised error carries its traceback
        return caught


def test_one_line_unless_verbose_and_unexpected() -> None:
    bad_input = _raised(TunerError("study.toml: [data] seed: must be between 0 and 1"))
    bug = _raised(RuntimeError("disk on fire"))
    assert error_lines(bad_input) == ["error: study.toml: [data] seed: must be between 0 and 1"]
    assert error_lines(bad_input, verbose=True) == error_lines(bad_input)  # no traceback
    assert error_lines(bug) == ["error: unexpected error: RuntimeError: disk on fire"]
    first, *details = error_lines(bug, verbose=True)
    assert first == "error: unexpected error: RuntimeError: disk on fire"
    assert details[0] == "  Traceback (most recent call last):"
    assert details[-1] == "  RuntimeError: disk on fire"
    assert all(line.startswith("  ") for line in details)


def test_the_line_may_name_the_file() -> None:
    bug = _raised(RuntimeError("disk on fire"))
    line = error_line(bug, "s.toml")
    assert error_lines(bug, line) == ["error: s.toml: unexpected error: RuntimeError: disk on fire"]
    assert error_lines(bug, line, verbose=True)[0] == f"error: {line}"


def test_the_cli_shows_the_traceback_of_an_unexpected_error_only_with_v(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tuner.fingerprint
    from conftest import invoke, write_study

    def broken(*_args, **_kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(tuner.fingerprint, "study_fingerprints", broken)
    file = write_study(tmp_path)
    plain = invoke("fingerprint", file)
    assert plain.exit_code == 1
    assert plain.stderr.splitlines() == ["error: unexpected error: RuntimeError: disk on fire "
                                         "(run with -v for the traceback)"]
    loud = invoke("fingerprint", file, "-v")
    lines = loud.stderr.splitlines()  # -v may log INFO lines before the error
    details = lines[lines.index("error: unexpected error: RuntimeError: disk on fire") + 1:]
    assert loud.exit_code == 1
    assert details[0] == "  Traceback (most recent call last):" and "in broken" in loud.stderr
    assert details[-1] == "  RuntimeError: disk on fire"


def test_an_error_message_that_starts_with_a_newline_keeps_its_text() -> None:
    e = ValueError("\nmath text: 'a $b$ c'\n                      ^\nParseException")
    assert error_line(e) == "unexpected error: ValueError: math text: 'a $b$ c'"
    assert error_line(ValueError("")) == "unexpected error: ValueError"
    assert error_line(TunerError("\n  bad value  \nmore"), "s.toml") == "s.toml: bad value"
    assert error_line(TunerError("s.toml: bad"), "s.toml") == "s.toml: bad"
    assert (exit_code(TunerError("x")), exit_code(RuntimeError("x"))) == (2, 1)
    assert first_line("\n\n  \n") == ""

"""A URL's password is never shown (tuner/passwords.py): in the URL printed back, in a
driver's message, in what the command line prints with -vv, wherever the password sits in
the URL and however short it is."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT, run_tuner
from helpers import invoke

IN_THE_QUERY = "postgresql+psycopg2://postgres@127.0.0.1:1/db?sslmode=disable&password=s3cretQ"
AT_IN_PASSWORD = "postgresql+psycopg2://tuner:pa55@Hid3den/Part@127.0.0.1:1/db"
ONE_LETTER = "postgresql+psycopg2://postgres:p@127.0.0.1:1/db"


@pytest.mark.unit
def test_a_password_in_the_query_is_masked_like_the_userinfo_one() -> None:
    from tuner.passwords import driver_message, mask_url, password_pieces

    assert mask_url(IN_THE_QUERY) == \
        "postgresql+psycopg2://postgres@127.0.0.1:1/db?sslmode=disable&password=***"
    assert mask_url("mysql+pymysql://root@h/db?passwd='a b'&x=1") == \
        "mysql+pymysql://root@h/db?passwd=***&x=1"
    assert password_pieces(IN_THE_QUERY) == ["s3cretQ"]
    message = driver_message(Exception(f"cannot reach {IN_THE_QUERY}: s3cretQ refused"),
                             IN_THE_QUERY)
    assert "s3cretQ" not in message and "password=***" in message, message


@pytest.mark.unit
def test_cli_never_prints_a_password_given_in_the_query() -> None:
    r = invoke("study", "list", "--storage", IN_THE_QUERY, "-vv",
               env={"TUNER_CONNECT_TIMEOUT": "3"})
    assert r.exit_code == 2, r.stderr
    assert "not reachable" in r.stderr  # the -vv retry lines were printed, masked
    assert "s3cretQ" not in r.stderr + r.stdout, r.stderr


@pytest.mark.unit
def test_a_one_letter_password_masks_the_field_not_every_letter() -> None:
    from tuner.passwords import driver_message, mask_url, scrub

    assert mask_url(ONE_LETTER) == "postgresql+psycopg2://postgres:***@127.0.0.1:1/db"
    text = 'password authentication failed for user "postgres" (p)'
    assert driver_message(Exception(text), ONE_LETTER) == \
        'password authentication failed for user "postgres" (***)'
    assert scrub("postgres:p@host", ["p"]) == "postgres:***@host"


@pytest.mark.unit
def test_cli_with_a_one_letter_password_prints_its_messages_intact() -> None:
    r = invoke("study", "list", "--storage", ONE_LETTER, "-vv",
               env={"TUNER_CONNECT_TIMEOUT": "3"})
    assert r.exit_code == 2, r.stderr
    assert "postgresql+psycopg2://postgres:***@127.0.0.1:1/db" in r.stderr, r.stderr
    assert "***ostgres" not in r.stderr and "not reachable" in r.stderr, r.stderr


@pytest.mark.unit
def test_the_masking_module_loads_neither_optuna_nor_sqlalchemy() -> None:
    code = ("import sys, tuner.passwords; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('optuna', 'sqlalchemy')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]", out


@pytest.mark.integration
def test_mask_url_hides_a_password_with_an_unencoded_at() -> None:
    from tuner.passwords import mask_url, url_password

    masked = mask_url(AT_IN_PASSWORD)
    assert masked == "postgresql+psycopg2://tuner:***@127.0.0.1:1/db"
    assert url_password(AT_IN_PASSWORD) == "pa55@Hid3den/Part"
    assert mask_url("mysql+pymysql://root@127.0.0.1/db") == "mysql+pymysql://root@127.0.0.1/db"
    assert mask_url("postgresql://u:p%40ss@h/db") == "postgresql://u:***@h/db"
    # An @ in the query string: over-masked rather than ever shown.
    assert "s3cret" not in mask_url("postgresql://u:s3cret@h/db?options=a@b")


@pytest.mark.integration
def test_cli_never_prints_any_piece_of_such_a_password() -> None:
    r = run_tuner("study", "list", "--storage", AT_IN_PASSWORD, "-vv")
    assert r.returncode == 2, r.stderr
    for piece in ("pa55", "Hid3den", "Part"):
        assert piece not in r.stderr + r.stdout, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert "%40" in line and "tuner:***@127.0.0.1" in line, line


@pytest.mark.integration
def test_one_line_scrubs_the_pieces_a_driver_may_print() -> None:
    from tuner.passwords import driver_message

    error = Exception('could not translate host name "Hid3den" to address')
    assert "Hid3den" not in driver_message(error, AT_IN_PASSWORD)


@pytest.mark.integration
def test_cli_masks_every_piece_of_a_password_it_remembers() -> None:
    """The CLI's secret set holds the password as typed and its pieces, not only what the
    URL parser took for the password (before: "pa55" alone, so "Hid3den/Part" showed in
    any later message that echoed the URL's tail)."""
    from tuner.cli.app import CliState

    state = CliState()
    state.remember(AT_IN_PASSWORD)
    state.remember("postgresql://u:s3cr%40tW0rd@h/db")
    leaked = (f"could not connect to {AT_IN_PASSWORD}; host Hid3den/Part@127.0.0.1 "
              "said no to s3cr@tW0rd (typed s3cr%40tW0rd)")
    text = state.scrub(leaked)
    for piece in ("pa55", "Hid3den", "Part", "s3cr", "tW0rd"):
        assert piece not in text, text

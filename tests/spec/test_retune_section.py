"""The [retune] section (`tuner.spec.retune_section`): defaults, every key, one line for a
bad value, and not part of the definition."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import write_study
from tuner.spec import SpecError, load_spec

pytestmark = pytest.mark.unit


def error(tmp_path: Path, section: str) -> str:
    path = write_study(tmp_path, extra="\n[retune]\n" + section)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert message.startswith(f"{path}: [retune]") and "\n" not in message
    return message[len(str(path)) + 2:]


def test_defaults_and_every_key(tmp_path: Path) -> None:
    plain = load_spec(write_study(tmp_path))
    assert (plain.retune.when, plain.retune.margin, plain.retune.drift,
            plain.retune.min_gain, plain.retune.stated) == (
        "degraded-or-drifted", 0.01, 0.2, 0.0, False)
    spec = load_spec(write_study(tmp_path, extra='\n[retune]\nwhen = "drifted"\nmargin = 0\n'
                                 'drift = 0.1\nmin_gain = 0.005\n'))
    assert (spec.retune.when, spec.retune.margin, spec.retune.drift,
            spec.retune.min_gain, spec.retune.stated) == ("drifted", 0.0, 0.1, 0.005, True)
    # An empty section still asks tuner to keep a champion, with the defaults.
    empty = load_spec(write_study(tmp_path, extra="\n[retune]\n"))
    assert empty.retune.stated and empty.retune.when == "degraded-or-drifted"


def test_the_policy_is_not_part_of_the_definition(tmp_path: Path) -> None:
    a = load_spec(write_study(tmp_path, extra='\n[retune]\nwhen = "changed"\n'))
    b = load_spec(write_study(tmp_path, extra=""))
    assert a.spec_hash == b.spec_hash


@pytest.mark.parametrize(("section", "says"), [
    ('when = "sometimes"\n', "when: unknown policy 'sometimes'; valid: changed, degraded"),
    ("margin = -0.01\n", "margin: must be a number >= 0, got -0.01"),
    ("drift = nan\n", "drift: must be finite, got nan"),
    ('min_gain = "a lot"\n', "min_gain: must be a number, got str"),
    ("min_gain = inf\n", "min_gain: must be finite, got inf"),
    ("margins = 0.1\n", "unknown key 'margins' (did you mean 'margin'?)"),
    ("when = 3\n", "when: must be a string"),
])
def test_a_bad_value_is_one_line_naming_the_key(tmp_path: Path, section: str,
                                                 says: str) -> None:
    assert says in error(tmp_path, section)

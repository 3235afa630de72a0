"""`Reader`: every refusal names the file, the section and the key; types are checked as
TOML gives them (a boolean is not an integer, infinity is not a number here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuner.spec.reader import NUMBER, Reader
from tuner.spec.schema import SpecError

pytestmark = pytest.mark.unit

READER = Reader(Path("studies/x.toml"))


def _refusal(call) -> str:
    with pytest.raises(SpecError) as info:
        call()
    return str(info.value)


def test_a_value_of_the_asked_type_or_the_default() -> None:
    table = {"epochs": 5, "alpha": 0.5, "name": "t", "on": True}
    assert READER.get("model", table, "epochs", int) == 5
    assert READER.get("model", table, "alpha", NUMBER) == 0.5
    assert READER.get("model", table, "on", bool) is True
    assert READER.get("model", table, "absent", int, 3) == 3
    assert READER.get("model", table, "absent", int, None) is None


@pytest.mark.parametrize(("table", "kind", "message"), [
    ({}, int, "studies/x.toml: [model] epochs: missing required key"),
    ({"epochs": "5"}, int, "studies/x.toml: [model] epochs: must be an integer, got str '5'"),
    ({"epochs": True}, int, "studies/x.toml: [model] epochs: must be an integer, got bool True"),
    ({"epochs": 1.5}, (int, str), "studies/x.toml: [model] epochs: must be an integer or a "
                                  "string, got float 1.5"),
    ({"epochs": float("inf")}, NUMBER, "studies/x.toml: [model] epochs: must be finite, got inf"),
    ({"epochs": []}, NUMBER, "studies/x.toml: [model] epochs: must be a number, got list []"),
])
def test_each_refusal_names_file_section_and_key(table: dict, kind, message: str) -> None:
    assert _refusal(lambda: READER.get("model", table, "epochs", kind)) == message


def test_an_unknown_key_suggests_the_near_one_or_lists_the_valid() -> None:
    valid = ("epochs", "hidden")
    assert _refusal(lambda: READER.check_keys("model", {"epoch": 1}, valid)) == \
        "studies/x.toml: [model]: unknown key 'epoch' (did you mean 'epochs'?)"
    assert _refusal(lambda: READER.check_keys("model", {"zzz": 1}, valid)) == \
        "studies/x.toml: [model]: unknown key 'zzz'; valid: epochs, hidden"
    READER.check_keys("model", {"hidden": [8]}, valid)  # a known key passes
    assert READER.get("model", {}, "x", int, label="[search] alpha.low", default=1) == 1
    assert _refusal(lambda: READER.get("search", {}, "low", int, label="[search] alpha.low")
                    ) == "studies/x.toml: [search] alpha.low: missing required key"

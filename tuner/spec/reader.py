"""`Reader`: validation helpers that know which file and section they read, so every
error names the file, the section and the key."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuner.spec.schema import SpecError


class Reader:
    """Validation helpers that know which file and section they are reading."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, message: str) -> SpecError:
        return SpecError(f"{self.path}: {where}: {message}")

    def unknown(self, where: str, key: str, valid: tuple[str, ...] | list[str]) -> SpecError:
        close = difflib.get_close_matches(key, valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; valid: {', '.join(valid)}"
        return self.fail(where, f"unknown key {key!r}{hint}")

    def check_keys(self, section: str, table: Mapping[str, Any], valid: tuple[str, ...]) -> None:
        for key in table:
            if key not in valid:
                raise self.unknown(f"[{section}]", key, valid)

    def get(self, section: str, table: Mapping[str, Any], key: str, kind: type | tuple,
            default: Any = ..., *, label: str | None = None) -> Any:
        label = label or f"[{section}] {key}"
        if key not in table:
            if default is ...:
                raise self.fail(label, "missing required key")
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # TOML booleans are Python ints: only accept one where a boolean is asked for.
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise self.fail(label, f"must be {_type_name(kinds)}, "
                            f"got {type(value).__name__} {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(label, f"must be finite, got {value!r}")
        return value


def _type_name(kinds: tuple[type, ...]) -> str:
    if set(kinds) == {int, float}:
        return "a number"
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


NUMBER = (int, float)

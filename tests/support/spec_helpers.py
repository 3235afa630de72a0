"""The smallest valid study file, and writing a variant of it, for the study-file tests
(parsing, the schema's hash, the search space)."""

from __future__ import annotations

from pathlib import Path

BASE = """
[study]
name = "t"
n_trials = 5

[search]
alpha = { prior = "log-uniform", low = 1e-4, high = 1.0 }
beta = { prior = "complement-log-uniform", low = 0.9, high = 0.999 }
"""


def write(tmp_path: Path, text: str) -> Path:
    """``text`` as ``tmp_path/study.toml``."""
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path

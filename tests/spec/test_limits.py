"""Issue 13, items 4, 6 and 11: values the validator used to accept and that crashed (or
ran forever) after the study was written. Each is now refused by `tuner study run` in one
line naming the file and the key, exit 2, with nothing written to the storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_tuner

pytestmark = pytest.mark.integration

STUDY = """
[study]
name = {name}
n_trials = 2

[data]
dataset = "{dataset}"
{data}

[model]
hidden = [8]
{model}

[search]
{search}

[sampler]
name = "tpe"
{sampler}

[pruner]
name = "median"
{pruner}
"""
ALPHA = 'alpha = { prior = "log-uniform", low = 1e-3, high = 1.0 }'


def study_file(folder: Path, *, name: str = '"limits"', dataset: str = "iris", data: str = "",
               model: str = "epochs = 2", search: str = ALPHA, sampler: str = "", pruner: str = ""
               ) -> Path:
    path = folder / "limits.toml"
    path.write_text(STUDY.format(name=name, dataset=dataset, data=data, model=model,
                                 search=search, sampler=sampler, pruner=pruner),
                    encoding="utf-8")
    return path


CASES = {
    "model seed -1": ({"model": "epochs = 2\nseed = -1"}, "[model] seed",
                      "between 0 and 4294967295"),
    "sampler seed -1": ({"sampler": "seed = -1"}, "[sampler] seed", "between 0 and"),
    "sampler seed 2**32": ({"sampler": "seed = 4294967296"}, "[sampler] seed", "between 0"),
    "data seed 2**32": ({"data": "seed = 4294967296"}, "[data] seed", "between 0"),
    "warmup -1": ({"pruner": "n_warmup_steps = -1"}, "[pruner] n_warmup_steps",
                  "must not be negative"),
    "units 2**62": ({"search": ALPHA + '\nunits = { prior = "log-int", low = 8, '
                     'high = 4611686018427387904 }'}, "[search] units", "at most 16384"),
    "epochs 2**31": ({"model": "epochs = 2147483648"}, "[model] epochs", "at most 100000"),
    "n_samples 2**31": ({"dataset": "synthetic", "data": "n_samples = 2147483648"},
                        "[data] n_samples", "of memory"),
    "n_features 10**6": ({"dataset": "synthetic", "data": "n_features = 1000000"},
                         "[", "of memory"),
    "name too long": ({"name": '"' + "n" * 600 + '"'}, "[study] name", "at most 504"),
    "name with NUL": ({"name": '"a\\u0000b"'}, "[study] name", "U+0000"),
    "name with newline": ({"name": '"a\\nb"'}, "[study] name", "U+000A"),
    "name with RLO": ({"name": '"a\\u202eb"'}, "[study] name", "U+202E"),
    "empty search": ({"search": ""}, "[search]", "nothing to search"),
    "test_fraction 0.999": ({"data": "test_fraction = 0.999"}, "[data] test_fraction",
                            "iris"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_refused_before_anything_is_written(tmp_path: Path, case: str) -> None:
    fields, key, expected = CASES[case]
    path = study_file(tmp_path, **fields)
    db = tmp_path / "tuner.db"
    r = run_tuner("study", "run", path, "--storage", f"sqlite:///{db}", timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"error: {path}: "), lines[0]
    assert key in lines[0] and expected in lines[0], lines[0]
    assert not db.exists()


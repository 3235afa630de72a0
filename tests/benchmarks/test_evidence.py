"""Smoke tests of the evidence benchmarks: each script runs end to end with a tiny budget
(`--quick`) as a real subprocess and writes its result file and its plot.

The full runs are not tests (they take minutes and measure a shared machine); these only
check that every script still runs against the current tuner and writes what the README
links to.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# script -> (title line, strings its result file must contain)
EXPECTED = {
    "random_vs_grid": (
        "# Random vs grid search: 5 hyperparameters, 27 trials",
        ["| method | median best val acc | IQR (25% – 75%) |", "| grid (ends) |",
         "| grid (centres) |", "| random |", "| tpe |", "| qmc |",
         "distinct alpha tried", "**Verdict (synthetic):**", "## digits",
         "alpha log-uniform [0.01, 10], beta complement-log-uniform [0.9, 0.999]",
         "alpha 0.01, 0.3162, 10;", "alpha 0.03162, 0.3162, 3.162;"],
    ),
    "log_scale": (
        "# Log-scale priors for alpha and 1 - beta vs uniform priors",
        ["| alpha range | prior | median best val acc |", "| shipped [0.01, 10] | log |",
         "| shipped [0.01, 10] | uniform |", "| old default [1e-4, 1] | log |",
         "| old default [1e-4, 1] | uniform |", "| wide [1e-4, 100] | log |",
         "| wide [1e-4, 100] | uniform |", "Good region:", "## Verdict",
         "The shipped range [0.01, 10] against the others",
         "- log prior, by alpha range:", "Shipped minus old default:"],
    ),
    "importance": (
        "# Which hyperparameters matter: Optuna importance",
        ["| hyperparameter | fANOVA, seed 0 | PED-ANOVA, seed 0 | MDI, seed 0 |", "| alpha |",
         "| beta (as 1 - beta) |", "| BN eps |", "| hidden units |", "| batch size |",
         "## Verdict", "alpha log-uniform [0.01, 10] (the shipped studies' range), beta "
         "complement-log-uniform [0.9, 0.999]", "BN eps log-uniform [1e-8, 0.1]"],
    ),
    "batchnorm": (
        "# Batch norm: tuned accuracy and the good learning-rate region",
        ["| with batch norm |", "| without batch norm |", "good alpha, within 2 pt",
         "## Verdict", "alpha log-uniform [0.01, 10], beta complement-log-uniform "
         "[0.9, 0.999]", "over [0.0001, 100] at beta = 0.9"],
    ),
    "vs_alternatives": (
        "# tuner vs scikit-learn's RandomizedSearchCV: a whole tuning job",
        ["[mlp_speed.md](mlp_speed.md)", "| tuner TPE, pruner none |",
         "| sklearn RandomizedSearchCV |", "wall / sklearn's", "## Verdict"],
    ),
    "cost_growth": (
        "# Cost growth of MLPClassifierBN: rows and width",
        ["| training rows | ms per epoch (median) |", "| units per layer | ms per epoch (median) |",
         "- time: slope", "## Verdict"],
    ),
}


@pytest.mark.integration
@pytest.mark.parametrize("name", list(EXPECTED))
def test_benchmark_quick_run_writes_its_result_and_plot(name, tmp_path):
    out = tmp_path / "results"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == [f"{name}.md", f"{name}.png"]

    text = (out / f"{name}.md").read_text(encoding="utf-8")
    title, needles = EXPECTED[name]
    assert text.splitlines()[0] == title
    assert "**QUICK RUN**" in text  # a quick result can never pass for a real one
    assert f"`python benchmarks/{name}.py`" in text  # how to re-run it
    assert f"({name}.png)" in text
    for needle in needles:
        assert needle in text, needle
    machine = text.split("## Machine", 1)[1]
    assert "logical cores" in machine and "BLAS: " in machine and "numpy " in machine

    png = (out / f"{name}.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 10_000


@pytest.mark.unit
def test_the_readme_gives_one_command_per_benchmark():
    readme = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    others = ["mlp_speed", "overhead", "scaling", "fingerprint_speed"]  # other engineers'
    for script in [*EXPECTED, *others]:
        assert (ROOT / "benchmarks" / f"{script}.py").exists(), script
        assert f"`python benchmarks/{script}.py`" in readme, script
    for script in EXPECTED:  # and links the result files it writes
        assert f"(results/{script}.md)" in readme and f"(results/{script}.png)" in readme


@pytest.mark.integration
def test_a_quick_run_without_out_leaves_the_published_results_alone(tmp_path):
    published = ROOT / "benchmarks" / "results" / "cost_growth.md"
    before = published.read_bytes() if published.exists() else None
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # where tempfile.gettempdir() points
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cost_growth.py"), "--quick"],
        capture_output=True, text=True, cwd=tmp_path, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "tuner-benchmarks-quick" / "cost_growth.md").exists()
    after = published.read_bytes() if published.exists() else None
    assert after == before


@pytest.mark.unit
def test_study_toml_is_a_study_file_tuners_parser_accepts(tmp_path):
    """benchmarks/common/study_files.py writes every benchmark's study file: what it writes is what
    tuner's own parser reads, keys and priors included."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from common.study_files import spec_from_toml, study_toml
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    spec = spec_from_toml(study_toml(
        "bench", trials=7, epochs=3, dataset="synthetic", data={"n_samples": 500},
        hidden=(32,), model={"use_batchnorm": False}, sampler="tpe", seed=4, pruner="median",
        search={"alpha": ("log-uniform", 1e-2, 10.0), "units": ("log-int", 16, 256)}))
    assert (spec.name, spec.n_trials, spec.model.epochs, spec.model.hidden) == \
        ("bench", 7, 3, (32,))
    assert spec.model.use_batchnorm is False and spec.data.dataset == "synthetic"
    assert (spec.sampler.name, spec.sampler.seed, spec.pruner.name) == ("tpe", 4, "median")
    assert [(p.name, p.prior, p.low, p.high) for p in spec.search] == \
        [("alpha", "log-uniform", 1e-2, 10.0), ("units", "log-int", 16, 256)]


@pytest.mark.unit
def test_the_benchmarks_default_search_space_is_the_shipped_one():
    """The evidence scripts that say they tune "the shipped search space"
    (common.study_files.ALPHA_BETA, study_toml's default) search what
    studies/digits-momentum.toml searches."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from common.study_files import ALPHA_BETA, spec_from_toml, study_toml
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    from tuner.spec import load_spec

    shipped = load_spec(ROOT / "studies" / "digits-momentum.toml")
    default = spec_from_toml(study_toml("bench", trials=2, epochs=1))
    as_tuples = [(p.name, p.prior, p.low, p.high) for p in shipped.search]
    assert [(p.name, p.prior, p.low, p.high) for p in default.search] == as_tuples
    assert [(name, *v) for name, v in ALPHA_BETA.items()] == as_tuples
    assert ALPHA_BETA["alpha"] == ("log-uniform", 1e-2, 10.0)

"""What a parsed study file is: the spec hash over what defines the search (and nothing
else), the data source a [data] section names, a parameter by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from spec_helpers import BASE, write
from tuner.spec import load_spec
from tuner.spec.schema import DataSpec

pytestmark = pytest.mark.unit

def test_sampler_pruner_and_budget_leave_the_spec_hash_alone(tmp_path: Path) -> None:
    a = load_spec(write(tmp_path, BASE))
    run_differently = BASE.replace("n_trials = 5", "n_trials = 500\ntimeout_s = 60") + \
        '\n[sampler]\nname = "random"\nseed = 7\n\n[pruner]\nname = "none"\n'
    assert load_spec(write(tmp_path, run_differently)).spec_hash == a.spec_hash
    trained_differently = BASE + "\n[model]\nepochs = 7\n"
    assert load_spec(write(tmp_path, trained_differently)).spec_hash != a.spec_hash
    scored_differently = BASE.replace('n_trials = 5', 'n_trials = 5\nmetric = "val_loss"\n'
                                      'direction = "minimize"')
    assert load_spec(write(tmp_path, scored_differently)).spec_hash != a.spec_hash


def test_the_source_is_the_one_key_the_data_section_used() -> None:
    assert (DataSpec().source, DataSpec().is_table) == ("dataset", False)
    for key in ("path", "table", "query"):
        data = DataSpec(dataset=None, target="y", **{key: "x"})
        assert (data.source, data.is_table) == (key, True)
    kwargs = DataSpec(dataset="synthetic", seed=3, params=(("n_samples", 90),)).loader_kwargs()
    assert kwargs == {"test_fraction": 0.2, "validation_fraction": 0.2, "seed": 3,
                      "test_seed": None, "params": {"n_samples": 90}}


def test_a_parameter_by_its_course_name(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, BASE))
    assert spec.param("beta").prior == "complement-log-uniform"
    assert spec.param("gamma") is None


def test_spec_hash_ignores_comments_order_and_spelling(tmp_path: Path) -> None:
    a = load_spec(write(tmp_path, BASE))
    reordered = """
# a comment
[search]
beta = { high = 0.999, prior = "complement-log-uniform", low = 0.9 }   # momentum
alpha = { prior = "log-uniform", low = 0.0001, high = 1 }

[study]
n_trials = 50          # the budget is not part of the definition
name = "t"
"""
    b = load_spec(write(tmp_path, reordered))
    assert a.spec_hash == b.spec_hash
    changed = load_spec(write(tmp_path, BASE.replace("high = 1.0", "high = 0.5")))
    assert changed.spec_hash != a.spec_hash
    other_data = load_spec(write(tmp_path, BASE + '\n[data]\ndataset = "wine"\n'))
    assert other_data.spec_hash != a.spec_hash


def test_folds_are_in_the_spec_hash_only_when_set(tmp_path: Path) -> None:
    plain = load_spec(write(tmp_path, BASE + '\n[data]\ndataset = "iris"\n'))
    assert "folds" not in plain.data.hash_fields(), "hashes of existing studies stay"
    assert load_spec(write(tmp_path, BASE)).spec_hash == \
        load_spec(write(tmp_path, BASE + '\n[data]\ndataset = "digits"\n')).spec_hash
    five = load_spec(write(tmp_path, BASE + '\n[data]\ndataset = "iris"\nfolds = 5\n'))
    three = load_spec(write(tmp_path, BASE + '\n[data]\ndataset = "iris"\nfolds = 3\n'))
    assert five.data.folds == 5
    assert len({plain.spec_hash, five.spec_hash, three.spec_hash}) == 3


def test_task_and_class_weight_leave_existing_hashes_alone(tmp_path: Path) -> None:
    """A study file written before tasks and class weights keeps its spec hash (measured
    on main before they existed), so no chain re-tunes for a change nobody made; stating
    them is a change of definition."""
    plain = load_spec(write(tmp_path, BASE))
    assert plain.spec_hash == "1dd394d85537aa575eb4edabebdecab9d84181181c352c6f1df176407cbdc13f"
    wine = load_spec(write(tmp_path, BASE + '\n[data]\ndataset = "wine"\n'))
    assert wine.spec_hash == "745d08ab72a43c228073aabf15453074ee562a426ca822d7a33d80a6a14d93f5"
    stated = load_spec(write(tmp_path, BASE.replace('name = "t"',
                                                    'name = "t"\ntask = "classification"')))
    weighted = load_spec(write(tmp_path, BASE + '\n[model]\nclass_weight = "balanced"\n'))
    unweighted = load_spec(write(tmp_path, BASE + '\n[model]\nclass_weight = "none"\n'))
    assert unweighted.spec_hash == plain.spec_hash
    assert len({plain.spec_hash, stated.spec_hash, weighted.spec_hash}) == 3

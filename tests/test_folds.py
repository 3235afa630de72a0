"""Cross-validated trials ([data] folds, tuner/folds.py): stratified deterministic folds,
preprocessing fitted on each fold's training rows only, the mean over the folds reported
every epoch, a diverging fold diverging the trial, a pruner pruning a folds study, and a
class too rare for K folds refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from helpers import write_study
from tuner import keys
from tuner.data import load_splits, spec_splits
from tuner.folds import FoldsError, fold_indices
from tuner.mlp import MLPCore
from tuner.objective import make_objective, model_params
from tuner.preprocess import Preprocessing
from tuner.spec import load_spec
from tuner.table import load_table

pytestmark = pytest.mark.unit


def _iris_folds(tmp_path: Path, *, epochs: int = 4, folds: int = 5, extra: str = ""):
    file = write_study(tmp_path, epochs=epochs, extra=extra)
    text = file.read_text().replace("seed = 0\n", f"seed = 0\nfolds = {folds}\n", 1)
    file.write_text(text)
    spec = load_spec(file)
    return spec, spec_splits(spec)


def _csv(tmp_path: Path, *, rare: int = 12, n: int = 90, seed: int = 0) -> Path:
    """A small table: two numeric columns with gaps, a categorical one, three classes
    (the last with ``rare`` rows)."""
    rng = np.random.default_rng(seed)
    y = np.array(["a", "b"] * ((n - rare) // 2) + ["c"] * rare)
    x1 = rng.normal(size=len(y)) + (y == "a") * 2.0
    x2 = rng.normal(loc=100, scale=30, size=len(y))
    x1[::7] = np.nan
    colour = rng.choice(["red", "green", "blue", "grey"], size=len(y))
    lines = ["x1,x2,colour,label"] + [
        f"{'' if np.isnan(a) else round(a, 4)},{round(b, 3)},{c},{t}"
        for a, b, c, t in zip(x1, x2, colour, y, strict=True)]
    path = tmp_path / "rows.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _table_study(tmp_path: Path, *, folds: int = 3, rare: int = 12) -> Path:
    _csv(tmp_path, rare=rare)
    path = tmp_path / "table.toml"
    path.write_text(
        '[study]\nname = "t"\nn_trials = 2\n\n[data]\npath = "rows.csv"\ntarget = "label"\n'
        f'folds = {folds}\n\n[model]\nhidden = [8]\nepochs = 3\nbatch_size = 16\n\n'
        '[search]\nalpha = { prior = "log-uniform", low = 1e-3, high = 1.0 }\n')
    return path


# --- the folds ------------------------------------------------------------------------------

def test_folds_are_stratified_disjoint_and_deterministic() -> None:
    y = np.array([0] * 50 + [1] * 30 + [2] * 10)
    folds = fold_indices(y, 5, seed=3)
    assert len(folds) == 5
    seen = np.concatenate([val for _, val in folds])
    assert np.array_equal(np.sort(seen), np.arange(len(y))), "each row validates once"
    for train, val in folds:
        assert not set(train) & set(val) and len(train) + len(val) == len(y)
        assert np.bincount(y[val]).tolist() == [10, 6, 2], "every class in every fold"
    again = fold_indices(y, 5, seed=3)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    other = fold_indices(y, 5, seed=4)
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(folds, other, strict=True))


def test_a_built_in_datasets_folds_are_scaled_on_their_own_training_rows(tmp_path: Path
                                                                         ) -> None:
    spec, splits = _iris_folds(tmp_path)
    # The raw values of train + validation, from float64 splits and their scaler.
    exact = load_splits("iris", dtype="float64", **spec.data.loader_kwargs())
    raw = np.concatenate([exact.X_train, exact.X_val]) * exact.scaler.scale_ \
        + exact.scaler.mean_
    y = np.concatenate([splits.y_train, splits.y_val])
    folds = splits.folds()
    assert len(folds) == 5
    for fold, (train, val) in zip(folds, fold_indices(y, 5, spec.data.seed), strict=True):
        mean, std = raw[train].mean(axis=0), raw[train].std(axis=0)
        # What scaling the raw values with this fold's training rows alone gives: no
        # statistic of its validation rows is in it.
        np.testing.assert_allclose(fold.X_train, (raw[train] - mean) / std, atol=2e-5)
        np.testing.assert_allclose(fold.X_val, (raw[val] - mean) / std, atol=2e-5)
        assert np.array_equal(fold.y_val, y[val]) and fold.X_val.dtype == np.float32
    assert splits.folds() is folds, "built once"


def test_a_tables_preprocessing_is_fitted_on_each_folds_training_rows_only(tmp_path: Path
                                                                           ) -> None:
    spec = load_spec(_table_study(tmp_path, folds=3))
    splits = spec_splits(spec)
    table = load_table(spec.data, spec.path)
    folds = splits.folds()
    y = np.concatenate([splits.y_train, splits.y_val])
    from tuner.folds import _train_val_rows

    rows = _train_val_rows(spec, table, y)
    for fold, (train, val) in zip(folds, fold_indices(y, 3, spec.data.seed), strict=True):
        alone = Preprocessing.fit(table.frame, rows=rows[train], numeric=table.numeric,
                                  categorical=table.categorical, target=table.target,
                                  classes=table.classes)
        expected = alone.transform(table.frame, rows=rows[val], dtype="float32")
        assert np.array_equal(fold.X_val, expected)
        # The imputed median and the scaling are the training rows' own: a validation
        # row's missing x1 becomes (median of the fold's training x1 - mean) / scale.
        x1 = table.frame["x1"].to_numpy()
        median = np.nanmedian(x1[rows[train]])
        imputed = np.where(np.isnan(x1[rows[train]]), median, x1[rows[train]])
        missing = np.isnan(x1[rows[val]])
        assert missing.any()
        np.testing.assert_allclose(
            fold.X_val[missing, 0], (median - imputed.mean()) / imputed.std(), rtol=1e-5)
        # ... and differs from what a fit on all of train + validation gives.
        everything = Preprocessing.fit(table.frame, rows=rows, numeric=table.numeric,
                                       categorical=table.categorical, target=table.target,
                                       classes=table.classes)
        assert not np.array_equal(
            fold.X_val, everything.transform(table.frame, rows=rows[val], dtype="float32"))


def test_a_class_rarer_than_k_is_refused_in_one_line_naming_file_and_key(tmp_path: Path
                                                                         ) -> None:
    spec = load_spec(_table_study(tmp_path, folds=5, rare=5))
    with pytest.raises(FoldsError) as info:
        spec_splits(spec)
    message = str(info.value)
    assert message.startswith(f"{spec.path}: [data] folds: 5 folds need at least 5 rows")
    assert "class 'c' has 4" in message and "at most 4" in message and "\n" not in message


# --- the trials ------------------------------------------------------------------------------

def test_each_epoch_reports_the_mean_of_the_folds(tmp_path: Path) -> None:
    spec, splits = _iris_folds(tmp_path, epochs=4, folds=3)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"alpha": 0.1, "one_minus_beta": 0.05})
    study.optimize(make_objective(spec, splits), n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.COMPLETE
    params = model_params(spec, {"alpha": 0.1, "beta": 0.95})
    history = []  # each fold's model trained alone, one after the other
    for fold in splits.folds():
        clf = MLPCore(**params).fit(fold.X_train, fold.y_train, fold.X_val, fold.y_val)
        history.append([h["val_accuracy"] for h in clf.history_])
    expected = np.mean(history, axis=0)
    assert [trial.intermediate_values[e] for e in (1, 2, 3, 4)] == \
        pytest.approx(expected.tolist(), abs=1e-12)
    assert trial.value == pytest.approx(expected[-1], abs=1e-12)
    assert trial.user_attrs[keys.FOLD_VALUES] == pytest.approx([h[-1] for h in history])


def test_a_diverging_fold_diverges_the_trial(tmp_path: Path) -> None:
    spec, splits = _iris_folds(tmp_path, epochs=4, folds=3)
    spec.path.write_text(spec.path.read_text().replace("high = 1.0", "high = 1e4"))
    spec = load_spec(spec.path)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"alpha": 1e4, "one_minus_beta": 0.01})
    with pytest.raises(optuna.TrialPruned, match="diverged at epoch"):
        make_objective(spec, splits)(study.ask())
    attrs = study.trials[0].user_attrs
    assert attrs[keys.DIVERGED] is True and keys.FOLD_VALUES not in attrs


def test_a_pruner_prunes_a_folds_study(tmp_path: Path) -> None:
    spec, splits = _iris_folds(tmp_path, epochs=6, folds=3)
    study = optuna.create_study(
        direction="maximize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=1))
    study.enqueue_trial({"alpha": 0.3, "one_minus_beta": 0.05})    # learns
    study.enqueue_trial({"alpha": 0.001, "one_minus_beta": 0.05})  # barely moves
    study.optimize(make_objective(spec, splits), n_trials=2)
    good, slow = study.trials
    assert good.state == TrialState.COMPLETE
    assert slow.state == TrialState.PRUNED
    assert max(slow.intermediate_values) < 6, "stopped before the last epoch"
    assert not slow.user_attrs.get(keys.DIVERGED)

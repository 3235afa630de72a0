"""Regression and class weights as a user meets them, every step a real `tuner` process
(issue 21): a diabetes CSV tuned with ``task = "regression"`` runs, trains, exports its
splits and predicts numbers that score what the model card says; the same file without
``task`` is refused in one line with nothing written; ``--proba`` on a regression model
is refused; an imbalanced table searches ``class_weight`` and its probabilities sum to 1;
the Python API and ``[data] folds`` take a regressor too."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score, r2_score

from conftest import run_tuner

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

REGRESSION = """
[study]
name = "diabetes"
task = "regression"
metric = "val_rmse"
n_trials = 4

[data]
path = "diabetes.csv"
target = "progression"
{data}

[model]
hidden = [16]
epochs = 15
batch_size = 32

[search]
alpha = {{ prior = "log-uniform", low = 1e-3, high = 0.1 }}
"""


def ok(*args: str | Path) -> str:
    r = run_tuner(*map(str, args))
    assert r.returncode == 0, r.stderr
    return r.stdout


def refused(*args: str | Path) -> str:
    """Exit 2 and exactly one line on stderr; that line."""
    r = run_tuner(*map(str, args))
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def studies_in(db: Path) -> list[str]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as con:
        try:
            return [row[0] for row in con.execute("SELECT study_name FROM studies")]
        except sqlite3.OperationalError:  # no tables yet
            return []


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The shipped diabetes CSV tuned, trained and split through the CLI."""
    folder = tmp_path_factory.mktemp("diabetes")
    (folder / "diabetes.csv").write_bytes((ROOT / "data" / "diabetes.csv").read_bytes())
    study = folder / "diabetes.toml"
    study.write_text(REGRESSION.format(data=""))
    url = f"sqlite:///{folder / 'tuner.db'}"
    run = ok("study", "run", study, "--storage", url)
    model = folder / "model.npz"
    train = ok("train", study, "--storage", url, "-o", model, "--no-upload")
    ok("split", study, "-o", folder / "splits")
    return {"folder": folder, "study": study, "url": url, "model": model,
            "run": run, "train": train}


def test_a_regression_study_trains_and_predicts_numbers_that_score_the_card(diabetes):
    card = json.loads(diabetes["model"].with_suffix(".json").read_text())
    assert card["task"] == "regression" and card["metric"] == "val_rmse"
    assert card["data"]["classes"] == [] and "rmse: the root mean squared error" in \
        card["metric_description"]
    assert set(card["test_metrics"]) == {"val_rmse", "val_mae", "val_r2", "val_loss"}
    assert set(card["validation_metrics"]) == set(card["test_metrics"])
    lines = diabetes["train"].strip().splitlines()
    assert " validation rmse " in lines[0] and " vs test rmse " in lines[0]
    assert lines[2].startswith("  test: mae ") and " r2 " in lines[2]

    test = pd.read_csv(diabetes["folder"] / "splits" / "test.csv")
    assert len(test) == card["data"]["test_rows"]
    out = ok("predict", diabetes["model"], diabetes["folder"] / "splits" / "test.csv")
    predicted = np.array([float(v) for v in out.split()])
    assert predicted.shape == (len(test),)
    assert len(np.unique(predicted)) > 10  # numbers, not a handful of classes
    assert r2_score(test["progression"], predicted) == pytest.approx(
        card["test_metrics"]["val_r2"], abs=1e-6)
    rmse = float(np.sqrt(np.mean((test["progression"] - predicted) ** 2)))
    assert rmse == pytest.approx(card["test_score"], rel=1e-6)


def test_fingerprint_and_study_show_print_the_task(diabetes):
    out = ok("fingerprint", diabetes["study"])
    assert "\ntask       regression\n" in out
    assert "  split_rows: train rows " in out and "classes" not in out
    fp = json.loads(ok("fingerprint", diabetes["study"], "--json"))
    assert fp["task"] == "regression"
    show = ok("study", "show", "diabetes", "--storage", diabetes["url"])
    assert "\ntask       regression\n" in show and "\nrows       train rows " in show


def test_proba_of_a_regression_model_is_refused_and_writes_nothing(diabetes):
    out = diabetes["folder"] / "proba.csv"
    line = refused("predict", diabetes["model"], diabetes["folder"] / "splits" / "test.csv",
                   "--proba", "-o", out)
    assert line == (f"error: --proba: {diabetes['model']} predicts numbers, not classes: it "
                    "has no probabilities")
    assert not out.exists()


def test_the_same_file_without_task_is_refused_in_one_line_and_nothing_is_stored(
        tmp_path: Path) -> None:
    (tmp_path / "diabetes.csv").write_bytes((ROOT / "data" / "diabetes.csv").read_bytes())
    study = tmp_path / "s.toml"
    study.write_text(REGRESSION.format(data="").replace('task = "regression"\n', "")
                     .replace('metric = "val_rmse"\n', ""))
    db = tmp_path / "t.db"
    line = refused("study", "run", study, "--storage", f"sqlite:///{db}")
    assert line == (
        f"error: {study}: [data] target: column 'progression' holds 214 distinct numbers "
        "(whole numbers, more than 20): it looks like a quantity, not classes; set task = "
        "\"regression\" in [study] to predict the number, or task = \"classification\" to "
        "treat each value as a class")
    assert studies_in(db) == []
    assert refused("fingerprint", study) == line
    # Keeping the regression metric without the task names the fix too.
    study.write_text(REGRESSION.format(data="").replace('task = "regression"\n', ""))
    assert refused("study", "run", study, "--storage", f"sqlite:///{db}").endswith(
        "(set task = \"regression\" in [study] for a regression study)")
    assert studies_in(db) == []


def test_the_python_api_loads_a_regressor(diabetes):
    import tuner

    model = tuner.load_model(diabetes["model"])
    assert model.classes_ is None
    rows = pd.read_csv(diabetes["folder"] / "splits" / "test.csv")
    predicted = model.predict(rows.drop(columns="progression"))
    assert predicted.dtype == np.float64 and predicted.shape == (len(rows),)
    with pytest.raises(AttributeError, match="predicts numbers"):
        model.predict_proba(rows)


def test_folds_cross_validate_a_regression_study(tmp_path: Path) -> None:
    (tmp_path / "diabetes.csv").write_bytes((ROOT / "data" / "diabetes.csv").read_bytes())
    study = tmp_path / "folds.toml"
    study.write_text(REGRESSION.format(data="folds = 3"))
    url = f"sqlite:///{tmp_path / 't.db'}"
    ok("study", "run", study, "--storage", url, "--n-trials", "2")
    import optuna

    trials = optuna.load_study(study_name="diabetes", storage=url).trials
    complete = [t for t in trials if t.value is not None]
    assert complete
    for t in complete:
        folds = t.user_attrs["tuner:fold_values"]
        assert len(folds) == 3 and t.value == pytest.approx(np.mean(folds))
        assert t.user_attrs["tuner:val_metrics"]["val_rmse"] == pytest.approx(t.value)
        assert len(t.intermediate_values) == 15  # reported every epoch


def test_a_built_in_regression_dataset_runs_end_to_end(tmp_path: Path) -> None:
    study = tmp_path / "f.toml"
    study.write_text('[study]\nname = "f"\nn_trials = 2\n[data]\ndataset = "friedman1"\n'
                     '[model]\nhidden = [16]\nepochs = 5\n[search]\n'
                     'alpha = { prior = "log-uniform", low = 1e-2, high = 0.1 }\n')
    url = f"sqlite:///{tmp_path / 't.db'}"
    ok("study", "run", study, "--storage", url)
    model = tmp_path / "f.npz"
    ok("train", study, "--storage", url, "-o", model, "--no-upload")
    ok("split", study, "-o", tmp_path / "splits")
    test = pd.read_csv(tmp_path / "splits" / "test.csv")
    test.drop(columns="target").to_csv(tmp_path / "x.csv", index=False, header=False)
    predicted = np.array([float(v) for v in ok("predict", model, tmp_path / "x.csv").split()])
    card = json.loads(model.with_suffix(".json").read_text())
    assert r2_score(test["target"], predicted) == pytest.approx(
        card["test_metrics"]["val_r2"], abs=1e-6)


def test_an_imbalanced_table_searches_class_weight_and_predicts_probabilities(
        tmp_path: Path) -> None:
    frame = pd.read_csv(ROOT / "data" / "imbalanced.csv")[:1200]
    frame.to_csv(tmp_path / "imbalanced.csv", index=False)
    study = tmp_path / "imb.toml"
    study.write_text((ROOT / "studies" / "imbalanced.toml").read_text()
                     .replace("../data/imbalanced.csv", "imbalanced.csv")
                     .replace("n_trials = 40", "n_trials = 4")
                     .replace("epochs = 30", "epochs = 8"))
    url = f"sqlite:///{tmp_path / 't.db'}"
    ok("study", "run", study, "--storage", url)
    import optuna

    trials = optuna.load_study(study_name="imbalanced", storage=url).trials
    assert {t.params["class_weight"] for t in trials} <= {"none", "balanced"}
    model = tmp_path / "m.npz"
    train = ok("train", study, "--storage", url, "-o", model, "--no-upload")
    assert " validation balanced_accuracy " in train
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["model_params"]["class_weight"] in (None, "balanced")
    ok("split", study, "-o", tmp_path / "splits")
    test = pd.read_csv(tmp_path / "splits" / "test.csv")
    rows = list(csv.reader(io.StringIO(ok("predict", model, tmp_path / "splits" / "test.csv",
                                          "--proba"))))
    assert rows[0] == ["neg", "pos"]
    proba = np.array(rows[1:], dtype=float)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    labels = np.array(["neg", "pos"])[proba.argmax(axis=1)]
    assert balanced_accuracy_score(test["label"], labels) == pytest.approx(
        card["test_score"], abs=1e-9)


def test_predicting_with_a_regression_model_imports_no_heavy_module(diabetes):
    """As for a classifier (benchmarks/predict_startup.py): the model file is numpy arrays
    and JSON, and a CSV is read without pandas; checked by the modules loaded, not time."""
    import subprocess
    import sys

    code = ("import sys\nfrom tuner.cli import main\n"
            f"sys.argv = ['tuner', 'predict', {str(diabetes['model'])!r}, "
            f"{str(diabetes['folder'] / 'splits' / 'test.csv')!r}]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'sklearn', 'pandas', 'optuna', 'scipy'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"

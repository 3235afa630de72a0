"""A cross-validated study ([data] folds) of a small CSV through the CLI, as real
subprocesses on a SQLite file: `study run` reports the folds' mean every epoch, `train`
fits on train + validation and says its validation figure is the CV mean, `predict`
labels new rows; a class too rare for K folds is one line, exit 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pandas as pd
import pytest

from helpers import run_tuner
from system.test_own_data import churn_rows, error_line, own_study
from tuner import keys


@pytest.mark.integration
def test_a_folds_study_runs_trains_and_predicts(tmp_path: Path) -> None:
    churn_rows(240).to_csv(tmp_path / "churn.csv", index=False)
    file = own_study(tmp_path, 'path = "churn.csv"\ntarget = "churned"\n'
                     'drop = ["customer_id"]\nfolds = 4', n_trials=3)
    url = f"sqlite:///{tmp_path / 'tuner.db'}"

    r = run_tuner("study", "run", file, "--storage", url)
    assert r.returncode == 0, r.stderr
    study = optuna.load_study(study_name="own", storage=url)
    assert len(study.trials) == 3
    for trial in study.trials:
        assert sorted(trial.intermediate_values) == [1, 2, 3, 4]
        folds = trial.user_attrs[keys.FOLD_VALUES]
        assert len(folds) == 4
        assert trial.value == pytest.approx(sum(folds) / 4)

    show = run_tuner("study", "show", "own", "--storage", url)
    assert f"value {study.best_value:.4f} (mean of 4 folds);" in show.stdout, show.stdout

    model = tmp_path / "m.npz"
    t = run_tuner("train", file, "--storage", url, "-o", model)
    assert t.returncode == 0, t.stderr
    best = study.best_trial
    assert (f"trial {best.number}: 4-fold CV mean accuracy {best.value:.4f} (folds' sd "
            in t.stdout)
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["data"]["folds"] == 4 and card["validation_score"] == best.value
    assert card["fold_scores"] == best.user_attrs[keys.FOLD_VALUES]
    assert "there is no separate validation split" in card["metric_description"]
    # Trained on every row but the test split, which is scored once.
    assert card["data"]["trained_rows"] + card["data"]["test_rows"] == 240

    new = churn_rows(12, start=240).drop(columns=["churned"])
    new.to_csv(tmp_path / "new.csv", index=False)
    p = run_tuner("predict", model, tmp_path / "new.csv")
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.split()) == 12 and set(p.stdout.split()) <= {"yes", "no"}


@pytest.mark.integration
def test_folds_beyond_the_rarest_class_are_one_line_exit_2_nothing_written(tmp_path: Path
                                                                           ) -> None:
    rows = churn_rows(200)
    rows["plan"] = ["basic"] * 192 + ["gold"] * 8
    rows.drop(columns=["churned"]).to_csv(tmp_path / "plans.csv", index=False)
    data = 'path = "plans.csv"\ntarget = "plan"\ndrop = ["customer_id"]\n'
    # Which gold rows the test split keeps is the row hash's choice: ask `tuner split`.
    split = run_tuner("split", own_study(tmp_path, data), "-o", tmp_path / "splits",
                      "--force")
    assert split.returncode == 0, split.stderr
    gold = sum(int((pd.read_csv(tmp_path / "splits" / f"{part}.csv")["plan"] == "gold").sum())
               for part in ("train", "validation"))
    assert gold >= 2
    file = own_study(tmp_path, data + f"folds = {gold + 1}")
    db = tmp_path / "tuner.db"
    line = error_line(run_tuner("study", "run", file, "--storage", f"sqlite:///{db}"))
    assert line.startswith(f"error: {file}: [data] folds: {gold + 1} folds need at least "
                           f"{gold + 1} rows")
    assert f"class 'gold' has {gold}: set folds to at most {gold}" in line
    assert not db.exists()

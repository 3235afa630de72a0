"""`tuner predict` as a user runs it, in a real process (issue 21): `--proba` (a column per
class, headed by the labels as written, rows summing to 1, to stdout and to -o), one
warning line counting unseen categories, "did you mean" for a column that differs only in
case or spaces, and a start-up that imports neither scikit-learn nor pandas nor Optuna
(checked structurally, with `python -X importtime`, not by timing)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import invoke, run_tuner, write_study

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHURN = ROOT / "data" / "churn.csv"
HEAVY = ("sklearn", "pandas", "optuna", "scipy", "numba")  # numba: training only


def trained(folder: Path, study: Path) -> Path:
    url = f"sqlite:///{folder / 'tuner.db'}"
    r = invoke("study", "run", study, "--storage", url)
    assert r.exit_code == 0, r.output
    model = folder / f"{study.stem}.npz"
    r = invoke("train", study, "--storage", url, "-o", model, "--no-upload")
    assert r.exit_code == 0, r.output
    return model


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model of 400 rows of the shipped churn CSV (text labels "no" / "yes")."""
    folder = tmp_path_factory.mktemp("churn")
    pd.read_csv(CHURN)[:400].to_csv(folder / "churn.csv", index=False)
    study = write_study(folder, name="churn", n_trials=2)
    text = study.read_text().replace('dataset = "iris"', 'path = "churn.csv"\n'
                                     'target = "churned"\ndrop = ["customer_id"]')
    study.write_text(text)
    return trained(folder, study)


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("iris")
    return trained(folder, write_study(folder, name="iris", n_trials=2))


def new_rows(folder: Path, n: int = 6) -> Path:
    path = folder / "new.csv"
    pd.read_csv(CHURN)[400:400 + n].drop(columns="churned").to_csv(path, index=False)
    return path


def probabilities(text: str) -> tuple[list[str], np.ndarray]:
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], np.array(rows[1:], dtype=np.float64)


def test_proba_of_a_table_model_is_headed_by_the_labels_and_sums_to_one(
        churn: Path, tmp_path: Path) -> None:
    data = new_rows(tmp_path, 30)
    p = run_tuner("predict", churn, data, "--proba")
    assert p.returncode == 0, p.stderr
    header, values = probabilities(p.stdout)
    assert header == ["no", "yes"] and values.shape == (30, 2)
    assert np.allclose(values.sum(axis=1), 1.0, atol=1e-6) and (values >= 0).all()
    # The label predicted is the most probable class.
    labels = run_tuner("predict", churn, data).stdout.split()
    assert labels == [header[k] for k in values.argmax(axis=1)]
    out = tmp_path / "proba.csv"
    r = run_tuner("predict", churn, data, "--proba", "-o", out)
    assert r.returncode == 0 and r.stdout == "" and "wrote 30 rows of probabilities" in r.stderr
    assert out.read_text() == p.stdout


def test_proba_of_a_built_in_dataset_model(iris: Path, tmp_path: Path) -> None:
    from tuner.data import load_xy

    X, _ = load_xy("iris")
    data = tmp_path / "rows.csv"
    data.write_text("\n".join(",".join(str(v) for v in row) for row in X[::25]) + "\n")
    p = run_tuner("predict", iris, data, "--proba")
    assert p.returncode == 0, p.stderr
    header, values = probabilities(p.stdout)
    assert header == ["0", "1", "2"] and values.shape == (6, 3)
    assert np.allclose(values.sum(axis=1), 1.0, atol=1e-6)


def test_unseen_categories_are_counted_in_one_warning_line(churn: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(new_rows(tmp_path, 10))
    frame.loc[:2, "contract"] = "lifetime"
    frame.loc[3, "payment"] = "barter"
    frame.to_csv(tmp_path / "odd.csv", index=False)
    p = run_tuner("predict", churn, tmp_path / "odd.csv")
    assert p.returncode == 0 and len(p.stdout.split()) == 10
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("warning: ") and "4 cells hold categories the model never " \
        "saw (contract: 3, payment: 1)" in lines[0]
    # Rows the model knows entirely: no warning at all.
    assert run_tuner("predict", churn, new_rows(tmp_path)).stderr == ""


def test_a_column_named_but_for_case_or_spaces_gets_did_you_mean(churn: Path,
                                                                   tmp_path: Path) -> None:
    frame = pd.read_csv(new_rows(tmp_path)).rename(columns={"monthly_charges":
                                                            "Monthly Charges"})
    frame.to_csv(tmp_path / "renamed.csv", index=False)
    out = tmp_path / "labels.txt"
    p = run_tuner("predict", churn, tmp_path / "renamed.csv", "-o", out)
    assert p.returncode == 2 and not out.exists()
    assert p.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'renamed.csv'}: no column 'monthly_charges' (did you mean "
        "'Monthly Charges'? names must match exactly)"]


@pytest.mark.parametrize("kind", ["iris", "churn"])
def test_predict_imports_neither_sklearn_nor_pandas_nor_optuna(
        kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    model = request.getfixturevalue(kind)
    if kind == "churn":
        data = new_rows(tmp_path)
    else:
        data = tmp_path / "rows.csv"
        data.write_text("5.1,3.5,1.4,0.2\n6.0,3.0,5.0,2.0\n")
    for extra in ((), ("--proba",)):
        p = subprocess.run([sys.executable, "-X", "importtime", "-m", "tuner", "predict",
                            str(model), str(data), *extra], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        modules = {line.split("|")[-1].strip() for line in p.stderr.splitlines()
                   if line.startswith("import time:")}
        assert "tuner.predict" in modules and "numpy" in modules  # the log is real
        assert not [m for m in modules if m.split(".")[0] in HEAVY], sorted(modules)

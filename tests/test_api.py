"""The Python API (issue 21): `tuner.run_study` on a file and on a dict, `tuner.load_model`
on a DataFrame (table models) and on an array (built-in datasets), `import tuner` staying
light, and the README's example run as it is written."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

import tuner
from conftest import write_study
from tuner.api import to_toml
from tuner.data import load_xy
from tuner.errors import TunerError
from tuner.predict import predict_csv

ROOT = Path(__file__).resolve().parents[1]
CHURN = ROOT / "data" / "churn.csv"


@pytest.fixture(scope="module")
def churn_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("api")
    pd.read_csv(CHURN)[:300].to_csv(folder / "churn.csv", index=False)
    study = write_study(folder, name="churn", n_trials=2)
    study.write_text(study.read_text().replace(
        'dataset = "iris"', 'path = "churn.csv"\ntarget = "churned"\ndrop = ["customer_id"]'))
    url = f"sqlite:///{folder / 'tuner.db'}"
    result = tuner.run_study(study, url)
    assert isinstance(result, tuner.RunResult) and result.finished == 2 and result.complete
    trained = tuner.train_model(study, url, output=folder / "m.npz", upload=False)
    assert trained.model_path == folder / "m.npz"
    return folder / "m.npz"


@pytest.mark.unit
def test_public_names() -> None:
    assert set(tuner.__all__) >= {"run_study", "load_model", "train_model", "Model",
                                  "RunResult"}
    for name in tuner.__all__:
        assert getattr(tuner, name) is not None
    with pytest.raises(AttributeError):
        _ = tuner.nothing_here


@pytest.mark.unit
def test_a_table_model_predicts_a_dataframe_by_column_name(churn_model: Path,
                                                           tmp_path: Path) -> None:
    model = tuner.load_model(churn_model)
    assert model.classes_.tolist() == ["no", "yes"]
    assert "contract" in model.feature_names_in_.tolist()
    rows = pd.read_csv(CHURN)[300:340]
    shuffled = rows[list(reversed(rows.columns))]  # any order, extra columns ignored
    labels = model.predict(shuffled)
    proba = model.predict_proba(shuffled)
    assert proba.shape == (40, 2) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert labels.tolist() == model.classes_[proba.argmax(axis=1)].tolist()
    # The same labels as `tuner predict` on the same rows written to a CSV file.
    rows.to_csv(tmp_path / "rows.csv", index=False)
    assert labels.tolist() == predict_csv(churn_model, tmp_path / "rows.csv").tolist()
    # An unseen category: predicted, with one warning that counts it.
    odd = rows.assign(contract="lifetime")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(model.predict(odd)) == 40
    assert len(caught) == 1 and "40 cells hold categories the model never saw " \
        "(contract: 40)" in str(caught[0].message)
    with pytest.raises(TypeError, match="pass a pandas DataFrame with the columns"):
        model.predict(np.zeros((2, 8)))
    with pytest.raises(TunerError, match="no column 'contract'"):
        model.predict(rows.drop(columns="contract"))


@pytest.mark.unit
def test_a_built_in_dataset_model_predicts_a_raw_array(tmp_path: Path) -> None:
    study = write_study(tmp_path, n_trials=2)
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    tuner.run_study(study, url)
    tuner.train_model(study, url, output=tmp_path / "iris.npz", upload=False)
    model = tuner.load_model(tmp_path / "iris.npz")
    X, _ = load_xy("iris")
    assert model.feature_names_in_ is None and model.n_features_in_ == 4
    proba = model.predict_proba(X)
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert np.array_equal(model.predict(X.tolist()), model.classes_[proba.argmax(axis=1)])
    with pytest.raises(ValueError, match="4 columns"):
        model.predict(X[:, :3])


@pytest.mark.unit
def test_run_study_takes_the_study_file_as_a_dict(tmp_path: Path, monkeypatch) -> None:
    text = write_study(tmp_path, name="as-dict", n_trials=2).read_text()
    spec = tomllib.loads(text)
    assert tomllib.loads(to_toml(spec)) == spec  # the writer round-trips
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    lines: list[str] = []
    result = tuner.run_study(spec, url, emit=lines.append)
    assert result.version == "as-dict" and result.finished == 2
    assert any("as-dict: created" in line for line in lines)
    assert len(optuna.load_study(study_name="as-dict", storage=url).trials) == 2
    # A relative data path is relative to the current folder.
    pd.read_csv(CHURN)[:200].to_csv(tmp_path / "rows.csv", index=False)
    monkeypatch.chdir(tmp_path)
    spec = {**spec, "study": {"name": "from-csv", "n_trials": 1},
            "data": {"path": "rows.csv", "target": "churned", "drop": ["customer_id"]}}
    assert tuner.run_study(spec, url).finished == 1
    with pytest.raises(TunerError, match=r"\[study\] n_trials: .*object"):
        tuner.run_study({"study": {"n_trials": object()}}, url)


@pytest.mark.integration
def test_import_tuner_is_light_and_the_readme_example_runs(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-c", "import sys, tuner; tuner.load_model; "
                        "print(sorted({m.split('.')[0] for m in sys.modules} & "
                        "{'optuna', 'sklearn', 'pandas', 'scipy'}))"],
                       capture_output=True, text=True, check=True)
    assert p.stdout.strip() == "[]"
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    assert len(example.strip().splitlines()) == 5
    (tmp_path / "studies").mkdir()
    (tmp_path / "data").mkdir()
    shutil.copy(ROOT / "studies" / "churn.toml", tmp_path / "studies")
    shutil.copy(CHURN, tmp_path / "data")
    p = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True,
                       cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "model.npz").exists() and (tmp_path / "tuner.db").exists()
    assert re.fullmatch(r"\[('(no|yes)' ?){5}\] \['no' 'yes'\]\n", p.stdout), p.stdout

"""`tuner split`: the files hold exactly the rows tuner trains and scores on, as read; a
row keeps its split when rows are appended; all three files or none; and the check of
issue 20: `tuner predict` on the exported test split reproduces `tuner train`'s score."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import invoke, run_tuner, write_study
from tuner.data import load_splits
from tuner.holdout import SPLITS
from tuner.spec import load_spec
from tuner.table import load_table, table_splits

STUDY = """
[study]
name = "{name}"
n_trials = {n_trials}

[data]
path = "churn.csv"
target = "churned"
{data}

[model]
hidden = [16]
epochs = 6
batch_size = 32

[search]
alpha = {{ prior = "log-uniform", low = 1e-2, high = 1.0 }}
beta = {{ prior = "complement-log-uniform", low = 0.8, high = 0.99 }}

[sampler]
name = "tpe"
seed = 0

[pruner]
name = "none"
"""


def churn(n: int, start: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(start)
    tenure = rng.integers(1, 72, n)
    plan = rng.choice(["basic", "plus", "pro"], n)
    churned = np.where((tenure < 20) ^ (rng.random(n) < 0.15), "yes", "no")
    return pd.DataFrame({"customer_id": np.arange(start, start + n), "tenure": tenure,
                         "charges": rng.normal(70, 20, n).round(2), "plan": plan,
                         "paperless": rng.choice([True, False], n), "churned": churned})


def study(folder: Path, frame: pd.DataFrame, *, data: str = 'key = "customer_id"',
          name: str = "churn", n_trials: int = 3) -> Path:
    frame.to_csv(folder / "churn.csv", index=False)
    path = folder / f"{name}.toml"
    path.write_text(STUDY.format(name=name, n_trials=n_trials, data=data))
    return path


def ids(folder: Path) -> dict[str, set[int]]:
    return {name: set(pd.read_csv(folder / f"{name}.csv").customer_id) for name in SPLITS}


@pytest.mark.unit
def test_the_files_hold_the_rows_tuner_scores_as_read(tmp_path: Path):
    frame = churn(400)
    frame.loc[[5, 77], "churned"] = None   # no target: in no split, in no file
    frame.loc[::9, "charges"] = np.nan
    path = study(tmp_path, frame, data="")
    result = invoke("split", path, "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dropped_rows"] == 2 and report["rule"] == "row-hash-v1"
    spec = load_spec(path)
    splits = table_splits(load_table(spec.data, path), dtype="float64")
    files = {name: pd.read_csv(tmp_path / "out" / f"{name}.csv") for name in SPLITS}
    for name, (X, y) in zip(SPLITS, [(splits.X_train, splits.y_train),
                                     (splits.X_val, splits.y_val),
                                     (splits.X_test, splits.y_test)], strict=True):
        rows = files[name]
        assert report["splits"][name] == {"path": str(tmp_path / "out" / f"{name}.csv"),
                                          "rows": len(y) == len(rows) and len(rows)}
        # every column as read, the target included, in source order
        assert list(rows.columns) == list(frame.columns)
        assert rows.customer_id.is_monotonic_increasing
        pd.testing.assert_frame_equal(
            rows.reset_index(drop=True),
            pd.read_csv(tmp_path / "churn.csv").set_index("customer_id")
            .loc[rows.customer_id].reset_index(), check_dtype=False)
        # preprocessed as the trials saw them: the same inputs (in another order)
        mine = splits.preprocessing.transform(rows, dtype="float64", where=name)
        assert np.array_equal(mine[np.lexsort(mine.T)], X[np.lexsort(X.T)])
        assert sorted(splits.preprocessing.decode(y)) == sorted(rows.churned)
    assert sum(len(f) for f in files.values()) == 398


@pytest.mark.unit
@pytest.mark.parametrize("key", [True, False])
def test_a_key_keeps_a_changed_row_in_its_split(tmp_path: Path, key: bool):
    data = 'key = "customer_id"' if key else ""
    base = churn(600)
    path = study(tmp_path, base, data=data)
    assert invoke("split", path, "-o", tmp_path / "v1").exit_code == 0
    changed = base.assign(charges=base.charges + 1.0)  # every old row's values change
    study(tmp_path, pd.concat([changed, churn(300, start=600)]), data=data)
    assert invoke("split", path, "-o", tmp_path / "v2").exit_code == 0
    before, after = ids(tmp_path / "v1"), ids(tmp_path / "v2")
    if key:
        assert all(before[name] <= after[name] for name in SPLITS)
    else:  # hashed by their values, which changed: about 80 % of the old test rows move
        assert len(before["test"] - after["test"]) > len(before["test"]) / 2


@pytest.mark.unit
def test_grown_file_keeps_every_split_without_a_key(tmp_path: Path):
    base = churn(600)
    path = study(tmp_path, base, data="")
    assert invoke("split", path, "-o", tmp_path / "v1").exit_code == 0
    more = churn(300, start=600)
    more.loc[::7, "tenure"] = np.nan   # tenure: int64 before, float64 after
    more["paperless"] = more.paperless.astype(object)
    more.loc[::5, "paperless"] = None  # paperless: bool before, object after
    study(tmp_path, pd.concat([more, base]), data="")  # appended, and put first
    assert invoke("split", path, "-o", tmp_path / "v2").exit_code == 0
    before, after = ids(tmp_path / "v1"), ids(tmp_path / "v2")
    for name in SPLITS:
        assert before[name] <= after[name], name
    # the new rows spread by the same rule: about 20 % test, 16 % validation
    new = set(more.customer_id)
    shares = [len(after[name] & new) / len(new) for name in SPLITS]
    assert abs(shares[2] - 0.2) < 0.08 and abs(shares[1] - 0.16) < 0.08


@pytest.mark.unit
def test_existing_files_are_refused_and_nothing_is_half_written(tmp_path: Path):
    path = study(tmp_path, churn(200))
    out = tmp_path / "out"
    out.mkdir()
    (out / "test.csv").write_text("mine\n")
    refused = invoke("split", path, "-o", out)
    assert refused.exit_code == 2
    assert refused.stderr.strip() == (f"error: -o {out}: test.csv exists; pass --force to "
                                      "overwrite it, or choose another folder")
    assert sorted(p.name for p in out.iterdir()) == ["test.csv"]
    assert (out / "test.csv").read_text() == "mine\n"
    forced = invoke("split", path, "-o", out, "--force")
    assert forced.exit_code == 0, forced.stderr
    assert sorted(p.name for p in out.iterdir()) == ["test.csv", "train.csv",
                                                     "validation.csv"]
    assert pd.read_csv(out / "test.csv").columns[0] == "customer_id"
    into_data = invoke("split", path, "-o", tmp_path, "--force")
    assert into_data.exit_code == 0  # train.csv etc. beside churn.csv: not the data itself
    assert invoke("split", path, "-o", tmp_path / "churn.csv").exit_code == 2


@pytest.mark.unit
def test_bad_keys_and_a_class_left_out_of_train_are_one_line(tmp_path: Path):
    frame = churn(200)
    cases = {
        'key = "id"': "key: no column 'id' in",
        'key = "plan"': "key: plan = '",
        'key = ["plan", "paperless"]': "key: (plan, paperless) = (",
    }
    for data, expected in cases.items():
        path = study(tmp_path, frame, data=data)
        for command in (("fingerprint", path), ("split", path, "-o", tmp_path / "o")):
            result = invoke(*command)
            assert result.exit_code == 2, (data, result.stdout)
            assert expected in result.stderr and result.stderr.count("\n") == 1
            assert f"{path}: [data] key: " in result.stderr
    assert not (tmp_path / "o").exists()
    # One row of a third class: wherever it lands outside train, the split is refused.
    rare = frame.assign(churned=frame.churned.where(frame.index != 0, "maybe"))
    for seed in range(50):
        path = study(tmp_path, rare, data=f"seed = {seed}")
        result = invoke("fingerprint", path)
        if result.exit_code == 2:
            break
    assert "the split leaves class 'maybe' with no row in train" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.unit
def test_fingerprint_and_json_show_each_splits_classes(tmp_path: Path):
    path = study(tmp_path, churn(300))
    text = invoke("fingerprint", path)
    assert text.exit_code == 0
    fp = json.loads(invoke("fingerprint", path, "--json").stdout)
    counts = fp["data"]["components"]["class_counts"]
    assert set(counts) == set(SPLITS) and sum(sum(c.values()) for c in counts.values()) == 300
    assert f"class_counts: train no {counts['train']['no']}, yes {counts['train']['yes']}; " \
        in text.stdout
    assert fp["data"]["components"]["key"] == ["customer_id"]


@pytest.mark.unit
def test_a_builtin_dataset_is_written_with_its_feature_names(tmp_path: Path):
    path = write_study(tmp_path, dataset="iris")
    result = invoke("split", path, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    splits = load_splits("iris", dtype="float64")
    test = pd.read_csv(tmp_path / "out" / "test.csv")
    assert list(test.columns) == ["sepal length (cm)", "sepal width (cm)",
                                  "petal length (cm)", "petal width (cm)", "target"]
    assert np.array_equal(test.target, splits.y_test)
    assert np.array_equal(splits.scaler.transform(test.iloc[:, :4].to_numpy()), splits.X_test)
    assert len(pd.read_csv(tmp_path / "out" / "train.csv")) == len(splits.y_train)


@pytest.mark.integration
def test_predict_on_the_exported_test_split_reproduces_trains_score(tmp_path: Path):
    """Issue 20's check, through real subprocesses on a real SQLite file."""
    path = study(tmp_path, churn(500), n_trials=3)
    storage = f"sqlite:///{tmp_path / 'tuner.db'}"
    ran = run_tuner("study", "run", path, "--storage", storage)
    assert ran.returncode == 0, ran.stderr
    trained = run_tuner("train", path, "--storage", storage, "-o", tmp_path / "m.npz",
                        "--no-upload", "--json")
    assert trained.returncode == 0, trained.stderr
    card = json.loads(trained.stdout)
    split = run_tuner("split", path, "-o", tmp_path / "splits", "--json")
    assert split.returncode == 0, split.stderr
    test_csv = json.loads(split.stdout)["splits"]["test"]
    assert test_csv["rows"] == card["data"]["test_rows"]
    predicted = run_tuner("predict", tmp_path / "m.npz", test_csv["path"],
                          "-o", tmp_path / "labels.txt")
    assert predicted.returncode == 0, predicted.stderr
    labels = (tmp_path / "labels.txt").read_text().split()
    truth = pd.read_csv(test_csv["path"]).churned.astype(str).tolist()
    right = sum(a == b for a, b in zip(labels, truth, strict=True))
    assert right / len(truth) == card["test_accuracy"]
    assert round(card["test_accuracy"] * len(truth)) == right
    # study show prints the class counts of each split, as the exported files hold them
    show = run_tuner("study", "show", "churn", "--storage", storage)
    assert show.returncode == 0, show.stderr
    files = {name: pd.read_csv(tmp_path / "splits" / f"{name}.csv") for name in SPLITS}
    counts = "; ".join(f"{name} no {(f.churned == 'no').sum()}, yes {(f.churned == 'yes').sum()}"
                       for name, f in files.items())
    assert f"classes    {counts}\n" in show.stdout

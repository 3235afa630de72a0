"""Your own data through the CLI: `study run`, `fingerprint`, `study show`, `train` and
`predict` on CSV files, SQLite and the real PostgreSQL; every bad input of issue 14 as one
line with exit 2 and nothing written to the storage; and the loop the sources exist for
(rows added -> `tuner retune` / one `tuner schedule` tick make v2 -> train -> predict)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import sqlalchemy

from conftest import PG_ADMIN, _fresh_database, invoke, run_tuner, write_study
from test_schedule import START, FakeClock
from tuner.keys import ATTR, WARM_START
from tuner.schedule import run_schedule

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ["tenure_months", "monthly_charges", "total_charges", "support_calls",
            "contract", "internet", "payment", "senior"]


def churn_rows(n: int, start: int = 0) -> pd.DataFrame:
    """``n`` rows of the shipped generator's churn data (data/make_churn.py), from row
    ``start`` of a larger draw, so two calls give different, realistic rows."""
    spec = importlib.util.spec_from_file_location("make_churn", ROOT / "data/make_churn.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    return make.make_churn(n=start + n).iloc[start:].reset_index(drop=True)


def own_study(folder: Path, data: str, *, name: str = "own", n_trials: int = 3) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f"""
[study]
name = "{name}"
n_trials = {n_trials}

[data]
{data}

[model]
hidden = [16]
epochs = 4
batch_size = 64

[search]
alpha = {{ prior = "log-uniform", low = 1e-3, high = 1.0 }}
beta = {{ prior = "complement-log-uniform", low = 0.9, high = 0.999 }}

[sampler]
name = "tpe"
seed = 0

[pruner]
name = "none"
""")
    return path


def error_line(result) -> str:
    """The one line a bad input gives, from a CliRunner or a subprocess result."""
    code = getattr(result, "exit_code", None)
    code = result.returncode if code is None else code
    assert code == 2, (code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    return lines[0]


def no_study(url: str) -> None:
    """Nothing was written: no SQLite file, or one without any study in it."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return
    assert optuna.get_all_study_names(storage=url) == []


@pytest.fixture
def pg_data_url() -> Iterator[str]:
    """A second fresh PostgreSQL database, for the data (the storage is `pg_url`)."""
    yield from _fresh_database(PG_ADMIN, "PostgreSQL")


# --- study run, fingerprint, show, train, predict on a file -------------------------------

@pytest.mark.integration
def test_csv_study_runs_trains_and_predicts_labels_by_column_name(tmp_path: Path,
                                                                  sqlite_url: str) -> None:
    rows = churn_rows(400)
    rows.loc[[3, 50, 77], "churned"] = None  # no target: dropped, counted
    rows.to_csv(tmp_path / "churn.csv", index=False)
    file = own_study(tmp_path, 'path = "churn.csv"\ntarget = "churned"\n'
                     'drop = ["customer_id"]')

    fp = run_tuner("fingerprint", file)
    assert fp.returncode == 0, fp.stderr
    assert "(397 rows x 9 columns hashed; 3 rows without a target dropped)" in fp.stdout
    as_json = json.loads(run_tuner("fingerprint", file, "--json").stdout)
    assert as_json["data"]["components"]["rows"] == 397
    assert as_json["data"]["components"]["dropped_rows"] == 3

    r = invoke("study", "run", file, "--storage", sqlite_url)
    assert r.exit_code == 0, r.output
    show = invoke("study", "show", "own", "--storage", sqlite_url)
    assert "3 rows without a target dropped" in show.stdout
    # What the version stored is what `tuner fingerprint` computes from the rows alone.
    stored = optuna.load_study(study_name="own", storage=sqlite_url).user_attrs
    assert stored[ATTR["data"]] == as_json["data"]["hash"]

    model = tmp_path / "m.npz"
    t = invoke("train", file, "--best", "--storage", sqlite_url, "-o", model)
    assert t.exit_code == 0, t.output
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["data"]["classes"] == ["no", "yes"]
    assert card["data"]["trained_rows"] + card["data"]["test_rows"] == 397
    assert card["columns"] == FEATURES
    assert card["preprocessing"]["categories"]["contract"] == [
        "month-to-month", "one-year", "two-year"]
    with np.load(model, allow_pickle=False) as z:  # no pickle anywhere
        assert "extra/pre_median" in z.files and "extra/preprocessing" in z.files

    # Columns in another order, an extra column, the target left in, an unseen category,
    # gaps: all fine; the labels come back as the user wrote them.
    new = churn_rows(30, start=400)
    new.loc[0, "payment"] = "crypto"
    new.loc[1, "monthly_charges"] = None
    new.loc[2, "contract"] = None
    new["note"] = "x"
    new[list(reversed(new.columns))].to_csv(tmp_path / "new.csv", index=False)
    p = run_tuner("predict", model, tmp_path / "new.csv")
    assert p.returncode == 0, p.stderr
    labels = p.stdout.split()
    assert len(labels) == 30 and set(labels) <= {"yes", "no"}
    # The same rows without the extra columns, in training order: the same labels.
    new[FEATURES].to_csv(tmp_path / "same.csv", index=False)
    assert run_tuner("predict", model, tmp_path / "same.csv").stdout.split() == labels

    # A feature column missing: one line naming it, exit 2, nothing written.
    new.drop(columns=["tenure_months"]).to_csv(tmp_path / "short.csv", index=False)
    out = tmp_path / "labels.txt"
    line = error_line(run_tuner("predict", model, tmp_path / "short.csv", "-o", out))
    assert "no column 'tenure_months'" in line and "short.csv" in line
    assert not out.exists()

    # A finite number beyond float32 (issue 13 item 5): refused with row and column.
    big = new[FEATURES].copy()
    big["total_charges"] = big["total_charges"].astype(float)
    big.loc[4, "total_charges"] = 1e45
    big.to_csv(tmp_path / "big.csv", index=False)
    line = error_line(run_tuner("predict", model, tmp_path / "big.csv"))
    assert "row 5, column 'total_charges'" in line and "float32" in line


@pytest.mark.integration
def test_integer_labels_come_back_as_integers(tmp_path: Path, sqlite_url: str) -> None:
    rows = churn_rows(300)
    rows["churned"] = np.where(rows["churned"] == "yes", 7, 3)
    rows.to_parquet(tmp_path / "churn.parquet")
    file = own_study(tmp_path, 'path = "churn.parquet"\ntarget = "churned"\n'
                     'features = ["tenure_months", "contract", "senior"]')
    assert invoke("study", "run", file, "--storage", sqlite_url).exit_code == 0
    model = tmp_path / "m.npz"
    assert invoke("train", file, "--storage", sqlite_url, "-o", model).exit_code == 0
    assert json.loads(model.with_suffix(".json").read_text())["data"]["classes"] == [3, 7]
    rows[["senior", "contract", "tenure_months"]].to_csv(tmp_path / "in.csv", index=False)
    p = run_tuner("predict", model, tmp_path / "in.csv")
    assert p.returncode == 0, p.stderr
    assert set(p.stdout.split()) <= {"3", "7"} and len(p.stdout.split()) == 300


@pytest.mark.integration
def test_builtin_model_refuses_a_value_beyond_float32(tmp_path: Path, sqlite_url: str) -> None:
    """Issue 13 item 5: 1e40 is finite in float64 and infinity in the model's float32."""
    file = write_study(tmp_path, n_trials=2)
    assert invoke("study", "run", file, "--storage", sqlite_url).exit_code == 0
    model = tmp_path / "m.npz"
    assert invoke("train", file, "--storage", sqlite_url, "-o", model).exit_code == 0
    (tmp_path / "in.csv").write_text("5.1,3.5,1.4,0.2\n5.0,1e40,1.4,0.2\n")
    r = run_tuner("predict", model, tmp_path / "in.csv")
    line = error_line(r)
    assert "row 2, column 2" in line and "float32" in line
    assert "RuntimeWarning" not in r.stderr
    # The same model still predicts ordinary rows, as before.
    (tmp_path / "ok.csv").write_text("5.1,3.5,1.4,0.2\n")
    assert run_tuner("predict", model, tmp_path / "ok.csv").stdout.strip() in {"0", "1", "2"}


# --- bad inputs: one line, exit 2, no trial, nothing in the storage -----------------------

def _ragged(folder: Path) -> str:
    (folder / "d.csv").write_text("a,b,y\n1,2,0\n3,4,1,9\n5,6,0\n")
    return 'path = "d.csv"\ntarget = "y"'


def _not_utf8(folder: Path) -> str:
    (folder / "d.csv").write_bytes(b"a,b,y\n1,\xff\xfe,0\n3,4,1\n")
    return 'path = "d.csv"\ntarget = "y"'


def _no_target_column(folder: Path) -> str:
    churn_rows(50).to_csv(folder / "d.csv", index=False)
    return 'path = "d.csv"\ntarget = "churn"'


def _one_class(folder: Path) -> str:
    rows = churn_rows(50)
    rows["churned"] = "no"
    rows.to_csv(folder / "d.csv", index=False)
    return 'path = "d.csv"\ntarget = "churned"\ndrop = ["customer_id"]'


def _neither_numeric_nor_categorical(folder: Path) -> str:
    churn_rows(50).to_csv(folder / "d.csv", index=False)
    # customer_id is text, and the explicit categorical list leaves it out.
    return 'path = "d.csv"\ntarget = "churned"\ncategorical = ["contract"]'


def _word_in_numeric(folder: Path) -> str:
    rows = churn_rows(50).astype({"total_charges": object})
    rows.loc[12, "total_charges"] = "unknown"
    rows.to_csv(folder / "d.csv", index=False)
    return 'path = "d.csv"\ntarget = "churned"\ndrop = ["customer_id"]'


def _missing_file(folder: Path) -> str:
    return 'path = "nowhere.csv"\ntarget = "y"'


def _empty_table(folder: Path) -> str:
    engine = sqlalchemy.create_engine(f"sqlite:///{folder / 'd.db'}")
    churn_rows(5).iloc[:0].to_sql("churn", engine, index=False)
    engine.dispose()
    return 'table = "churn"\nurl_env = "OWN_DATA_URL"\ntarget = "churned"'


def _failing_query(folder: Path) -> str:
    engine = sqlalchemy.create_engine(f"sqlite:///{folder / 'd.db'}")
    churn_rows(5).to_sql("churn", engine, index=False)
    engine.dispose()
    return 'query = "SELECT * FROM churns"\nurl_env = "OWN_DATA_URL"\ntarget = "churned"'


def _password_in_file(folder: Path) -> str:
    return ('table = "churn"\nurl_env = "postgresql://u:hunter2@127.0.0.1/db"\n'
            'target = "churned"')


def _unset_url_env(folder: Path) -> str:
    return 'table = "churn"\nurl_env = "OWN_DATA_URL_UNSET"\ntarget = "churned"'


def _nested_parquet(kind: str):
    def make(folder: Path) -> str:
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = churn_rows(50).drop(columns=["customer_id"])
        table = pa.Table.from_pandas(rows, preserve_index=False)
        nested = {"list": pa.array([[1, 2]] * 50, pa.list_(pa.int64())),
                  "struct": pa.array([{"a": 1}] * 50, pa.struct([("a", pa.int64())])),
                  "map": pa.array([[("k", 1)]] * 50, pa.map_(pa.string(), pa.int64()))}[kind]
        pq.write_table(table.append_column("extra", nested), folder / "d.parquet")
        return 'path = "d.parquet"\ntarget = "churned"'
    return make


def _nested_target(folder: Path) -> str:
    rows = churn_rows(50).drop(columns=["customer_id"])
    rows["churned"] = [[i % 2] for i in range(50)]
    rows.to_parquet(folder / "d.parquet")
    return 'path = "d.parquet"\ntarget = "churned"'


def _long_path(folder: Path) -> str:
    return f'path = "{"a" * 5000}.csv"\ntarget = "y"'


def _fifo(folder: Path) -> str:
    os.mkfifo(folder / "d.csv")  # open() would wait for a writer forever
    return 'path = "d.csv"\ntarget = "y"'


def _dev_zero(folder: Path) -> str:
    (folder / "d.csv").symlink_to("/dev/zero")  # endless bytes: read until killed
    return 'path = "d.csv"\ntarget = "y"'


def _duplicate_columns(folder: Path) -> str:
    # pandas would rename the second to "y.1", a copy of the label used as a feature.
    (folder / "d.csv").write_text("a,b,y,y\n" + "".join(f"{i},{i % 3},{i % 2},{i % 2}\n"
                                                         for i in range(40)))
    return 'path = "d.csv"\ntarget = "y"'


def _extreme_finite(folder: Path) -> str:
    rows = churn_rows(50)
    rows.loc[7, "total_charges"] = -1e308  # finite, but its square is not
    rows.to_csv(folder / "d.csv", index=False)
    return 'path = "d.csv"\ntarget = "churned"\ndrop = ["customer_id"]'


def _huge_cell(folder: Path) -> str:
    rows = churn_rows(50).astype({"total_charges": object})
    rows.loc[12, "total_charges"] = "x" * 5_000_000
    rows.to_csv(folder / "d.csv", index=False)
    return 'path = "d.csv"\ntarget = "churned"\ndrop = ["customer_id"]'


def _identifier_column(folder: Path) -> str:
    churn_rows(120).to_csv(folder / "d.csv", index=False)  # customer_id not dropped
    return 'path = "d.csv"\ntarget = "churned"'


def _too_many_categories(folder: Path) -> str:
    rows = churn_rows(120).assign(city=[f"c{i * 2 // 3}" for i in range(120)])  # 80
    rows.to_csv(folder / "d.csv", index=False)
    return ('path = "d.csv"\ntarget = "churned"\ndrop = ["customer_id"]\n'
            'categorical = ["contract", "internet", "payment", "senior", "city"]')


BAD = {
    "missing file": (_missing_file, "nowhere.csv: no such file"),
    "ragged csv": (_ragged, "Expected 3 fields in line 3, saw 4"),
    "not utf-8": (_not_utf8, "not UTF-8"),
    "no target column": (_no_target_column, "'churn'"),
    "one class": (_one_class, "one class"),
    "neither numeric nor categorical": (_neither_numeric_nor_categorical, "customer_id"),
    "word in a numeric column": (_word_in_numeric, "row 13"),
    "table with no rows": (_empty_table, "no rows"),
    "failing query": (_failing_query, "churns"),
    "password in the file": (_password_in_file, "url_env"),
    "unset url_env": (_unset_url_env, "OWN_DATA_URL_UNSET"),
    "parquet list column": (_nested_parquet("list"), "column 'extra' holds lists"),
    "parquet struct column": (_nested_parquet("struct"), "column 'extra' holds structs"),
    "parquet map column": (_nested_parquet("map"), "column 'extra' holds lists"),
    "parquet list target": (_nested_target, "column 'churned' holds lists"),
    "path of 5000 characters": (_long_path, "path is too long"),
    "fifo": (_fifo, "not a regular file"),
    "symlink to /dev/zero": (_dev_zero, "not a regular file"),
    "duplicate column names": (_duplicate_columns, "duplicate column names: 'y'"),
    "-1e308 in a numeric column": (_extreme_finite, "row 8 holds -1e+308"),
    "5 MB cell in a numeric column": (_huge_cell, "row 13 holds 'xxxxx"),
    "identifier column": (_identifier_column, "column 'customer_id' looks like an "
                          "identifier (120 distinct values in 120 rows): list it in drop"),
    "too many categories": (_too_many_categories, "column 'city' has too many categories"),
}


@pytest.mark.integration
@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path: Path, case: str) -> None:
    make, expected = BAD[case]
    file = own_study(tmp_path, make(tmp_path))
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    env = {"OWN_DATA_URL": f"sqlite:///{tmp_path / 'd.db'}"}
    for args in (("study", "run", file), ("retune", file), ("worker", file)):
        r = invoke(*args, "--storage", url, env=env)
        line = error_line(r)
        assert expected in line, (args, line)
        assert len(line) < 1000, (args, line[:2000])  # values and paths cut to be read
        assert str(file) in line or "nowhere.csv" in line or case == "password in the file", line
        no_study(url)
    assert "hunter2" not in invoke("study", "run", file, "--storage", url, env=env).stderr
    assert error_line(run_tuner("fingerprint", file, env=env))


@pytest.mark.integration
def test_database_errors_mask_the_password(tmp_path: Path, pg_url: str,
                                           pg_data_url: str) -> None:
    """A failing query and an unreachable data database, on the real PostgreSQL: the
    database's message, the password masked, and no study in the (PostgreSQL) storage."""
    with_password = sqlalchemy.make_url(pg_data_url).set(password="s3cr3t-pw")
    url = with_password.render_as_string(hide_password=False)
    unreachable = with_password.set(port=1).render_as_string(hide_password=False)
    file = own_study(tmp_path, 'query = "SELECT * FROM no_such_table"\n'
                     'url_env = "OWN_DATA_URL"\ntarget = "churned"')
    for env, expected in (({"OWN_DATA_URL": url}, "no_such_table"),
                          ({"OWN_DATA_URL": unreachable}, "127.0.0.1")):
        r = run_tuner("study", "run", file, "--storage", pg_url, env=env)
        line = error_line(r)
        assert expected in line and "s3cr3t-pw" not in r.stderr + r.stdout, line
        no_study(pg_url)


# --- the loop: the data grows, retune and schedule make a new version ---------------------

def _versions(url: str) -> list[str]:
    return sorted(optuna.get_all_study_names(storage=url))


def _attrs(url: str, name: str) -> dict:
    return optuna.load_study(study_name=name, storage=url).user_attrs


def grow_retune_schedule_train_predict(tmp_path: Path, file: Path, storage: str,
                                       env: dict[str, str], add_rows, total: int,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop issue 14 exists for, on ``file`` whose source ``add_rows(n, start)``
    grows by ``n`` rows."""
    first = run_tuner("retune", file, "--storage", storage, env=env)
    assert first.returncode == 0, first.stderr
    assert _versions(storage) == ["own"]
    up_to_date = run_tuner("retune", file, "--storage", storage, env=env)
    assert up_to_date.returncode == 0 and _versions(storage) == ["own"], up_to_date.stderr

    add_rows(40, total)
    old = _attrs(storage, "own")[ATTR["data"]]
    second = run_tuner("retune", file, "--storage", storage, env=env)
    assert second.returncode == 0, second.stderr
    assert _versions(storage) == ["own", "own/v2"]
    v2 = _attrs(storage, "own/v2")
    new = v2[ATTR["data"]]
    assert v2[ATTR["reason"]] == f"data {old[:12]} -> {new[:12]}" and old != new
    assert v2[ATTR["parent"]] == "own"
    v1_best = optuna.load_study(study_name="own", storage=storage).best_trial.params
    v2_trials = optuna.load_study(study_name="own/v2", storage=storage).trials
    assert v2_trials[0].user_attrs.get(WARM_START) and v2_trials[0].params == v1_best
    assert v2["tuner:fingerprints"]["data"]["rows"] == total + 40

    # One tick of `tuner schedule` (its clock injected) after a further insert.
    add_rows(40, total + 40)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    stop = threading.Event()
    clock = FakeClock(stop, stop_at=START + timedelta(minutes=1))
    lines: list[str] = []
    runs = run_schedule("* * * * *", [file], storage=storage, stop=stop, emit=lines.append,
                        now=clock.now, sleep=clock.sleep)
    assert runs == 1, lines
    assert _versions(storage) == ["own", "own/v2", "own/v3"], lines
    v3 = _attrs(storage, "own/v3")
    assert v3[ATTR["reason"]] == f"data {new[:12]} -> {v3[ATTR['data']][:12]}"
    assert any("data changed" in line and "own/v3" in line for line in lines), lines

    # Train the newest version: it trains on every row there is now.
    model = tmp_path / "model.npz"
    t = run_tuner("train", file, "--best", "--storage", storage, "-o", model, "--no-upload",
                  env=env)
    assert t.returncode == 0, t.stderr
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["version"] == "own/v3"
    assert card["data"]["trained_rows"] + card["data"]["test_rows"] == total + 80
    assert card["fingerprints"]["data"] == v3[ATTR["data"]]

    rows = churn_rows(25, start=5000)
    rows[list(reversed(FEATURES))].to_csv(tmp_path / "score.csv", index=False)
    p = run_tuner("predict", model, tmp_path / "score.csv")
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.split()) == 25 and set(p.stdout.split()) <= {"yes", "no"}


@pytest.mark.integration
def test_postgresql_table_grows_retune_schedule_train_predict(
        tmp_path: Path, pg_url: str, pg_data_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = sqlalchemy.create_engine(pg_data_url)
    churn_rows(300).to_sql("churn", engine, index=False)

    def add_rows(n: int, start: int) -> None:
        churn_rows(n, start=start).to_sql("churn", engine, index=False, if_exists="append")

    file = own_study(tmp_path, 'table = "churn"\nurl_env = "CHURN_TEST_URL"\n'
                     'target = "churned"\ndrop = ["customer_id"]')
    try:
        grow_retune_schedule_train_predict(tmp_path, file, pg_url,
                                           {"CHURN_TEST_URL": pg_data_url}, add_rows, 300,
                                           monkeypatch)
    finally:
        engine.dispose()


@pytest.mark.integration
def test_csv_file_grows_retune_schedule_train_predict(
        tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data" / "churn.csv"
    data.parent.mkdir()
    churn_rows(300).to_csv(data, index=False)

    def add_rows(n: int, start: int) -> None:
        churn_rows(n, start=start).to_csv(data, index=False, header=False, mode="a")

    file = own_study(tmp_path, 'path = "data/churn.csv"\ntarget = "churned"\n'
                     'drop = ["customer_id"]')
    grow_retune_schedule_train_predict(tmp_path, file, sqlite_url, {}, add_rows, 300,
                                       monkeypatch)


@pytest.mark.integration
def test_same_rows_in_another_order_on_postgresql_is_up_to_date(
        tmp_path: Path, pg_url: str, pg_data_url: str) -> None:
    """A table read without ORDER BY may come back in any order: rewriting it shuffled
    is no new data, so retune makes no new version."""
    engine = sqlalchemy.create_engine(pg_data_url)
    rows = churn_rows(200)
    rows.to_sql("churn", engine, index=False)
    file = own_study(tmp_path, 'table = "churn"\nurl_env = "CHURN_TEST_URL"\n'
                     'target = "churned"\ndrop = ["customer_id"]')
    env = {"CHURN_TEST_URL": pg_data_url}
    assert run_tuner("retune", file, "--storage", pg_url, env=env).returncode == 0
    rows.sample(frac=1.0, random_state=3).to_sql("churn", engine, index=False,
                                                 if_exists="replace")
    engine.dispose()
    again = run_tuner("retune", file, "--storage", pg_url, env=env)
    assert again.returncode == 0, again.stderr
    assert _versions(pg_url) == ["own"], again.stdout


@pytest.mark.unit
def test_a_relative_path_is_taken_from_the_study_folder_as_named(tmp_path: Path) -> None:
    """A studies/ folder that is a symlink (or, in a container, a bind mount) finds
    ../data/ beside itself, as the Docker stack's mounted studies folder needs."""
    from tuner.sources import resolve_path

    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "studies").symlink_to(tmp_path / "elsewhere")
    study = tmp_path / "app" / "studies" / "churn.toml"
    assert resolve_path("../data/churn.csv", study) == tmp_path / "app" / "data" / "churn.csv"
    assert resolve_path("/abs/x.csv", study) == Path("/abs/x.csv")


@pytest.mark.integration
def test_a_tampered_preprocessing_state_is_refused_in_one_line(tmp_path: Path,
                                                               sqlite_url: str) -> None:
    rows = churn_rows(200)
    rows.to_csv(tmp_path / "churn.csv", index=False)
    file = own_study(tmp_path, 'path = "churn.csv"\ntarget = "churned"\n'
                     'features = ["tenure_months", "contract"]', n_trials=1)
    assert invoke("study", "run", file, "--storage", sqlite_url).exit_code == 0
    model = tmp_path / "m.npz"
    assert invoke("train", file, "--storage", sqlite_url, "-o", model).exit_code == 0
    rows[["contract", "tenure_months"]].to_csv(tmp_path / "in.csv", index=False)
    with np.load(model, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    state = json.loads(str(arrays["extra/preprocessing"][()]))
    for what, change in (("nested classes", {"classes": [["no"], ["yes"]]}),
                         ("a missing column list", {"numeric": None}),
                         ("an extra category", {"categories": {"contract": ["a", "b", "c",
                                                                            "d"]}})):
        bad = {**arrays, "extra/preprocessing": np.array(json.dumps({**state, **change}))}
        tampered = tmp_path / "tampered.npz"
        np.savez(tampered, **bad)
        line = error_line(run_tuner("predict", tampered, tmp_path / "in.csv"))
        assert "tampered.npz" in line, (what, line)


# --- outputs and model files: special files, outputs that are inputs, full disks -----------

@pytest.fixture(scope="module")
def churn_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A model trained on a CSV file: (study file, model file, storage URL)."""
    folder = tmp_path_factory.mktemp("churn-model")
    churn_rows(300).to_csv(folder / "churn.csv", index=False)
    file = own_study(folder, 'path = "churn.csv"\ntarget = "churned"\n'
                     'drop = ["customer_id"]', n_trials=2)
    url = f"sqlite:///{folder / 'tuner.db'}"
    assert invoke("study", "run", file, "--storage", url).exit_code == 0
    model = folder / "m.npz"
    assert invoke("train", file, "--storage", url, "-o", model, "--no-upload").exit_code == 0
    return file, model, url


@pytest.mark.integration
def test_predict_refuses_a_short_row_like_a_long_one(tmp_path: Path, churn_model) -> None:
    _, model, _ = churn_model
    lines = churn_rows(5, start=300)[FEATURES].to_csv(index=False).splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0]  # one field short: pandas would fill in NaN
    (tmp_path / "short.csv").write_text("\n".join(lines) + "\n")
    line = error_line(run_tuner("predict", model, tmp_path / "short.csv"))
    assert "short.csv: line 4 has 7 fields; the header has 8" in line, line


@pytest.mark.integration
def test_a_model_that_is_not_a_regular_file_is_refused(tmp_path: Path, churn_model) -> None:
    _, model, _ = churn_model
    churn_rows(5, start=300)[FEATURES].to_csv(tmp_path / "new.csv", index=False)
    os.mkfifo(tmp_path / "fifo.npz")
    (tmp_path / "zero.npz").symlink_to("/dev/zero")
    for bad in ("fifo.npz", "zero.npz"):
        line = error_line(run_tuner("predict", tmp_path / bad, tmp_path / "new.csv"))
        assert f"{bad}: not a regular file" in line, line
    # And a FIFO as the data to predict.
    os.mkfifo(tmp_path / "rows.csv")
    line = error_line(run_tuner("predict", model, tmp_path / "rows.csv"))
    assert "rows.csv: not a regular file" in line, line


@pytest.mark.integration
def test_the_output_is_an_input(tmp_path: Path, churn_model) -> None:
    file, model, url = churn_model
    data = tmp_path / "new.csv"
    churn_rows(5, start=300)[FEATURES].to_csv(data, index=False)
    (tmp_path / "link.csv").symlink_to(data)
    before = {p: p.read_bytes() for p in (file, model, data, file.parent / "churn.csv")}
    for output, what in ((data, "the data"), (tmp_path / "link.csv", "the data"),
                         (model, "the model")):
        line = error_line(run_tuner("predict", model, data, "-o", output))
        assert f"is {what}" in line, line
    for output, what in ((file, "the study file"), (file.parent / "churn.csv", "the data file"),
                         (file.parent / "tuner.db", "the storage")):
        line = error_line(run_tuner("train", file, "--storage", url, "-o", output,
                                    "--no-upload"))
        assert f"would overwrite {what}" in line, line
    assert {p: p.read_bytes() for p in before} == before


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: a model does not fit. Needs root (mount), as the CI runner is."""
    folder = tmp_path / "disk"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                   check=True)
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.integration
def test_a_full_or_read_only_disk_is_one_line_and_leaves_nothing(small_disk: Path,
                                                                 churn_model) -> None:
    file, model, url = churn_model
    (small_disk / "filler").write_bytes(b"x" * (60 * 1024))  # almost full
    line = error_line(run_tuner("train", file, "--storage", url, "-o", small_disk / "m.npz",
                                "--no-upload"))
    assert f"cannot write in folder {small_disk}: No space left on device" in line, line
    artifacts = small_disk / "artifacts"
    artifacts.mkdir()
    line = error_line(run_tuner("train", file, "--storage", url, "-o", file.parent / "m2.npz",
                                "--artifacts", artifacts))
    assert f"artifact folder {artifacts}: No space left on device" in line, line
    assert sorted(p.name for p in small_disk.rglob("*")) == ["artifacts", "filler"]
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    data = file.parent / "churn.csv"
    line = error_line(run_tuner("predict", model, data, "-o", small_disk / "labels.txt"))
    assert f"cannot write in folder {small_disk}: Read-only file system" in line, line
    line = error_line(run_tuner("train", file, "--storage", url, "-o", small_disk / "m.npz",
                                "--no-upload"))
    assert "Read-only file system" in line, line

"""The [data] section: one source of dataset / path / table / query, checked up front."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from tuner.spec import SpecError, load_spec

HEAD = ('[study]\nname = "churn"\nn_trials = 4\n\n[search]\n'
        'alpha = { prior = "log-uniform", low = 1e-3, high = 1.0 }\n\n')


def write(tmp_path: Path, data: str) -> Path:
    path = tmp_path / "churn.toml"
    path.write_text(HEAD + "[data]\n" + data)
    return path


def error(tmp_path: Path, data: str) -> str:
    path = write(tmp_path, data)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message[len(str(path)) + 2:]


@pytest.mark.unit
def test_each_source(tmp_path: Path):
    spec = load_spec(write(tmp_path, 'path = "data/churn.csv"\ntarget = "churned"\n'
                                     'drop = ["customer_id"]\ncategorical = ["plan"]\n'))
    data = spec.data
    assert (data.source, data.dataset, data.path, data.target) == \
        ("path", None, "data/churn.csv", "churned")
    assert data.drop == ("customer_id",) and data.categorical == ("plan",)
    assert data.features is None and data.is_table
    table = load_spec(write(tmp_path, 'table = "churn"\nurl_env = "CHURN_DATABASE_URL"\n'
                                      'target = "churned"\nfeatures = ["tenure", "plan"]\n'))
    assert (table.data.source, table.data.table, table.data.url_env) == \
        ("table", "churn", "CHURN_DATABASE_URL")
    assert table.data.features == ("tenure", "plan")
    query = load_spec(write(tmp_path, 'query = "SELECT * FROM churn WHERE region = \'eu\'"\n'
                                      'url_env = "CHURN_DATABASE_URL"\ntarget = "churned"\n'))
    assert query.data.source == "query"
    assert load_spec(write(tmp_path, 'dataset = "wine"\n')).data.source == "dataset"
    assert load_spec(write(tmp_path, "seed = 3\n")).data.dataset == "digits"


@pytest.mark.unit
def test_spec_hash_of_a_builtin_dataset_study_is_unchanged(tmp_path: Path):
    """The new keys, unset, leave the hash of existing studies as it was (no re-tune)."""
    data = load_spec(write(tmp_path, 'dataset = "iris"\nseed = 1\n')).data
    assert data.hash_fields() == {k: v for k, v in asdict(data).items() if k in (
        "dataset", "test_fraction", "validation_fraction", "seed", "test_seed", "params")}
    a = load_spec(write(tmp_path, 'path = "a.csv"\ntarget = "y"\n')).spec_hash
    b = load_spec(write(tmp_path, 'path = "b.csv"\ntarget = "y"\n')).spec_hash
    assert a != b


@pytest.mark.parametrize("data, message", [
    ('dataset = "iris"\npath = "a.csv"\n',
     "[data]: give exactly one source of dataset, path, table, query; this file gives "
     "dataset and path"),
    ('path = "a.csv"\ntable = "t"\nurl_env = "U"\ntarget = "y"\n',
     "[data]: give exactly one source of dataset, path, table, query; this file gives path "
     "and table"),
    ('target = "y"\n', "[data]: no source: give one of path"),
    ('path = "a.csv"\n', "[data] target: missing required key"),
    ('path = "a.xlsx"\ntarget = "y"\n', "[data] path: 'a.xlsx': unknown file type; use one "
     "of .csv, .csv.gz, .parquet, .pq"),
    ('path = "a.csv"\ntarget = "y"\nurl_env = "U"\n',
     "[data] url_env: only applies to table and query, not to path"),
    ('table = "t"\ntarget = "y"\n', "[data] url_env: required with table"),
    ('table = "t"\nurl_env = "my url"\ntarget = "y"\n',
     "[data] url_env: must be the name of an environment variable (letters, digits, _), "
     "got 'my url'"),
    ('table = "t"\nurl_env = "postgresql://db/x"\ntarget = "y"\n',
     "[data] url_env: must be the name of an environment variable (letters, digits, _), "
     "got a URL"),
    ('dataset = "iris"\ntarget = "y"\n', "[data] target: only applies to your own data"),
    ('path = "a.csv"\ntarget = "y"\nn_samples = 100\n',
     "[data] n_samples: only applies to dataset 'synthetic'"),
    ('path = "a.csv"\ntarget = "y"\nfeatures = ["a", "y"]\n',
     "[data] features: names the target column 'y'"),
    ('path = "a.csv"\ntarget = "y"\nfeatures = ["a", "b"]\ndrop = ["b"]\n',
     "[data] drop: column 'b' is also in features"),
    ('path = "a.csv"\ntarget = "y"\nfeatures = ["a"]\ncategorical = ["b"]\n',
     "[data] categorical: column 'b' is not in features"),
    ('path = "a.csv"\ntarget = "y"\nfeatures = []\n',
     "[data] features: must name at least one column"),
    ('path = "a.csv"\ntarget = "y"\ndrop = ["a", "a"]\n', "[data] drop: names column 'a' "
     "twice"),
    ('path = "a.csv"\ntarget = "y"\ncategorical = "plan"\n',
     "[data] categorical: must be a list of column names, got 'plan'"),
    ('path = "a.csv"\ntarget = "y"\ntargte = "x"\n', "[data]: unknown key 'targte' (did you "
     "mean 'target'?)"),
])
@pytest.mark.unit
def test_bad_data_sections(tmp_path: Path, data: str, message: str):
    assert error(tmp_path, data).startswith(message)


@pytest.mark.parametrize("data", [
    'table = "t"\ntarget = "y"\nurl_env = "postgresql+psycopg2://tuner:hunter2@db:5432/x"\n',
    'table = "t"\ntarget = "y"\nurl = "postgresql://tuner:hunter2@db/x"\n',
    'query = "SELECT 1"\ntarget = "y"\nurl = "mysql+pymysql://root:hunter2@db/x"\n',
])
@pytest.mark.unit
def test_a_password_in_the_study_file_is_refused(tmp_path: Path, data: str):
    message = error(tmp_path, data)
    assert "hunter2" not in message
    assert "a database URL with a password does not belong in a study file, which goes " \
           "into git: put the URL in an environment variable and name it here, e.g. " \
           'url_env = "CHURN_DATABASE_URL"' in message


@pytest.mark.unit
def test_shipped_churn_data_and_studies(tmp_path: Path, monkeypatch):
    """data/churn.csv is what data/make_churn.py writes; both churn studies load it."""
    import importlib.util

    from tuner.table import load_table, table_splits

    root = Path(__file__).resolve().parents[2]
    module = importlib.util.spec_from_file_location("make_churn", root / "data/make_churn.py")
    make = importlib.util.module_from_spec(module)
    module.loader.exec_module(make)
    make.make_churn().to_csv(tmp_path / "again.csv", index=False)
    shipped = root / "data" / "churn.csv"
    assert (tmp_path / "again.csv").read_bytes() == shipped.read_bytes()
    assert shipped.stat().st_size < 1_000_000

    csv_study = load_spec(root / "studies/churn.toml")
    table = load_table(csv_study.data, csv_study.path)
    assert (table.n_rows, table.n_columns, table.classes) == (3000, 9, ("no", "yes"))
    assert table.categorical == ("contract", "internet", "payment", "senior")
    splits = table_splits(table, dtype=csv_study.model.dtype)
    assert splits.X_train.shape[1] == 4 + 3 + 4 + 5 + 2  # 4 numeric, one-hot of the rest

    # The table study over the same rows, in SQLite here (any SQLAlchemy URL works).
    url = f"sqlite:///{tmp_path / 'churn.db'}"
    monkeypatch.setattr("sys.argv", ["make_churn.py", "-o", str(tmp_path / "c.csv"),
                                     "--table", url])
    make.main()
    monkeypatch.setenv("CHURN_DATABASE_URL", url)
    table_study = load_spec(root / "studies/sql/churn-table.toml")
    from_db = load_table(table_study.data, table_study.path)
    assert (from_db.n_rows, from_db.n_columns, from_db.classes) == (3000, 9, ("no", "yes"))
    # SQLite stores true/false as 0/1, so `senior` reads back as numbers: other values,
    # another fingerprint than the CSV's (a fingerprint is of the data as read).
    assert from_db.digest != table.digest


@pytest.mark.integration
def test_reading_study_files_does_not_import_pandas_or_pyarrow(tmp_path: Path):
    """Every command reads study files; only loading the data may pay for pandas."""
    import subprocess
    import sys

    path = write(tmp_path, 'path = "data.csv"\ntarget = "y"\n')
    code = ("import sys; import tuner.cli; from tuner.spec import load_spec; "
            f"load_spec({str(path)!r}); "
            "print(sorted(m for m in ('pandas', 'pyarrow', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("data, key, message", [
    ("n_samples = 0", "n_samples", "must be a positive integer, got 0"),
    ("n_features = 4\nn_informative = 5", "n_informative", "5 must not exceed n_features=4"),
    ("n_classes = 1", "n_classes", "must be at least 2"),
    ("n_classes = 5\nn_informative = 3", "n_classes", "5 classes need n_informative >= 4"),
    ("n_samples = 29", "n_samples", "29 is too small for 3 classes (need at least 30)"),
])
@pytest.mark.unit
def test_synthetic_data_is_refused_alike_by_the_study_file_and_load_xy(
        tmp_path: Path, data: str, key: str, message: str):
    from tuner.data import DataError, load_xy

    assert error(tmp_path, f'dataset = "synthetic"\n{data}\n') == f"[data] {key}: {message}"
    params = {k.strip(): int(v) for k, v in (line.split("=") for line in data.splitlines())}
    with pytest.raises(DataError) as info:
        load_xy("synthetic", params=params)
    assert str(info.value) == f"synthetic: {key}: {message}"


@pytest.mark.parametrize("key", ["test_fraction", "validation_fraction"])
@pytest.mark.parametrize("value", [0, 1, 1.5, -0.2])
@pytest.mark.unit
def test_fractions_are_refused_alike_by_the_study_file_and_load_splits(
        tmp_path: Path, key: str, value: float):
    from tuner.data import DataError, load_splits

    message = f"{key}: must be strictly between 0 and 1, got {value}"
    assert error(tmp_path, f'dataset = "iris"\n{key} = {value}\n') == f"[data] {message}"
    with pytest.raises(DataError) as info:
        load_splits("iris", **{key: value})
    assert str(info.value) == message


@pytest.mark.unit
def test_key_is_a_column_or_a_list_of_them(tmp_path: Path):
    base = 'path = "c.csv"\ntarget = "churned"\n'
    unset = load_spec(write(tmp_path, base))
    assert unset.data.key == () and "key" not in unset.data.hash_fields()
    one = load_spec(write(tmp_path, base + 'key = "customer_id"\n'))
    assert one.data.key == ("customer_id",) and one.spec_hash != unset.spec_hash
    two = load_spec(write(tmp_path, base + 'key = ["shop", "day"]\n'))
    assert two.data.key == ("shop", "day")
    assert error(tmp_path, base + 'key = "churned"\n') == \
        "[data] key: names the target column 'churned'"
    assert error(tmp_path, base + "key = []\n") == "[data] key: must name at least one column"
    assert error(tmp_path, base + 'key = ["a", "a"]\n') == "[data] key: names column 'a' twice"
    assert error(tmp_path, 'dataset = "iris"\nkey = "id"\n').startswith(
        "[data] key: only applies to your own data")


@pytest.mark.unit
@pytest.mark.parametrize(("data", "expected"), [
    ('dataset = "iris"\nfolds = 1\n',
     "[data] folds: must be an integer of at least 2 (the number of cross-validation "
     "folds), got 1; leave it out for one validation split"),
    ('dataset = "iris"\nfolds = -3\n', "[data] folds: must be an integer of at least 2"),
    ('dataset = "iris"\nfolds = 5.0\n', "[data] folds: must be an integer, got float 5.0"),
    ('dataset = "iris"\nfolds = "5"\n', "[data] folds: must be an integer, got str '5'"),
    ('dataset = "iris"\nfolds = true\n', "[data] folds: must be an integer, got bool True"),
    ('dataset = "iris"\nfolds = 5\nvalidation_fraction = 0.3\n',
     "[data] validation_fraction: has no use with folds = 5: each fold is the validation "
     "split in turn; remove one of the two"),
])
def test_folds_refusals(tmp_path: Path, data: str, expected: str):
    assert error(tmp_path, data).startswith(expected)


@pytest.mark.unit
def test_folds_of_a_file_source(tmp_path: Path):
    spec = load_spec(write(tmp_path, 'path = "rows.csv"\ntarget = "y"\nfolds = 4\n'))
    assert spec.data.folds == 4 and spec.data.validation_fraction == 0.2
    assert load_spec(write(tmp_path, 'dataset = "iris"\n')).data.folds is None

"""`tuner train --best` and `tuner predict`: the held-out test split, the model files,
the artifacts in Optuna and optuna-dashboard, and every bad input, on real SQLite files."""

from __future__ import annotations

import csv
import hashlib
import json
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import numpy as np
import optuna
import pytest
from optuna.artifacts import FileSystemArtifactStore, get_all_artifact_meta
from sklearn.model_selection import train_test_split

from conftest import invoke, run_tuner, write_study
from tuner.data import Splits, load_xy, spec_splits
from tuner.fingerprint import study_fingerprints
from tuner.mlp import MLPClassifierBN, MLPCore
from tuner.spec import StudySpec, load_spec
from tuner.storage import open_storage
from tuner.train import MODEL_ATTR, train_best
from tuner.versions import Decision, chain, create_version

CARD_KEYS = {"study", "version", "version_number", "trial", "params", "optuna_params",
             "fingerprints", "validation_score", "test_score", "software", "metric",
             "metric_description", "direction", "test_accuracy", "test_loss", "data",
             "model_sha256", "created_at"}



def raw_test_split(spec: StudySpec) -> tuple[np.ndarray, np.ndarray]:
    """The test split's rows before scaling, carved the way tuner.data documents it."""
    d = spec.data
    X, y = load_xy(d.dataset, seed=d.seed, params=dict(d.params))
    _, X_test, _, y_test = train_test_split(
        X, y, test_size=d.test_fraction, stratify=y,
        random_state=d.seed if d.test_seed is None else d.test_seed)
    return X_test, y_test


def row_hashes(X: np.ndarray) -> list[str]:
    X = np.ascontiguousarray(X, dtype=np.float32)
    return [hashlib.sha1(row.tobytes()).hexdigest() for row in X]


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    return lines[0]


# --- one tuned and trained study, shared by the read-only tests --------------------------

@dataclass
class Trained:
    folder: Path
    file: Path
    url: str
    spec: StudySpec
    splits: Splits
    model: Path
    card: dict
    stdout: str


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    folder = tmp_path_factory.mktemp("trained")
    file = write_study(folder, n_trials=5, epochs=25)
    url = f"sqlite:///{folder / 'tuner.db'}"
    r = invoke("study", "run", file, "--storage", url)
    assert r.exit_code == 0, r.output
    model = folder / "model.npz"
    r = invoke("train", file, "--best", "-o", model, "--storage", url)
    assert r.exit_code == 0, r.output
    spec = load_spec(file)
    return Trained(folder, file, url, spec, spec_splits(spec), model,
                   json.loads(model.with_suffix(".json").read_text()), r.stdout)


# --- the held-out split ---------------------------------------------------------------------

@pytest.mark.unit
@pytest.mark.parametrize("dataset", ["synthetic", "iris"])
def test_test_split_never_reaches_a_trial_or_the_retrain(
        tmp_path: Path, sqlite_url: str, dataset: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    file = write_study(tmp_path, n_trials=3, epochs=2, dataset=dataset)
    seen: list[tuple[np.ndarray, np.ndarray | None]] = []
    real_fit = MLPCore.fit  # trials train MLPCore, the retrain MLPClassifierBN: both

    def watching_fit(self, X, y, X_val=None, y_val=None, **kwargs):
        seen.append((np.array(X), None if X_val is None else np.array(X_val)))
        return real_fit(self, X, y, X_val, y_val, **kwargs)

    monkeypatch.setattr(MLPCore, "fit", watching_fit)
    assert invoke("study", "run", file, "--storage", sqlite_url).exit_code == 0
    r = invoke("train", file, "-o", tmp_path / "m.npz", "--storage", sqlite_url, "--no-upload")
    assert r.exit_code == 0, r.output
    assert len(seen) == 4 and seen[-1][1] is None, "3 trials, then the retrain"

    spec = load_spec(file)
    splits = spec_splits(spec)
    X_all, _ = load_xy(spec.data.dataset, seed=spec.data.seed, params=dict(spec.data.params))
    everything = Counter(row_hashes(splits.scaler.transform(X_all)))
    test = Counter(row_hashes(splits.X_test))
    assert sum(test.values()) == len(splits.y_test) > 0
    for X, X_val in seen:
        used = Counter(row_hashes(X)) + (Counter(row_hashes(X_val)) if X_val is not None
                                         else Counter())
        # Identical rows may exist in the data (iris has some): a test row is in a trial's
        # arrays only if the arrays hold more copies of it than the data has outside test.
        assert all(used[h] + test[h] <= everything[h] for h in used)
        assert sum(used.values()) + sum(test.values()) == sum(everything.values())
        if dataset == "synthetic":  # continuous features: every row is unique
            assert len(everything) == sum(everything.values())
            assert not set(used) & set(test)


# --- train -------------------------------------------------------------------------------

@pytest.mark.unit
def test_train_prints_validation_vs_test_and_writes_both_files(trained: Trained) -> None:
    lines = trained.stdout.strip().splitlines()
    assert len(lines) == 3
    card = trained.card
    assert lines[0].startswith(f"tiny trial {card['trial']}: validation accuracy "
                               f"{card['validation_score']:.4f} vs test accuracy "
                               f"{card['test_score']:.4f}")
    # The task's other metrics beside the chosen one, on validation and on test.
    test = card["test_metrics"]
    assert lines[2] == (f"  test: balanced_accuracy {test['val_balanced_accuracy']:.4g}, "
                        f"f1 {test['val_f1']:.4g}, roc_auc {test['val_roc_auc']:.4g}, "
                        f"loss {test['val_loss']:.4g}")
    assert lines[1].startswith("  validation: balanced_accuracy ")
    assert trained.model.is_file() and trained.model.with_suffix(".json").is_file()
    with np.load(trained.model, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    assert all(a.dtype.kind != "O" for a in arrays.values())
    assert {"theta", "running", "classes", "extra/scaler_mean", "extra/scaler_scale"} <= \
        set(arrays)
    assert arrays["extra/scaler_mean"].dtype == np.float64
    assert not list(trained.folder.glob(".*.tmp")), "no temporary file left behind"


@pytest.mark.unit
def test_card_holds_the_fields(trained: Trained) -> None:
    card = trained.card
    assert CARD_KEYS <= set(card)
    study = optuna.load_study(study_name="tiny", storage=trained.url)
    best = study.best_trial
    assert (card["study"], card["version"], card["version_number"]) == ("tiny", "tiny", 1)
    assert card["trial"] == best.number
    assert card["validation_score"] == best.value
    assert set(card["params"]) == {"alpha", "beta"}
    assert card["params"]["alpha"] == best.params["alpha"]
    assert card["params"]["beta"] == pytest.approx(1 - best.params["one_minus_beta"])
    assert card["optuna_params"] == best.params
    assert card["model_params"]["learning_rate"] == card["params"]["alpha"]
    assert card["model_params"]["epochs"] == 25
    assert card["metric"] == "val_accuracy" and "accuracy" in card["metric_description"]
    assert card["test_score"] == card["test_accuracy"] == card["test_metrics"]["val_accuracy"]
    assert card["task"] == "classification"
    assert set(card["test_metrics"]) == set(card["validation_metrics"]) == {
        "val_accuracy", "val_balanced_accuracy", "val_f1", "val_roc_auc", "val_loss"}
    # The trial's validation metrics, as it recorded them at its last epoch.
    assert card["validation_metrics"]["val_accuracy"] == best.value
    assert card["fingerprints"]["data"] == study.user_attrs["tuner:data_fingerprint"]
    assert card["fingerprints"]["definition"] == study.user_attrs["tuner:spec_hash"]
    assert card["fingerprints"]["hardware_tuned"] == study.user_attrs[
        "tuner:hardware_fingerprint"]
    assert {"python", "numpy", "optuna", "scikit-learn", "tuner"} <= set(card["software"])
    assert card["software"]["numpy"] == np.__version__
    assert card["data"]["test_rows"] == len(trained.splits.y_test)
    assert card["data"]["trained_rows"] == len(trained.splits.y_train) + len(
        trained.splits.y_val)
    assert card["model_sha256"] == hashlib.sha256(trained.model.read_bytes()).hexdigest()
    # the test score is what the saved model scores on the test split
    clf = MLPClassifierBN.load(trained.model)
    assert clf.score(trained.splits.X_test, trained.splits.y_test) == card["test_score"]
    # and the version remembers it, for `study show` and the dashboard
    assert study.user_attrs[MODEL_ATTR]["test_score"] == card["test_score"]


@pytest.mark.unit
def test_reloaded_model_predicts_exactly_like_the_trained_one(trained: Trained,
                                                               tmp_path: Path) -> None:
    storage = open_storage(trained.url, heartbeat=False)
    result = train_best(storage, trained.spec, output=tmp_path / "again.npz", upload=False)
    loaded = MLPClassifierBN.load(tmp_path / "again.npz")
    X = np.concatenate([trained.splits.X_test, trained.splits.X_val])
    assert np.array_equal(loaded.predict(X), result.model.predict(X))
    assert np.array_equal(loaded.predict_proba(X), result.model.predict_proba(X))
    assert np.array_equal(loaded.extra_["scaler_mean"], trained.splits.scaler.mean_)
    # retraining is deterministic: the same trial gives the same model and score
    assert result.card["test_score"] == trained.card["test_score"]
    assert np.array_equal(loaded.predict_proba(X),
                          MLPClassifierBN.load(trained.model).predict_proba(X))


# --- predict ---------------------------------------------------------------------------------

def write_csv(path: Path, X: np.ndarray, header: list[str] | None = None) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        if header:
            w.writerow(header)
        w.writerows([[repr(float(v)) for v in row] for row in X])
    return path


@pytest.mark.unit
def test_predict_on_the_raw_test_split_reproduces_the_test_score(trained: Trained,
                                                                  tmp_path: Path) -> None:
    X_raw, y = raw_test_split(trained.spec)
    scaled = np.ascontiguousarray(trained.splits.scaler.transform(X_raw), dtype=np.float32)
    assert np.array_equal(scaled, trained.splits.X_test), "these are the test split's rows"
    data = write_csv(tmp_path / "test.csv", X_raw, header=["a", "b", "c", "d"])
    out = tmp_path / "out.csv"
    r = invoke("predict", trained.model, data, "-o", out)
    assert r.exit_code == 0, r.output
    labels = np.array([int(line) for line in out.read_text().splitlines()])
    assert len(labels) == len(y)
    assert float(np.mean(labels == y)) == trained.card["test_score"]
    clf = MLPClassifierBN.load(trained.model)
    assert np.array_equal(labels, clf.predict(trained.splits.X_test)), "bit for bit"


@pytest.mark.integration
def test_predict_without_header_to_stdout_in_a_real_process(trained: Trained,
                                                           tmp_path: Path) -> None:
    X_raw, _ = raw_test_split(trained.spec)
    data = write_csv(tmp_path / "rows.csv", X_raw[:5])
    data.write_text(data.read_text() + "\n\n")  # trailing blank lines are not rows
    r = run_tuner("predict", trained.model, data)
    assert r.returncode == 0, r.stderr
    clf = MLPClassifierBN.load(trained.model)
    assert r.stdout.splitlines() == [str(v) for v in clf.predict(trained.splits.X_test[:5])]


# --- artifacts ---------------------------------------------------------------------------

@pytest.fixture
def dashboard(trained: Trained) -> Iterator[str]:
    """optuna-dashboard's own WSGI app on the study's storage and artifact folder."""
    import optuna_dashboard

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args) -> None:
            pass

    store = FileSystemArtifactStore(trained.folder / "tuner-artifacts")
    app = optuna_dashboard.wsgi(trained.url, artifact_store=store)
    server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def get(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "identity"})
    with urllib.request.urlopen(request, timeout=120) as response:  # a hang guard only
        return response.read()


@pytest.mark.integration
def test_artifacts_are_listed_for_the_best_trial_and_served_by_the_dashboard(
        trained: Trained, dashboard: str) -> None:
    artifact_dir = trained.folder / "tuner-artifacts"
    assert artifact_dir.is_dir(), "default: beside the SQLite file"
    storage = optuna.storages.RDBStorage(trained.url)
    study = optuna.load_study(study_name="tiny", storage=storage)
    best = study.best_trial
    metas = get_all_artifact_meta(best, storage=storage)
    by_name = {m.filename: m for m in metas}
    assert set(by_name) == {"model.npz", "model.json"}
    assert by_name["model.json"].mimetype == "application/json"
    files = {"model.npz": trained.model, "model.json": trained.model.with_suffix(".json")}
    for name, path in files.items():
        served = get(f"{dashboard}/artifacts/{study._study_id}/{best._trial_id}/"
                     f"{by_name[name].artifact_id}")
        assert served == path.read_bytes()
    assert study.user_attrs[MODEL_ATTR]["artifacts"] == {
        name: m.artifact_id for name, m in by_name.items()}
    # the dashboard's study page lists them on the trial
    detail = json.loads(get(f"{dashboard}/api/studies/{study._study_id}"))
    shown = next(t for t in detail["trials"] if t["number"] == best.number)
    assert {a["filename"] for a in shown["artifacts"]} == {"model.npz", "model.json"}


# --- versions, options ----------------------------------------------------------------------

@pytest.mark.unit
def test_version_choice_env_artifacts_and_json(tmp_path: Path, sqlite_url: str) -> None:
    file = write_study(tmp_path, n_trials=3, epochs=5)
    assert invoke("study", "run", file, "--storage", sqlite_url).exit_code == 0
    spec = load_spec(file)
    storage = open_storage(sqlite_url, heartbeat=False)
    v1 = chain(storage, "tiny")[0]
    create_version(storage, spec, study_fingerprints(spec),
                   Decision("retune", v1, "tiny/v2", (("hardware", "aaaa", "bbbb"),)),
                   n_trials=2)

    r = invoke("train", file, "-o", tmp_path / "m.npz", "--storage", sqlite_url)
    assert r.exit_code == 2
    assert one_error_line(r) == (
        f"error: nothing to train yet: run `tuner study run {file}` first (tiny/v2 has no "
        "complete trial; tiny has one: --version v1)")
    assert not (tmp_path / "m.npz").exists()

    shared = tmp_path / "shared-artifacts"
    r = invoke("train", file, "--version", "v1", "-o", tmp_path / "m.npz", "--storage",
               sqlite_url, "--json", env={"TUNER_ARTIFACTS": str(shared)})
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["version"] == "tiny" and out["artifact_dir"] == str(shared.resolve())
    assert sorted(p.name for p in shared.iterdir()) == sorted(out["artifacts"].values())

    r = invoke("train", file, "--version", "v9", "--storage", sqlite_url, "--no-upload")
    assert r.exit_code == 2 and one_error_line(r) == "error: tiny has no version v9; it has v1, v2"

    assert invoke("study", "run", file, "--storage", sqlite_url).exit_code == 0
    r = invoke("train", file, "-o", tmp_path / "m2.npz", "--storage", sqlite_url,
               "--no-upload", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert (out["version"], out["version_number"]) == ("tiny/v2", 2)
    assert out["artifacts"] == {} and out["artifact_dir"] is None
    v2 = optuna.load_study(study_name="tiny/v2", storage=sqlite_url)
    assert out["trial"] == v2.best_trial.number
    assert get_all_artifact_meta(v2.best_trial, storage=storage) == []


@pytest.mark.integration
@pytest.mark.parametrize("server", ["pg_url", "mysql_url"])
def test_artifacts_on_server_databases(tmp_path: Path, server: str,
                                       request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(server)
    file = write_study(tmp_path, n_trials=2)
    assert invoke("study", "run", file, "--storage", url).exit_code == 0
    folder = tmp_path / "artifacts"
    r = invoke("train", file, "-o", tmp_path / "m.npz", "--storage", url, "--artifacts",
               folder, "--json")
    assert r.exit_code == 0, r.output
    ids = json.loads(r.stdout)["artifacts"]
    storage = optuna.storages.RDBStorage(url)
    best = optuna.load_study(study_name="tiny", storage=storage).best_trial
    metas = get_all_artifact_meta(best, storage=storage)
    assert {m.filename: m.artifact_id for m in metas} == ids
    assert set(ids) == {"m.npz", "m.json"}
    assert (folder / ids["m.npz"]).read_bytes() == (tmp_path / "m.npz").read_bytes()
    storage.engine.dispose()


@pytest.mark.unit
def test_help_explains() -> None:
    r = invoke("train", "--help")
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    assert "--best" in text and "the default" in text and "held-out test split" in text
    assert "TUNER_ARTIFACTS" in text and "--version" in text
    r = invoke("predict", "--help")
    text = " ".join(r.output.split())
    assert r.exit_code == 0
    # Both kinds of model, each as it is: a table model's columns by name in any order,
    # blanks imputed as in training, unseen categories warned about; a built-in
    # dataset's numbers in training order.
    assert "by name, in any order" in text and "training median" in text
    assert "never saw" in text and "case, spaces or underscores" in text
    assert "one column per feature in training order" in text and "--proba" in text


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.unit
def test_nothing_to_train(tmp_path: Path, sqlite_url: str) -> None:
    file = write_study(tmp_path, n_trials=2)
    r = invoke("train", file, "--best", "--storage", sqlite_url)
    assert r.exit_code == 2
    assert one_error_line(r).startswith(
        f"error: nothing to train yet: run `tuner study run {file}` first")

    # a version whose trials are all still queued
    from tuner.versions import prepare_version

    spec = load_spec(file)
    prepare_version(open_storage(sqlite_url), spec, study_fingerprints(spec), file=file)
    r = invoke("train", file, "--storage", sqlite_url, "-o", tmp_path / "m.npz")
    assert r.exit_code == 2
    assert one_error_line(r) == (f"error: nothing to train yet: run `tuner study run {file}` "
                                 "first (tiny has no complete trial)")
    assert not list(tmp_path.glob("m.*")) and not (tmp_path / "tuner-artifacts").exists()


@pytest.mark.unit
def test_changed_data_is_refused_and_the_old_model_kept(tmp_path: Path,
                                                       sqlite_url: str) -> None:
    file = write_study(tmp_path, n_trials=2)
    assert invoke("study", "run", file, "--storage", sqlite_url).exit_code == 0
    model = tmp_path / "model.npz"
    assert invoke("train", file, "-o", model, "--storage", sqlite_url).exit_code == 0
    before = model.read_bytes(), model.with_suffix(".json").read_bytes()
    file.write_text(file.read_text().replace("seed = 0\n", "seed = 0\ntest_seed = 5\n", 1))
    r = invoke("train", file, "-o", model, "--storage", sqlite_url)
    assert r.exit_code == 2
    line = one_error_line(r)
    assert "data and definition changed since tiny was tuned" in line
    assert f"run `tuner retune {file}`" in line
    assert (model.read_bytes(), model.with_suffix(".json").read_bytes()) == before


@pytest.mark.unit
def test_output_named_json_is_refused(trained: Trained, tmp_path: Path) -> None:
    r = invoke("train", trained.file, "-o", tmp_path / "model.json", "--storage", trained.url)
    assert r.exit_code == 2 and "must not end in .json" in one_error_line(r)
    r = invoke("train", trained.file, "-o", tmp_path / "nope" / "m.npz", "--storage",
               trained.url)
    assert r.exit_code == 2 and "does not exist" in one_error_line(r)


BAD_CSV = [
    ("5.1,3.5,1.4,0.2\n6.7,3.0,5.2\n",
     "row 2 has 3 columns; the model takes 4 features"),
    ("5.1,3.5,1.4,0.2,9\n", "row 1 has 5 columns; the model takes 4 features"),
    ("5.1,3.5,1.4,0.2\n6.7,3.0,abc,2.3\n", "row 2, column 3: 'abc' is not a number"),
    ("f1,f2,f3,f4\n5.1,3.5,1.4,0.2\n6.7,nan,5.2,2.3\n", "row 3, column 2: NaN"),
    ("5.1,3.5,,0.2\n", "row 1, column 3: empty cell"),
    ("5.1,3.5,1.4,-inf\n", "row 1, column 4: '-inf' is not a finite number"),
    ("f1,f2,f3,f4\n", "no data rows"),
    ("f1,f2,f3\n5.1,3.5,1.4,0.2\n", "row 1 (header) has 3 columns"),
]


@pytest.mark.unit
@pytest.mark.parametrize(("text", "message"), BAD_CSV)
def test_bad_csv_one_line_exit_2_nothing_written(trained: Trained, tmp_path: Path,
                                                 text: str, message: str) -> None:
    data = tmp_path / "data.csv"
    data.write_text(text)
    out = tmp_path / "out.csv"
    out.write_text("earlier labels\n")
    r = invoke("predict", trained.model, data, "-o", out)
    assert r.exit_code == 2
    assert one_error_line(r).startswith(f"error: {data}: {message}")
    assert out.read_text() == "earlier labels\n" and r.stdout == ""
    assert not list(tmp_path.glob(".*.tmp"))


class _Boom:
    """Unpickling this creates a file: proof that a pickle was (or was not) loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def _rewrite(model: Path, target: Path, **changes) -> Path:
    with np.load(model, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    meta = json.loads(str(arrays["__tuner_meta__"][()]))
    meta.update(changes.pop("meta", {}))
    arrays["__tuner_meta__"] = np.array(json.dumps(meta))
    arrays.update(changes)
    with open(target, "wb") as f:
        np.savez(f, **arrays)
    return target


@pytest.mark.unit
def test_bad_model_files_are_refused_and_no_pickle_is_loaded(trained: Trained,
                                                             tmp_path: Path) -> None:
    data = write_csv(tmp_path / "rows.csv", raw_test_split(trained.spec)[0][:3])
    sentinel = tmp_path / "unpickled"
    text = tmp_path / "notes.npz"
    text.write_text("hello\n")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(trained.model.read_bytes()[:1000])
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.ones(3))
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, payload=np.array([_Boom(sentinel)], dtype=object))
    evil = _rewrite(trained.model, tmp_path / "evil.npz",
                    **{"extra/evil": np.array([_Boom(sentinel)], dtype=object)})
    newer = _rewrite(trained.model, tmp_path / "newer.npz", meta={"format_version": 3})
    other = _rewrite(trained.model, tmp_path / "other.npz", meta={"format": "someone.else"})
    bare = tmp_path / "bare.npz"
    MLPClassifierBN.load(trained.model).save(bare)  # no scaler

    cases = {
        text: "not an npz archive",
        truncated: "not an npz archive",
        foreign: "is not a tuner model file",
        pickled: "is not a tuner model file",
        evil: "is not a tuner model file",
        newer: "format_version 3, newer than this tuner reads (2): upgrade tuner",
        other: "is not a tuner.mlp model file",
        bare: "no scaler",
    }
    for model, message in cases.items():
        out = tmp_path / "out.csv"
        r = invoke("predict", model, data, "-o", out)
        assert r.exit_code == 2, (model, r.output)
        line = one_error_line(r)
        assert str(model) in line and message in line, line
        assert not out.exists()
    assert not sentinel.exists(), "a pickle was loaded"
    # the control: the payload does what it says when a pickle *is* loaded
    with np.load(pickled, allow_pickle=True) as npz:
        npz["payload"]
    assert sentinel.exists()

"""tuner from Python: `run_study` (what `tuner study run` does), `train_model` (`tuner
train`) and `load_model` (a model file, ready to predict on a DataFrame or an array).

    import tuner
    tuner.run_study("studies/churn.toml")            # RunResult: version, trials, summary
    tuner.train_model("studies/churn.toml")          # writes model.npz and model.json
    model = tuner.load_model("model.npz")
    model.predict(frame)                             # labels as the data wrote them
    model.predict_proba(frame)                       # a column per model.classes_

`tuner/__init__.py` imports this module on first use of a name, so ``import tuner`` stays
as light as `tuner predict` needs it to be.
"""

from __future__ import annotations

import json
import math
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner import model_file
from tuner.errors import TunerError

if TYPE_CHECKING:
    from tuner.mlp import MLPCore
    from tuner.preprocess import Preprocessing
    from tuner.run import RunResult
    from tuner.train import TrainedModel

__all__ = ["Model", "load_model", "run_study", "to_toml", "train_model"]


# --- running a study ------------------------------------------------------------------------

def run_study(path_or_spec: str | Path | Mapping[str, Any], storage: str | None = None,
              **options: Any) -> RunResult:
    """Create or resume the current version of a study and run its trials.

    ``path_or_spec`` is a study file, or its content as a mapping (the TOML's tables as
    dicts: ``{"study": {...}, "data": {...}, "search": {...}}``); a relative ``[data]
    path`` in a mapping is relative to the current folder. ``storage`` is an Optuna URL
    (None: ``$TUNER_STORAGE``, the file's ``storage``, ``sqlite:///tuner.db``).
    ``options`` are `tuner.run.run_study`'s: ``n_trials``, ``timeout``, ``jobs``,
    ``sampler``, ``seed``, ``emit`` (a callable receiving the lines the CLI prints).

    Returns the `tuner.run.RunResult`: ``version``, ``finished``, ``n_trials``,
    ``summary`` (the best trial, as `tuner study show` prints it), ...
    """
    from tuner.run import run_study as run

    if not isinstance(path_or_spec, Mapping):
        return run(path_or_spec, storage, **options)
    spec = {section: dict(table) if isinstance(table, Mapping) else table
            for section, table in path_or_spec.items()}
    data = spec.get("data")
    if isinstance(data, dict) and isinstance(data.get("path"), str):
        data["path"] = str(Path(data["path"]).resolve())
    name = str(spec.get("study", {}).get("name", "study"))
    # Workers (jobs > 1) read the study file themselves: it exists for the whole run.
    with tempfile.TemporaryDirectory(prefix="tuner-spec-") as folder:
        path = Path(folder) / f"{Path(name).name or 'study'}.toml"
        path.write_text(to_toml(spec), encoding="utf-8")
        return run(path, storage, **options)


def train_model(path: str | Path, storage: str | None = None, *,
                output: str | Path = "model.npz", **options: Any) -> TrainedModel:
    """Retrain the best trial of the study file ``path`` and score it on the test split
    (`tuner train`): writes ``output`` and its card beside it. ``options`` are
    `tuner.train.train_file`'s: ``version``, ``artifact_dir``, ``upload``."""
    from tuner.train import train_file

    return train_file(path, storage, output=output, **options)


def _value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_value(v, f'{where}.{k}')}"
                                for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v, where) for v in value) + "]"
    raise TunerError(f"spec {where}: {type(value).__name__} {value!r} is not a TOML value")


def to_toml(spec: Mapping[str, Any]) -> str:
    """A study file's text from its tables (each a mapping of keys to TOML values)."""
    lines = []
    for section, table in spec.items():
        if not isinstance(table, Mapping):
            raise TunerError(f"spec: [{section}] must be a table (a dict), got "
                             f"{type(table).__name__}")
        lines.append(f"[{section}]")
        lines += [f"{json.dumps(str(k))} = {_value(v, f'[{section}] {k}')}"
                  for k, v in table.items()]
        lines.append("")
    return "\n".join(lines)


# --- using a model --------------------------------------------------------------------------

class Model:
    """A model file written by `tuner train`, ready to predict.

    A model of a file or table takes a pandas DataFrame with the training columns by name
    (any order, extra columns ignored) and applies its saved preprocessing (imputing,
    scaling, one-hot encoding); a model of a built-in dataset takes a 2-D array of raw
    numbers in training order and applies its saved scaler. Labels come back as the
    training data wrote them.

    Attributes:
        classes_: the class labels, in the order of `predict_proba`'s columns.
        feature_names_in_: the columns a table model needs (None for a built-in dataset).
        n_features_in_: how many columns ``X`` has (a table model: how many it needs).
        network: the `tuner.mlp.MLPCore` behind it, taking the preprocessed inputs.
        preprocessing: the `tuner.preprocess.Preprocessing` (None for a built-in dataset).
    """

    def __init__(self, network: MLPCore, preprocessing: Preprocessing | None,
                 path: str | Path) -> None:
        self.network = network
        self.preprocessing = preprocessing
        self.path = Path(path)
        pre = preprocessing
        # A model that predicts numbers has no classes (None).
        self.classes_: np.ndarray | None = getattr(network, "classes_", None)
        if pre is not None:
            self.feature_names_in_: np.ndarray | None = np.array(pre.columns, dtype=object)
            self.n_features_in_ = len(pre.columns)
            if self.classes_ is not None:
                self.classes_ = np.array(list(pre.classes), dtype=object)
        else:
            self.feature_names_in_ = None
            self.n_features_in_ = network.n_features_in_

    def __repr__(self) -> str:
        kind = "table" if self.preprocessing is not None else "built-in dataset"
        classes = None if self.classes_ is None else self.classes_.tolist()
        return f"Model({str(self.path)!r}, {kind}, classes={classes!r})"

    def _inputs(self, X: Any) -> np.ndarray:
        pre = self.preprocessing
        if pre is None:
            X = np.asarray(X, dtype=np.float64)
            if X.ndim != 2 or X.shape[1] != self.n_features_in_:
                raise ValueError(f"{self.path}: X must be 2-D with {self.n_features_in_} "
                                 f"columns (raw values in training order), got shape "
                                 f"{X.shape}")
            return model_file.scaled(self.network, X)
        if not hasattr(X, "columns"):
            raise TypeError(f"{self.path} was trained on a table: pass a pandas DataFrame "
                            f"with the columns {', '.join(pre.columns)}")
        unseen: dict[str, int] = {}
        inputs = pre.transform(X, dtype="float64", where="X", unseen=unseen)
        if unseen:
            from tuner.predict import Predicted

            warnings.warn(Predicted(np.zeros(0), unseen=unseen).warning("X"), UserWarning,
                          stacklevel=3)
        return inputs

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row, as the training data wrote it."""
        predicted = self.network.predict(self._inputs(X))
        if self.preprocessing is not None and self.classes_ is not None:
            predicted = self.preprocessing.decode(predicted)  # class k -> its label
        return predicted

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (rows, classes), columns in the order of
        ``classes_``; each row sums to 1."""
        if not hasattr(self.network, "predict_proba"):
            raise AttributeError(f"{self.path} predicts numbers: it has no probabilities")
        return self.network.predict_proba(self._inputs(X))


def load_model(path: str | Path) -> Model:
    """The model file at ``path`` (written by `tuner train`), checked as `tuner predict`
    checks it (`tuner.model_file.load`)."""
    network = model_file.load(path, estimator=False)
    return Model(network, model_file.preprocessing(network, path), path)

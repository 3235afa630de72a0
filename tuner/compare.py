"""Scoring models on the same rows, and comparing two of them with a paired uncertainty.

`outputs` runs a model file on raw rows (a split's rows as read, `tuner.split_files`)
through the model's own preprocessing, so a champion trained months ago and a challenger
trained today are scored on exactly the same rows, each as it was trained to read them.
Class probabilities are laid out over one list of classes (today's), so a class one model
never saw scores as probability 0.

`paired` compares the two on those rows: the difference of the metric (challenger minus
champion, as a gain: positive is better whatever the metric's direction) with a paired
bootstrap interval (the rows resampled together, so what both models get right or wrong
alike cancels out), and for accuracy McNemar's exact test on the rows where exactly one of
them is right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner import model_file
from tuner.cells import numeric_values, plain_label
from tuner.drift import profile
from tuner.metrics import CLASSIFICATION, DIRECTIONS, REGRESSION, classification_scores
from tuner.metrics import regression_scores as _regression_scores

if TYPE_CHECKING:
    import pandas as pd

    from tuner.spec import StudySpec
    from tuner.splits import Splits

__all__ = ["Comparison", "Rows", "current_rows", "labels", "outputs", "paired", "profile_of",
           "scores"]

BOOTSTRAP = 1000    # resamples of the paired interval
CONFIDENCE = 0.95


def labels(frame: pd.DataFrame, target: str, task: str, classes: Sequence[Any]) -> np.ndarray:
    """The true values of ``frame``'s rows: class indices into ``classes`` (-1 for a label
    outside them), or the numbers of a regression target."""
    values = frame[target]
    if task == "regression":
        return numeric_values(values, where=f"column {target!r}")
    index = {plain_label(c): i for i, c in enumerate(classes)}
    return np.array([index.get(plain_label(v), -1) for v in values.tolist()], dtype=np.int64)


def outputs(model: str | Path, frame: pd.DataFrame, target: str,
            classes: Sequence[Any] | None) -> np.ndarray:
    """What the model file ``model`` makes of ``frame``'s rows: probabilities (n, len
    ``classes``) laid out over ``classes``, or predictions (n,) of a regressor
    (``classes`` None)."""
    clf = model_file.load(model, estimator=False)
    pre = model_file.preprocessing(clf, model)
    if pre is not None:
        X = pre.transform(frame, dtype="float64", where=str(model))
        own = list(pre.classes)
    else:  # a built-in dataset: its feature columns in order, the target last
        X = model_file.scaled(clf, frame.drop(columns=[target]).to_numpy(np.float64))
        own = [plain_label(c) for c in getattr(clf, "classes_", [])]
    if classes is None:
        return np.asarray(clf.predict(X), dtype=np.float64).reshape(-1)
    proba = clf.predict_proba(X)
    at = {plain_label(c): i for i, c in enumerate(classes)}
    out = np.zeros((len(frame), len(classes)), dtype=np.float64)
    for j, c in enumerate(own):
        if plain_label(c) in at:
            out[:, at[plain_label(c)]] = proba[:, j]
    return out


def scores(y: np.ndarray, out: np.ndarray, names: Sequence[str] | None = None
           ) -> dict[str, float]:
    """The metrics ``names`` (default: every metric of the task) of ``out`` against
    ``y``; a classification is told by ``out`` being 2-D."""
    if out.ndim == 2:
        return classification_scores(y, out, names or CLASSIFICATION)
    return _regression_scores(y, out, names or REGRESSION)


@dataclass(frozen=True)
class Comparison:
    """Challenger against champion on the same rows."""

    metric: str
    rows: int
    champion: float
    challenger: float
    gain: float              # challenger - champion, signed so that positive is better
    low: float               # the paired bootstrap interval of ``gain``
    high: float
    confidence: float
    mcnemar_p: float | None  # accuracy only: McNemar's exact test, two-sided
    only_champion_right: int | None = None
    only_challenger_right: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        what = self.metric.removeprefix("val_")
        line = (f"challenger {what} {self.challenger:.4f} vs champion {self.champion:.4f} "
                f"on the same {self.rows} held-out rows: {self.gain:+.4f} "
                f"({self.confidence:.0%} paired bootstrap interval [{self.low:+.4f}, "
                f"{self.high:+.4f}]")
        if self.mcnemar_p is not None:
            line += (f"; McNemar p={self.mcnemar_p:.3g}, {self.only_challenger_right} rows "
                     f"only the challenger gets right, {self.only_champion_right} only the "
                     "champion")
        return line + ")"


def _mcnemar(y: np.ndarray, champion: np.ndarray, challenger: np.ndarray
             ) -> tuple[float, int, int]:
    from scipy.stats import binomtest

    right_a = champion.argmax(axis=1) == y
    right_b = challenger.argmax(axis=1) == y
    only_a, only_b = int((right_a & ~right_b).sum()), int((right_b & ~right_a).sum())
    p = 1.0 if only_a + only_b == 0 else float(binomtest(only_b, only_a + only_b, 0.5).pvalue)
    return p, only_a, only_b


def paired(y: np.ndarray, champion: np.ndarray, challenger: np.ndarray, metric: str, *,
           n_boot: int = BOOTSTRAP, confidence: float = CONFIDENCE, seed: int = 0
           ) -> Comparison:
    """Compare the outputs of two models on the same rows (`outputs`) by ``metric``."""
    sign = 1.0 if DIRECTIONS[metric] == "maximize" else -1.0
    a = scores(y, champion, [metric])[metric]
    b = scores(y, challenger, [metric])[metric]
    rng = np.random.default_rng(seed)
    n = len(y)
    gains = np.empty(n_boot)
    for i in range(n_boot):
        at = rng.integers(0, n, n)
        gains[i] = sign * (scores(y[at], challenger[at], [metric])[metric]
                           - scores(y[at], champion[at], [metric])[metric])
    tail = (1 - confidence) / 2
    low, high = np.quantile(gains, [tail, 1 - tail])
    p = only_a = only_b = None
    if metric == "val_accuracy":
        p, only_a, only_b = _mcnemar(y, champion, challenger)
    return Comparison(metric=metric, rows=n, champion=a, challenger=b, gain=sign * (b - a),
                      low=float(low), high=float(high), confidence=confidence, mcnemar_p=p,
                      only_champion_right=only_a, only_challenger_right=only_b)


# --- the rows of today ---------------------------------------------------------------------

@dataclass(frozen=True)
class Rows:
    """Today's rows as read, split as the trials split them, with what scoring needs."""

    frames: dict[str, pd.DataFrame]      # "train", "validation", "test"
    target: str
    task: str
    classes: list[Any] | None           # the labels over all rows; None for regression

    @property
    def count(self) -> int:
        return sum(len(f) for f in self.frames.values())

    @property
    def training(self) -> pd.DataFrame:
        import pandas as pd

        return pd.concat([self.frames["train"], self.frames["validation"]])

    def truth(self) -> np.ndarray:
        return labels(self.frames["test"], self.target, self.task, self.classes or [])

    def outputs(self, model: Path) -> np.ndarray:
        return outputs(model, self.frames["test"], self.target, self.classes)


def current_rows(spec: StudySpec) -> Rows:
    """Read the study's rows once, split by the same rule as its trials."""
    from tuner.split_files import split_frames

    frames, _, _, _ = split_frames(spec)
    target = spec.data.target if spec.data.is_table else "target"
    classes = None
    if spec.task == "classification":
        seen = {plain_label(v) for f in frames.values() for v in f[target].dropna().tolist()}
        classes = sorted(seen, key=lambda c: (str(type(c)), c))
    return Rows(frames, target, spec.task, classes)


def profile_of(frame: pd.DataFrame, splits: Splits, task: str, target: str) -> dict[str, Any]:
    """The drift profile of a model's training rows (`tuner.drift.profile`), for its card."""
    pre = splits.preprocessing
    if pre is not None:
        numeric, categorical = list(pre.numeric), list(pre.categorical)
    else:
        numeric, categorical = [c for c in frame.columns if c != target], []
    return profile(frame, numeric=numeric, categorical=categorical, target=target,
                         target_numeric=task == "regression")

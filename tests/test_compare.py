"""Comparing two models on the same rows (`tuner.compare`): the paired bootstrap interval,
McNemar's counts against hand-counted rows, the direction of a metric, and probabilities
laid out over today's classes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from tuner.compare import paired, scores

pytestmark = pytest.mark.unit


def one_hot(pred: list[int], k: int = 2) -> np.ndarray:
    out = np.full((len(pred), k), 0.1)
    out[np.arange(len(pred)), pred] = 0.9
    return out


def test_the_same_outputs_gain_nothing() -> None:
    y = np.array([0, 1, 1, 0, 1])
    out = one_hot([0, 1, 0, 0, 1])
    result = paired(y, out, out, "val_accuracy", n_boot=200)
    assert result.gain == 0 and result.low == 0 and result.high == 0
    assert result.mcnemar_p == 1.0 and result.only_champion_right == 0


def test_mcnemar_counts_the_rows_only_one_model_gets_right() -> None:
    y = np.array([0, 1, 1, 0, 1, 0, 1, 1, 0, 0])
    champion = one_hot([0, 0, 0, 1, 1, 0, 0, 1, 0, 1])   # right on rows 0,4,5,7,8
    challenger = one_hot([0, 1, 1, 0, 1, 0, 1, 0, 0, 0])  # wrong on row 7 only
    result = paired(y, champion, challenger, "val_accuracy", n_boot=500)
    # only the challenger right: rows 1,2,3,6,9; only the champion: row 7
    assert (result.only_challenger_right, result.only_champion_right) == (5, 1)
    assert result.mcnemar_p == pytest.approx(binomtest(5, 6, 0.5).pvalue)
    assert result.champion == 0.5 and result.challenger == 0.9
    assert result.gain == pytest.approx(0.4)
    assert result.low <= result.gain <= result.high
    assert "McNemar" in result.text()


def test_a_lower_is_better_metric_gains_when_it_drops() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=400)
    far = y + rng.normal(scale=1.0, size=400)
    near = y + rng.normal(scale=0.3, size=400)
    result = paired(y, far, near, "val_rmse", n_boot=300)
    assert result.challenger < result.champion
    assert result.gain == pytest.approx(result.champion - result.challenger)
    assert 0 < result.low < result.gain < result.high
    assert result.mcnemar_p is None
    # And the other way round: a worse challenger has a negative gain.
    assert paired(y, near, far, "val_rmse", n_boot=100).gain < 0


def test_the_interval_covers_noise_and_excludes_a_real_gain() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 2000)
    a = one_hot(np.where(rng.random(2000) < 0.8, y, 1 - y).tolist())
    b = one_hot(np.where(rng.random(2000) < 0.8, y, 1 - y).tolist())
    noise = paired(y, a, b, "val_accuracy", n_boot=400)
    assert noise.low < 0 < noise.high
    better = one_hot(np.where(rng.random(2000) < 0.9, y, 1 - y).tolist())
    real = paired(y, a, better, "val_accuracy", n_boot=400)
    assert real.low > 0


def test_scores_tell_the_task_by_the_outputs_shape() -> None:
    y = np.array([0, 1, 1])
    assert scores(y, one_hot([0, 1, 0]), ["val_accuracy"]) == {"val_accuracy": 2 / 3}
    assert scores(np.array([1.0, 2.0]), np.array([1.0, 4.0]), ["val_mae"]) == {"val_mae": 1.0}

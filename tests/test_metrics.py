"""tuner/metrics.py against scikit-learn's own functions, on random and edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from tuner import metrics

pytestmark = pytest.mark.unit


def random_case(seed: int, n: int, k: int, ties: bool = False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    y[:k] = np.arange(k)  # every class present
    logits = rng.standard_normal((n, k)) + 1.5 * np.eye(k)[y]
    if ties:  # rounded probabilities: many equal scores, as a confident model gives
        logits = np.round(logits)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba


@pytest.mark.parametrize("k", [2, 3, 7])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_classification_metrics_are_scikit_learns(k, ties, seed):
    y, proba = random_case(seed, 300, k, ties)
    pred = proba.argmax(axis=1)
    got = metrics.classification_scores(y, proba)
    assert got["val_accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    assert got["val_balanced_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(y, pred), abs=1e-12)
    assert got["val_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"), abs=1e-12)
    expected_auc = (skm.roc_auc_score(y, proba[:, 1]) if k == 2 else
                    skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"))
    assert got["val_roc_auc"] == pytest.approx(expected_auc, abs=1e-12)
    assert got["val_loss"] == pytest.approx(skm.log_loss(y, proba), rel=1e-9)


def test_f1_counts_a_class_never_predicted_as_zero_and_balanced_accuracy_only_true_classes():
    y = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 0, 0, 1, 1, 1])  # class 2 never predicted
    proba = np.eye(3)[pred]
    got = metrics.classification_scores(y, proba, ("val_f1", "val_balanced_accuracy"))
    assert got["val_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert got["val_balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    # A predicted class absent from y counts in F1 (scikit-learn's labels: y or pred)...
    y2, pred2 = np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1])
    got2 = metrics.classification_scores(y2, np.eye(3)[pred2], ("val_f1",))
    assert got2["val_f1"] == pytest.approx(skm.f1_score(y2, pred2, average="macro"))


def test_roc_auc_skips_a_class_without_rows_and_is_chance_when_nothing_can_be_ranked():
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])
    expected = np.mean([skm.roc_auc_score(y == c, proba[:, c]) for c in (0, 1)])
    assert metrics.roc_auc(y, proba) == pytest.approx(expected)
    assert metrics.roc_auc(np.zeros(3, int), np.full((3, 2), 0.5)) == 0.5


def test_log_loss_clips_a_zero_probability_as_scikit_learn_does():
    y = np.array([0, 1])
    proba = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert metrics.log_loss(y, proba) == pytest.approx(skm.log_loss(y, proba), rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_regression_metrics_are_scikit_learns(seed):
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(200) * 50 + 150
    pred = y + rng.standard_normal(200) * 30
    got = metrics.regression_scores(y, pred)
    assert got["val_rmse"] == pytest.approx(skm.root_mean_squared_error(y, pred), rel=1e-12)
    assert got["val_mae"] == pytest.approx(skm.mean_absolute_error(y, pred), rel=1e-12)
    assert got["val_r2"] == pytest.approx(skm.r2_score(y, pred), rel=1e-12)
    assert got["val_loss"] == pytest.approx(skm.mean_squared_error(y, pred), rel=1e-12)


def test_r2_of_a_constant_target_is_scikit_learns():
    y = np.full(5, 2.0)
    assert metrics.r2(y, y) == skm.r2_score(y, y) == 1.0
    assert metrics.r2(y, y + 1) == skm.r2_score(y, y + 1) == 0.0


def test_every_metric_has_a_direction_and_a_task_and_wrong_ones_name_the_valid():
    assert set(metrics.DIRECTIONS) == set(metrics.CLASSIFICATION) | set(metrics.REGRESSION)
    assert metrics.DIRECTIONS["val_rmse"] == "minimize"
    assert metrics.DIRECTIONS["val_roc_auc"] == "maximize"
    assert metrics.metric_problem("val_r2", "regression") is None
    assert metrics.metric_problem("val_r2", "classification") == (
        "'val_r2' is a metric of the other task; a classification study takes one of "
        "val_accuracy, val_balanced_accuracy, val_f1, val_roc_auc, val_loss")
    assert metrics.metric_problem("val_auc", "regression") == (
        "unknown metric 'val_auc'; a regression study takes one of val_rmse, val_mae, "
        "val_r2, val_loss")

"""What the classifier and the regressor share (tuner/mlp/base.py): not-fitted errors,
the record of the epochs, a refit from scratch, stopping early, the feature count."""

from __future__ import annotations

import numpy as np
import pytest

from tuner.mlp import MLPCore, MLPRegressorCore, NotFittedError

pytestmark = pytest.mark.unit


def problem(cls):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = X[:, 0] + 0.5 * X[:, 1]
    return X, (y > 0).astype(int) if cls is MLPCore else y


@pytest.mark.parametrize("cls", [MLPCore, MLPRegressorCore])
def test_both_tasks_share_the_fitted_state_and_its_checks(cls):
    X, y = problem(cls)
    model = cls(hidden=(5,), epochs=4, batch_size=16)
    with pytest.raises(NotFittedError, match=f"this {cls.__name__} is not fitted yet"):
        model.predict(X)
    seen = []
    model.fit(X, y, X, y, on_epoch=lambda epoch, m: seen.append(epoch) or epoch == 3)
    assert seen == [1, 2, 3] and model.n_epochs_ == 3  # True from on_epoch stops
    assert [h["epoch"] for h in model.history_] == [1, 2, 3]
    assert model.loss_curve_ == [h["train_loss"] for h in model.history_]
    assert model.n_features_in_ == 4 and len(model.coefs_) == 2
    # the fitted attributes are views of the network: they are the weights predict uses
    assert np.shares_memory(model.coefs_[0], model._network.theta)
    with pytest.raises(ValueError, match="X has 3 features, but the model was fitted with 4"):
        model.predict(X[:, :3])
    first = model.predict(X)
    model.fit(X, y)  # from scratch: the same seed gives the same model after 4 epochs
    again = cls(hidden=(5,), epochs=4, batch_size=16).fit(X, y)
    np.testing.assert_array_equal(model.predict(X), again.predict(X))
    assert model.n_epochs_ == 4 and first.shape == (60,)


@pytest.mark.parametrize("cls", [MLPCore, MLPRegressorCore])
def test_fit_epochs_steps_one_epoch_at_a_time(cls):
    X, y = problem(cls)
    model = cls(hidden=(5,), epochs=3)
    run = model.fit_epochs(X, y, X, y)
    epoch, metrics = next(run)
    assert epoch == 1 and model.n_epochs_ == 1 and "val_loss" in metrics
    assert [e for e, _ in run] == [2, 3]

"""The numpy multi-layer perceptron with batch normalization that tuner trains.

- `layers`: forward/backward pairs (affine, ReLU, batch norm, softmax cross-entropy,
  squared error),
  each usable and gradient-checked on its own, each returning true gradients;
- `network`: `Network`, the layers composed: parameter layout, forward/backward, logits;
- `optimizer`: `SGDMomentum`, the course's gradient descent with momentum;
- `kernels`: the training step's batch norm + ReLU and momentum update as compiled loops
  (numba), tested against `layers`; `precompile` compiles them ahead of time;
- `fitting`: `train`, the epochs: shuffling, steps, divergence, `on_epoch`;
- `base`: `MLPBase`, what both tasks share (hyperparameters, network, record, files);
- `model`: `MLPCore`, the classifier (checks, network, fitting, prediction), fast,
  without scikit-learn; `regression`: `MLPRegressorCore`, the regressor, likewise;
- `estimator`: `MLPClassifierBN` and `MLPRegressorBN`, the two as scikit-learn
  estimators (imported on first use, since scikit-learn's import costs ~0.5-2 s a
  command need not pay);
- `checks`: what the estimator refuses (hyperparameters, data) and its errors;
- `io`: the network's file (npz, no pickle), saved and read without trusting it.
"""

from __future__ import annotations

from typing import Any

from tuner.mlp.io import FORMAT_NAME, FORMAT_VERSION, ModelFormatError
from tuner.mlp.layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward,
    batchnorm_forward,
    batchnorm_inference,
    linear_backward,
    linear_forward,
    relu_backward,
    relu_forward,
    softmax,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
    squared_error_backward,
    squared_error_forward,
)
from tuner.mlp.model import DivergedError, MLPCore, NotFittedError
from tuner.mlp.regression import MLPRegressorCore

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "DivergedError",
    "MLPClassifierBN",
    "MLPCore",
    "MLPRegressorBN",
    "MLPRegressorCore",
    "ModelFormatError",
    "NotFittedError",
    "affine_backward",
    "affine_forward",
    "batchnorm_backward",
    "batchnorm_forward",
    "batchnorm_inference",
    "linear_backward",
    "linear_forward",
    "relu_backward",
    "relu_forward",
    "softmax",
    "softmax_cross_entropy_backward",
    "softmax_cross_entropy_forward",
    "squared_error_backward",
    "squared_error_forward",
]


def __getattr__(name: str) -> Any:
    if name in ("MLPClassifierBN", "MLPRegressorBN"):  # these import scikit-learn
        from tuner.mlp import estimator

        return getattr(estimator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

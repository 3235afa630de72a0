"""The numpy multi-layer perceptron with batch normalization that tuner trains.

- `layers`: forward/backward pairs (affine, ReLU, batch norm, softmax cross-entropy),
  each usable and gradient-checked on its own;
- `model`: `MLPCore`, the classifier composing them, fast, without scikit-learn;
- `estimator`: `MLPClassifierBN`, `MLPCore` as a scikit-learn estimator (imported on
  first use, since scikit-learn's import costs ~0.5-2 s a command need not pay);
- `checks`: what the estimator refuses (hyperparameters, data) and its errors;
- `io`: the model file (npz, no pickle), read without trusting it.
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
)
from tuner.mlp.model import DivergedError, MLPCore, NotFittedError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "DivergedError",
    "MLPClassifierBN",
    "MLPCore",
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
]


def __getattr__(name: str) -> Any:
    if name == "MLPClassifierBN":  # `from tuner.mlp import MLPClassifierBN` imports sklearn
        from tuner.mlp.estimator import MLPClassifierBN

        return MLPClassifierBN
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

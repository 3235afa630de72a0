"""The numpy multi-layer perceptron with batch normalization that tuner trains.

- `layers`: forward/backward pairs (affine, ReLU, batch norm, softmax cross-entropy),
  each usable and gradient-checked on its own;
- `model`: `MLPClassifierBN`, a scikit-learn estimator composing them, fast;
- `checks`: what the estimator refuses (hyperparameters, data) and its errors;
- `io`: the model file (npz, no pickle), read without trusting it.
"""

from __future__ import annotations

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
from tuner.mlp.model import DivergedError, MLPClassifierBN, NotFittedError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "DivergedError",
    "MLPClassifierBN",
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

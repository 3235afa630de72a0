"""Mini-batch gradient descent with momentum, in the course's form.

    v = momentum * v + (1 - momentum) * grad
    p = p - learning_rate * v

for every trainable array at once: the network keeps its parameters (hidden W, gamma,
beta; output W and b; hidden b without batch norm) in one flat vector and their
gradient in another, so a step is one compiled pass over the two
(`tuner.mlp.kernels.momentum_step`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["SGDMomentum"]


class SGDMomentum:
    """SGD with momentum on one flat parameter vector, updated in place.

    It keeps `learning_rate * v` rather than `v` (the same steps, a multiplication
    fewer per parameter), so `velocity` reads `learning_rate * v`.

    Args:
        params: the parameters, a flat float vector; `step` moves it in place.
        learning_rate: the step size, > 0.
        momentum: in [0, 1); 0 is plain gradient descent.
    """

    def __init__(self, params: np.ndarray, learning_rate: float, momentum: float) -> None:
        from tuner.mlp.kernels import momentum_step  # numba's import: training only

        self.params = params
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.velocity = np.zeros_like(params)  # learning_rate * v
        self._momentum_step = momentum_step
        # in the vectors' dtype: a float32 step computes in float32
        self._scalars = (params.dtype.type(learning_rate * (1.0 - momentum)),
                         params.dtype.type(momentum))

    def step(self, grad: np.ndarray) -> None:
        """One update with `grad`, the loss's gradient laid out like `params`:
        lr v = momentum * (lr v) + lr (1 - momentum) grad; p -= lr v."""
        self._momentum_step(self.params, self.velocity, grad, *self._scalars)

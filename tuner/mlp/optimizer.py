"""Mini-batch gradient descent with momentum, in the course's form.

    v = momentum * v + (1 - momentum) * grad
    p = p - learning_rate * v

for every trainable array at once: the network keeps its parameters (hidden W, gamma,
beta; output W and b; hidden b without batch norm) in one flat vector and their
gradient in another, so a step is four in-place operations on two vectors.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SGDMomentum"]


class SGDMomentum:
    """SGD with momentum on one flat parameter vector, updated in place.

    It keeps `learning_rate * v` rather than `v` (the same steps, a pass fewer: numpy
    has no fused `p -= a * v`), so `velocity` reads `learning_rate * v`.

    Args:
        params: the parameters, a flat float vector; `step` moves it in place.
        learning_rate: the step size, > 0.
        momentum: in [0, 1); 0 is plain gradient descent.
    """

    def __init__(self, params: np.ndarray, learning_rate: float, momentum: float) -> None:
        self.params = params
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.velocity = np.zeros_like(params)  # learning_rate * v

    def step(self, grad: np.ndarray) -> None:
        """One update with `grad`, the loss's gradient laid out like `params`.

        `grad` is scaled in place (the caller writes a fresh gradient before each step).
        """
        # lr v = momentum * (lr v) + lr (1 - momentum) grad; p -= lr v.
        # Python floats: a float32 vector stays float32.
        grad *= self.learning_rate * (1.0 - self.momentum)
        self.velocity *= self.momentum
        self.velocity += grad
        self.params -= self.velocity

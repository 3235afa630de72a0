"""`Network`: the layers of `tuner.mlp.layers` composed into one classifier network.

A hidden layer is

    z = a_prev @ W            (no bias: BN's learned shift `beta` replaces it)
    a = relu(gamma * (z - mean) / sqrt(var + eps) + beta)

and the output layer is an affine map with bias, then a softmax and the cross-entropy
(a classifier, ``loss="cross_entropy"``: one output per class) or nothing and the
squared error (a regressor, ``loss="squared_error"``: one linear output).
In training, `mean` and `var` are the mini-batch's; at prediction they are
exponentially weighted averages of the mini-batch statistics seen in training
(DESIGN idea 5), so a row's prediction never depends on the rest of its batch.
Without batch norm a hidden layer is `relu(a_prev @ W + b)`.

`forward_backward` writes the true gradient of the mean loss; what a step
does with it is `tuner.mlp.optimizer`'s business, and the epochs are
`tuner.mlp.fitting`'s.

Speed (DESIGN idea 6). At the sizes we tune, numpy's per-call overhead and its
passes over memory cost as much as the matmuls, so a mini-batch step makes as few
calls and passes as it can (benchmarks/mlp_speed.py measures it):

- with batch norm, a hidden layer's BN and ReLU run as one compiled loop nest each way
  (`tuner.mlp.kernels`: three passes forward, two backward, where the numpy layers of
  `tuner.mlp.layers`, the reference they are tested against, take about sixteen);
- every trainable array is a view into one flat vector `theta`, and every gradient
  a view into one flat vector `grad` the layers write in place (`out=`), so the
  optimizer updates the whole network in a few operations on two vectors;
- every array a step writes is allocated once per fit (`workspace`);
- the logits are kept transposed (k, m), so the softmax reduces over contiguous rows;
- the running statistics of all layers live in one flat vector, updated in three
  operations per step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from tuner.mlp.layers import (
    affine_backward,
    affine_forward,
    batchnorm_inference,
    linear_backward,
    linear_forward,
    relu_backward,
    relu_forward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
    squared_error_backward,
    squared_error_forward,
)

__all__ = ["LOSSES", "Network", "Workspace", "parameter_shapes"]

# The output layer's loss: a classifier's (softmax) or a regressor's (linear output).
LOSSES = ("cross_entropy", "squared_error")


def parameter_shapes(
    n_features: int, hidden: Sequence[int], n_classes: int, batchnorm: bool
) -> list[tuple[str, tuple[int, ...]]]:
    """Names and shapes of the parameters, in their order in `theta` (memory and file).

    W0, gamma0, beta0 (or b0 without batch norm), W1, ..., then W_out and b_out.
    """
    sizes = (n_features, *hidden)
    shapes: list[tuple[str, tuple[int, ...]]] = []
    for i, (fan_in, units) in enumerate(pairwise(sizes)):
        shapes.append((f"W{i}", (fan_in, units)))
        shapes += [(f"gamma{i}", (units,)), (f"beta{i}", (units,))] if batchnorm else [
            (f"b{i}", (units,))
        ]
    return shapes + [("W_out", (sizes[-1], n_classes)), ("b_out", (n_classes,))]


@dataclass(slots=True)
class _Hidden:
    """A hidden layer's parameters and gradients: views into `theta` and `grad`."""

    W: np.ndarray
    dW: np.ndarray
    gamma: np.ndarray | None  # with batch norm
    dgamma: np.ndarray | None
    beta: np.ndarray | None
    dbeta: np.ndarray | None
    b: np.ndarray | None  # without batch norm
    db: np.ndarray | None
    running: np.ndarray | None  # (2, n): running mean and variance, a view of `running`
    stats: tuple[np.ndarray, np.ndarray] | None  # this batch's (mean, var), in `batch_stats`


@dataclass(slots=True)
class _Buffers:
    """The arrays a training step writes for one hidden layer: (m, n) ones per row, then
    (n,) ones per unit, which the short last batch of an epoch shares with a full one."""

    a: np.ndarray  # the activation
    da: np.ndarray  # d loss / d a, then dz in place
    z: np.ndarray | None  # with batch norm: a_prev @ W, then z - mean
    zeros: np.ndarray | None  # without batch norm: for ReLU
    mask: np.ndarray | None  # without batch norm: ReLU's cache
    inv_std: np.ndarray | None  # with batch norm: 1 / sqrt(var + eps), (n,)
    coef: np.ndarray | None  # with batch norm: the backward kernel's scratch, (2, n)


_PER_ROW = ("a", "da", "z", "zeros", "mask")


def _new_buffers(m: int, n: int, dtype: np.dtype, batchnorm: bool) -> _Buffers:
    def rows(kind: type | np.dtype = dtype) -> np.ndarray:
        return np.zeros((m, n), kind)

    if batchnorm:
        return _Buffers(a=rows(), da=rows(), z=rows(), zeros=None, mask=None,
                        inv_std=np.zeros(n, dtype), coef=np.zeros((2, n), dtype))
    return _Buffers(a=rows(), da=rows(), z=None, zeros=rows(), mask=rows(bool),
                    inv_std=None, coef=None)


@dataclass(slots=True)
class Workspace:
    """Every array a training step on m rows writes (`Network.workspace`)."""

    hidden: list[_Buffers]
    logits: np.ndarray  # (m, k), the view of a (k, m) array


class Network:
    """The parameters of an MLP laid out in flat vectors, and its passes.

    Attributes:
        dtype, eps, loss: as given.
        n_classes: the number of outputs (1 for a regressor).
        theta: every parameter, one flat vector (`parameter_shapes` gives the order).
        grad: the gradient of the last `forward_backward`, laid out like `theta`.
        running: BN running statistics, [mean0, var0, mean1, var1, ...] (empty
            without batch norm).
        batch_stats: the last training batch's statistics, laid out like `running`.
        coefs, intercepts, gammas, betas, running_mean, running_var: the named views
            into them, as the estimator publishes them (lists, first hidden layer first).
    """

    def __init__(
        self,
        n_features: int,
        hidden: Sequence[int],
        n_classes: int,
        *,
        batchnorm: bool,
        dtype: np.dtype,
        eps: float,
        loss: str = "cross_entropy",
    ) -> None:
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        self.dtype, self.eps, self.n_classes = np.dtype(dtype), eps, n_classes
        self._eps = self.dtype.type(eps)  # a Python float would make a float32 kernel float64
        self.loss = loss
        shapes = parameter_shapes(n_features, hidden, n_classes, batchnorm)
        total = sum(math.prod(shape) for _, shape in shapes)
        self.theta = np.zeros(total, dtype=dtype)
        self.grad = np.zeros(total, dtype=dtype)
        self._slices: dict[str, tuple[slice, tuple[int, ...]]] = {}
        start = 0
        for name, shape in shapes:
            size = math.prod(shape)
            self._slices[name] = (slice(start, start + size), shape)
            start += size

        units_total = sum(hidden) if batchnorm else 0
        self.running = np.zeros(2 * units_total, dtype=dtype)  # [mean_0, var_0, mean_1, ...]
        self.batch_stats = np.zeros(2 * units_total, dtype=dtype)
        self._scaled_stats = np.empty_like(self.batch_stats)
        self._hidden: list[_Hidden] = []
        offset = 0
        for i, units in enumerate(hidden):
            param = {k: self.view(self.theta, f"{k}{i}") for k in ("W", "gamma", "beta", "b")}
            grad = {k: self.view(self.grad, f"{k}{i}") for k in param}
            running = stats = None
            if batchnorm:
                running = self.running[offset : offset + 2 * units].reshape(2, units)
                stats = tuple(self.batch_stats[offset : offset + 2 * units].reshape(2, units))
                running[1] = 1.0  # running variance starts at 1, the mean at 0
                offset += 2 * units
            self._hidden.append(_Hidden(
                param["W"], grad["W"], param["gamma"], grad["gamma"], param["beta"],
                grad["beta"], param["b"], grad["b"], running, stats,
            ))  # fmt: skip
        theta, grad = self.theta, self.grad
        self._W_out, self._dW_out = self.view(theta, "W_out"), self.view(grad, "W_out")
        self._b_out, self._db_out = self.view(theta, "b_out"), self.view(grad, "b_out")

        layers = self._hidden
        self.coefs = [layer.W for layer in layers] + [self._W_out]
        self.intercepts = ([] if batchnorm else [layer.b for layer in layers]) + [self._b_out]
        self.gammas = [layer.gamma for layer in layers] if batchnorm else []
        self.betas = [layer.beta for layer in layers] if batchnorm else []
        self.running_mean = [layer.running[0] for layer in layers] if batchnorm else []
        self.running_var = [layer.running[1] for layer in layers] if batchnorm else []

    @property
    def names(self) -> list[str]:
        """The parameters' names, in their order in `theta`."""
        return list(self._slices)

    def view(self, flat: np.ndarray, name: str) -> np.ndarray | None:
        """The named parameter (or gradient) as a view into `flat`; None if absent."""
        if name not in self._slices:
            return None
        where, shape = self._slices[name]
        return flat[where].reshape(shape)

    def init_params(self, rng: np.random.Generator) -> None:
        """He initialization for hidden W, LeCun for the output W; gamma 1, beta and b 0."""
        for layer in self._hidden:
            layer.W[...] = rng.standard_normal(layer.W.shape) * math.sqrt(2.0 / layer.W.shape[0])
            if layer.gamma is not None:
                layer.gamma[...] = 1.0
        W_out = self._W_out
        W_out[...] = rng.standard_normal(W_out.shape) * math.sqrt(1.0 / W_out.shape[0])

    # ------------------------------------------------------------- training

    def workspace(self, m: int, larger: Workspace | None = None) -> Workspace:
        """The arrays a training step on m rows writes, allocated once per fit.

        A step allocates no large array (a fresh 256 KiB array costs page faults
        whenever malloc has handed the memory back to the OS). Given the workspace of
        a `larger` batch, the (m, n) arrays are its first m rows, so the short last
        batch of an epoch works in memory the cache already holds.
        """
        dtype = self.dtype
        hidden = []
        for i, layer in enumerate(self._hidden):
            n, bn = layer.W.shape[1], layer.gamma is not None
            if larger is None:
                buffers = _new_buffers(m, n, dtype, bn)
            else:  # the first m rows of the larger batch's arrays; the same per-unit ones
                big = {f: getattr(larger.hidden[i], f) for f in _Buffers.__slots__}
                buffers = _Buffers(**{
                    f: v[:m] if f in _PER_ROW and v is not None else v for f, v in big.items()
                })
            hidden.append(buffers)
        return Workspace(hidden, np.empty((self.n_classes, m), dtype).T)

    def forward_backward(self, X: np.ndarray, Y: np.ndarray, ws: Workspace,
                         weights: np.ndarray | None = None) -> float:
        """One mini-batch in training mode: the loss, and its gradient into `grad`.

        Args:
            X: inputs of shape (m, d), in the network's dtype.
            Y: one-hot labels (a classifier) or targets (a regressor), shape (m, k),
                any memory order.
            ws: `workspace(m)`.
            weights: optional (m,) row weights of the cross-entropy (class weights).

        Returns:
            The mean loss of the batch (cross-entropy or squared error), a Python
            float (NaN or inf when the network has diverged). The batch statistics of
            BN are in `batch_stats`.
        """
        from tuner.mlp import kernels  # numba takes 0.4 s to import: training only

        eps, hidden, buffers = self._eps, self._hidden, ws.hidden
        linears = []
        a = X
        for layer, buf in zip(hidden, buffers, strict=True):
            if layer.gamma is not None:
                z, linear = linear_forward(a, layer.W, out=buf.z)
                mean, var = layer.stats
                kernels.batchnorm_relu_forward(z, layer.gamma, layer.beta, eps, mean, var,
                                               buf.inv_std, buf.a)
                a = buf.a
            else:
                h, linear = affine_forward(a, layer.W, layer.b, out=buf.a)
                a, _ = relu_forward(h, out=h, zeros=buf.zeros, mask=buf.mask)
            linears.append(linear)
        logits, output = affine_forward(a, self._W_out, self._b_out, out=ws.logits)
        if self.loss == "squared_error":
            loss, cache = squared_error_forward(logits, Y, overwrite_pred=True)
            dlogits = squared_error_backward(cache, out=logits)
        else:
            loss, cache = softmax_cross_entropy_forward(logits, Y, weights=weights,
                                                        overwrite_logits=True)
            dlogits = softmax_cross_entropy_backward(cache, out=logits)

        da = buffers[-1].da if hidden else None
        affine_backward(
            dlogits, output, out=(da, self._dW_out, self._db_out), input_grad=bool(hidden)
        )
        for i in range(len(hidden) - 1, -1, -1):
            layer, buf, linear = hidden[i], buffers[i], linears[i]
            da_prev = buffers[i - 1].da if i else None
            if layer.gamma is not None:  # da becomes dz, d loss / d (a_prev @ W)
                kernels.batchnorm_relu_backward(da, buf.a, buf.z, layer.gamma, buf.inv_std,
                                                layer.dgamma, layer.dbeta, buf.coef)
                linear_backward(da, linear, out=(da_prev, layer.dW), input_grad=i > 0)
            else:
                dz = relu_backward(da, buf.mask, out=da)
                affine_backward(dz, linear, out=(da_prev, layer.dW, layer.db), input_grad=i > 0)
            da = da_prev
        return loss

    def update_running_statistics(self, decay: float) -> None:
        """running = decay * running + (1 - decay) * the last batch's statistics."""
        if self.running.size:
            self.running *= decay
            self.running += np.multiply(self.batch_stats, 1.0 - decay, out=self._scaled_stats)

    # ------------------------------------------------------------ inference

    def logits(self, X: np.ndarray) -> np.ndarray:
        """Logits (a regressor: outputs) in inference mode (BN with running statistics),
        shape (m, k)."""
        eps = self.eps
        a = X
        for layer in self._hidden:
            if layer.running is not None:
                z, _ = linear_forward(a, layer.W)
                mean, var = layer.running
                h = batchnorm_inference(z, layer.gamma, layer.beta, mean, var, eps)
            else:
                h, _ = affine_forward(a, layer.W, layer.b)
            a = np.maximum(h, 0.0, out=h)  # ReLU; inference needs no cache
        return affine_forward(a, self._W_out, self._b_out)[0]

"""BASELINE FOR COMPARISON ONLY: tuner's MLP as it was before the loss layer returned
true gradients (main at 945123b), frozen here so that benchmarks/mlp_speed.py can time the
old implementation next to the current one in the same run. Not imported by tuner/; not
maintained. Layers (tuner/mlp/layers.py then) and `MLPCore` (tuner/mlp/model.py then) are
copied as they were, without persistence; the optimizer's step factor
`learning_rate * (1 - momentum)` is the loss layer's upstream gradient there.
"""

# ruff: noqa

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from tuner.mlp.checks import (
    DivergedError,
    NotFittedError,
    check_params,
    check_validation,
    check_X,
    check_y,
)

__all__ = ["BaselineMLP"]


_VECTORS: dict[tuple[int, np.dtype, bool], np.ndarray] = {}
# Integers of the width of each float type: ReLU's derivative is kept as a bit mask.
_BITS = {np.dtype(np.float32): np.dtype(np.int32), np.dtype(np.float64): np.dtype(np.int64)}


def _column_weights(m: int, dtype: np.dtype, mean: bool = False) -> np.ndarray:
    """Read-only vector of m ones (or of 1/m): `w @ x` sums (averages) x's columns.

    One BLAS gemv is faster than `x.sum(axis=0)` and takes no extra pass to scale.
    """
    key = (m, dtype, mean)
    w = _VECTORS.get(key)
    if w is None:
        w = _VECTORS[key] = np.full(m, 1.0 / m if mean else 1.0, dtype=dtype)
        w.flags.writeable = False
    return w


# ------------------------------------------------------------------- affine


def linear_forward(
    x: np.ndarray, W: np.ndarray, *, out: np.ndarray | None = None
) -> tuple[np.ndarray, tuple]:
    """Affine map without bias, `x @ W` (a hidden layer before batch norm).

    Args:
        x: inputs of shape (m, d): m rows, d features.
        W: weights of shape (d, n).
        out: optional array of shape (m, n) for the result.

    Returns:
        out: x @ W, shape (m, n).
        cache: (x, W).
    """
    return np.matmul(x, W, out=out), (x, W)


def linear_backward(
    dout: np.ndarray,
    cache: tuple,
    *,
    out: tuple[np.ndarray | None, np.ndarray | None] | None = None,
    input_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray]:
    """Gradients of `linear_forward`.

    Args:
        dout: upstream gradient d loss / d out, shape (m, n).
        cache: the cache returned by `linear_forward`.
        out: optional (dx, dW) arrays of shapes (m, d), (d, n) for the results.
        input_grad: False skips dx (returned as None): nothing reads the gradient of
            the network's input data.

    Returns:
        dx: d loss / d x, shape (m, d), or None.
        dW: d loss / d W, shape (d, n).
    """
    x, W = cache
    dx_out, dW_out = (None, None) if out is None else out
    dx = np.matmul(dout, W.T, out=dx_out) if input_grad else None
    dW = np.matmul(x.T, dout, out=dW_out)
    return dx, dW


def affine_forward(
    x: np.ndarray, W: np.ndarray, b: np.ndarray, *, out: np.ndarray | None = None
) -> tuple[np.ndarray, tuple]:
    """Affine map with bias, `x @ W + b` (the output layer; hidden layers without BN).

    Args:
        x: inputs of shape (m, d).
        W: weights of shape (d, n).
        b: bias of shape (n,).
        out: optional array of shape (m, n) for the result; any memory order.

    Returns:
        out: x @ W + b, shape (m, n).
        cache: (x, W).
    """
    out = np.matmul(x, W, out=out)
    out += b
    return out, (x, W)


def affine_backward(
    dout: np.ndarray,
    cache: tuple,
    *,
    out: tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None] | None = None,
    input_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of `affine_forward`.

    Args:
        dout: upstream gradient d loss / d out, shape (m, n).
        cache: the cache returned by `affine_forward`.
        out: optional (dx, dW, db) arrays of shapes (m, d), (d, n), (n,).
        input_grad: False skips dx (returned as None).

    Returns:
        dx: d loss / d x, shape (m, d), or None.
        dW: d loss / d W, shape (d, n).
        db: d loss / d b, shape (n,).
    """
    x, W = cache
    dx, dW, db = (None, None, None) if out is None else out
    dx = np.matmul(dout, W.T, out=dx) if input_grad else None
    dW = np.matmul(x.T, dout, out=dW)
    db = np.matmul(_column_weights(dout.shape[0], dout.dtype), dout, out=db)  # sum_i dout
    return dx, dW, db


# --------------------------------------------------------------------- ReLU


def relu_forward(
    x: np.ndarray,
    *,
    out: np.ndarray | None = None,
    zeros: np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """ReLU, `max(x, 0)` elementwise.

    Args:
        x: inputs of shape (m, n), float32 or float64, C-contiguous.
        out: optional array of shape (m, n) for the result; may be x itself.
        zeros: optional read-only zeros of shape (m, n): numpy's maximum against an
            array is several times faster than against the scalar 0.
        mask: optional integer array of shape (m, n) and x's width for the cache.

    Returns:
        out: max(x, 0), shape (m, n).
        cache: mask, an integer array of shape (m, n) with all bits set where x > 0
            and none elsewhere: ReLU's derivative, applied by a bitwise and.
    """
    out = np.maximum(x, 0.0 if zeros is None else zeros, out=out)
    bits = _BITS[out.dtype] if mask is None else mask.dtype
    # out >= 0, so its bits read as an integer are > 0 exactly where out > 0, and
    # there -bits >> (width - 1) is all ones; elsewhere it is 0. Made while out is in cache.
    mask = np.negative(out.view(bits), out=mask)
    np.right_shift(mask, bits.itemsize * 8 - 1, out=mask)
    return out, mask


def relu_backward(
    dout: np.ndarray, cache: np.ndarray, *, out: np.ndarray | None = None
) -> np.ndarray:
    """Gradient of `relu_forward`: dout where x > 0, else 0.

    Args:
        dout: upstream gradient, shape (m, n), C-contiguous.
        cache: the mask returned by `relu_forward`.
        out: optional array of shape (m, n) for the result; may be dout itself.

    Returns:
        dx: d loss / d x, shape (m, n).
    """
    mask = cache
    d_bits = dout.view(mask.dtype)
    if out is dout:
        np.bitwise_and(d_bits, mask, out=d_bits)
        return dout
    dx = np.empty_like(dout) if out is None else out
    np.bitwise_and(d_bits, mask, out=dx.view(mask.dtype))
    return dx


# --------------------------------------------------------------- batch norm


def batchnorm_forward(
    z: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    eps: float,
    *,
    stats: tuple[np.ndarray, np.ndarray] | None = None,
    out: np.ndarray | None = None,
    overwrite_z: bool = False,
) -> tuple[np.ndarray, tuple]:
    """Batch normalization in training mode, with per-unit statistics of the batch.

    Args:
        z: pre-activations of shape (m, n): a batch of m rows, n units.
        gamma: scale parameter of shape (n,).
        beta: shift parameter of shape (n,).
        eps: added to the variance; it only guards the division, so a constant
            unit (variance 0) gives xhat = 0 rather than NaN.
        stats: optional (mean, var) arrays of shape (n,) that receive the batch mean
            and biased variance, for the running averages used at inference time.
            The model passes views of one flat array, so that one update moves the
            running averages of every layer.
        out: optional array of shape (m, n) for the result.
        overwrite_z: center z in place (z - mean) instead of allocating a copy.

    Returns:
        out: gamma * xhat + beta, shape (m, n), where xhat = (z - mean) / sqrt(var + eps).
        cache: (zc (m, n), scale (n,), std (n,)) with zc = z - mean,
            std = sqrt(var + eps) and scale = gamma / std, so that xhat = zc / std
            (never stored: a pass fewer each way).
    """
    m, n = z.shape  # batch, units
    average = _column_weights(m, z.dtype, mean=True)  # (m,) of 1/m
    mean, var = np.empty((2, n), dtype=z.dtype) if stats is None else stats
    np.matmul(average, z, out=mean)
    zc = np.subtract(z, mean, out=z if overwrite_z else None)  # (m, n)
    np.matmul(average, np.multiply(zc, zc, out=out), out=var)  # `out` is scratch here
    std = np.sqrt(var + eps)  # (n,)
    scale = gamma / std  # (n,)
    out = np.multiply(zc, scale, out=out)  # gamma * xhat
    out += beta
    return out, (zc, scale, std)


def batchnorm_backward(
    dout: np.ndarray,
    cache: tuple,
    *,
    out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    work: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of batch normalization (training mode), in closed form.

    Args:
        dout: upstream gradient d loss / d out, shape (m, n).
        cache: the cache returned by `batchnorm_forward`.
        out: optional (dz, dgamma, dbeta) arrays of shapes (m, n), (n,), (n,) to
            write the results into, as a ufunc's `out`; dz may be `dout` itself.
        work: optional scratch array of shape (m, n).

    Returns:
        dz: d loss / d z, shape (m, n).
        dgamma: d loss / d gamma, shape (n,).
        dbeta: d loss / d beta, shape (n,).
    """
    zc, scale, std = cache  # xhat = zc / std, scale = gamma / std
    m = dout.shape[0]
    ones = _column_weights(m, dout.dtype)
    dz, dgamma, dbeta = (None, None, None) if out is None else out
    dbeta = np.matmul(ones, dout, out=dbeta)  # sum_i dout
    dgamma = np.divide(ones @ np.multiply(dout, zc, out=work), std, out=dgamma)  # sum_i dout * xhat
    # The closed form of Ioffe & Szegedy's backward, dz = scale/m * (m*dout - dbeta - xhat*dgamma),
    # distributed as scale*dout - (zc*(k/std*dgamma) + k*dbeta), k = scale/m: 4 passes over (m, n)
    k = scale / m
    t = np.multiply(zc, (k / std) * dgamma, out=work)
    t += k * dbeta
    dz = np.multiply(dout, scale, out=dz)
    dz -= t
    return dz, dgamma, dbeta


def batchnorm_inference(
    z: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    eps: float,
) -> np.ndarray:
    """Batch normalization at prediction time, with the running statistics.

    Each row is normalized on its own, so a row's output does not depend on the
    other rows of the batch.

    Args:
        z: pre-activations of shape (m, n).
        gamma, beta: learned scale and shift, shape (n,).
        running_mean, running_var: averages of the training batches' statistics, (n,).
        eps: as in `batchnorm_forward`.

    Returns:
        gamma * (z - running_mean) / sqrt(running_var + eps) + beta, shape (m, n).
    """
    scale = gamma / np.sqrt(running_var + eps)  # (n,)
    out = z * scale
    out += beta - running_mean * scale
    return out


# -------------------------------------------------- softmax cross-entropy


def _exp_shifted(
    logits: np.ndarray, overwrite: bool, targets: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, int, float]:
    """The one log-sum-exp: exp(logits - max over classes) and its sums over classes.

    Returns:
        e: exp(logits - max), (k, m) if logits lie so in memory, else (m, k); in
            logits' memory if overwrite.
        s: sums of e over classes, keepdims: log(s) + max is the log-sum-exp.
        axis: the class axis of e.
        picked: sum(targets * (logits - max)), 0.0 without targets.
    """
    # numpy reduces over the rows of a C-ordered array several times faster than over
    # its columns: logits laid out (k, m) in memory (the model's) are worked on as (k, m)
    v, axis = (logits.T, 0) if logits.flags.f_contiguous else (logits, 1)
    e = np.subtract(v, np.maximum.reduce(v, axis=axis, keepdims=True), out=v if overwrite else None)
    picked = 0.0
    if targets is not None:  # before exp: the shifted logits of the true classes
        picked = float(np.vdot(e, targets.T if axis == 0 else targets))
    np.exp(e, out=e)  # stable: the largest is exp(0) = 1
    return e, np.add.reduce(e, axis=axis, keepdims=True), axis, picked


def softmax_cross_entropy_forward(
    logits: np.ndarray, Y: np.ndarray, *, q: float = 1.0, overwrite_logits: bool = False
) -> tuple[float, tuple]:
    """Mean cross-entropy of softmax(logits) against one-hot targets.

    Args:
        logits: scores of shape (m, k): m rows, k classes; any memory order.
        Y: one-hot targets of shape (m, k), times the constant q.
        q: the factor in Y, > 0. The model scales its one-hot labels once per fit
            by the optimizer's step size, so the backward pass takes no extra pass.
        overwrite_logits: compute in logits' memory instead of allocating.

    Returns:
        loss: -mean_i log softmax(logits_i)[y_i], a Python float (NaN or inf when
            the logits are).
        cache: (e, s, Y, q, axis): exp(logits - max) and its sums over classes,
            in the layout `_exp_shifted` picks, and the class axis.
    """
    m = logits.shape[0]
    e, s, axis, picked = _exp_shifted(logits, overwrite_logits, Y)
    loss = (float(np.add.reduce(np.log(s), axis=None)) - picked / q) / m
    return loss, (e, s, Y, q, axis)


def softmax_cross_entropy_backward(
    dloss: float, cache: tuple, *, out: np.ndarray | None = None
) -> np.ndarray:
    """Gradient of `softmax_cross_entropy_forward`: dloss * (softmax - onehot) / m.

    Args:
        dloss: upstream gradient of the loss, a scalar: the model passes the
            optimizer's `learning_rate * (1 - momentum)`, so gradients arrive scaled.
        cache: the cache returned by `softmax_cross_entropy_forward`.
        out: optional array of shape (m, k) for the result; may be the logits that
            were overwritten.

    Returns:
        dlogits: d loss / d logits, shape (m, k).
    """
    e, s, Y, q, axis = cache
    m = e.shape[1 - axis]
    Yv = Y.T if axis == 0 else Y
    d = None if out is None else (out.T if axis == 0 else out)
    d = np.multiply(e, np.divide(q, s, out=s), out=d)  # q * softmax (s is spent)
    d -= Yv  # q * (softmax - onehot)
    factor = dloss / (m * q)  # 1 for the model's full batches
    if factor != 1.0:
        d *= factor
    return d.T if axis == 0 else d


def softmax(logits: np.ndarray, *, overwrite_logits: bool = False) -> np.ndarray:
    """Softmax over classes of logits (m, k), in logits' memory order."""
    e, s, axis, _ = _exp_shifted(logits, overwrite_logits)
    e /= s
    return e.T if axis == 0 else e


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



# A mean training loss this many times worse than guessing uniformly is divergence.
_DIVERGENCE_FACTOR = 100.0


@dataclass(slots=True)
class _Hidden:
    """A hidden layer's parameters and gradients: views into `_theta` and `_grad`."""

    W: np.ndarray
    dW: np.ndarray
    gamma: np.ndarray | None  # with batch norm
    dgamma: np.ndarray | None
    beta: np.ndarray | None
    dbeta: np.ndarray | None
    b: np.ndarray | None  # without batch norm
    db: np.ndarray | None
    running: np.ndarray | None  # (2, n): running mean and variance, a view of `_running`
    stats: tuple[np.ndarray, np.ndarray] | None  # this batch's (mean, var), in `_batch_stats`


@dataclass(slots=True)
class _Buffers:
    """The (m, n) arrays a training step writes for one hidden layer."""

    z: np.ndarray  # a_prev @ W, then z - mean
    a: np.ndarray  # the activation
    da: np.ndarray  # d loss / d a, then dz in place
    zeros: np.ndarray  # for ReLU
    work: np.ndarray  # batch norm's scratch
    mask: np.ndarray  # ReLU's cache


@dataclass(slots=True)
class _Workspace:
    hidden: list[_Buffers]
    logits: np.ndarray  # (m, k), the view of a (k, m) array


class MLPCore:
    """MLP classifier: hidden layers Linear(no bias) -> BatchNorm -> ReLU, softmax out.

    Trained by mini-batch gradient descent with momentum on the mean cross-entropy:
    `v = momentum * v + (1 - momentum) * grad; p -= learning_rate * v` for every
    trainable array (hidden W, gamma, beta; output W and b; hidden b without BN).
    Without scikit-learn's base classes (tuner trains this one); `MLPClassifierBN` is it
    as a scikit-learn estimator: `clone`, `GridSearchCV` and `cross_val_score` work there.

    Args:
        hidden: units of each hidden layer; () is softmax regression.
        learning_rate: step size, > 0.
        momentum: in [0, 1).
        epochs: passes over the training data, > 0.
        batch_size: rows per mini-batch, > 0 (capped at the number of rows).
        eps: guards the division in batch norm, > 0.
        bn_decay: weight of the old value in the running averages, in [0, 1).
        seed: seeds the one generator that drives initialization and shuffling.
        dtype: "float32" (default, fast) or "float64".
        use_batchnorm: False gives hidden layers `a_prev @ W + b` -> ReLU instead.

    Fitted attributes (lists run from the first hidden layer to the output):
        coefs_: weight matrices, hidden then output.
        intercepts_: biases: the output layer's (and each hidden layer's without BN).
        gammas_, betas_: BN scale and shift per hidden layer ([] without BN).
        running_mean_, running_var_: BN running statistics per hidden layer.
        classes_: the sorted class labels.
        n_features_in_, n_epochs_, loss_curve_ (mean training loss per epoch),
        history_: one dict of metrics per epoch, as passed to `on_epoch`.
    """

    def __init__(
        self,
        hidden: tuple[int, ...] = (64, 64),
        learning_rate: float = 0.05,
        momentum: float = 0.9,
        epochs: int = 20,
        batch_size: int = 64,
        eps: float = 1e-5,
        bn_decay: float = 0.9,
        seed: int | None = 0,
        dtype: str = "float32",
        use_batchnorm: bool = True,
    ) -> None:
        self.hidden = hidden
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.epochs = epochs
        self.batch_size = batch_size
        self.eps = eps
        self.bn_decay = bn_decay
        self.seed = seed
        self.dtype = dtype
        self.use_batchnorm = use_batchnorm

    # ------------------------------------------------------------- structure

    def _build(self, n_features: int, n_classes: int) -> None:
        """Lay out parameters, gradients and running statistics as flat vectors."""
        p = self._p
        dtype, bn = p["dtype"], p["use_batchnorm"]
        shapes = parameter_shapes(n_features, p["hidden"], n_classes, bn)
        total = sum(math.prod(shape) for _, shape in shapes)
        self._theta = np.zeros(total, dtype=dtype)
        self._grad = np.zeros(total, dtype=dtype)
        self._slices: dict[str, tuple[slice, tuple[int, ...]]] = {}
        start = 0
        for name, shape in shapes:
            size = math.prod(shape)
            self._slices[name] = (slice(start, start + size), shape)
            start += size

        units_total = sum(p["hidden"]) if bn else 0
        self._running = np.zeros(2 * units_total, dtype=dtype)  # [mean_0, var_0, mean_1, ...]
        self._batch_stats = np.zeros(2 * units_total, dtype=dtype)
        self._hidden: list[_Hidden] = []
        offset = 0
        for i, units in enumerate(p["hidden"]):
            param = {k: self._view(self._theta, f"{k}{i}") for k in ("W", "gamma", "beta", "b")}
            grad = {k: self._view(self._grad, f"{k}{i}") for k in param}
            running = stats = None
            if bn:
                running = self._running[offset : offset + 2 * units].reshape(2, units)
                stats = tuple(self._batch_stats[offset : offset + 2 * units].reshape(2, units))
                running[1] = 1.0  # running variance starts at 1, the mean at 0
                offset += 2 * units
            self._hidden.append(_Hidden(
                param["W"], grad["W"], param["gamma"], grad["gamma"], param["beta"],
                grad["beta"], param["b"], grad["b"], running, stats,
            ))  # fmt: skip
        theta, grad = self._theta, self._grad
        self._W_out, self._dW_out = self._view(theta, "W_out"), self._view(grad, "W_out")
        self._b_out, self._db_out = self._view(theta, "b_out"), self._view(grad, "b_out")
        self._publish()

    def _view(self, flat: np.ndarray, name: str) -> np.ndarray | None:
        """The named parameter (or gradient) as a view into `flat`; None if absent."""
        if name not in self._slices:
            return None
        where, shape = self._slices[name]
        return flat[where].reshape(shape)

    def _publish(self) -> None:
        """Expose the parameters (views into theta) as sklearn-style attributes."""
        layers, bn = self._hidden, self._p["use_batchnorm"]
        self.coefs_ = [layer.W for layer in layers] + [self._W_out]
        self.intercepts_ = ([] if bn else [layer.b for layer in layers]) + [self._b_out]
        self.gammas_ = [layer.gamma for layer in layers] if bn else []
        self.betas_ = [layer.beta for layer in layers] if bn else []
        self.running_mean_ = [layer.running[0] for layer in layers] if bn else []
        self.running_var_ = [layer.running[1] for layer in layers] if bn else []

    def _init_params(self, rng: np.random.Generator) -> None:
        """He initialization for hidden W, LeCun for the output W; gamma 1, beta and b 0."""
        for layer in self._hidden:
            layer.W[...] = rng.standard_normal(layer.W.shape) * math.sqrt(2.0 / layer.W.shape[0])
            if layer.gamma is not None:
                layer.gamma[...] = 1.0
        W_out = self._W_out
        W_out[...] = rng.standard_normal(W_out.shape) * math.sqrt(1.0 / W_out.shape[0])

    # ----------------------------------------------------- forward / backward

    def _workspace(self, m: int, larger: _Workspace | None = None) -> _Workspace:
        """The arrays a training step on m rows writes, allocated once per fit.

        A step allocates no large array (a fresh 256 KiB array costs page faults
        whenever malloc has handed the memory back to the OS). Given the workspace of
        a `larger` batch, the (m, n) arrays are its first m rows, so the short last
        batch of an epoch works in memory the cache already holds.
        """
        dtype = self._p["dtype"]
        bits = np.int32 if dtype == np.float32 else np.int64  # same width, for the ReLU mask
        hidden = []
        for i, layer in enumerate(self._hidden):
            n = layer.W.shape[1]
            if larger is None:
                z, a, da, zeros, work = (np.zeros((m, n), dtype) for _ in range(5))
                buffers = _Buffers(z, a, da, zeros, work, np.zeros((m, n), bits))
            else:
                big = larger.hidden[i]
                buffers = _Buffers(*(getattr(big, f)[:m] for f in _Buffers.__slots__))
            hidden.append(buffers)
        return _Workspace(hidden, np.empty((self._b_out.shape[0], m), dtype).T)

    def _forward_backward(
        self, X: np.ndarray, Y: np.ndarray, q: float, scale: float, ws: _Workspace
    ) -> float:
        """One mini-batch in training mode: the loss, and the gradients into `_grad`.

        Args:
            X: inputs of shape (m, d), in the model's dtype.
            Y: one-hot labels times `q`, shape (m, k).
            q: the factor in `Y` (pre-scaled once per fit, so dlogits costs no pass).
            scale: every gradient written to `_grad` is multiplied by it (the
                optimizer's `learning_rate * (1 - momentum)`; 1 for the true gradient).
            ws: `_workspace(m)`.

        Returns:
            The mean cross-entropy of the batch, a Python float (NaN or inf when the
            model has diverged). The batch statistics of BN are in `_batch_stats`.
        """
        eps, hidden, buffers = self._p["eps"], self._hidden, ws.hidden
        caches = []
        a = X
        for layer, buf in zip(hidden, buffers, strict=True):
            if layer.gamma is not None:
                z, linear = linear_forward(a, layer.W, out=buf.z)
                h, bn = batchnorm_forward(
                    z, layer.gamma, layer.beta, eps, stats=layer.stats, out=buf.a, overwrite_z=True
                )
            else:
                h, linear = affine_forward(a, layer.W, layer.b, out=buf.a)
                bn = None
            a, relu = relu_forward(h, out=h, zeros=buf.zeros, mask=buf.mask)
            caches.append((linear, bn, relu))
        logits, output = affine_forward(a, self._W_out, self._b_out, out=ws.logits)
        loss, xent = softmax_cross_entropy_forward(logits, Y, q=q, overwrite_logits=True)

        dlogits = softmax_cross_entropy_backward(scale, xent, out=logits)
        da = buffers[-1].da if hidden else None
        affine_backward(
            dlogits, output, out=(da, self._dW_out, self._db_out), input_grad=bool(hidden)
        )
        for i in range(len(hidden) - 1, -1, -1):
            layer, (linear, bn, relu) = hidden[i], caches[i]
            da_prev = buffers[i - 1].da if i else None
            dz = relu_backward(da, relu, out=da)
            if bn is not None:
                dgrads = (dz, layer.dgamma, layer.dbeta)  # dL/dz replaces dL/d(BN out)
                batchnorm_backward(dz, bn, out=dgrads, work=buffers[i].work)
                linear_backward(dz, linear, out=(da_prev, layer.dW), input_grad=i > 0)
            else:
                affine_backward(dz, linear, out=(da_prev, layer.dW, layer.db), input_grad=i > 0)
            da = da_prev
        return loss

    def _loss_and_grads(
        self, X: np.ndarray, y_index: np.ndarray
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Training-mode loss and true gradient for one batch, by parameter name.

        For gradient checks, through the same code as `fit`: `y_index` are class
        indices 0..k-1; the gradients are copies, named as in `_slices` (W0,
        gamma0, beta0, ..., W_out, b_out).
        """
        X = np.ascontiguousarray(X, dtype=self._p["dtype"])
        m, k = X.shape[0], self._b_out.shape[0]
        Y = np.zeros((m, k), dtype=self._p["dtype"])
        Y[np.arange(m), y_index] = 1.0
        loss = self._forward_backward(X, Y, 1.0, 1.0, self._workspace(m))
        return loss, {name: self._view(self._grad, name).copy() for name in self._slices}

    def _predict_logits(self, X: np.ndarray) -> np.ndarray:
        """Logits in inference mode (BN with running statistics), shape (m, k)."""
        eps = self._p["eps"]
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

    # --------------------------------------------------------------- fitting

    def fit(
        self,
        X: Any,
        y: Any,
        X_val: Any = None,
        y_val: Any = None,
        on_epoch: Callable[[int, dict[str, float]], bool | None] | None = None,
    ) -> MLPCore:
        """Train from scratch.

        Args:
            X: training inputs, shape (n, d), finite numbers.
            y: labels, shape (n,): any sortable values (ints, strings), at least 2 classes.
            X_val, y_val: optional validation data, given together; scored each epoch
                in inference mode as `val_loss` and `val_accuracy`.
            on_epoch: called after each epoch as `on_epoch(epoch, metrics)` with the
                1-based epoch and a dict holding `train_loss` (mean mini-batch loss of
                the epoch, per sample) and, with validation data, `val_loss` and
                `val_accuracy`; returning True stops training (Optuna pruning).

        Returns:
            self.

        Raises:
            ValueError: bad hyperparameters or data; the message says which.
            DivergedError: a loss became NaN or inf or far worse than guessing, or
                the parameters became non-finite; the model is left unfitted.
        """
        p = self._p = check_params(self)
        dtype = p["dtype"]
        X = check_X(X, dtype)
        y = check_y(y, X.shape[0])
        classes, y_index = np.unique(y, return_inverse=True)
        if classes.shape[0] < 2:
            raise ValueError(
                f"y has a single class ({classes[0]!r}): a classifier needs at least 2"
            )
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together")
        validate = X_val is not None
        if validate:
            X_val, val_index = check_validation(X_val, y_val, X.shape[1], classes, dtype)

        self._reset_fitted()
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        n, k = X.shape[0], classes.shape[0]
        rng = np.random.default_rng(p["seed"])
        self._build(X.shape[1], k)
        self._init_params(rng)

        batch = min(p["batch_size"], n)
        lr, beta_m, decay = p["learning_rate"], p["momentum"], p["bn_decay"]
        scale = lr * (1.0 - beta_m)  # d step / d loss: the gradients arrive scaled by it
        q = scale / batch  # one-hot labels pre-scaled so dlogits needs no extra pass
        YT = np.zeros((k, n), dtype=dtype)  # transposed, as the logits: (k, n)
        YT[y_index, np.arange(n)] = q
        Xs, YsT = np.empty_like(X), np.empty_like(YT)  # shuffled copies, rewritten each epoch
        full = self._workspace(batch)
        batches = []  # (rows, labels (m, k), workspace, size), views of the shuffled copies
        for start in range(0, n, batch):
            size = min(batch, n - start)
            workspace = full if size == batch else self._workspace(size, larger=full)
            rows, labels = Xs[start : start + size], YsT[:, start : start + size].T
            batches.append((rows, labels, workspace, size))
        if validate:
            Y_val = np.zeros((X_val.shape[0], k), dtype=dtype)
            Y_val[np.arange(X_val.shape[0]), val_index] = 1.0
        theta, grad = self._theta, self._grad
        step = np.zeros_like(theta)  # learning_rate * v: the momentum buffer, pre-scaled
        running, stats = self._running, self._batch_stats
        scaled_stats = np.empty_like(stats)
        bn = running.size > 0
        forward_backward = self._forward_backward
        bound = _DIVERGENCE_FACTOR * math.log(k)
        self.loss_curve_, self.history_ = [], []

        try:
            with np.errstate(all="ignore"):  # overflow is divergence, handled below
                for epoch in range(1, p["epochs"] + 1):
                    perm = rng.permutation(n)
                    np.take(X, perm, axis=0, out=Xs, mode="clip")  # clip: unbuffered
                    np.take(YT, perm, axis=1, out=YsT, mode="clip")
                    total = 0.0
                    for rows, labels, workspace, size in batches:
                        loss = forward_backward(rows, labels, q, scale, workspace)
                        if not math.isfinite(loss):
                            raise DivergedError(epoch, loss)
                        total += loss * size
                        # v = beta v + (1 - beta) grad; p -= lr v   (step = lr v, grad scaled)
                        step *= beta_m
                        step += grad
                        theta -= step
                        if bn:  # running = decay * running + (1 - decay) * batch_stat
                            running *= decay
                            running += np.multiply(stats, 1.0 - decay, out=scaled_stats)
                    train_loss = total / n
                    if not train_loss <= bound:
                        raise DivergedError(epoch, train_loss)
                    if not np.isfinite(theta).all():
                        raise DivergedError(epoch, train_loss)

                    metrics = {"train_loss": train_loss}
                    if validate:
                        val_loss, val_accuracy = self._evaluate(X_val, val_index, Y_val)
                        if not math.isfinite(val_loss):
                            raise DivergedError(epoch, val_loss)
                        metrics["val_loss"] = val_loss
                        metrics["val_accuracy"] = val_accuracy
                    self.loss_curve_.append(train_loss)
                    self.history_.append({"epoch": epoch, **metrics})
                    self.n_epochs_ = epoch
                    if on_epoch is not None and on_epoch(epoch, dict(metrics)):
                        break
        except DivergedError:
            self._reset_fitted()
            raise
        return self

    def _evaluate(
        self, X: np.ndarray, y_index: np.ndarray, Y: np.ndarray
    ) -> tuple[float, float]:
        """Mean cross-entropy and accuracy in inference mode; Y is y_index one-hot."""
        logits = self._predict_logits(X)
        accuracy = float(np.mean(logits.argmax(axis=1) == y_index))
        loss, _ = softmax_cross_entropy_forward(logits, Y, overwrite_logits=True)
        return loss, accuracy

    _FITTED = (
        "coefs_", "intercepts_", "gammas_", "betas_", "running_mean_", "running_var_",
        "classes_", "n_features_in_", "n_epochs_", "loss_curve_", "history_", "extra_",
    )

    def _reset_fitted(self) -> None:
        for name in self._FITTED:
            self.__dict__.pop(name, None)

    # ------------------------------------------------------------ prediction

    def _check_fitted_X(self, X: Any) -> np.ndarray:
        self._check_fitted()
        X = check_X(X, self._p["dtype"])
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but the model was fitted with {self.n_features_in_}"
            )
        return X

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_epochs_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit (or load) first"
            )

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (m, k), columns in the order of `classes_`."""
        X = self._check_fitted_X(X)
        with np.errstate(over="ignore", under="ignore"):
            return softmax(self._predict_logits(X), overwrite_logits=True)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class label of each row, shape (m,)."""
        X = self._check_fitted_X(X)
        return self.classes_[self._predict_logits(X).argmax(axis=1)]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy of `predict(X)` against `y` (weighted by `sample_weight` if given)."""
        X = self._check_fitted_X(X)
        y = check_y(y, X.shape[0])
        hits = self.classes_[self._predict_logits(X).argmax(axis=1)] == y
        return float(np.average(hits, weights=sample_weight))


BaselineMLP = MLPCore

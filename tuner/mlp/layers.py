"""The network's layers as forward/backward pairs, in the style of cs231n's.

Each layer is `*_forward(...) -> (out, cache)` and `*_backward(dout, cache)` returns
one gradient per input; the cache holds only what the backward pass reads. Every
function works in float32 or float64 and is vectorized over the mini-batch (DESIGN
idea 6). tests/mlp/test_layers.py checks each gradient against centred differences.

Speed: the network (tuner/mlp/network.py) calls these on arrays allocated once per fit, so
most functions take optional `out=` arrays (as numpy's ufuncs do) and scratch space;
left out, they allocate, and the functions read like the math. Two layout tricks:

- column sums are BLAS matrix-vector products with a vector of ones (`_column_weights`),
  faster than `x.sum(axis=0)` and scaled for free;
- the softmax reduces over classes fastest when the logits lie in memory as (k, m),
  one row per class: the model keeps them transposed and passes the (m, k) view,
  and the softmax works on that layout.
"""

from __future__ import annotations

import numpy as np

__all__ = [
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

_VECTORS: dict[tuple[int, np.dtype, bool], np.ndarray] = {}


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
        x: inputs of shape (m, n), float32 or float64.
        out: optional array of shape (m, n) for the result; may be x itself.
        zeros: optional read-only zeros of shape (m, n): numpy's maximum against an
            array is several times faster than against the scalar 0.
        mask: optional boolean array of shape (m, n) for the cache.

    Returns:
        out: max(x, 0), shape (m, n).
        cache: mask, True where x > 0: ReLU's derivative. A boolean is a quarter of a
            float32's memory, and is made while `out` is still in cache.
    """
    out = np.maximum(x, 0.0 if zeros is None else zeros, out=out)
    return out, np.greater(out, 0.0, out=mask)


def relu_backward(
    dout: np.ndarray, cache: np.ndarray, *, out: np.ndarray | None = None
) -> np.ndarray:
    """Gradient of `relu_forward`: dout where x > 0, else 0.

    Args:
        dout: upstream gradient, shape (m, n).
        cache: the mask returned by `relu_forward`.
        out: optional array of shape (m, n) for the result; may be dout itself.

    Returns:
        dx: d loss / d x, shape (m, n), in dout's dtype.
    """
    return np.multiply(dout, cache, out=out, dtype=dout.dtype)


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
    logits: np.ndarray,
    Y: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    overwrite_logits: bool = False,
) -> tuple[float, tuple]:
    """Mean cross-entropy of softmax(logits) against one-hot targets, each row weighted
    by ``weights`` if given (class weights: `class_weight = "balanced"`).

    Args:
        logits: scores of shape (m, k): m rows, k classes; any memory order.
        Y: one-hot targets of shape (m, k), any memory order.
        weights: optional (m,) weight of each row; the loss stays a sum over rows divided
            by m, so weights averaging 1 keep its scale.
        overwrite_logits: compute in logits' memory instead of allocating.

    Returns:
        loss: -sum_i w_i log softmax(logits_i)[y_i] / m (w_i = 1 without weights), a
            Python float (NaN or inf when the logits are).
        cache: (e, s, Y, axis, weights): exp(logits - max) and its sums over classes, in
            the layout `_exp_shifted` picks, the (weighted) targets, the class axis, and
            the weights in that layout (or None).
    """
    m = logits.shape[0]
    if weights is not None:
        Y = Y * weights[:, None]  # w_i * onehot_i: picks w_i * (logit - max) below
    e, s, axis, picked = _exp_shifted(logits, overwrite_logits, Y)
    log_s = np.log(s)
    if weights is None:
        loss = (float(np.add.reduce(log_s, axis=None)) - picked) / m
        return loss, (e, s, Y, axis, None)
    w = weights[None, :] if axis == 0 else weights[:, None]
    loss = (float(np.vdot(log_s, w)) - picked) / m
    return loss, (e, s, Y, axis, w)


def softmax_cross_entropy_backward(
    cache: tuple, *, out: np.ndarray | None = None
) -> np.ndarray:
    """Gradient of `softmax_cross_entropy_forward`: w * (softmax - onehot) / m.

    The loss is the end of the network, so there is no upstream gradient: this is
    d loss / d logits itself.

    Args:
        cache: the cache returned by `softmax_cross_entropy_forward`; spent (its sums
            are overwritten).
        out: optional array of shape (m, k) for the result; may be the logits that
            were overwritten.

    Returns:
        dlogits: d loss / d logits, shape (m, k).
    """
    e, s, Y, axis, w = cache
    m = e.shape[1 - axis]
    Yv = Y.T if axis == 0 else Y
    d = None if out is None else (out.T if axis == 0 else out)
    d = np.multiply(e, np.reciprocal(s, out=s), out=d)  # softmax
    if w is not None:
        d *= w  # Yv already holds w * onehot
    d -= Yv
    d *= 1.0 / m  # a Python float: float32 stays float32
    return d.T if axis == 0 else d


# ------------------------------------------------------------ squared error


def squared_error_forward(
    pred: np.ndarray, y: np.ndarray, *, overwrite_pred: bool = False
) -> tuple[float, tuple]:
    """Mean squared error of a linear output against real targets (regression).

    Args:
        pred: the network's outputs, shape (m, k) (k = 1: one target).
        y: targets of shape (m, k).
        overwrite_pred: compute the residuals in pred's memory instead of allocating.

    Returns:
        loss: sum((pred - y)**2) / m, a Python float (NaN or inf when pred is).
        cache: (r,): the residuals pred - y.
    """
    m = pred.shape[0]
    r = np.subtract(pred, y, out=pred if overwrite_pred else None)
    return float(np.vdot(r, r)) / m, (r,)


def squared_error_backward(cache: tuple, *, out: np.ndarray | None = None) -> np.ndarray:
    """Gradient of `squared_error_forward`: 2 (pred - y) / m, d loss / d pred itself.

    Args:
        cache: the cache returned by `squared_error_forward`.
        out: optional (m, k) array for the result; may be the residuals' own memory.
    """
    (r,) = cache
    return np.multiply(r, 2.0 / r.shape[0], out=out)


def softmax(logits: np.ndarray, *, overwrite_logits: bool = False) -> np.ndarray:
    """Softmax over classes of logits (m, k), in logits' memory order."""
    e, s, axis, _ = _exp_shifted(logits, overwrite_logits)
    e /= s
    return e.T if axis == 0 else e

"""A multi-layer perceptron classifier with batch normalization, in numpy.

Forward and backward are written by hand and vectorized over the mini-batch
(DESIGN idea 6: no Python loop over samples, float32 by default). A hidden layer is

    z = a_prev @ W            (no bias: BN's learned shift `beta` replaces it)
    a = relu(gamma * (z - mean) / sqrt(var + eps) + beta)

and the output layer is an affine map with bias, a softmax and the cross-entropy.
In training, `mean` and `var` are the mini-batch's; at prediction they are
exponentially weighted averages of the mini-batch statistics seen in training
(DESIGN idea 5), so a row's prediction never depends on the rest of its batch.

Speed (DESIGN idea 6). At the sizes we tune, numpy's per-call overhead and its
passes over memory cost more than the matmuls, so a mini-batch step makes as few
numpy calls and passes as it can (benchmarks/mlp_speed.py measures it):

- every trainable array is a view into one flat vector `theta`, and every gradient
  a view into one flat vector written in place (`out=`), so the momentum update of
  the whole network is three in-place operations and the epoch's finiteness check
  one `np.isfinite(theta).all()`;
- the optimizer's step factor `learning_rate * (1 - momentum)` is folded into the
  one-hot labels and so into the gradient of the logits (backprop is linear in
  it): the gradients arrive scaled, at no cost;
- every array a step writes is allocated once per fit (`_workspace`);
- the data are shuffled once per epoch with one gather, and sliced per batch;
- column sums are BLAS matrix-vector products with a vector of ones;
- batch norm keeps z - mean rather than xhat, the softmax works on transposed
  logits, and ReLU's derivative is a bit mask made in the forward pass;
- the running statistics of all layers live in one flat vector, updated in three
  operations per step.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

from tuner.errors import TunerError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "DivergedError",
    "MLPClassifierBN",
    "ModelFormatError",
    "NotFittedError",
    "batchnorm_backward",
    "batchnorm_forward",
    "batchnorm_inference",
]

FORMAT_NAME = "tuner.mlp"
FORMAT_VERSION = 1
_META_KEY = "__tuner_meta__"
_EXTRA_PREFIX = "extra/"
_DTYPES = ("float32", "float64")
# A mean training loss this many times worse than guessing uniformly is divergence.
_DIVERGENCE_FACTOR = 100.0


class DivergedError(TunerError, ArithmeticError):
    """Training diverged: a loss became NaN or inf, or far worse than guessing.

    Attributes:
        epoch: the 1-based epoch in which it happened.
        loss: the offending loss (a mini-batch loss, or the epoch's mean loss).
    """

    def __init__(self, epoch: int, loss: float) -> None:
        self.epoch = epoch
        self.loss = loss
        super().__init__(
            f"training diverged in epoch {epoch} (loss {loss:.4g}): "
            "lower the learning rate or the momentum"
        )


class NotFittedError(TunerError, ValueError):
    """A model was used for prediction before `fit` (or `load`)."""


class ModelFormatError(TunerError, ValueError):
    """A file is not a model saved by `MLPClassifierBN.save`, or is too new to read."""


# ---------------------------------------------------------------- batch norm

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
        stats: optional (mean, var) arrays of shape (n,) to write the batch mean and
            biased variance into; the model passes views of one flat array, so that
            one update moves the running averages of every layer.
        out: optional array of shape (m, n) for the result.
        overwrite_z: center z in place (z - mean) instead of allocating a copy.

    Returns:
        out: gamma * xhat + beta, shape (m, n), where xhat = (z - mean) / sqrt(var + eps).
        cache: (zc (m, n), scale (n,), std (n,), mean (n,), var (n,)), with
            zc = z - mean, std = sqrt(var + eps) and scale = gamma / std, so that
            xhat = zc / std (never stored: a pass fewer each way).
            `batchnorm_backward` reads the first three. mean and var are the batch
            statistics, for the running averages a model uses at inference time.
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
    return out, (zc, scale, std, mean, var)


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
    zc, scale, std = cache[:3]  # xhat = zc / std, scale = gamma / std
    m = dout.shape[0]
    ones = _column_weights(m, dout.dtype)
    dz, dgamma, dbeta = (None, None, None) if out is None else out
    dbeta = np.matmul(ones, dout, out=dbeta)  # dL/dbeta = sum_i dout
    dout_zc = np.multiply(dout, zc, out=work)
    dgamma = np.divide(ones @ dout_zc, std, out=dgamma)  # dL/dgamma = sum_i dout * xhat
    # dL/dz in closed form: scale/m * (m*dout - dbeta - xhat*dgamma). Distributed as
    # scale*dout - (zc*(k/std*dgamma) + k*dbeta) with k = scale/m: 4 passes over (m, n)
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


# -------------------------------------------------------------------- model


class _LayerWork(NamedTuple):
    """A hidden layer's parameters, gradients (views into the flat vectors) and the
    (m, n) arrays a training step writes; None where the layer has no such array."""

    W: np.ndarray
    dW: np.ndarray
    gamma: np.ndarray | None
    dgamma: np.ndarray | None
    beta: np.ndarray | None
    dbeta: np.ndarray | None
    b: np.ndarray | None  # without batch norm only
    db: np.ndarray | None
    stats: tuple[np.ndarray, np.ndarray] | None  # this batch's (mean, var)
    z: np.ndarray  # a_prev @ W, then z - mean
    a: np.ndarray  # the activation
    da: np.ndarray  # d loss / d a, then dz in place
    zeros: np.ndarray
    work: np.ndarray
    a_bits: np.ndarray  # a, read as integers of its width
    da_bits: np.ndarray
    mask: np.ndarray  # all ones where a > 0, else 0: ReLU's derivative



class MLPClassifierBN:
    """MLP classifier: hidden layers Linear(no bias) -> BatchNorm -> ReLU, softmax out.

    Trained by mini-batch gradient descent with momentum on the mean cross-entropy:
    `v = momentum * v + (1 - momentum) * grad; p -= learning_rate * v` for every
    trainable array (hidden W, gamma, beta; output W and b; hidden b without BN).

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

    def get_params(self) -> dict[str, Any]:
        """The hyperparameters, as given to `__init__`."""
        return {
            "hidden": self.hidden,
            "learning_rate": self.learning_rate,
            "momentum": self.momentum,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "eps": self.eps,
            "bn_decay": self.bn_decay,
            "seed": self.seed,
            "dtype": self.dtype,
            "use_batchnorm": self.use_batchnorm,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------ validation

    def _validate_params(self) -> dict[str, Any]:
        """Check every hyperparameter; return them normalized (Python scalars)."""

        def number(name: str, low: float, high: float, low_ok: bool) -> float:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise ValueError(f"{name} must be a number, got {value!r}")
            value = float(value)  # a Python float keeps float32 arrays float32
            too_low = value < low or (value == low and not low_ok)
            if not math.isfinite(value) or too_low or value >= high:
                bounds = f"{'[' if low_ok else '('}{low:g}, {high:g})"
                if math.isinf(high):
                    bounds = f"{'>=' if low_ok else '>'} {low:g}"
                raise ValueError(f"{name} must be {bounds}, got {getattr(self, name)!r}")
            return value

        def positive_int(name: str) -> int:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
            return int(value)

        hidden = self.hidden
        if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
            hidden = (hidden,)
        try:
            hidden = tuple(hidden)
        except TypeError:
            raise ValueError(
                f"hidden must be a sequence of layer sizes, got {self.hidden!r}"
            ) from None
        for units in hidden:
            if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
                raise ValueError(
                    f"hidden layer sizes must be positive integers, got {self.hidden!r}"
                )
        try:
            dtype = None if self.dtype is None else np.dtype(self.dtype).name
        except TypeError:
            dtype = None
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}, got {self.dtype!r}")
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer))
        ):
            raise ValueError(f"seed must be an integer or None, got {self.seed!r}")
        return {
            "hidden": tuple(int(u) for u in hidden),
            "learning_rate": number("learning_rate", 0.0, math.inf, low_ok=False),
            "momentum": number("momentum", 0.0, 1.0, low_ok=True),
            "epochs": positive_int("epochs"),
            "batch_size": positive_int("batch_size"),
            "eps": number("eps", 0.0, math.inf, low_ok=False),
            "bn_decay": number("bn_decay", 0.0, 1.0, low_ok=True),
            "seed": None if self.seed is None else int(self.seed),
            "dtype": np.dtype(dtype),
            "use_batchnorm": bool(self.use_batchnorm),
        }

    @staticmethod
    def _check_X(X: Any, dtype: np.dtype, name: str = "X") -> np.ndarray:
        try:
            X = np.asarray(X)
        except Exception as e:  # ragged lists and the like
            raise ValueError(f"{name} could not be read as an array: {e}") from e
        if X.ndim != 2:
            raise ValueError(
                f"{name} must be 2-D (samples, features), got an array of shape {X.shape}"
            )
        if X.shape[0] == 0:
            raise ValueError(f"{name} is empty: it has 0 samples")
        if X.shape[1] == 0:
            raise ValueError(f"{name} has 0 features")
        if X.dtype.kind not in "biuf":
            raise ValueError(f"{name} must be numeric, got dtype {X.dtype}")
        X = np.ascontiguousarray(X, dtype=dtype)
        if not np.isfinite(X).all():
            raise ValueError(f"{name} contains NaN or infinity")
        return X

    @staticmethod
    def _check_y(y: Any, n: int, name: str = "y", X_name: str = "X") -> np.ndarray:
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"{name} must be 1-D (one label per sample), got shape {y.shape}")
        if y.shape[0] != n:
            raise ValueError(
                f"{X_name} and {name} have different lengths: {n} samples vs {y.shape[0]} labels"
            )
        if y.dtype.kind == "O":
            y = y.astype(str)  # labels are saved as a unicode array, never objects
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise ValueError(f"{name} contains NaN or infinity")
        return y

    # ------------------------------------------------------------- structure

    def _build(self, n_features: int, n_classes: int) -> None:
        """Lay out parameters, gradients and running statistics as flat vectors."""
        p = self._p
        dtype, bn = p["dtype"], p["use_batchnorm"]
        sizes = (n_features, *p["hidden"])
        shapes: list[tuple[str, tuple[int, ...]]] = []
        for i, (fan_in, units) in enumerate(zip(sizes[:-1], sizes[1:])):
            shapes.append((f"W{i}", (fan_in, units)))
            if bn:
                shapes += [(f"gamma{i}", (units,)), (f"beta{i}", (units,))]
            else:
                shapes.append((f"b{i}", (units,)))
        shapes += [("W_out", (sizes[-1], n_classes)), ("b_out", (n_classes,))]

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
        self._layers = []
        offset = 0
        for i, units in enumerate(p["hidden"]):
            names = ("W", "gamma", "beta") if bn else ("W", "b")
            param = {k: self._view(self._theta, f"{k}{i}") for k in names}
            grad = {k: self._view(self._grad, f"{k}{i}") for k in param}
            if bn:
                running = self._running[offset : offset + 2 * units].reshape(2, units)
                stats = tuple(self._batch_stats[offset : offset + 2 * units].reshape(2, units))
                running[1] = 1.0  # running variance starts at 1, the mean at 0
                offset += 2 * units
            else:
                running = stats = None
            self._layers.append((param, grad, running, stats))
        self._out = (self._view(self._theta, "W_out"), self._view(self._theta, "b_out"))
        self._out_grad = (self._view(self._grad, "W_out"), self._view(self._grad, "b_out"))
        self._publish()

    def _view(self, flat: np.ndarray, name: str) -> np.ndarray:
        where, shape = self._slices[name]
        return flat[where].reshape(shape)

    def _publish(self) -> None:
        """Expose the parameters (views into theta) as sklearn-style attributes."""
        layers = self._layers
        bn = self._p["use_batchnorm"]
        self.coefs_ = [param["W"] for param, _, _, _ in layers] + [self._out[0]]
        hidden_biases = [] if bn else [param["b"] for param, _, _, _ in layers]
        self.intercepts_ = hidden_biases + [self._out[1]]
        self.gammas_ = [param["gamma"] for param, _, _, _ in layers] if bn else []
        self.betas_ = [param["beta"] for param, _, _, _ in layers] if bn else []
        self.running_mean_ = [running[0] for _, _, running, _ in layers] if bn else []
        self.running_var_ = [running[1] for _, _, running, _ in layers] if bn else []

    def _init_params(self, rng: np.random.Generator) -> None:
        """He initialization for hidden W, LeCun for the output W; gamma 1, beta and b 0."""
        for param, _, _, _ in self._layers:
            W = param["W"]
            W[...] = rng.standard_normal(W.shape) * math.sqrt(2.0 / W.shape[0])
            if "gamma" in param:
                param["gamma"][...] = 1.0
        W_out = self._out[0]
        W_out[...] = rng.standard_normal(W_out.shape) * math.sqrt(1.0 / W_out.shape[0])

    # ----------------------------------------------------- forward / backward

    def _workspace(self, m: int, larger: tuple | None = None) -> tuple[list[tuple], tuple]:
        """Parameters, gradients and scratch arrays for mini-batches of m rows.

        Every array a training step writes is allocated here, once per fit: a step
        allocates no large array (a fresh 256 KiB array costs page faults whenever
        malloc has handed the memory back to the OS). Given the workspace of a
        `larger` batch, the (m, n) arrays are its first m rows, so the short last
        batch of an epoch works in memory the cache already holds.

        Returns:
            hidden: a `_LayerWork` per hidden layer.
            output: (W_out, dW_out, b_out as a (k, 1) column, db_out, logits (k, m)).
                The logits are kept transposed so that the softmax reduces over
                contiguous rows, which numpy does several times faster.
        """
        dtype = self._p["dtype"]
        bits = np.int32 if dtype == np.float32 else np.int64  # same width, for the ReLU mask
        hidden = []
        for i, (param, grad, _, stats) in enumerate(self._layers):
            n = param["W"].shape[1]
            if larger is None:
                z, a, da, zeros, work = (np.zeros((m, n), dtype) for _ in range(5))
                mask = np.zeros((m, n), bits)
            else:
                big = larger[0][i]
                z, a, da, zeros, work, mask = (
                    x[:m] for x in (big.z, big.a, big.da, big.zeros, big.work, big.mask)
                )
            hidden.append(_LayerWork(
                param["W"], grad["W"],
                param.get("gamma"), grad.get("gamma"),
                param.get("beta"), grad.get("beta"),
                param.get("b"), grad.get("b"),
                stats, z, a, da, zeros, work, a.view(bits), da.view(bits), mask,
            ))  # fmt: skip
        (W_out, b_out), (dW_out, db_out) = self._out, self._out_grad
        output = (W_out, dW_out, b_out[:, None], db_out, np.empty((b_out.shape[0], m), dtype))
        return hidden, output

    def _forward_backward(
        self, X: np.ndarray, YT: np.ndarray, q: float, scale: float, workspace: tuple
    ) -> float:
        """One mini-batch in training mode: the loss, and the gradients into `_grad`.

        Args:
            X: inputs of shape (m, d), in the model's dtype.
            YT: one-hot labels times `q`, transposed: shape (k, m).
            q: the factor in `YT` (pre-scaled once per fit, so dlogits costs no pass).
            scale: every gradient written to `_grad` is multiplied by it (the
                optimizer's `learning_rate * (1 - momentum)`; 1 for the true gradient).
            workspace: `_workspace(m)`.

        Returns:
            The mean cross-entropy of the batch, a Python float (NaN or inf when the
            model has diverged). The batch statistics of BN are in `_batch_stats`.
        """
        hidden, (W_out, dW_out, b_out, db_out, logits) = workspace
        m = X.shape[0]
        eps = self._p["eps"]
        caches = []
        a_prev = X
        shift = hidden[0].mask.itemsize * 8 - 1 if hidden else 0
        for W, _, gamma, _, beta, _, b, _, stats, z, a, _, zeros, _, a_bits, _, mask in hidden:
            if stats is not None:
                np.matmul(a_prev, W, out=z)  # z = a_prev @ W, no bias
                caches.append(
                    batchnorm_forward(z, gamma, beta, eps, stats=stats, out=a, overwrite_z=True)[1]
                )
            else:
                np.matmul(a_prev, W, out=a)
                a += b
            np.maximum(a, zeros, out=a)  # ReLU (an array of zeros is 4x faster than 0)
            # ReLU's derivative, as a bit mask for the backward pass, made while `a` is in
            # cache: a >= 0, so its bits read as an integer are > 0 exactly where a > 0,
            # and there -bits >> (width - 1) is all ones; elsewhere it is 0
            np.right_shift(np.negative(a_bits, out=mask), shift, out=mask)
            a_prev = a

        # softmax cross-entropy on transposed logits (k, m)
        np.matmul(W_out.T, a_prev.T, out=logits)
        logits += b_out
        logits -= np.maximum.reduce(logits, axis=0)  # stable: the largest logit is 0
        picked = float(np.vdot(logits, YT)) / q  # sum of the true classes' logits
        np.exp(logits, out=logits)
        s = np.add.reduce(logits, axis=0)  # (m,)
        loss = (float(np.add.reduce(np.log(s))) - picked) / m

        # dL/dlogits = (softmax - onehot) / m, times scale
        logits *= np.divide(q, s, out=s)
        logits -= YT
        factor = scale / (m * q)
        if factor != 1.0:
            logits *= factor
        dlogits = logits.T  # (m, k)
        np.matmul(a_prev.T, dlogits, out=dW_out)
        np.matmul(logits, _column_weights(m, logits.dtype), out=db_out)
        if not hidden:
            return loss
        np.matmul(dlogits, W_out.T, out=hidden[-1].da)
        for i in range(len(hidden) - 1, -1, -1):
            W, dW, _, dgamma, _, dbeta, _, db, stats, _, _, da, _, work, _, da_bits, mask = (
                hidden[i]
            )
            np.bitwise_and(da_bits, mask, out=da_bits)  # ReLU backward: da where a > 0, else 0
            if stats is not None:
                # da becomes dz, in place
                batchnorm_backward(da, caches[i], out=(da, dgamma, dbeta), work=work)
            else:
                np.matmul(_column_weights(m, da.dtype), da, out=db)
            if i:
                np.matmul(hidden[i - 1].a.T, da, out=dW)
                np.matmul(da, W.T, out=hidden[i - 1].da)
            else:
                np.matmul(X.T, da, out=dW)
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
        m, k = X.shape[0], self._out[1].shape[0]
        YT = np.zeros((k, m), dtype=self._p["dtype"])
        YT[y_index, np.arange(m)] = 1.0
        loss = self._forward_backward(X, YT, 1.0, 1.0, self._workspace(m))
        return loss, {name: self._view(self._grad, name).copy() for name in self._slices}

    def _predict_logits(self, X: np.ndarray) -> np.ndarray:
        """Logits in inference mode (BN with running statistics), shape (m, k)."""
        eps = self._p["eps"]
        a = X
        for param, _, running, _ in self._layers:
            z = a @ param["W"]
            if running is not None:
                mean, var = running
                out = batchnorm_inference(z, param["gamma"], param["beta"], mean, var, eps)
            else:
                out = z
                out += param["b"]
            a = np.maximum(out, 0.0, out=out)
        logits = a @ self._out[0]
        logits += self._out[1]
        return logits

    @staticmethod
    def _softmax_inplace(logits: np.ndarray) -> np.ndarray:
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        return logits

    # --------------------------------------------------------------- fitting

    def fit(
        self,
        X: Any,
        y: Any,
        X_val: Any = None,
        y_val: Any = None,
        on_epoch: Callable[[int, dict[str, float]], bool | None] | None = None,
    ) -> MLPClassifierBN:
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
        p = self._p = self._validate_params()
        dtype = p["dtype"]
        X = self._check_X(X, dtype)
        y = self._check_y(y, X.shape[0])
        classes, y_index = np.unique(y, return_inverse=True)
        if classes.shape[0] < 2:
            raise ValueError(
                f"y has a single class ({classes[0]!r}): a classifier needs at least 2"
            )
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together")
        validate = X_val is not None
        if validate:
            X_val = self._check_X(X_val, dtype, "X_val")
            if X_val.shape[1] != X.shape[1]:
                raise ValueError(
                    f"X_val has {X_val.shape[1]} features, but X has {X.shape[1]}"
                )
            y_val = self._check_y(y_val, X_val.shape[0], "y_val", "X_val")
            if y_val.dtype.kind != classes.dtype.kind and not (
                y_val.dtype.kind in "iu" and classes.dtype.kind in "iu"
            ):
                raise ValueError(
                    f"y_val's labels ({y_val.dtype}) are not of the kind of y's ({classes.dtype})"
                )
            val_index = np.searchsorted(classes, y_val)
            val_index = np.minimum(val_index, classes.shape[0] - 1)
            unseen = classes[val_index] != y_val
            if unseen.any():
                raise ValueError(
                    f"y_val has labels that are not in y: {np.unique(y_val[unseen])[:5].tolist()}"
                )

        self._reset_fitted()
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        n, k = X.shape[0], classes.shape[0]
        rng = np.random.default_rng(p["seed"])
        self._build(X.shape[1], k)
        self._init_params(rng)

        batch = min(p["batch_size"], n)
        lr, beta_m, decay = p["learning_rate"], p["momentum"], p["bn_decay"]
        scale = lr * (1.0 - beta_m)  # folded into the gradients: _grad = scale * grad
        q = scale / batch  # one-hot labels pre-scaled so dlogits needs no extra pass
        YT = np.zeros((k, n), dtype=dtype)
        YT[y_index, np.arange(n)] = q
        Xs, YsT = np.empty_like(X), np.empty_like(YT)  # shuffled copies, rewritten each epoch
        full = self._workspace(batch)
        batches = []  # (rows, labels, workspace, size), views of the shuffled copies
        for start in range(0, n, batch):
            size = min(batch, n - start)
            workspace = full if size == batch else self._workspace(size, larger=full)
            rows, labels = Xs[start : start + size], YsT[:, start : start + size]
            batches.append((rows, labels, workspace, size))
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
                        val_loss, val_accuracy = self._evaluate(X_val, val_index)
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

    def _evaluate(self, X: np.ndarray, y_index: np.ndarray) -> tuple[float, float]:
        """Mean cross-entropy and accuracy in inference mode."""
        logits = self._predict_logits(X)
        logits -= logits.max(axis=1, keepdims=True)
        rows = np.arange(X.shape[0])
        log_norm = np.log(np.exp(logits).sum(axis=1))
        loss = float(np.mean(log_norm - logits[rows, y_index]))
        accuracy = float(np.mean(logits.argmax(axis=1) == y_index))
        return loss, accuracy

    _FITTED = (
        "coefs_", "intercepts_", "gammas_", "betas_", "running_mean_", "running_var_",
        "classes_", "n_features_in_", "n_epochs_", "loss_curve_", "history_",
    )

    def _reset_fitted(self) -> None:
        for name in self._FITTED:
            self.__dict__.pop(name, None)

    # ------------------------------------------------------------ prediction

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_epochs_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit (or load) first"
            )

    def _check_fitted_X(self, X: Any) -> np.ndarray:
        self._check_fitted()
        X = self._check_X(X, self._p["dtype"])
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but the model was fitted with {self.n_features_in_}"
            )
        return X

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (m, k), columns in the order of `classes_`."""
        X = self._check_fitted_X(X)
        with np.errstate(over="ignore", under="ignore"):
            return self._softmax_inplace(self._predict_logits(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class label of each row, shape (m,)."""
        X = self._check_fitted_X(X)
        return self.classes_[self._predict_logits(X).argmax(axis=1)]

    def score(self, X: Any, y: Any) -> float:
        """Accuracy of `predict(X)` against `y`."""
        X = self._check_fitted_X(X)
        y = self._check_y(y, X.shape[0])
        return float(np.mean(self.classes_[self._predict_logits(X).argmax(axis=1)] == y))

    # ---------------------------------------------------------- persistence

    def save(self, path: str | os.PathLike, **extra_arrays: np.ndarray) -> None:
        """Write the fitted model to `path` as an npz file, without pickles.

        The file holds `theta`, every parameter in one flat vector (W0, gamma0, beta0,
        ..., W_out, b_out, in that order), `running`, the running statistics
        (mean0, var0, mean1, ...), `classes`, the labels (a unicode array for
        strings), and a 0-d unicode array of JSON metadata: format name and version,
        hyperparameters, labels and their kind, the training history.

        Args:
            path: the file to write, exactly (no ".npz" is appended).
            extra_arrays: more arrays to store beside the model (e.g. a scaler's
                mean and scale); `load` returns them in the model's `extra_` dict.
        """
        self._check_fitted()
        classes = self.classes_
        if classes.dtype.kind not in "biufU":
            raise ValueError(f"cannot save class labels of dtype {classes.dtype}")
        arrays = {"theta": self._theta, "running": self._running, "classes": classes}
        for name, value in extra_arrays.items():
            value = np.asarray(value)
            if value.dtype.kind == "O":
                raise ValueError(
                    f"extra array {name!r} has object dtype: it cannot be saved without pickle"
                )
            arrays[_EXTRA_PREFIX + name] = value
        p = self._p
        meta = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "params": {
                **{name: p[name] for name in self.get_params()},
                "hidden": list(p["hidden"]),
                "dtype": p["dtype"].name,
            },
            "n_features_in": int(self.n_features_in_),
            "classes": classes.tolist(),
            "classes_kind": classes.dtype.kind,
            "n_epochs": int(self.n_epochs_),
            "history": self.history_,
        }
        arrays[_META_KEY] = np.array(json.dumps(meta))
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> MLPClassifierBN:
        """Read a model written by `save`; extra arrays are in its `extra_` dict.

        Raises:
            ModelFormatError: the file is not a tuner model, or was written by a
                newer tuner (a ValueError and a TunerError).
        """
        where = os.fspath(path)
        try:
            npz = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ModelFormatError(f"{where} is not a tuner model file: {e}") from e
        with npz:
            if not isinstance(npz, Mapping) or _META_KEY not in npz.files:
                raise ModelFormatError(
                    f"{where} is not a tuner model file (no {FORMAT_NAME} metadata)"
                )
            try:
                meta = json.loads(str(npz[_META_KEY][()]))
            except (ValueError, TypeError) as e:
                raise ModelFormatError(
                    f"{where} is not a tuner model file: bad metadata ({e})"
                ) from e
            if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
                raise ModelFormatError(f"{where} is not a {FORMAT_NAME} model file")
            version = meta.get("format_version")
            if not isinstance(version, int) or version > FORMAT_VERSION:
                raise ModelFormatError(
                    f"{where} has format_version {version}, newer than this tuner reads "
                    f"({FORMAT_VERSION}): upgrade tuner to load it"
                )
            try:
                arrays = {name: npz[name] for name in npz.files}
            except ValueError as e:  # object arrays, refused without pickle
                raise ModelFormatError(f"{where} is not a tuner model file: {e}") from e
        try:
            params = dict(meta["params"], hidden=tuple(meta["params"]["hidden"]))
            clf = cls(**params)
            clf._p = clf._validate_params()
            classes = arrays["classes"]
            clf._build(int(meta["n_features_in"]), classes.shape[0])
            for name, expected in (("theta", clf._theta), ("running", clf._running)):
                if arrays[name].shape != expected.shape:
                    raise ValueError(f"{name} does not match the architecture")
            clf._theta[...] = arrays["theta"]
            clf._running[...] = arrays["running"]
            history = list(meta["history"])
        except (KeyError, TypeError, ValueError) as e:
            raise ModelFormatError(f"{where} is a damaged tuner model file: {e!r}") from e
        clf.classes_ = classes
        clf.n_features_in_ = int(meta["n_features_in"])
        clf.n_epochs_ = int(meta["n_epochs"])
        clf.history_ = history
        clf.loss_curve_ = [h["train_loss"] for h in history]
        clf.extra_ = {
            name[len(_EXTRA_PREFIX) :]: value
            for name, value in arrays.items()
            if name.startswith(_EXTRA_PREFIX)
        }
        return clf

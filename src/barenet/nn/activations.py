"""Activation functions: forward and derivative, batch-major.

Shapes: ``z`` and ``y`` are (N, units) (a single vector (units,) works too). Every forward
function writes into ``out`` when it is given, so the training loop can reuse buffers.

Derivatives are computed from the layer *output* ``y`` where the math allows, as the classic
exercises do:

=============  ========================================  ==========================
name           forward  y = f(z)                          derivative  dy/dz
=============  ========================================  ==========================
``sigmoid``    1 / (1 + exp(-z))                          y (1 - y)
``tanh``       tanh(z)                                    1 - y^2
``relu``       max(z, 0)                                  1[y > 0]
``leaky_relu`` z if z > 0 else a z   (a = 0.01)           1 if y > 0 else a
``identity``   z                                          1
``softmax``    exp(z_k - max z) / sum_j exp(z_j - max z)   Jacobian diag(y) - y y^T
=============  ========================================  ==========================

Softmax normalizes over the class axis (the last one), never over the whole array. Its
backward is the Jacobian-vector product ``g_z = y * (g_y - sum_k g_y,k y_k)``; when softmax is
paired with cross-entropy the model skips it and uses the fused gradient ``p - y`` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import BarenetError
from .subnormal import flush_tiny

Array = np.ndarray

LEAKY_SLOPE = 0.01


def sigmoid(z: Array, out: Array | None = None) -> Array:
    """Overflow-free logistic function, ``1 / (1 + exp(-z))``.

    Uses ``exp(-|z|)``, which never overflows: for z >= 0, ``1 / (1 + e)``; for z < 0,
    ``e / (1 + e)`` with ``e = exp(-|z|) = exp(z)``. No warning and no NaN for any finite input.
    """
    z = np.asarray(z)
    negative = z < 0  # taken before ``out`` (which may be ``z``) is overwritten
    if out is None:
        out = np.empty_like(z, dtype=np.result_type(z.dtype, np.float32))
    # exp(-|z|) underflows to 0 for large |z|: the right limit, so no warning even when the
    # caller has set np.seterr(all="raise") or "warn".
    with np.errstate(under="ignore"):
        e = np.exp(-np.abs(z))
        np.divide(1.0, 1.0 + e, out=out)
        np.multiply(out, e, out=out, where=negative)
    return flush_tiny(out)  # a saturated unit gives 0, not a subnormal (barenet.nn.subnormal)


def sigmoid_grad(y: Array) -> Array:
    """dy/dz = y (1 - y), from the output y."""
    return y * (1.0 - y)


def tanh(z: Array, out: Array | None = None) -> Array:
    """Hyperbolic tangent (never overflows)."""
    return np.tanh(z, out=out)


def tanh_grad(y: Array) -> Array:
    """dy/dz = 1 - y^2, from the output y."""
    return 1.0 - y * y


def relu(z: Array, out: Array | None = None) -> Array:
    """max(z, 0)."""
    return np.maximum(z, 0, out=out)


def relu_grad(y: Array) -> Array:
    """dy/dz = 1 where y > 0, else 0 (0 at z = 0 by convention), from the output y."""
    return (y > 0).astype(y.dtype)


def leaky_relu(z: Array, out: Array | None = None) -> Array:
    """z where z > 0, else 0.01 z."""
    z = np.asarray(z)
    if out is None:
        out = np.empty_like(z, dtype=np.result_type(z.dtype, np.float32))
    np.multiply(z, np.where(z > 0, 1.0, LEAKY_SLOPE).astype(out.dtype), out=out)
    return out


def leaky_relu_grad(y: Array) -> Array:
    """dy/dz = 1 where y > 0, else 0.01 (the sign of y equals the sign of z)."""
    return np.where(y > 0, 1.0, LEAKY_SLOPE).astype(y.dtype)


def identity(z: Array, out: Array | None = None) -> Array:
    """y = z."""
    if out is None:
        return np.array(z, copy=True)
    np.copyto(out, z)
    return out


def identity_grad(y: Array) -> Array:
    """dy/dz = 1."""
    return np.ones_like(y)


def softmax(z: Array, out: Array | None = None) -> Array:
    """Numerically stable softmax over the last (class) axis.

    ``y_k = exp(z_k - max_j z_j) / sum_j exp(z_j - max_j z_j)``: subtracting the row maximum
    keeps every exponent <= 0, so nothing overflows and the largest term is exactly 1. Works
    on one vector (C,) or a batch (N, C).
    """
    z = np.asarray(z)
    if out is None:
        out = np.empty_like(z, dtype=np.result_type(z.dtype, np.float32))
    # z - max <= 0 can only overflow towards -inf (e.g. -3e38 - 3e38 in float32) and exp can
    # only underflow towards 0: both give the right limit, so neither is worth a warning.
    with np.errstate(over="ignore", under="ignore"):
        np.subtract(z, z.max(axis=-1, keepdims=True), out=out)
        np.exp(out, out=out)
    out /= out.sum(axis=-1, keepdims=True)
    return flush_tiny(out)  # a saturated unit gives 0, not a subnormal (barenet.nn.subnormal)


def softmax_backward(y: Array, grad_y: Array) -> Array:
    """Jacobian-vector product of softmax: ``g_z = y * (g_y - sum_k g_y,k * y_k)``."""
    return y * (grad_y - np.sum(grad_y * y, axis=-1, keepdims=True))


@dataclass(frozen=True)
class Activation:
    """An activation's forward function and its backward rule.

    ``backward(y, grad_y)`` returns dL/dz given the output y = f(z) and dL/dy.
    """

    name: str
    forward: Callable[..., Array]
    derivative: Callable[[Array], Array] | None

    def backward(self, y: Array, grad_y: Array) -> Array:
        if self.name == "identity":
            return grad_y
        if self.name == "relu":
            return np.multiply(grad_y, y > 0)
        if self.name == "softmax":
            grad_z = softmax_backward(y, grad_y)
        else:
            assert self.derivative is not None
            grad_z = grad_y * self.derivative(y)
        # a saturated unit's tiny derivative times a small dL/dy can be subnormal: make it 0
        return flush_tiny(grad_z)  # (barenet.nn.subnormal)


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_grad),
    "relu": Activation("relu", relu, relu_grad),
    "leaky_relu": Activation("leaky_relu", leaky_relu, leaky_relu_grad),
    "tanh": Activation("tanh", tanh, tanh_grad),
    "softmax": Activation("softmax", softmax, None),
    "identity": Activation("identity", identity, identity_grad),
}


def get_activation(name: str) -> Activation:
    """Look an activation up by name; a ValueError lists the valid names."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise BarenetError(
            f"unknown activation {name!r}; choose one of: {', '.join(ACTIVATIONS)}"
        ) from None

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

Backward: :data:`DERIVATIVES` maps each name to one function ``(y, g_y) -> g_z`` that writes
dL/dz over dL/dy, as scikit-learn's ``DERIVATIVES`` (the elementwise ones are
:class:`TimesDerivative`: ``g_y * derivative(y)``). The layers call it through
:meth:`Activation.backward_into`; :meth:`Activation.backward` is the copying form.
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


# ----------------------------------------------------------------------------- backward
# One table: for each activation, a plain function (y, g) -> dL/dz, from the output y and
# g = dL/dy, written over g (the layer owns g, so this allocates nothing parameter-sized).
Backward = Callable[[Array, Array], Array]


@dataclass(frozen=True)
class TimesDerivative:
    """The backward of an elementwise activation, ``g_z = g_y * f'(y)``, written over g_y."""

    derivative: Callable[[Array], Array]

    def __call__(self, y: Array, grad_y: Array) -> Array:
        grad_y *= self.derivative(y)
        return grad_y


def identity_backward(y: Array, grad_y: Array) -> Array:
    """g_z = g_y (dy/dz = 1: nothing to multiply)."""
    return grad_y


def softmax_backward(y: Array, grad_y: Array) -> Array:
    """Jacobian-vector product of softmax, ``g_z = y * (g_y - sum_k g_y,k * y_k)``, in place."""
    grad_y -= np.sum(grad_y * y, axis=-1, keepdims=True)
    grad_y *= y
    return grad_y


#: Backward rules that only copy or mask dL/dy, so they cannot make a new subnormal.
EXACT_BACKWARD = ("relu", "identity")

DERIVATIVES: dict[str, Backward] = {
    "sigmoid": TimesDerivative(sigmoid_grad), "tanh": TimesDerivative(tanh_grad),
    "relu": TimesDerivative(relu_grad), "leaky_relu": TimesDerivative(leaky_relu_grad),
    "identity": identity_backward, "softmax": softmax_backward,
}


@dataclass(frozen=True)
class Activation:
    """An activation: its forward function, its derivative dy/dz from y (None for softmax,
    whose Jacobian is not diagonal) and its in-place backward (default: g_y * derivative(y)).
    """

    name: str
    forward: Callable[..., Array]
    derivative: Callable[[Array], Array] | None
    backward_in_place: Backward | None = None

    def backward(self, y: Array, grad_y: Array) -> Array:
        """dL/dz given the output y = f(z) and dL/dy, as a new array (``grad_y`` is kept)."""
        return self.backward_into(y, np.array(grad_y, dtype=np.result_type(grad_y, y)))

    def backward_into(self, y: Array, grad_y: Array) -> Array:
        """dL/dz written over ``grad_y`` (which the caller owns) and returned."""
        if self.backward_in_place is not None:
            grad_z = self.backward_in_place(y, grad_y)
        else:
            assert self.derivative is not None
            grad_z = TimesDerivative(self.derivative)(y, grad_y)
        if self.name in EXACT_BACKWARD:
            return grad_z
        # a saturated unit's tiny derivative times a small dL/dy can be subnormal: make it 0
        return flush_tiny(grad_z)  # (barenet.nn.subnormal)


_FORWARD = {"sigmoid": (sigmoid, sigmoid_grad), "relu": (relu, relu_grad),
            "leaky_relu": (leaky_relu, leaky_relu_grad), "tanh": (tanh, tanh_grad),
            "softmax": (softmax, None), "identity": (identity, identity_grad)}
ACTIVATIONS: dict[str, Activation] = {
    name: Activation(name, forward, derivative, DERIVATIVES[name])
    for name, (forward, derivative) in _FORWARD.items()
}


def get_activation(name: str) -> Activation:
    """Look an activation up by name; a ValueError lists the valid names."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise BarenetError(
            f"unknown activation {name!r}; choose one of: {', '.join(ACTIVATIONS)}"
        ) from None

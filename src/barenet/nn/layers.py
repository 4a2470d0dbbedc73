"""Layers: Dense, activation layers, inverted Dropout and Gaussian noise, each a forward/backward
pair (batch normalization is in :mod:`barenet.nn.normalization`).

Conventions (batch-major, one row per sample):

* ``x`` is (N, n_in); a Dense layer's weights ``W`` are (n_in, n_out) and its bias ``b`` is
  (n_out,). This layout keeps both products of the forward and backward pass contiguous for
  BLAS: ``x @ W`` (forward) and ``x.T @ g`` (weight gradient, a transposed view, no copy).
* ``forward(x, training)`` keeps what ``backward`` needs (a reference, not a copy) and nothing
  more; ``backward(g)`` receives dL/d(output) and returns dL/d(input), storing the parameter
  gradients beside the parameters (``dW`` beside ``W``, ``db`` beside ``b``).
* Outputs are written into buffers owned by the layer and reused while the batch size stays the
  same, so a training step allocates almost nothing. A buffer stays valid until the layer's
  next ``forward``.
* ``infer(x)`` is the inference-mode forward into new arrays, keeping no state: what
  :class:`barenet.MLP` hands to users, safe to call from several threads at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import BarenetError
from .activations import get_activation
from .init import initialize

Array = np.ndarray


@dataclass
class Param:
    """A trainable array, its gradient (same shape) and whether weight decay applies to it.

    ``value`` and ``grad`` are updated in place, never rebound, so a Param stays valid for the
    life of its layer.
    """

    name: str
    value: Array
    grad: Array
    decay: bool


def pack(arrays: Sequence[Array], dtype: np.dtype | type | None = None) -> tuple[Array, list[Array]]:
    """One contiguous vector holding ``arrays`` back to back, and views of it shaped like each.

    ``vector`` (sum of sizes,) and ``views[i]`` (arrays[i].shape) share memory: writing a view
    writes the vector. :class:`~barenet.MLP` stores its parameters and gradients this way, and
    the optimizers their state, so that an elementwise update is one pass over one vector
    instead of one pass per array (one NumPy call instead of one per layer).
    """
    dtype = np.dtype(dtype) if dtype is not None else np.result_type(*arrays)
    vector = np.empty(sum(a.size for a in arrays), dtype=dtype)
    views, start = [], 0
    for a in arrays:
        view = vector[start:start + a.size].reshape(a.shape)
        view[...] = a
        views.append(view)
        start += a.size
    return vector, views


def packed_vector(arrays: Sequence[Array]) -> Array | None:
    """The 1-D vector that ``arrays`` tile back to back, in order (as made by :func:`pack`),
    or None when they are stored any other way."""
    if not arrays:
        return None
    vector = arrays[0].base
    if (not isinstance(vector, np.ndarray) or vector.ndim != 1
            or vector.size != sum(a.size for a in arrays)):
        return None
    position = vector.ctypes.data
    for a in arrays:
        if a.base is not vector or a.ctypes.data != position or not a.flags.c_contiguous:
            return None
        position += a.nbytes
    return vector


def backward_before_forward() -> BarenetError:
    """The error of a ``backward`` with no batch from a training ``forward`` to go back through."""
    return BarenetError("backward() called before forward(training=True): there is no batch to "
                        "backpropagate through")


def reuse_buffer(current: Array | None, shape: tuple[int, ...], dtype: np.dtype) -> Array:
    """Reuse ``current`` when it already has this shape and dtype, else allocate."""
    if current is None or current.shape != shape or current.dtype != dtype:
        return np.empty(shape, dtype=dtype)
    return current


def initial_bias(spec: float | str, rng: np.random.Generator, n_out: int, dtype: np.dtype,
                 activation: str = "relu") -> Array:
    """Initial bias (n_out,): a constant (a number, or a string holding one), or an initializer
    spec such as ``"uniform(-1,1)"`` drawn like one more input row of W (the exercises' folded
    bias column, E1)."""
    try:
        value = float(spec)
    except (TypeError, ValueError):
        return initialize(str(spec), rng, 1, n_out, dtype, activation).reshape(n_out)
    if not np.isfinite(value):
        raise BarenetError(f"bias_init must be finite; got {spec!r}")
    return np.full(n_out, value, dtype=dtype)


class Dense:
    """Affine layer ``z = x W + b``.

    Forward:  x (N, n_in), W (n_in, n_out), b (n_out,)  ->  z (N, n_out).
    Backward, given g = dL/dz (N, n_out):
        dL/dW = x^T g            (n_in, n_out)
        dL/db = sum_i g_i        (n_out,)
        dL/dx = g W^T            (N, n_in)   (skipped for the first layer)

    ``use_bias=False`` keeps ``b`` at zero and ``db`` at zero (a batch normalization follows,
    which subtracts any constant: its ``beta`` is the bias); ``b`` stays in :meth:`params`, so
    every Dense layer has the same two arrays in files and exports.
    """

    PARAMS = (("W", "dW"), ("b", "db"))
    use_bias = True  # (a class default: layers pickled before the option existed have a bias)

    def __init__(
        self, n_in: int, n_out: int, *, init: str = "auto", activation: str = "relu",
        bias_init: float | str = 0.0, rng: np.random.Generator | None = None,
        dtype: np.dtype | type = np.float32, use_bias: bool = True,
    ) -> None:
        if int(n_in) < 1 or int(n_out) < 1:
            raise BarenetError(f"layer sizes must be positive integers; got {n_in} -> {n_out}")
        rng = rng if rng is not None else np.random.default_rng()
        dtype = np.dtype(dtype)
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.init = init
        self.W = initialize(init, rng, self.n_in, self.n_out, dtype, activation)
        self.use_bias = bool(use_bias)
        self.b = (initial_bias(bias_init, rng, self.n_out, dtype, activation) if self.use_bias
                  else np.zeros(self.n_out, dtype=dtype))
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)
        self._x: Array | None = None
        self._z: Array | None = None
        self._dx: Array | None = None

    def forward(self, x: Array, training: bool = False) -> Array:
        self._x = x
        z = self._z = reuse_buffer(self._z, (x.shape[0], self.n_out), self.W.dtype)
        np.matmul(x, self.W, out=z)
        if self.use_bias:
            z += self.b
        return z

    def infer(self, x: Array) -> Array:
        z = x @ self.W  # x may also be a scipy.sparse matrix: the product is dense
        z += self.b
        return np.asarray(z)

    def backward(self, g: Array, need_input_grad: bool = True) -> Array | None:
        x = self._x
        if x is None:
            raise backward_before_forward()
        np.matmul(x.T, g, out=self.dW)
        if self.use_bias:
            np.sum(g, axis=0, out=self.db)
        if not need_input_grad:
            return None
        dx = self._dx = reuse_buffer(self._dx, x.shape, self.W.dtype)
        np.matmul(g, self.W.T, out=dx)
        return dx

    def params(self) -> list[Param]:
        return [Param("W", self.W, self.dW, True), Param("b", self.b, self.db, False)]

    def buffers(self) -> list[Array]:
        """The arrays this layer keeps between forward and backward (input, output, input
        gradient), for checks of their contents; the parameters are in :meth:`params`."""
        return [a for a in (self._x, self._z, self._dx) if a is not None]

    def describe(self) -> str:
        return f"Dense({self.n_in} -> {self.n_out})"


class ActivationLayer:
    """Elementwise (or softmax) nonlinearity ``y = f(z)``, applied in place on ``z``.

    Backward uses the output only: ``dL/dz = dL/dy * f'(y)`` (softmax: the Jacobian product),
    by the activation's function in :data:`barenet.nn.activations.DERIVATIVES`. It always
    overwrites ``g`` (dL/dy, a buffer of the layer above or the loss gradient) with dL/dz.
    """

    def __init__(self, name: str) -> None:
        self.activation = get_activation(name)
        self.name = name
        self._y: Array | None = None

    def forward(self, z: Array, training: bool = False) -> Array:
        y = self.activation.forward(z, out=z)
        self._y = y
        return y

    def infer(self, z: Array) -> Array:
        return self.activation.forward(z, out=z)  # z: the new output of the Dense below

    def backward(self, g: Array, need_input_grad: bool = True) -> Array:
        y = self._y
        if y is None:
            raise backward_before_forward()
        return self.activation.backward_into(y, g)

    def params(self) -> list[Param]:
        return []

    def buffers(self) -> list[Array]:
        """The output kept for backward (see :meth:`Dense.buffers`)."""
        return [self._y] if self._y is not None else []

    def describe(self) -> str:
        return self.name


class StochasticLayer:
    """What Dropout and GaussianNoise share: random in training (drawn from ``rng``), the
    identity in inference, no parameters, and ``freeze()``, which keeps the current draw for
    every later forward (used by gradient checks)."""

    def __init__(self, rng: np.random.Generator | None = None) -> None:
        self.rng = rng if rng is not None else np.random.default_rng()
        self.frozen = False

    def infer(self, x: Array) -> Array:
        return x

    def freeze(self, frozen: bool = True) -> None:
        self.frozen = frozen

    def params(self) -> list[Param]:
        return []


class Dropout(StochasticLayer):
    """Inverted dropout with drop probability ``rate``.

    Training: ``y = x * m`` with ``m_ij = 1[u_ij >= rate] / (1 - rate)``, u ~ U[0, 1), so the
    expected activation is unchanged and inference is the identity. Backward: ``g * m``.
    ``freeze()`` keeps the current mask for every later forward (used by gradient checks).
    """

    def __init__(self, rate: float, rng: np.random.Generator | None = None) -> None:
        if not 0.0 <= float(rate) < 1.0:
            raise BarenetError(f"dropout rate must be in [0, 1); got {rate}")
        super().__init__(rng)
        self.rate = float(rate)
        self._mask: Array | None = None
        self._y: Array | None = None

    def forward(self, x: Array, training: bool = False) -> Array:
        if not training or self.rate == 0.0:
            self._mask = None
            return x
        if not (self.frozen and self._mask is not None and self._mask.shape == x.shape):
            keep = self.rng.random(
                x.shape, dtype=np.float64 if x.dtype == np.float64 else np.float32)
            self._mask = ((keep >= self.rate) / (1.0 - self.rate)).astype(x.dtype)
        y = self._y = reuse_buffer(self._y, x.shape, x.dtype)
        np.multiply(x, self._mask, out=y)
        return y

    def backward(self, g: Array, need_input_grad: bool = True) -> Array:
        if self._mask is None:
            return g
        np.multiply(g, self._mask, out=g)
        return g

    def buffers(self) -> list[Array]:
        """The mask and output kept between forward and backward (see :meth:`Dense.buffers`)."""
        return [a for a in (self._mask, self._y) if a is not None]

    def describe(self) -> str:
        return f"Dropout({self.rate:g})"


class GaussianNoise(StochasticLayer):
    """Additive Gaussian noise of standard deviation ``sigma``, in training only.

    Training: ``y = x + sigma * e`` with e ~ N(0, 1) drawn afresh for every entry of every
    batch (N, n); inference is the identity. Backward: ``dL/dx = dL/dy`` (the noise does not
    depend on x). ``MLP(noise=s)`` adds it to each hidden layer's (normalized) pre-activation
    and ``MLP(input_noise=s)`` to the inputs: the noisy encoder of Rasmus et al. 2015's ladder
    networks, a regularizer of the dropout family (no training sample is transformed or added).
    """

    def __init__(self, sigma: float, rng: np.random.Generator | None = None) -> None:
        if not (np.isfinite(float(sigma)) and float(sigma) >= 0.0):
            raise BarenetError(f"noise must be a finite standard deviation >= 0; got {sigma}")
        super().__init__(rng)
        self.sigma = float(sigma)
        self._noise: Array | None = None
        self._y: Array | None = None

    def forward(self, x: Array, training: bool = False) -> Array:
        if not training or self.sigma == 0.0:
            return x
        if not (self.frozen and self._noise is not None and self._noise.shape == x.shape):
            noise = self._noise = reuse_buffer(self._noise, x.shape, x.dtype)
            self.rng.standard_normal(out=noise, dtype=noise.dtype)
            noise *= self.sigma
        y = self._y = reuse_buffer(self._y, x.shape, x.dtype)
        np.add(x, self._noise, out=y)
        return y

    def backward(self, g: Array, need_input_grad: bool = True) -> Array:
        return g

    def buffers(self) -> list[Array]:
        """The noise and output kept between forward and backward (see :meth:`Dense.buffers`)."""
        return [a for a in (self._noise, self._y) if a is not None]

    def describe(self) -> str:
        return f"GaussianNoise({self.sigma:g})"


Layer = Dense | ActivationLayer | Dropout | GaussianNoise


def release_buffers(layers: Sequence[Layer]) -> None:
    """Drop what the layers keep from the last training batch (inputs, outputs, masks)."""
    for layer in layers:
        for name in ("_x", "_z", "_dx", "_y", "_mask", "_noise", "_xhat", "_scratch"):
            if getattr(layer, name, None) is not None:
                setattr(layer, name, None)

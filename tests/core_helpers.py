"""Shared helpers for the core-engine tests (activations, losses, layers, model, gradcheck).

Everything here is written independently of barenet's own math, so the tests compare the
library against a second implementation rather than against itself.
"""

from __future__ import annotations

import numpy as np

import barenet as bn
from barenet.layers import ActivationLayer, Dense, Dropout

HIDDEN = ("sigmoid", "relu", "leaky_relu", "tanh", "identity")
OUTPUT_LOSS_PAIRS = (
    ("softmax", "cross_entropy"),
    ("sigmoid", "binary_cross_entropy"),
    ("sigmoid", "squared_error"),
    ("identity", "squared_error"),
    ("softmax", "squared_error"),
    ("tanh", "squared_error"),
)
REDUCTIONS = ("mean", "sum")
KINKED = ("relu", "leaky_relu")


def reference_activation(name: str, z: np.ndarray) -> np.ndarray:
    """Textbook forward of each activation, in float64 (z moderate: no overflow care)."""
    z = np.asarray(z, dtype=np.float64)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, 0.01 * z)
    if name == "tanh":
        return np.tanh(z)
    if name == "identity":
        return z.copy()
    if name == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise AssertionError(name)


def pre_activations(model: bn.MLP, x: np.ndarray, training: bool = False) -> list[np.ndarray]:
    """Every Dense layer's pre-activation z, recomputed in float64 from the weights.

    With ``training=True`` the dropout masks the layers currently hold (from their latest
    training-mode forward) are applied, so the result matches that forward pass.
    """
    out = np.asarray(x, dtype=np.float64)
    zs = []
    for layer in model.layers:
        if isinstance(layer, Dense):
            out = out @ layer.W.astype(np.float64) + layer.b.astype(np.float64)
            zs.append(out)
        elif isinstance(layer, ActivationLayer):
            out = reference_activation(layer.name, out)
        elif isinstance(layer, Dropout) and training and layer._mask is not None:
            out = out * layer._mask
    return zs


def kink_margin(model: bn.MLP, x: np.ndarray, dropout: bool) -> float:
    """Smallest |z| over the hidden layers with a kink (ReLU family) in gradcheck's network.

    gradcheck copies the model to float64 and draws dropout masks from the copy's generator;
    ``astype`` is deterministic, so repeating that here reproduces its exact masks.
    """
    kinked = [i for i, h in enumerate(model.hidden) if h in KINKED]
    if not kinked:
        return np.inf
    net = model.astype(np.float64)
    for layer in net.layers:
        if isinstance(layer, Dropout) and not dropout:
            layer.rate = 0.0
    net.forward(x, training=True)
    zs = pre_activations(net, x, training=True)
    return float(min(np.abs(zs[i]).min() for i in kinked))


def targets_for(output: str, loss: str, n: int, n_out: int, rng: np.random.Generator,
                dense: bool = False) -> np.ndarray:
    """Labels (N,) for the class losses, or a dense target the loss accepts.

    ``dense=True`` gives one-hot rows for cross-entropy and a random 0/1 (BCE) or real
    (squared error, range of the output activation) array otherwise.
    """
    labels = rng.integers(0, n_out, size=n)
    if not dense:
        return labels
    if loss == "cross_entropy":
        return np.eye(n_out)[labels]
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, size=(n, n_out)).astype(np.float64)
    if output in ("sigmoid", "softmax"):
        return rng.uniform(0, 1, size=(n, n_out))
    if output == "tanh":
        return rng.uniform(-0.9, 0.9, size=(n, n_out))
    return rng.normal(size=(n, n_out))


def mnist_like(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 784) images with MNIST's pixel statistics in [0, 1]: ~80 % zeros, bright strokes.

    Real MNIST scaled by 1/255 has about 19 % nonzero pixels, mean ~0.13, mean square ~0.10.
    """
    strokes = rng.uniform(0.5, 1.0, size=(n, 784))
    return np.where(rng.random((n, 784)) < 0.2, strokes, 0.0)


def numerical_gradient(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences (f(x + h e_i) - f(x - h e_i)) / 2h of the scalar ``f`` at ``x``."""
    numeric = np.empty_like(x, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (f(up) - f(down)) / (2 * h)
    return numeric


def shifted_reference(image, dy, dx):
    """One (H, W) image moved by (dy, dx) with plain slicing, the uncovered pixels 0."""
    h, w = image.shape
    out = np.zeros_like(image)
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out

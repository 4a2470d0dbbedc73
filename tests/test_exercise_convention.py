"""Exercise E1's column convention against barenet's own layout.

The exercise keeps data as columns (784, N), each layer's weights as W_fold (n_out, n_in + 1)
with the bias in the last column, and appends a row of ones to the layer input during the
product. Hidden layers are ReLU, the output one sigmoid unit, the cost C = 1/2 ||Y_L - Y||^2
summed over the batch, and backprop as written in the exercise:

    dC/dZ = f'(.) (.) dC/dY           (f' from the output Y: y(1 - y), 1[y > 0])
    dC/dW = dC/dZ [Y_prev; 1]^T
    dC/dY_prev = W_no_bias^T dC/dZ
    W -= eta dC/dW

Below that reference is written in plain NumPy; barenet (MLP(..., output="sigmoid") with
Loss("squared_error", "sum") and SGD) must produce the same outputs, costs and updated
weights after W = W_fold[:, :-1].T and b = W_fold[:, -1].
"""

from __future__ import annotations

import numpy as np
import pytest

import barenet as bn


def _with_ones(y: np.ndarray) -> np.ndarray:
    return np.vstack([y, np.ones((1, y.shape[1]))])


def _column_forward(weights: list[np.ndarray], x_cols: np.ndarray) -> list[np.ndarray]:
    """Outputs of every layer, Y_0 = X (n_in, N) ... Y_L (1, N)."""
    ys = [x_cols]
    for i, w_fold in enumerate(weights):
        z = w_fold @ _with_ones(ys[-1])
        ys.append(1 / (1 + np.exp(-z)) if i == len(weights) - 1 else np.maximum(z, 0))
    return ys


def _column_step(weights: list[np.ndarray], x_cols: np.ndarray, y_row: np.ndarray,
                 eta: float) -> tuple[float, np.ndarray]:
    """One minibatch of the exercise: forward, cost, backprop, W -= eta dC/dW (in place)."""
    ys = _column_forward(weights, x_cols)
    out = ys[-1]
    cost = 0.5 * np.sum((out - y_row) ** 2)
    grad_y = out - y_row  # dC/dY_L
    grads = [None] * len(weights)
    for i in range(len(weights) - 1, -1, -1):
        y = ys[i + 1]
        deriv = y * (1 - y) if i == len(weights) - 1 else (y > 0).astype(float)
        delta = deriv * grad_y  # dC/dZ
        grads[i] = delta @ _with_ones(ys[i]).T  # dC/dW_fold
        grad_y = weights[i][:, :-1].T @ delta  # dC/dY_prev, bias column dropped
    for w, g in zip(weights, grads, strict=True):
        w -= eta * g
    return cost, out


def _mnist_pair_batch(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(784, n) columns normalized per image by its own maximum; labels 0/1 as a (1, n) row."""
    pixels = rng.integers(1, 256, size=(784, n)) * (rng.random((784, n)) < 0.2)
    pixels[0] = 255  # every image has at least one lit pixel
    x_cols = pixels / pixels.max(axis=0, keepdims=True)
    return x_cols, rng.integers(0, 2, size=(1, n)).astype(float)


@pytest.mark.parametrize("init,sizes,eta", [
    ("uniform(-1,1)", [784, 50, 20, 1], 0.001),  # the exercise's own initialization
    ("uniform(-0.1,0.1)", [784, 64, 32, 1], 0.05),  # unsaturated: large, visible updates
])
def test_column_convention_matches_barenet(init, sizes, eta):
    rng = np.random.default_rng(0)
    model = bn.MLP(sizes, hidden="relu", output="sigmoid", init=init, dtype="float64", seed=1)
    # give the biases values too, so that the folded bias column is really exercised
    for dense in model.dense_layers:
        dense.b[...] = rng.uniform(-0.1, 0.1, size=dense.b.shape)
    folded = [np.hstack([d.W.T, d.b[:, None]]) for d in model.dense_layers]  # (n_out, n_in+1)
    assert [w.shape for w in folded] == [(o, i + 1) for i, o in zip(sizes[:-1], sizes[1:],
                                                                       strict=True)]
    start = [w.copy() for w in folded]
    loss = bn.Loss("squared_error", "sum")
    opt = bn.SGD(lr=eta)

    for _ in range(4):
        x_cols, y_row = _mnist_pair_batch(32, rng)
        # barenet: samples as rows (the column data transposed once at the edge)
        p = model.forward(x_cols.T, training=True)
        value = model.loss_and_gradients(x_cols.T, y_row.ravel(), loss)
        opt.step(model.params())
        # the exercise
        cost, out = _column_step(folded, x_cols, y_row, eta)
        np.testing.assert_allclose(p, out.T, rtol=1e-12, atol=1e-15)
        assert value == pytest.approx(cost, rel=1e-12)
        for dense, w_fold in zip(model.dense_layers, folded, strict=True):
            np.testing.assert_allclose(dense.W, w_fold[:, :-1].T, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(dense.b, w_fold[:, -1], rtol=1e-12, atol=1e-14)

    # the comparison is not vacuous: the outputs were not all saturated and the weights moved
    assert np.mean((out > 0.01) & (out < 0.99)) > 0.2
    for w_now, w_then in zip(folded, start, strict=True):
        assert np.linalg.norm(w_now - w_then) > 1e-6
    # and prediction thresholds the same output at 0.5
    np.testing.assert_array_equal(model.predict(x_cols.T),
                                  (_column_forward(folded, x_cols)[-1][0] > 0.5).astype(int))

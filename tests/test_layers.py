"""Layers: Dense, ActivationLayer and inverted Dropout, forward and backward."""

from __future__ import annotations

import numpy as np
import pytest

import barenet as bn
from barenet.layers import ActivationLayer, Dense, Dropout
from core_helpers import reference_activation


def _dense(n_in=4, n_out=3, dtype=np.float64, seed=0) -> Dense:
    layer = Dense(n_in, n_out, init="normal(1)", rng=np.random.default_rng(seed), dtype=dtype)
    layer.b[...] = np.random.default_rng(seed + 1).normal(size=n_out)
    return layer


def test_dense_forward_and_backward_formulas():
    rng = np.random.default_rng(0)
    layer = _dense()
    x = rng.normal(size=(5, 4))
    g = rng.normal(size=(5, 3))
    z = layer.forward(x, training=True)
    assert z.shape == (5, 3)
    expected = np.array([[sum(x[n, i] * layer.W[i, j] for i in range(4)) + layer.b[j]
                          for j in range(3)] for n in range(5)])
    np.testing.assert_allclose(z, expected, rtol=1e-13)
    dx = layer.backward(g)
    dW = np.einsum("ni,nj->ij", x, g)
    np.testing.assert_allclose(layer.dW, dW, rtol=1e-13)
    np.testing.assert_allclose(layer.db, g.sum(axis=0), rtol=1e-13)
    np.testing.assert_allclose(dx, np.einsum("nj,ij->ni", g, layer.W), rtol=1e-13)
    assert dx.shape == x.shape
    # the first layer skips its input gradient but still fills dW, db
    layer.dW[...] = 0
    assert layer.backward(g, need_input_grad=False) is None
    np.testing.assert_allclose(layer.dW, dW, rtol=1e-13)


def test_dense_params_are_live_views_and_only_weights_decay():
    layer = _dense()
    w, b = layer.params()
    assert (w.name, w.decay, b.name, b.decay) == ("W", True, "b", False)
    assert w.value is layer.W and w.grad is layer.dW and b.value is layer.b and b.grad is layer.db
    assert layer.W.shape == (4, 3) and layer.b.shape == (3,)
    assert layer.describe() == "Dense(4 -> 3)"


def test_dense_buffers_are_reused_for_the_same_batch_size():
    layer = _dense()
    x = np.ones((5, 4))
    first = layer.forward(x)
    second = layer.forward(2 * x)
    assert second is first  # the documented buffer reuse: no allocation per batch
    third = layer.forward(np.ones((2, 4)))
    assert third.shape == (2, 3)


@pytest.mark.parametrize("n_in,n_out", [(0, 3), (3, 0), (-1, 2)])
def test_dense_rejects_bad_sizes(n_in, n_out):
    with pytest.raises(ValueError, match="positive"):
        Dense(n_in, n_out)


@pytest.mark.parametrize("name", ["sigmoid", "relu", "leaky_relu", "tanh", "identity", "softmax"])
def test_activation_layer_forward_in_place_and_backward(name):
    rng = np.random.default_rng(1)
    z = rng.normal(size=(6, 4))
    g = rng.normal(size=(6, 4))
    layer = ActivationLayer(name)
    buf = z.copy()
    y = layer.forward(buf, training=True)
    assert y is buf  # in place on the Dense output
    y_ref = reference_activation(name, z)
    np.testing.assert_allclose(y, y_ref, rtol=1e-14, atol=1e-15)
    gz = layer.backward(g.copy())
    h = 1e-6
    if name == "softmax":
        expected = np.stack([(np.diag(r) - np.outer(r, r)) @ gi
                             for r, gi in zip(y_ref, g, strict=True)])
    else:
        slope = (reference_activation(name, z + h) - reference_activation(name, z - h)) / (2 * h)
        expected = g * slope
    np.testing.assert_allclose(gz, expected, rtol=1e-7, atol=1e-9)
    assert layer.params() == [] and layer.describe() == name


def test_activation_layer_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown activation 'gelu'.*relu"):
        ActivationLayer("gelu")


# ------------------------------------------------------------------ dropout
def test_dropout_inference_is_the_identity():
    layer = Dropout(0.5, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(10, 20))
    np.testing.assert_array_equal(layer.forward(x, training=False), x)
    g = np.ones_like(x)
    np.testing.assert_array_equal(layer.backward(g), 1)  # no mask after an inference forward
    np.testing.assert_array_equal(Dropout(0.0).forward(x, training=True), x)


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5, 0.8])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_keeps_the_expectation(rate, dtype):
    layer = Dropout(rate, rng=np.random.default_rng(2))
    x = np.ones((400, 500), dtype=dtype)
    y = layer.forward(x, training=True).copy()  # the layer reuses its buffer next forward
    assert y.dtype == dtype and y.shape == x.shape
    kept = y != 0
    assert kept.mean() == pytest.approx(1 - rate, abs=0.005)
    np.testing.assert_allclose(y[kept], 1 / (1 - rate), rtol=1e-6)  # inverted scaling
    assert y.mean() == pytest.approx(1.0, abs=0.02)
    # backward multiplies by the very same mask
    g = np.random.default_rng(3).normal(size=x.shape).astype(dtype)
    np.testing.assert_array_equal(layer.backward(g.copy()), g * y)
    # a fresh mask on every training forward, unless frozen
    again = layer.forward(x, training=True).copy()
    assert not np.array_equal(again, y)
    layer.freeze()
    frozen = layer.forward(x, training=True).copy()
    np.testing.assert_array_equal(layer.forward(x, training=True), frozen)


def test_dropout_masks_are_seeded():
    x = np.ones((50, 60))
    a = Dropout(0.4, rng=np.random.default_rng(9)).forward(x, training=True)
    b = Dropout(0.4, rng=np.random.default_rng(9)).forward(x, training=True)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan")])
def test_dropout_rate_validation(rate):
    with pytest.raises(ValueError, match=r"dropout rate must be in \[0, 1\)"):
        Dropout(rate)
    with pytest.raises(ValueError, match=r"dropout rate must be in \[0, 1\)"):
        bn.MLP([4, 3, 2], dropout=rate)


def test_backward_before_forward_is_a_plain_error_not_an_assert():
    # an assert vanishes under python -O; a learner calling backward first gets one sentence
    from barenet.errors import BarenetError
    from barenet.nn.normalization import BatchNorm

    for layer in (_dense(), ActivationLayer("relu"), BatchNorm(3)):
        with pytest.raises(BarenetError, match=r"backward\(\) called before forward"):
            layer.backward(np.ones((2, 3)))
    model = bn.MLP([4, 3, 2], seed=0)
    with pytest.raises(BarenetError, match=r"backward\(\) called before forward"):
        model.backward(np.full((1, 2), 0.5), np.array([1]), "cross_entropy")

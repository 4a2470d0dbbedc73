"""Activations: values, derivatives from the output, in-place use, and extreme inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import barenet as bn
from barenet import activations as A
from core_helpers import reference_activation

ELEMENTWISE = ("sigmoid", "relu", "leaky_relu", "tanh", "identity")
DTYPES = (np.float32, np.float64)


def _z(seed: int = 0, shape=(7, 5)) -> np.ndarray:
    z = np.random.default_rng(seed).normal(scale=3.0, size=shape)
    z[np.abs(z) < 1e-3] = 0.5  # keep clear of the ReLU kink for finite differences
    return z


@pytest.mark.parametrize("name", ELEMENTWISE + ("softmax",))
def test_forward_matches_the_textbook_formula(name):
    z = _z()
    y = bn.get_activation(name).forward(z)
    np.testing.assert_allclose(y, reference_activation(name, z), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", ELEMENTWISE + ("softmax",))
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_keeps_dtype_and_writes_in_place(name, dtype):
    act = bn.get_activation(name)
    z = _z().astype(dtype)
    expected = act.forward(z.copy())
    assert expected.dtype == dtype
    buf = z.copy()
    out = act.forward(buf, out=buf)  # what ActivationLayer does with the Dense buffer
    assert out is buf
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_from_output_matches_finite_differences(name):
    z = _z(1)
    act = bn.get_activation(name)
    h = 1e-6
    numeric = (reference_activation(name, z + h) - reference_activation(name, z - h)) / (2 * h)
    y = act.forward(z)
    if act.derivative is not None:
        np.testing.assert_allclose(act.derivative(y), numeric, rtol=1e-7, atol=1e-9)
    g = np.random.default_rng(2).normal(size=z.shape)
    np.testing.assert_allclose(act.backward(y, g), g * numeric, rtol=1e-7, atol=1e-9)


def test_relu_family_derivative_at_zero_is_the_left_one():
    y = np.array([0.0, 1.0])
    np.testing.assert_array_equal(A.relu_grad(y), [0.0, 1.0])
    np.testing.assert_array_equal(A.leaky_relu_grad(np.array([-0.0, -1.0, 2.0])),
                                  [0.01, 0.01, 1.0])


def test_softmax_backward_is_the_jacobian_product():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(4, 6))
    g = rng.normal(size=(4, 6))
    y = bn.softmax(z)
    expected = np.stack([(np.diag(yi) - np.outer(yi, yi)) @ gi
                         for yi, gi in zip(y, g, strict=True)])
    np.testing.assert_allclose(bn.get_activation("softmax").backward(y, g), expected,
                               rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ extreme inputs
@pytest.fixture
def strict():
    """Any floating-point warning (overflow, underflow, invalid, divide) fails the test."""
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        yield


def _extremes(dtype) -> np.ndarray:
    big = np.finfo(dtype).max
    values = [-big, -1e38, -1e30, -1e4, -745.0, -100.0, -1.0, -1e-30, 0.0, 1e-30, 1.0, 100.0,
              745.0, 1e4, 1e30, 1e38, big]
    if dtype == np.float64:
        values += [-1e300, 1e300]
    return np.sort(np.array(values, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_at_extreme_inputs(strict, dtype):
    z = _extremes(dtype)
    y = bn.sigmoid(z)
    assert y.dtype == dtype
    assert np.all(np.isfinite(y)) and np.all((y >= 0) & (y <= 1))
    assert np.all(np.diff(y) >= 0)  # monotone
    assert y[0] == 0 and y[-1] == 1
    assert bn.sigmoid(np.array([0.0], dtype=dtype))[0] == 0.5
    np.testing.assert_allclose(bn.sigmoid(-z), 1 - y, atol=np.finfo(dtype).eps)
    # a whole batch of huge values, in place, as in a layer
    batch = np.tile(z, (3, 1))
    out = bn.sigmoid(batch, out=batch)
    assert out is batch and np.all((batch >= 0) & (batch <= 1))
    np.testing.assert_array_equal(batch[1], y)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tanh_and_relu_family_at_extreme_inputs(strict, dtype):
    z = _extremes(dtype)
    for name in ("tanh", "relu", "leaky_relu", "identity"):
        y = bn.get_activation(name).forward(z)
        assert y.dtype == dtype and not np.any(np.isnan(y))
    assert np.all(np.abs(A.tanh(z)) <= 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_at_extreme_inputs(strict, dtype):
    z = _extremes(dtype)
    rng = np.random.default_rng(0)
    batch = np.stack([rng.permutation(z) for _ in range(5)])
    for x in (z, batch, -batch, np.full((2, 4), z[0]), np.full((2, 4), z[-1])):
        y = bn.softmax(x)
        assert y.shape == x.shape and y.dtype == dtype
        assert np.all(np.isfinite(y)) and np.all((y >= 0) & (y <= 1))
        np.testing.assert_allclose(y.sum(axis=-1), 1, rtol=4 * np.finfo(dtype).eps)
    # the largest logit takes (almost) all the mass
    y = bn.softmax(batch)
    np.testing.assert_array_equal(np.argmax(y, axis=1), np.argmax(batch, axis=1))
    assert np.all(y.max(axis=1) == 1)
    # ties at +huge share the mass equally
    np.testing.assert_allclose(bn.softmax(np.array([z[-1], z[-1], z[0]])), [0.5, 0.5, 0])


def test_softmax_on_one_vector_and_on_a_batch_over_the_class_axis():
    rng = np.random.default_rng(4)
    z = rng.normal(scale=5, size=(6, 4))
    batch = bn.softmax(z)
    for row, zi in zip(batch, z, strict=True):
        np.testing.assert_allclose(row, bn.softmax(zi), rtol=1e-15)
        np.testing.assert_allclose(row, np.exp(zi) / np.exp(zi).sum(), rtol=1e-13)
    np.testing.assert_allclose(batch.sum(axis=1), 1, rtol=1e-15)
    assert not np.allclose(batch.sum(axis=0), 1)  # not normalized over samples
    assert not np.isclose(batch.sum(), 1)  # nor over the whole array
    # invariant to a constant per row, not per column
    np.testing.assert_allclose(bn.softmax(z + rng.normal(size=(6, 1)) * 100), batch, rtol=1e-12)
    assert not np.allclose(bn.softmax(z + np.arange(4.0)), batch)


def test_unknown_activation_names_the_valid_choices():
    with pytest.raises(ValueError, match="unknown activation 'swish'") as info:
        bn.get_activation("swish")
    for name in ("sigmoid", "relu", "leaky_relu", "tanh", "softmax", "identity"):
        assert name in str(info.value)
    assert isinstance(info.value, bn.BarenetError)


def test_one_table_of_backward_functions_used_in_place_by_the_layers():
    """Every activation's backward is its plain function in DERIVATIVES, which writes dL/dz
    over dL/dy; the copying Activation.backward keeps its argument."""
    from barenet.layers import ActivationLayer

    rng = np.random.default_rng(4)
    assert set(A.DERIVATIVES) == set(A.ACTIVATIONS)
    for name, act in A.ACTIVATIONS.items():
        assert act.backward_in_place is A.DERIVATIVES[name]
        z = rng.normal(size=(5, 3))
        g = rng.normal(size=(5, 3))
        layer = ActivationLayer(name)
        y = layer.forward(z.copy(), training=True)
        expected = act.backward(y, g)
        kept = g.copy()
        np.testing.assert_array_equal(g, kept)
        out = layer.backward(g)
        assert out is g, name  # in place, as the layer documents
        np.testing.assert_array_equal(out, expected)


def test_elementwise_backward_functions_use_the_derivative_table():
    y = np.array([[-0.5, 0.0, 2.0]])
    for name, derivative in (("relu", A.relu_grad), ("leaky_relu", A.leaky_relu_grad),
                             ("sigmoid", A.sigmoid_grad), ("tanh", A.tanh_grad),
                             ("identity", A.identity_grad)):
        g = np.array([[1.5, -2.0, 3.0]])
        np.testing.assert_array_equal(A.DERIVATIVES[name](y, g.copy()), g * derivative(y))

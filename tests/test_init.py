"""Initializers: spec parsing, the statistics of large draws, seeding, and bad specs."""

from __future__ import annotations

import math

import numpy as np
import pytest

import barenet as bn

N_IN, N_OUT = 300, 500  # 150,000 draws: mean/std known to ~0.3 %


def _draw(spec: str, n_in: int = N_IN, n_out: int = N_OUT, seed: int = 0, dtype=np.float64,
          activation: str = "relu") -> np.ndarray:
    return bn.initialize(spec, np.random.default_rng(seed), n_in, n_out, dtype, activation)


def _assert_uniform(w: np.ndarray, a: float, b: float) -> None:
    n = w.size
    assert a <= w.min() and w.max() <= b
    width = b - a
    assert w.min() < a + 0.001 * width and w.max() > b - 0.001 * width  # fills the interval
    std = width / math.sqrt(12)
    assert abs(w.mean() - (a + b) / 2) < 5 * std / math.sqrt(n)
    assert w.std() == pytest.approx(std, rel=0.01)
    # flat: each tenth of the interval holds ~10 % of the draws
    counts, _ = np.histogram(w, bins=10, range=(a, b))
    np.testing.assert_allclose(counts / n, 0.1, atol=0.005)


def _assert_normal(w: np.ndarray, mean: float, std: float) -> None:
    n = w.size
    assert abs(w.mean() - mean) < 5 * std / math.sqrt(n)
    assert w.std() == pytest.approx(std, rel=0.01)
    inside = np.mean(np.abs(w - mean) < std)
    assert inside == pytest.approx(0.6827, abs=0.01)  # bell-shaped, not uniform (0.577)


@pytest.mark.parametrize("spec,a,b", [("uniform(-1,1)", -1, 1), ("uniform(0.5, 2)", 0.5, 2),
                                      ("Uniform( -0.1 , 0.1 )", -0.1, 0.1)])
def test_uniform(spec, a, b):
    _assert_uniform(_draw(spec), a, b)


@pytest.mark.parametrize("spec,mean,std", [("normal(0.01)", 0, 0.01), ("normal(1e-4)", 0, 1e-4),
                                           ("normal(2, 0.5)", 2, 0.5), ("normal(1)", 0, 1)])
def test_normal(spec, mean, std):
    _assert_normal(_draw(spec), mean, std)


def test_normal_with_zero_std_is_constant():
    np.testing.assert_array_equal(_draw("normal(0)", 3, 4), 0)


def test_max_fan_normal():
    # the documented E4 rule: std = 1 / max(n_in, n_out)
    _assert_normal(_draw("max_fan_normal"), 0, 1 / max(N_IN, N_OUT))
    _assert_normal(_draw("max_fan_normal", 600, 250), 0, 1 / 600)


@pytest.mark.parametrize("spec", ["xavier_uniform", "glorot_uniform", "xavier", "glorot"])
def test_xavier_uniform(spec):
    r = math.sqrt(6 / (N_IN + N_OUT))
    _assert_uniform(_draw(spec), -r, r)


@pytest.mark.parametrize("spec", ["xavier_normal", "glorot_normal"])
def test_xavier_normal(spec):
    _assert_normal(_draw(spec), 0, math.sqrt(2 / (N_IN + N_OUT)))


@pytest.mark.parametrize("spec", ["he_uniform", "kaiming_uniform"])
def test_he_uniform(spec):
    r = math.sqrt(6 / N_IN)
    _assert_uniform(_draw(spec), -r, r)


@pytest.mark.parametrize("spec", ["he_normal", "he", "kaiming", "HE_NORMAL"])
def test_he_normal(spec):
    _assert_normal(_draw(spec), 0, math.sqrt(2 / N_IN))


def test_zeros_and_auto():
    np.testing.assert_array_equal(_draw("zeros", 4, 5), 0)
    for act in ("relu", "leaky_relu"):
        _assert_normal(_draw("auto", activation=act), 0, math.sqrt(2 / N_IN))
    for act in ("sigmoid", "tanh", "softmax", "identity"):
        r = math.sqrt(6 / (N_IN + N_OUT))
        _assert_uniform(_draw("auto", activation=act), -r, r)


@pytest.mark.parametrize("spec", ["uniform(-1,1)", "normal(0.1)", "max_fan_normal",
                                  "xavier_uniform", "xavier_normal", "he_uniform", "he_normal"])
def test_seed_and_dtype(spec):
    a = _draw(spec, 20, 30, seed=5, dtype=np.float32)
    b = _draw(spec, 20, 30, seed=5, dtype=np.float32)
    c = _draw(spec, 20, 30, seed=6, dtype=np.float32)
    assert a.shape == (20, 30) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # the float32 draw is the float64 draw rounded (same stream)
    np.testing.assert_array_equal(a, _draw(spec, 20, 30, seed=5).astype(np.float32))


def test_mlp_uses_the_initializer_and_zero_biases():
    model = bn.MLP([784, 500, 250, 1], hidden="relu", output="sigmoid", init="uniform(-1,1)",
                   seed=42)
    for dense in model.dense_layers:
        assert dense.W.min() >= -1 and dense.W.max() <= 1 and dense.W.std() > 0.5
        np.testing.assert_array_equal(dense.b, 0)
    again = bn.MLP([784, 500, 250, 1], hidden="relu", output="sigmoid", init="uniform(-1,1)",
                   seed=42)
    for a, b in zip(model.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # one spec per layer, and bias_init
    mixed = bn.MLP([50, 40, 3], init=["he_normal", "normal(1e-4)"], bias_init=0.1, seed=0)
    assert mixed.dense_layers[1].W.std() < 1e-3 < mixed.dense_layers[0].W.std()
    np.testing.assert_allclose(mixed.dense_layers[0].b, 0.1)
    # the default picks He for ReLU layers and Xavier for the softmax output
    default = bn.MLP([400, 300, 10], seed=0, dtype="float64")
    assert default.dense_layers[0].W.std() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    assert np.abs(default.dense_layers[1].W).max() <= math.sqrt(6 / 310)


@pytest.mark.parametrize("spec,pattern", [
    ("bogus", "unknown initializer 'bogus'.*uniform\\(a,b\\).*xavier_uniform.*he_normal"),
    ("", "cannot read initializer.*choose one of"),
    ("uniform(-1,1", "cannot read initializer.*choose one of"),
    ("uniform(1,-1)", "a < b"),
    ("uniform(0,0)", "a < b"),
    ("uniform(1)", "two numbers"),
    ("uniform(-1,1,2)", "two numbers"),
    ("normal()", "standard deviation"),
    ("normal(-0.1)", "std >= 0"),
    ("normal(a)", "numbers"),
    ("normal(nan)", "finite"),
    ("uniform(-inf,1)", "finite"),
    ("he(2)", "no arguments"),
    ("xavier_uniform(1)", "no arguments"),
])
def test_bad_specs_raise_a_value_error(spec, pattern):
    with pytest.raises(ValueError, match=pattern) as info:
        bn.get_initializer(spec)
    assert isinstance(info.value, bn.BarenetError)


def test_bad_spec_in_a_model_is_reported():
    with pytest.raises(ValueError, match="unknown initializer 'glorot_magic'"):
        bn.MLP([4, 3, 2], init="glorot_magic")
    with pytest.raises(ValueError, match="expected 2 initializers"):
        bn.MLP([4, 3, 2], init=["he", "he", "he"])

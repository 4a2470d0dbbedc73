"""Max-norm projection (nn/constraints.py) and label-smoothed cross-entropy (nn/losses.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import barenet as bn
from barenet.errors import BarenetError
from barenet.nn.constraints import max_norm_
from barenet.nn.losses import Loss
from barenet.preprocess import Normalizer
from core_helpers import numerical_gradient


def test_projection_bounds_the_columns_and_keeps_their_direction():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(30, 12)).astype(np.float32)
    w[:, :4] *= 0.01  # these columns are inside the ball
    before = w.copy()
    out = max_norm_(w, 1.5)
    assert out is w
    norms = np.linalg.norm(w, axis=0)
    assert np.all(norms <= 1.5 * (1 + 1e-6))
    assert np.array_equal(w[:, :4], before[:, :4])  # inside: untouched, bit for bit
    outside = np.linalg.norm(before, axis=0) > 1.5
    np.testing.assert_allclose(norms[outside], 1.5, rtol=1e-6)
    cos = np.sum(w * before, axis=0) / (norms * np.linalg.norm(before, axis=0))
    np.testing.assert_allclose(cos, 1.0, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_projection_is_bit_for_bit_the_column_formula(dtype):
    """Scaling every column by min(1, c / norm) in one pass gives exactly what scaling only
    the outside columns by c / norm gives (the inside ones are multiplied by exactly 1)."""
    w = np.random.default_rng(1).normal(size=(50, 40)).astype(dtype)
    norms = np.sqrt(np.einsum("ij,ij->j", w, w))
    c = float(np.median(norms))  # half the columns outside
    w[:, 3] = 0.0  # a column of zeros (a unit that lost all its weights) divides nothing
    norms[3] = 0.0
    expected = w.copy()
    outside = norms > c
    expected[:, outside] = w[:, outside] * (c / norms[outside]).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no stray division-by-zero warning
        assert np.array_equal(max_norm_(w, c), expected)


@pytest.mark.parametrize("c", [0.0, -1.0, float("inf"), float("nan")])
def test_projection_refuses_a_bad_bound(c):
    with pytest.raises(BarenetError, match="max-norm"):
        max_norm_(np.ones((2, 2)), c)


def test_training_with_max_norm_keeps_every_column_inside():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (200, 64)).astype(np.uint8)
    y = rng.integers(0, 4, 200)
    free = bn.MLP([64, 32, 4], seed=0)
    bn.fit(free, x, y, optimizer=bn.Adam(0.05), epochs=3, batch_size=20, seed=0, normalizer=Normalizer("255"))
    assert max(np.linalg.norm(w, axis=0).max() for w in free.get_weights()[0::2]) > 0.8
    model = bn.MLP([64, 32, 4], seed=0)
    bn.fit(model, x, y, optimizer=bn.Adam(0.05), epochs=3, batch_size=20, seed=0,
           normalizer=Normalizer("255"), max_norm=0.8)
    for w in model.get_weights()[0::2]:
        assert np.linalg.norm(w, axis=0).max() <= 0.8 * (1 + 1e-6)


def _softmax(z):
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_label_smoothing_fused_gradient_matches_numerical(reduction):
    rng = np.random.default_rng(2)
    z = rng.normal(size=(6, 4))
    labels = rng.integers(0, 4, 6)
    loss = Loss("cross_entropy", reduction, 0.2)
    grad = loss.fused_gradient(_softmax(z), labels)
    numeric = numerical_gradient(lambda v: loss.value(_softmax(v), labels), z)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_label_smoothing_value_and_target():
    p = np.array([[0.7, 0.2, 0.1]])
    loss = Loss("cross_entropy", "sum", 0.3)
    target = 0.7 * np.array([1.0, 0, 0]) + 0.1
    assert loss.value(p, np.array([0])) == pytest.approx(-np.sum(target * np.log(p[0])))
    np.testing.assert_allclose(loss.fused_gradient(p, np.array([0])), p - target, atol=1e-15)
    np.testing.assert_allclose(loss.gradient(p, np.array([0])), -target / p)
    assert Loss("cross_entropy", "sum", 0.0).value(p, np.array([0])) == pytest.approx(-np.log(0.7))


@pytest.mark.parametrize("kwargs, fragment", [
    ({"name": "squared_error", "label_smoothing": 0.1}, "needs the cross_entropy loss"),
    ({"name": "cross_entropy", "label_smoothing": 1.0}, "in [0, 1)"),
])
def test_label_smoothing_refusals(kwargs, fragment):
    with pytest.raises(BarenetError) as info:
        Loss(**kwargs)
    assert fragment in str(info.value)


def test_cli_refuses_label_smoothing_with_a_digit_pair(tmp_path, capsys):
    from barenet.cli import main
    code = main(["train", "--digits", "1", "7", "--label-smoothing", "0.1", "--per-class", "20",
                 "--epochs", "1", "--out", str(tmp_path / "r"), "--quiet", "--no-report"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "needs the cross_entropy loss" in err[0]
    assert not (tmp_path / "r").exists()


def test_cli_max_norm_and_label_smoothing_run(tmp_path):
    from barenet.cli import main
    from barenet.io import load_model
    out = tmp_path / "r"
    assert main(["train", "--max-norm", "1.0", "--label-smoothing", "0.1", "--per-class", "20",
                 "--layers", "16", "--epochs", "2", "--lr", "0.05", "--out", str(out),
                 "--quiet", "--no-report"]) == 0
    text = (out / "config.toml").read_text()
    assert "max_norm = 1.0" in text and "label_smoothing = 0.1" in text
    for w in load_model(out / "model.npz")[0].get_weights()[0::2]:
        assert np.linalg.norm(w, axis=0).max() <= 1.0 * (1 + 1e-6)

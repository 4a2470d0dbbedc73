"""Losses: values against the formulas, gradients against finite differences, the fused
gradient, saturated probabilities (no log(0)) and bad targets."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import barenet as bn

LOSSES = ("squared_error", "binary_cross_entropy", "cross_entropy")
REDUCTIONS = ("mean", "sum")


def _probs(seed: int, n: int = 6, c: int = 4, softmax: bool = True) -> np.ndarray:
    z = np.random.default_rng(seed).normal(size=(n, c))
    return bn.softmax(z) if softmax else bn.sigmoid(z)


def _reference(name: str, p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per-sample loss straight from the definitions (p away from 0 and 1)."""
    if name == "squared_error":
        return 0.5 * ((p - t) ** 2).sum(axis=1)
    if name == "binary_cross_entropy":
        return -(t * np.log(p) + (1 - t) * np.log(1 - p)).sum(axis=1)
    return -(t * np.log(p)).sum(axis=1)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
def test_value_matches_the_formula(name, reduction):
    p = _probs(0, softmax=name == "cross_entropy")
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, size=6)
    t = np.eye(4)[labels]
    loss = bn.Loss(name, reduction)
    per = _reference(name, p, t)
    expected = per.mean() if reduction == "mean" else per.sum()
    for target in (labels, t):
        np.testing.assert_allclose(loss.per_sample(p, target), per, rtol=1e-13)
        assert loss.value(p, target) == pytest.approx(expected, rel=1e-13)
    assert isinstance(loss.value(p, t), float)


@pytest.mark.parametrize("name", LOSSES)
def test_mean_is_the_average_over_samples_not_elements(name):
    p = _probs(2, n=8, c=5, softmax=name == "cross_entropy")
    t = np.eye(5)[np.arange(8) % 5]
    total = bn.Loss(name, "sum").value(p, t)
    assert bn.Loss(name, "mean").value(p, t) == pytest.approx(total / 8, rel=1e-14)
    np.testing.assert_allclose(bn.Loss(name, "mean").gradient(p, t),
                               bn.Loss(name, "sum").gradient(p, t) / 8, rtol=1e-14)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
def test_gradient_matches_finite_differences(name, reduction):
    p = _probs(3, softmax=False)  # independent entries in (0, 1): perturb each freely
    t = np.random.default_rng(4).uniform(size=p.shape) if name != "cross_entropy" else \
        np.eye(4)[np.arange(6) % 4]
    loss = bn.Loss(name, reduction)
    analytic = loss.gradient(p, t)
    numeric = np.empty_like(p)
    h = 1e-6
    for idx in np.ndindex(p.shape):
        up, down = p.copy(), p.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (loss.value(up, t) - loss.value(down, t)) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("output,name", [("sigmoid", "binary_cross_entropy"),
                                         ("softmax", "cross_entropy")])
def test_fused_gradient_is_the_chain_rule_collapsed(output, name, reduction):
    rng = np.random.default_rng(5)
    z = rng.normal(size=(7, 3))
    labels = rng.integers(0, 3, size=7)
    t = np.eye(3)[labels]
    act = bn.get_activation(output)
    p = act.forward(z)
    loss = bn.Loss(name, reduction)
    assert loss.is_fused_with(output)
    chained = act.backward(p, loss.gradient(p, t))
    scale = 1 / 7 if reduction == "mean" else 1.0
    for target in (labels, t):
        fused = loss.fused_gradient(p, target)
        np.testing.assert_allclose(fused, chained, rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(fused, (p - t) * scale, rtol=1e-15)
    # in place on p, as the model uses it
    buf = p.copy()
    assert loss.fused_gradient(buf, labels, out=buf) is buf
    np.testing.assert_allclose(buf, (p - t) * scale, rtol=1e-15)


def test_only_the_canonical_pairs_are_fused():
    fused = {(o, n) for o in bn.ACTIVATIONS for n in LOSSES if bn.Loss(n).is_fused_with(o)}
    assert fused == {("sigmoid", "binary_cross_entropy"), ("softmax", "cross_entropy")}


# ------------------------------------------------------------------ no log(0)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
def test_saturated_probabilities_give_finite_losses_and_gradients(name, reduction, dtype):
    p = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.5, 0.5]], dtype=dtype)
    t = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]], dtype=dtype)
    loss = bn.Loss(name, reduction)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        per = loss.per_sample(p, t)
        value = loss.value(p, t)
        grad = loss.gradient(p, t)
        fused = loss.fused_gradient(p, t)
    assert np.all(np.isfinite(per)) and np.isfinite(value)
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(fused))
    assert grad.dtype == dtype and fused.dtype == dtype
    assert per[0] == pytest.approx(0, abs=1e-6) and per[1] == pytest.approx(0, abs=1e-6)
    if name != "squared_error":  # a confident wrong answer costs a lot, but not infinity
        assert per[2] > 10 and per[2] > per[3]


def test_integer_labels_equal_one_hot_even_at_p_exactly_one():
    p = np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.0, 0.0, 1.0]])
    labels = np.array([0, 2, 1])
    loss = bn.Loss("cross_entropy")
    np.testing.assert_array_equal(loss.per_sample(p, labels), loss.per_sample(p, np.eye(3)[labels]))
    assert loss.per_sample(p, labels)[0] == 0
    np.testing.assert_array_equal(loss.gradient(p, labels), loss.gradient(p, np.eye(3)[labels]))


def test_one_hot_and_as_target():
    labels = np.array([3, 0, 2, 2])
    oh = bn.one_hot(labels, 4)
    assert oh.shape == (4, 4) and oh.dtype == np.float32
    np.testing.assert_array_equal(oh.argmax(axis=1), labels)
    np.testing.assert_array_equal(oh.sum(axis=1), 1)
    col = bn.as_target(np.array([0, 1, 1]), 1, np.float64)
    assert col.shape == (3, 1) and col.dtype == np.float64
    np.testing.assert_array_equal(col[:, 0], [0, 1, 1])
    dense = np.eye(4)
    assert bn.as_target(dense, 4, np.float64) is dense  # no copy when already dense
    np.testing.assert_array_equal(bn.as_target(np.array([1.0, 0.0]), 2), [[0, 1], [1, 0]])


def test_get_loss_by_name_or_instance():
    loss = bn.get_loss("cross_entropy", "sum")
    assert loss == bn.Loss("cross_entropy", "sum")
    assert bn.get_loss(loss) is loss


# ------------------------------------------------------------------ bad arguments
def test_unknown_loss_or_reduction_names_the_choices():
    with pytest.raises(ValueError, match="unknown loss 'mse'") as info:
        bn.Loss("mse")
    assert all(name in str(info.value) for name in LOSSES)
    with pytest.raises(ValueError, match="unknown reduction 'avg'.*mean, sum"):
        bn.Loss("squared_error", "avg")


@pytest.mark.parametrize("name", LOSSES)
def test_targets_of_the_wrong_shape_are_rejected(name):
    p = _probs(6, n=5, c=3)
    loss = bn.Loss(name)
    for bad in (np.zeros((5, 4)), np.zeros((4, 3)), np.zeros((5, 1)), np.zeros((5, 3, 1)),
                np.array(1), np.zeros(4, dtype=int), np.zeros(6, dtype=int)):
        for method in (loss.value, loss.gradient, loss.fused_gradient):
            with pytest.raises(ValueError, match=r"shape|labels|per sample"):
                method(p, bad)


@pytest.mark.parametrize("name", LOSSES)
def test_labels_out_of_range_or_fractional_are_rejected(name):
    p = _probs(7, n=3, c=3)
    loss = bn.Loss(name)
    for method in (loss.value, loss.gradient, loss.fused_gradient):
        with pytest.raises(ValueError, match=r"0\.\.2"):
            method(p, np.array([0, 3, 1]))
        with pytest.raises(ValueError, match=r"0\.\.2"):
            method(p, np.array([0, -1, 1]))
        with pytest.raises(ValueError, match="whole numbers"):
            method(p, np.array([0.0, 1.5, 1.0]))


@pytest.mark.parametrize("name", ["binary_cross_entropy", "cross_entropy"])
def test_probability_targets_outside_zero_one_are_rejected(name):
    loss = bn.Loss(name)
    p1 = np.full((3, 1), 0.5)
    for method in (loss.value, loss.gradient, loss.fused_gradient):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            method(p1, np.array([0, 2, 1]))  # a digit label fed to a one-unit binary net
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            method(p1, np.array([[0.0], [-1.0], [1.0]]))
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            method(p1, np.array([[0.0], [np.nan], [1.0]]))
    # soft targets inside [0, 1] are fine
    assert np.isfinite(loss.value(p1, np.array([[0.1], [0.9], [0.5]])))


def test_squared_error_accepts_any_real_target():
    p = np.zeros((3, 1))
    y = np.array([-2.0, 0.5, 7.0])
    assert bn.Loss("squared_error", "sum").value(p, y) == pytest.approx(0.5 * (4 + 0.25 + 49))


def test_fused_gradient_validates_before_overwriting_p():
    p = _probs(8, n=3, c=3)
    before = p.copy()
    with pytest.raises(ValueError):
        bn.Loss("cross_entropy").fused_gradient(p, np.array([0, 5, 1]), out=p)
    np.testing.assert_array_equal(p, before)


# ------------------------------------------------------------------ sample weights
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
def test_sample_weighted_gradient_matches_finite_differences(name, reduction):
    """dL/dp of L = sum_i s_i l_i / S (mean) or sum_i s_i l_i (sum), by central differences."""
    p = _probs(3, softmax=name == "cross_entropy")
    labels = np.random.default_rng(4).integers(0, 4, size=6)
    w = np.array([0.5, 2.0, 0.0, 1.0, 3.0, 1.5])
    loss = bn.Loss(name, reduction)
    grad = loss.gradient(p, labels, sample_weight=w)
    h = 1e-6
    numeric = np.zeros_like(p)
    for idx in np.ndindex(p.shape):
        up, down = p.copy(), p.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (loss.value(up, labels, sample_weight=w)
                        - loss.value(down, labels, sample_weight=w)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)
    assert np.all(grad[2] == 0)  # a zero weight: no gradient from that sample
    per = loss.per_sample(p, labels)
    expected = (w @ per) / (w.sum() if reduction == "mean" else 1.0)
    assert loss.value(p, labels, sample_weight=w) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("output, name", [("softmax", "cross_entropy"),
                                          ("sigmoid", "binary_cross_entropy")])
def test_sample_weighted_fused_gradient_is_the_weighted_chain_rule(output, name, reduction):
    act = bn.get_activation(output)
    p = _probs(5, softmax=output == "softmax")
    labels = np.random.default_rng(6).integers(0, 4, size=6)
    target = labels if output == "softmax" else np.eye(4)[labels]
    w = np.random.default_rng(7).uniform(0, 2, size=6)
    loss = bn.Loss(name, reduction)
    chained = act.backward(p, loss.gradient(p, target, sample_weight=w))
    fused = loss.fused_gradient(p, target, sample_weight=w)
    np.testing.assert_allclose(fused, chained, rtol=1e-9, atol=1e-12)


def test_integer_sample_weights_equal_repeated_samples():
    p = _probs(8)
    labels = np.array([0, 1, 2, 3, 1, 0])
    w = np.array([1, 3, 0, 2, 1, 1])
    rep_p, rep_y = np.repeat(p, w, axis=0), np.repeat(labels, w)
    for reduction in REDUCTIONS:
        loss = bn.Loss("cross_entropy", reduction)
        assert loss.value(p, labels, sample_weight=w) == pytest.approx(loss.value(rep_p, rep_y))
        summed = np.add.reduceat(loss.gradient(rep_p, rep_y), np.r_[0, np.cumsum(w)[:-1]][w > 0])
        np.testing.assert_allclose(loss.gradient(p, labels, sample_weight=w)[w > 0], summed)
    ones = np.ones(6)
    loss = bn.Loss("cross_entropy")
    assert loss.value(p, labels, sample_weight=ones) == pytest.approx(loss.value(p, labels))
    np.testing.assert_allclose(loss.fused_gradient(p, labels, sample_weight=ones),
                               loss.fused_gradient(p, labels))


@pytest.mark.parametrize("weights, message", [
    (np.ones(5), "shape"), (np.array([1, -1, 1, 1, 1, 1.0]), "non-negative"),
    (np.zeros(6), "not all zero"), (np.array([1, np.nan, 1, 1, 1, 1]), "finite"),
])
def test_bad_sample_weights_are_refused_before_p_is_overwritten(weights, message):
    p = _probs(9)
    kept = p.copy()
    loss = bn.Loss("cross_entropy")
    for call in (lambda: loss.value(p, np.zeros(6, int), sample_weight=weights),
                 lambda: loss.gradient(p, np.zeros(6, int), sample_weight=weights),
                 lambda: loss.fused_gradient(p, np.zeros(6, int), out=p, sample_weight=weights)):
        with pytest.raises(bn.BarenetError, match=message):
            call()
    np.testing.assert_array_equal(p, kept)

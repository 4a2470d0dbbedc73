"""Numerical gradient checks of every hidden activation x output/loss pair x reduction x dropout.

gradcheck uses a 4th-order central difference in float64; backprop must agree with it to a
relative error of 1e-6 (with a 1e-4 floor for tiny gradients). The last tests show the check
is not vacuous: it flags the classic backprop bugs.
"""

from __future__ import annotations

import numpy as np
import pytest

import barenet as bn
from barenet.layers import ActivationLayer, Dense
from core_helpers import HIDDEN, OUTPUT_LOSS_PAIRS, REDUCTIONS, kink_margin, targets_for

SIZES = [4, 5, 4, 3]
N = 6
TOL = 1e-6


def _setup(hidden: str, output: str, loss_name: str, dense_target: bool = False, seed: int = 3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, SIZES[0]))
    y = targets_for(output, loss_name, N, SIZES[-1], rng, dense=dense_target)
    model = bn.MLP(SIZES, hidden=hidden, output=output, init="xavier_normal", bias_init=0.1,
                   dropout=0.3, dtype="float64", seed=seed)
    return model, x, y


@pytest.mark.parametrize("dropout", [True, False], ids=["dropout-frozen", "dropout-off"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("output,loss_name", OUTPUT_LOSS_PAIRS,
                         ids=[f"{o}+{lo}" for o, lo in OUTPUT_LOSS_PAIRS])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_gradcheck_matrix(hidden, output, loss_name, reduction, dropout):
    model, x, y = _setup(hidden, output, loss_name)
    # the check is only meaningful away from the ReLU kink: prove the data keeps clear of it
    assert kink_margin(model, x, dropout) > 5e-3
    result = bn.gradcheck(model, bn.Loss(loss_name, reduction), x, y, max_entries=None,
                          dropout=dropout)
    assert set(result.errors) == {f"layer{i}.{w}" for i in (1, 2, 3) for w in "Wb"}
    assert result.max_error <= TOL, result.errors
    assert result.passed(TOL)


@pytest.mark.parametrize("output,loss_name", OUTPUT_LOSS_PAIRS,
                         ids=[f"{o}+{lo}" for o, lo in OUTPUT_LOSS_PAIRS])
def test_gradcheck_dense_targets(output, loss_name):
    """One-hot / real-valued / multi-label targets, not just integer labels."""
    model, x, y = _setup("tanh", output, loss_name, dense_target=True)
    for reduction in REDUCTIONS:
        result = bn.gradcheck(model, bn.Loss(loss_name, reduction), x, y, max_entries=None)
        assert result.max_error <= TOL, result.errors


@pytest.mark.parametrize("loss_name", ["binary_cross_entropy", "squared_error"])
def test_gradcheck_single_sigmoid_unit(loss_name):
    """The binary set-up of the exercises: one sigmoid output unit, 0/1 labels (N,)."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(8, 5))
    y = rng.integers(0, 2, size=8)
    model = bn.MLP([5, 6, 1], hidden="relu", output="sigmoid", init="xavier_normal",
                   bias_init=0.1, dtype="float64", seed=4)
    assert kink_margin(model, x, dropout=False) > 5e-3
    for reduction in REDUCTIONS:
        result = bn.gradcheck(model, bn.Loss(loss_name, reduction), x, y, max_entries=None)
        assert result.max_error <= TOL, result.errors


def test_gradcheck_counts_and_sampling():
    model, x, y = _setup("tanh", "softmax", "cross_entropy")
    full = bn.gradcheck(model, "cross_entropy", x, y, max_entries=None)
    sizes = {p.name: p.value.size for p in model.params()}
    assert full.checked == sizes
    capped = bn.gradcheck(model, "cross_entropy", x, y, max_entries=7)
    assert capped.checked == {name: min(7, n) for name, n in sizes.items()}
    assert capped.max_error <= TOL


def test_gradcheck_leaves_model_untouched_and_accepts_float32():
    model, x, y = _setup("sigmoid", "softmax", "cross_entropy")
    model32 = model.astype("float32")
    before = model32.get_weights()
    result = bn.gradcheck(model32, "cross_entropy", x.astype(np.float32), y, max_entries=None)
    assert result.max_error <= TOL  # checked in float64 even though the model is float32
    assert model32.dtype == np.float32
    for a, b in zip(before, model32.get_weights(), strict=True):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    assert all(np.all(p.grad == 0) for p in model32.params())


@pytest.mark.parametrize("output,loss_name", [("softmax", "cross_entropy"),
                                              ("sigmoid", "binary_cross_entropy"),
                                              ("softmax", "squared_error")])
def test_integer_labels_and_one_hot_give_identical_losses_and_gradients(output, loss_name):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(9, 4))
    labels = rng.integers(0, 3, size=9)
    one_hot = bn.one_hot(labels, 3, dtype=np.float64)
    np.testing.assert_array_equal(one_hot, np.eye(3)[labels])
    for reduction in REDUCTIONS:
        loss = bn.Loss(loss_name, reduction)
        a = bn.MLP([4, 5, 3], hidden="tanh", output=output, dtype="float64", seed=1)
        b = a.copy()
        value_a = a.loss_and_gradients(x, labels, loss)
        value_b = b.loss_and_gradients(x, one_hot, loss)
        assert value_a == value_b
        for pa, pb in zip(a.params(), b.params(), strict=True):
            assert np.any(pa.grad != 0)
            np.testing.assert_array_equal(pa.grad, pb.grad)


# --------------------------------------------------------------- the check can fail
def _e2_bug(monkeypatch) -> None:
    """Exercise E2's bug: the weight gradient of a layer above a hidden layer uses that hidden
    layer's *pre*-activation z instead of its activation f(z)."""
    pre_of_output: dict[int, np.ndarray] = {}
    forward, backward = ActivationLayer.forward, Dense.backward

    def recording_forward(self, z, training=False):
        pre = z.copy()
        y = forward(self, z, training)
        pre_of_output[id(y)] = pre
        return y

    def buggy_backward(self, g, need_input_grad=True):
        x = self._x
        if id(x) in pre_of_output:
            self._x = pre_of_output[id(x)]
            try:
                return backward(self, g, need_input_grad)
            finally:
                self._x = x
        return backward(self, g, need_input_grad)

    monkeypatch.setattr(ActivationLayer, "forward", recording_forward)
    monkeypatch.setattr(Dense, "backward", buggy_backward)


def test_gradcheck_catches_the_e2_preactivation_bug(monkeypatch):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(10, 8))
    y = rng.integers(0, 4, size=10)
    model = bn.MLP([8, 6, 4], hidden="sigmoid", output="softmax", dtype="float64", seed=5)
    assert bn.gradcheck(model, "cross_entropy", x, y, max_entries=None).passed()
    _e2_bug(monkeypatch)
    result = bn.gradcheck(model, "cross_entropy", x, y, max_entries=None)
    assert not result.passed()
    assert result.errors["layer2.W"] > 1e-2  # the corrupted gradient is flagged...
    for name in ("layer1.W", "layer1.b", "layer2.b"):  # ...and only that one
        assert result.errors[name] <= TOL


def test_gradcheck_catches_a_wrong_activation_derivative(monkeypatch):
    """sigma'(y) applied to the output y (the derivative formula used twice) is caught."""
    from barenet.nn import activations

    wrong = activations.Activation(
        "sigmoid", activations.sigmoid, lambda y: bn.sigmoid(y) * (1 - bn.sigmoid(y)))
    rng = np.random.default_rng(6)
    x = rng.normal(size=(10, 5))
    y = rng.integers(0, 3, size=10)
    model = bn.MLP([5, 4, 3], hidden="sigmoid", output="softmax", dtype="float64", seed=6)
    monkeypatch.setitem(activations.ACTIVATIONS, "sigmoid", wrong)
    result = bn.gradcheck(model, "cross_entropy", x, y, max_entries=None)
    assert result.errors["layer1.W"] > 1e-2
    assert result.errors["layer2.W"] <= TOL


def test_gradcheck_catches_a_missing_reduction_factor(monkeypatch):
    """A loss gradient that forgets the 1/N of the mean reduction is caught."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(10, 5))
    y = rng.normal(size=(10, 2))
    model = bn.MLP([5, 4, 2], hidden="tanh", output="identity", dtype="float64", seed=8)
    loss = bn.Loss("squared_error", "mean")
    assert bn.gradcheck(model, loss, x, y, max_entries=None).passed()
    monkeypatch.setattr(bn.Loss, "gradient", lambda self, p, t, sample_weight=None: p - t)
    result = bn.gradcheck(model, loss, x, y, max_entries=None)
    assert min(result.errors.values()) > 0.5  # every tensor is off by a factor of N

"""Optimizers against their textbook updates, worked out by hand on tiny arrays.

Every expected number below is the formula written out with the example's numbers (plain
Python arithmetic), never a call into barenet.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import barenet as bn
from barenet.layers import Param


def _params(w, b=None):
    """A weight (decayed) and, optionally, a bias (not decayed), float64."""
    w = np.array(w, dtype=np.float64)
    out = [Param("W", w, np.zeros_like(w), True)]
    if b is not None:
        b = np.array(b, dtype=np.float64)
        out.append(Param("b", b, np.zeros_like(b), False))
    return out


def _step(opt, params, *grads):
    for p, g in zip(params, grads, strict=True):
        p.grad[...] = g
    opt.step(params)


def test_sgd_plain():
    params = _params([1.0, -2.0])
    _step(bn.SGD(lr=0.1), params, [0.5, 0.25])
    np.testing.assert_allclose(params[0].value, [1.0 - 0.1 * 0.5, -2.0 - 0.1 * 0.25], rtol=1e-15)
    np.testing.assert_allclose(params[0].value, [0.95, -2.025], rtol=1e-15)


def test_sgd_momentum_two_steps():
    params = _params([0.0, 0.0])
    opt = bn.SGD(lr=0.1, momentum=0.9)
    _step(opt, params, [1.0, -1.0])
    # step 1: buffer = g1 = [1, -1];  w = 0 - 0.1 * [1, -1]
    np.testing.assert_allclose(params[0].value, [-0.1, 0.1], rtol=1e-15)
    _step(opt, params, [0.5, 0.5])
    # step 2: buffer = 0.9 * [1, -1] + [0.5, 0.5] = [1.4, -0.4];  w -= 0.1 * buffer
    np.testing.assert_allclose(params[0].value, [-0.1 - 0.14, 0.1 + 0.04], rtol=1e-14)


def test_sgd_nesterov_two_steps():
    params = _params([0.0, 0.0])
    opt = bn.SGD(lr=0.1, momentum=0.9, nesterov=True)
    _step(opt, params, [1.0, -1.0])
    # step 1: buffer = [1, -1]; direction = g1 + 0.9 * buffer = [1.9, -1.9]
    np.testing.assert_allclose(params[0].value, [-0.19, 0.19], rtol=1e-14)
    _step(opt, params, [0.5, 0.5])
    # step 2: buffer = [1.4, -0.4]; direction = [0.5 + 1.26, 0.5 - 0.36] = [1.76, 0.14]
    np.testing.assert_allclose(params[0].value, [-0.19 - 0.176, 0.19 - 0.014], rtol=1e-14)


def test_sgd_weight_decay_applies_to_weights_only():
    params = _params([2.0, -4.0], b=[2.0])
    _step(bn.SGD(lr=0.1, weight_decay=0.1), params, [0.0, 1.0], [1.0])
    # W: g' = g + 0.1 w = [0.2, 1 - 0.4];  b: g' = g (no decay)
    np.testing.assert_allclose(params[0].value, [2.0 - 0.02, -4.0 - 0.06], rtol=1e-14)
    np.testing.assert_allclose(params[1].value, [2.0 - 0.1], rtol=1e-15)


def test_adam_bias_correction_at_steps_one_and_two():
    params = _params([1.0, -1.0])
    opt = bn.Adam(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8)
    _step(opt, params, [0.2, -0.5])
    # step 1: m = 0.1 g, v = 0.001 g^2  ->  m_hat = g, v_hat = g^2: the step is lr * sign(g)
    w1 = [1.0 - 0.1 * 0.2 / (0.2 + 1e-8), -1.0 + 0.1 * 0.5 / (0.5 + 1e-8)]
    np.testing.assert_allclose(params[0].value, w1, rtol=1e-14)
    _step(opt, params, [0.1, 0.3])
    m = [0.9 * 0.02 + 0.1 * 0.1, 0.9 * -0.05 + 0.1 * 0.3]
    v = [0.999 * 4e-5 + 0.001 * 0.01, 0.999 * 2.5e-4 + 0.001 * 0.09]
    m_hat = [mi / (1 - 0.9 ** 2) for mi in m]
    v_hat = [vi / (1 - 0.999 ** 2) for vi in v]
    w2 = [wi - 0.1 * mh / (math.sqrt(vh) + 1e-8) for wi, mh, vh in zip(w1, m_hat, v_hat,
                                                                        strict=True)]
    np.testing.assert_allclose(params[0].value, w2, rtol=1e-13)
    # the same numbers as decimals, worked out by hand: m_hat_1 = 0.028 / 0.19 = 0.14737,
    # v_hat_1 = 4.996e-5 / 0.001999 = 0.024993  ->  step 0.1 * 0.14737 / 0.15809 = 0.093218
    assert params[0].value[0] == pytest.approx(w1[0] - 0.093218, abs=2e-6)


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_adam_first_step_is_lr_whatever_the_gradient_scale(scale):
    params = _params([0.0, 0.0, 0.0])
    _step(bn.Adam(lr=0.01, eps=1e-12), params, np.array([1.0, -2.0, 0.5]) * scale)
    np.testing.assert_allclose(params[0].value, [-0.01, 0.01, -0.01], rtol=1e-5)


def test_adam_l2_weight_decay_is_coupled_and_skips_biases():
    params = _params([2.0], b=[2.0])
    _step(bn.Adam(lr=0.1, weight_decay=0.5), params, [0.0], [0.0])
    # W: g' = 0 + 0.5 * 2 = 1 -> step 1 is lr * sign(g') (see above); b: g = 0, no move
    np.testing.assert_allclose(params[0].value, [2.0 - 0.1 * 1.0 / (1.0 + 1e-8)], rtol=1e-14)
    np.testing.assert_array_equal(params[1].value, [2.0])


def test_adamw_decay_is_decoupled_and_skips_biases():
    params = _params([2.0, -1.0], b=[3.0])
    _step(bn.AdamW(lr=0.1, weight_decay=0.5), params, [0.4, 0.0], [0.4])
    # W: w <- w (1 - lr * lambda) = 0.95 w, then the Adam step on g alone (lr sign(g), 0 if g=0)
    w = [2.0 * 0.95 - 0.1 * 0.4 / (0.4 + 1e-8), -1.0 * 0.95]
    np.testing.assert_allclose(params[0].value, w, rtol=1e-14)
    np.testing.assert_allclose(params[1].value, [3.0 - 0.1 * 0.4 / (0.4 + 1e-8)], rtol=1e-14)


def test_optimizers_keep_float32():
    w = np.ones(3, dtype=np.float32)
    params = [Param("W", w, np.full(3, 0.5, dtype=np.float32), True)]
    for opt in (bn.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.1), bn.Adam(0.1),
                bn.AdamW(0.1)):
        opt.step(params)
        opt.step(params)
        assert params[0].value is w and w.dtype == np.float32
    assert np.all(w < 1)


@pytest.mark.parametrize("make", [
    lambda: bn.SGD(0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda: bn.Adam(0.01, weight_decay=0.01),
    lambda: bn.AdamW(0.01),
])
def test_state_dict_resumes_the_same_trajectory(make):
    rng = np.random.default_rng(0)
    grads = rng.normal(size=(6, 2, 3))

    def run(opt, params, gs):
        for g in gs:
            _step(opt, params, g[0], g[1])

    straight = _params(np.ones(3), b=np.ones(3))
    run(make(), straight, grads)
    resumed = _params(np.ones(3), b=np.ones(3))
    first = make()
    run(first, resumed, grads[:3])
    state = copy.deepcopy(first.state_dict())
    second = make()
    second.load_state_dict(state)
    assert second.t == 3
    run(second, resumed, grads[3:])
    for a, b in zip(straight, resumed, strict=True):
        np.testing.assert_array_equal(a.value, b.value)


def test_make_optimizer():
    assert isinstance(bn.make_optimizer("sgd", 0.1, momentum=0.9), bn.SGD)
    adam = bn.make_optimizer("adam", 0.01, weight_decay=0.1, beta1=0.8)
    assert type(adam) is bn.Adam and not adam.decoupled and adam.beta1 == 0.8
    adamw = bn.make_optimizer("adamw", 0.01, weight_decay=0.1)
    assert isinstance(adamw, bn.AdamW) and adamw.decoupled and adamw.weight_decay == 0.1
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'.*sgd, adam, adamw"):
        bn.make_optimizer("rmsprop", 0.1)
    with pytest.raises(ValueError, match="sgd only"):
        bn.make_optimizer("adam", 0.1, momentum=0.9)


@pytest.mark.parametrize("make,pattern", [
    (lambda: bn.SGD(0.0), "learning rate must be a finite number > 0"),
    (lambda: bn.SGD(-1.0), "learning rate must be a finite number > 0"),
    (lambda: bn.Adam(float("nan")), "learning rate must be a finite number > 0"),
    (lambda: bn.SGD(float("inf")), "learning rate must be a finite number > 0; got inf"),
    (lambda: bn.AdamW(True), "learning rate must be a finite number > 0; got True"),
    (lambda: bn.Adam("0.1"), "learning rate must be a finite number > 0; got '0.1'"),
    (lambda: bn.Trainer(bn.MLP([4, 3]), "cross_entropy", bn.SGD(0.1), lr=float("inf")),
     "learning rate must be a finite number > 0"),
    (lambda: bn.Adam(0.1, eps=-1e-8), "eps must be a finite number >= 0"),
    (lambda: bn.Adam(0.1, eps=float("nan")), "eps must be a finite number >= 0"),
    (lambda: bn.SGD(0.1, weight_decay=float("nan")), "weight decay must be a finite number >= 0"),
    (lambda: bn.Trainer(bn.MLP([4, 3]), epochs=-1), "epochs must be a whole number >= 0"),
    (lambda: bn.Trainer(bn.MLP([4, 3]), epochs=1.5), "epochs must be a whole number >= 0"),
    (lambda: bn.Trainer(bn.MLP([4, 3]), epochs=float("nan")), "epochs must be a whole number >= 0"),
    (lambda: bn.SGD(0.1, momentum=1.0), r"momentum must be in \[0, 1\)"),
    (lambda: bn.SGD(0.1, momentum=-0.1), r"momentum must be in \[0, 1\)"),
    (lambda: bn.SGD(0.1, nesterov=True), "nesterov needs a momentum"),
    (lambda: bn.SGD(0.1, weight_decay=-1), "weight decay must be a finite number >= 0"),
    (lambda: bn.Adam(0.1, beta1=1.0), r"beta1 must be in \[0, 1\)"),
    (lambda: bn.Adam(0.1, beta2=-0.5), r"beta2 must be in \[0, 1\)"),
    (lambda: bn.AdamW(0.1, weight_decay=-0.1), "weight decay must be a finite number >= 0"),
])
def test_bad_hyperparameters(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


# ----------------------------------------------------------------- packed parameters
def test_pack_and_packed_vector():
    from barenet.layers import pack, packed_vector

    a, b = np.arange(6.0).reshape(2, 3), np.array([7.0, 8.0])
    vector, (va, vb) = pack([a, b])
    np.testing.assert_array_equal(vector, [0, 1, 2, 3, 4, 5, 7, 8])
    va[1, 2] = -1.0  # a view: writing it writes the vector
    assert vector[5] == -1.0
    assert packed_vector([va, vb]) is vector
    assert packed_vector([vb, va]) is None  # out of order
    assert packed_vector([va]) is None  # does not cover the vector
    assert packed_vector([a, b]) is None  # separate arrays
    assert packed_vector([]) is None


def test_mlp_stores_parameters_and_gradients_packed():
    from barenet.layers import packed_vector

    model = bn.MLP([5, 4, 3], seed=0)
    params = model.params()
    values = packed_vector([p.value for p in params])
    grads = packed_vector([p.grad for p in params])
    assert values is not None and grads is not None
    assert values.size == model.n_params() == 5 * 4 + 4 + 4 * 3 + 3
    assert not np.shares_memory(values, grads)
    x = np.random.default_rng(0).random((7, 5))
    model.loss_and_gradients(x, np.arange(7) % 3, "cross_entropy")
    np.testing.assert_array_equal(grads[:20], model.dense_layers[0].dW.reshape(-1))


OPTIMIZER_CASES = [
    lambda: bn.SGD(lr=0.1),
    lambda: bn.SGD(lr=0.1, momentum=0.9, nesterov=True),
    lambda: bn.SGD(lr=0.1, momentum=0.9, weight_decay=0.01),
    lambda: bn.Adam(lr=0.01),
    lambda: bn.Adam(lr=0.01, weight_decay=0.1),
    lambda: bn.AdamW(lr=0.01, weight_decay=0.1),
]


@pytest.mark.parametrize("make", OPTIMIZER_CASES)
def test_packed_and_separate_parameters_take_identical_steps(make):
    """One pass over the packed vector must be the same arithmetic as one pass per array."""
    from barenet.layers import packed_vector

    model = bn.MLP([6, 5, 3], seed=1, dtype="float64")
    packed = model.params()
    separate = [Param(p.name, p.value.copy(), p.grad.copy(), p.decay) for p in packed]
    assert packed_vector([p.value for p in separate]) is None
    first, second = make(), make()
    rng = np.random.default_rng(2)
    for _ in range(4):
        for p, q in zip(packed, separate, strict=True):
            p.grad[...] = q.grad[...] = rng.standard_normal(p.grad.shape)
        first.step(packed)
        second.step(separate)
    for p, q in zip(packed, separate, strict=True):
        np.testing.assert_array_equal(p.value, q.value)
        np.testing.assert_array_equal(p.grad, q.grad)  # step never changes the gradients
    for key, value in first.state_dict().items():
        np.testing.assert_array_equal(value, second.state_dict()[key])


def _assert_second_step_replays(model, first, second):
    """``first`` has taken one step on ``model``; ``second``, restored from it, must take the
    same second step, bit for bit."""
    params = model.params()
    weights = model.get_weights()
    first.step(params)
    after_two = model.get_weights()
    model.set_weights(weights)
    second.step(params)
    for a, b in zip(model.get_weights(), after_two, strict=True):
        np.testing.assert_array_equal(a, b)


def _one_adam_step(sizes, seed, grad):
    model = bn.MLP(sizes, seed=seed, dtype="float64")
    params = model.params()
    for p in params:
        p.grad[...] = grad
    first = bn.Adam(lr=0.01)
    first.step(params)
    return model, first


def test_loaded_state_is_used_in_place_of_fresh_zeros():
    model, first = _one_adam_step([4, 3, 2], seed=0, grad=1.0)
    state = {k: np.array(v, copy=True) for k, v in first.state_dict().items()}
    second = bn.Adam(lr=0.01)
    second.load_state_dict(state)
    _assert_second_step_replays(model, first, second)


def test_pickled_optimizer_keeps_its_state_packed_and_small():
    import pickle

    model, first = _one_adam_step([6, 5, 3], seed=1, grad=0.5)
    blob = pickle.dumps(first)
    # u and s (2 x 53 float64) and little else: no scratch buffer, no cached parameter vectors
    assert len(blob) < 2 * model.n_params() * 8 + 2000
    second = pickle.loads(blob)
    assert np.shares_memory(second.u[0], second._vectors["u"])
    _assert_second_step_replays(model, first, second)


def test_a_copied_model_is_packed_again():
    import copy
    import pickle

    from barenet.layers import packed_vector

    model = bn.MLP([6, 5, 3], seed=1)
    for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        params = clone.params()
        assert packed_vector([p.value for p in params]) is not None
        assert packed_vector([p.grad for p in params]) is not None
        for a, b in zip(clone.get_weights(), model.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_adam_epsilon_on_v_is_kingma_and_bas_efficient_form():
    """epsilon_on="v": w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps), the update
    scikit-learn's and TensorFlow's Adam make; the default adds eps to sqrt(v_hat)."""
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(3, 4))
    grads = [rng.normal(scale=1e-3, size=(3, 4)) for _ in range(5)]
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-3  # a large eps: the two forms differ visibly
    finals = {}
    for where in ("v", "v_hat"):
        param = Param("w", w0.copy(), np.zeros_like(w0), True)
        opt = bn.Adam(lr, b1, b2, eps, epsilon_on=where)
        for g in grads:
            param.grad[...] = g
            opt.step([param])
        finals[where] = param.value
    w, m, v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w -= lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)
    np.testing.assert_allclose(finals["v"], w, rtol=1e-12)
    assert not np.allclose(finals["v_hat"], w, rtol=1e-6)
    with pytest.raises(bn.BarenetError, match="epsilon_on"):
        bn.Adam(epsilon_on="sqrt")

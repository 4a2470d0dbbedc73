"""The MLP: structure, dtypes, copies, predictions, bad arguments, determinism, and two
learning sanity checks (initial loss ~ log C, overfitting a small set)."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest

import barenet as bn
from barenet.layers import ActivationLayer, Dense, Dropout
from core_helpers import mnist_like, reference_activation


def _data(n=12, d=6, c=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.integers(0, c, size=n)


def test_structure_shapes_and_params():
    model = bn.MLP([6, 5, 4, 3], hidden=["relu", "tanh"], output="softmax", dropout=[0.2, 0.0])
    kinds = [type(layer) for layer in model.layers]
    assert kinds == [Dense, ActivationLayer, Dropout, Dense, ActivationLayer, Dense,
                     ActivationLayer]
    assert [layer.name for layer in model.layers if isinstance(layer, ActivationLayer)] == \
        ["relu", "tanh", "softmax"]
    params = model.params()
    assert [p.name for p in params] == ["layer1.W", "layer1.b", "layer2.W", "layer2.b",
                                        "layer3.W", "layer3.b"]
    assert [p.value.shape for p in params] == [(6, 5), (5,), (5, 4), (4,), (4, 3), (3,)]
    assert [p.decay for p in params] == [True, False] * 3
    assert all(p.grad.shape == p.value.shape for p in params)
    assert model.n_params() == 6 * 5 + 5 + 5 * 4 + 4 + 4 * 3 + 3
    assert (model.n_inputs, model.n_outputs) == (6, 3)
    x, y = _data()
    p = model.forward(x)
    assert p.shape == (12, 3)
    assert model.forward(x[0]).shape == (1, 3)  # one sample as a vector


def test_params_are_live():
    model = bn.MLP([6, 5, 3], seed=1, dtype="float64")
    x, _ = _data()
    before = model.forward(x)
    model.params()[-1].value[...] += 100.0  # a huge output bias on every class: no change
    np.testing.assert_allclose(model.forward(x), before, rtol=1e-12)
    model.params()[-1].value[0] += 5.0
    assert np.all(model.predict(x) == 0)


def test_summary_lists_layers_shapes_and_counts():
    model = bn.MLP([784, 100, 10], dropout=0.2)
    text = model.summary()
    for fragment in ("Dense(784 -> 100)", "Dense(100 -> 10)", "relu", "softmax", "Dropout(0.2)",
                     "(N, 100)", "(N, 10)", "78,500", "1,010", "79,510", "float32"):
        assert fragment in text, fragment
    assert "784" in repr(model) and "softmax" in repr(model)


def test_config_rebuilds_the_architecture():
    model = bn.MLP([6, 5, 3], hidden="tanh", output="sigmoid", init="he_uniform", bias_init=0.1,
                   dropout=0.25, dtype="float64", seed=7)
    clone = bn.MLP(**model.config())
    for a, b in zip(model.get_weights(), clone.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("output,loss_name", [("softmax", "cross_entropy"),
                                              ("sigmoid", "squared_error"),
                                              ("tanh", "squared_error")])
def test_dtype_is_kept_end_to_end(dtype, output, loss_name):
    x, y = _data(seed=2)
    model = bn.MLP([6, 5, 4, 3], hidden="sigmoid", output=output, dropout=0.1, dtype=dtype)
    assert model.dtype == np.dtype(dtype)
    for inp in (x, x.astype(np.float32), (x * 10).astype(np.int64)):
        assert model.forward(inp).dtype == dtype
        assert model.predict_proba(inp).dtype == dtype
    assert all(w.dtype == dtype for w in model.get_weights())
    value = model.loss_and_gradients(x, y, bn.Loss(loss_name))
    assert isinstance(value, float) and math.isfinite(value)
    for p in model.params():
        assert p.value.dtype == dtype and p.grad.dtype == dtype
        assert np.any(p.grad != 0)
    opt = bn.Adam(0.01)
    opt.step(model.params())
    assert all(p.value.dtype == dtype for p in model.params())


def test_images_are_flattened_and_converted():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(5, 4, 4), dtype=np.uint8)
    model = bn.MLP([16, 8, 3], seed=0)
    np.testing.assert_array_equal(model.forward(images), model.forward(images.reshape(5, 16)))
    np.testing.assert_array_equal(model.forward(images),
                                  model.forward(images.reshape(5, 16).astype(np.float32)))


def test_forward_matches_an_independent_implementation():
    x, _ = _data(seed=4)
    model = bn.MLP([6, 5, 4, 3], hidden=["leaky_relu", "sigmoid"], output="softmax",
                   bias_init=0.1, dtype="float64", seed=4)
    out = x
    for dense, act in zip(model.dense_layers, ["leaky_relu", "sigmoid", "softmax"], strict=True):
        out = reference_activation(act, out @ dense.W + dense.b)
    np.testing.assert_allclose(model.forward(x), out, rtol=1e-13)


# ------------------------------------------------------------------ copies and buffers
def test_public_forward_returns_a_copy_not_a_buffer():
    model = bn.MLP([6, 5, 3], seed=0)
    x, _ = _data()
    first = model.forward(x)
    saved = first.copy()
    model.forward(x * 3)
    np.testing.assert_array_equal(first, saved)  # not overwritten by the next forward
    first[...] = -1
    np.testing.assert_array_equal(model.forward(x), saved)  # editing it changes nothing
    proba = model.predict_proba(x)
    proba[...] = 0
    np.testing.assert_array_equal(model.predict_proba(x), saved)
    # copy=False is the documented fast path: the same buffer every time
    assert model.forward(x, copy=False) is model.forward(x * 2, copy=False)


def test_forward_and_backward_never_modify_the_callers_arrays():
    x, y = _data(seed=5)
    x = x.astype(np.float32)  # already the model dtype: used without conversion
    x0, y0 = x.copy(), y.copy()
    model = bn.MLP([6, 5, 3], hidden="relu", dropout=0.3, seed=0)
    model.loss_and_gradients(x, y, "cross_entropy")
    model.forward(x, training=True)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)


def test_get_set_weights_round_trip_and_validation():
    a = bn.MLP([6, 5, 3], seed=0)
    b = bn.MLP([6, 5, 3], seed=1)
    x, _ = _data()
    weights = a.get_weights()
    weights[0][...] = 0  # get_weights returns copies
    assert np.any(a.params()[0].value != 0)
    b.set_weights(a.get_weights())
    np.testing.assert_array_equal(a.forward(x), b.forward(x))
    b.set_weights([w.astype(np.float64) for w in a.get_weights()])  # cast into the model dtype
    assert b.params()[0].value.dtype == np.float32
    with pytest.raises(ValueError, match="expected 4 arrays, got 3"):
        b.set_weights(a.get_weights()[:3])
    bad = a.get_weights()
    bad[2] = bad[2].T
    with pytest.raises(ValueError, match=r"layer2.W: expected shape \(5, 3\), got \(3, 5\)"):
        b.set_weights(bad)


def test_astype_and_copy_are_independent():
    model = bn.MLP([6, 5, 3], hidden="tanh", init="normal(0.5)", bias_init=0.1, seed=0)
    x, _ = _data()
    wide = model.astype("float64")
    assert wide.dtype == np.float64 and model.dtype == np.float32
    np.testing.assert_allclose(wide.forward(x), model.forward(x), rtol=1e-5)
    for a, b in zip(model.get_weights(), wide.get_weights(), strict=True):
        np.testing.assert_array_equal(a.astype(np.float64), b)
    before = model.get_weights()
    for p in wide.params():
        p.value[...] = 7
    twin = model.copy()
    for p in twin.params():
        p.value[...] = 3
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert twin.config()["init"] == model.config()["init"]


# ------------------------------------------------------------------ predictions
def test_predict_for_softmax():
    x, _ = _data(n=30)
    model = bn.MLP([6, 8, 4], seed=1, dtype="float64")
    proba = model.predict_proba(x)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(x), proba.argmax(axis=1))
    assert model.predict(x).dtype.kind == "i"
    # batched: the same up to rounding (BLAS may take another code path for 7 rows than for 30)
    np.testing.assert_allclose(model.predict_proba(x, batch_size=7), proba, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(model.predict(x[3]), proba[3:4].argmax(axis=1))


def test_predict_for_one_sigmoid_unit():
    x, _ = _data(n=40)
    model = bn.MLP([6, 8, 1], output="sigmoid", seed=2, dtype="float64")
    proba = model.predict_proba(x)
    assert proba.shape == (40, 1) and np.all((proba > 0) & (proba < 1))
    labels = model.predict(x)
    assert labels.shape == (40,)
    np.testing.assert_array_equal(labels, (proba[:, 0] > 0.5).astype(int))
    assert 0 < labels.sum() < 40  # both classes occur, so the threshold really splits
    np.testing.assert_array_equal(model.predict(x, threshold=0.0), 1)
    np.testing.assert_array_equal(model.predict(x, threshold=1.0), 0)


def test_dropout_is_off_at_inference():
    x, _ = _data()
    with_dropout = bn.MLP([6, 50, 3], dropout=0.5, seed=3)
    without = bn.MLP([6, 50, 3], dropout=0.0, seed=3)
    without.set_weights(with_dropout.get_weights())
    np.testing.assert_array_equal(with_dropout.predict_proba(x), without.predict_proba(x))
    np.testing.assert_array_equal(with_dropout.forward(x), with_dropout.forward(x))
    assert not np.array_equal(with_dropout.forward(x, training=True),
                              with_dropout.forward(x, training=False))


# ------------------------------------------------------------------ bad arguments
@pytest.mark.parametrize("kwargs,pattern", [
    (dict(sizes=[6, 5, 3], hidden="swish"),
     "unknown hidden activation 'swish'.*sigmoid.*relu.*leaky_relu.*tanh.*identity"),
    (dict(sizes=[6, 3], hidden="swish"), "unknown hidden activation 'swish'"),
    (dict(sizes=[6, 5, 3], output="logsoftmax"), "unknown output activation 'logsoftmax'.*softmax"),
    (dict(sizes=[6, 5, 3], hidden=["relu", "tanh"]), "expected 1 hidden activations"),
    (dict(sizes=[6, 5, 1], output="softmax"), "softmax output needs at least 2 units.*sigmoid"),
    (dict(sizes=[6]), "at least an input and an output size"),
    (dict(sizes=[]), "at least an input and an output size"),
    (dict(sizes=[6, 0, 3]), "positive"),
    (dict(sizes=[6, -4, 3]), "positive"),
    (dict(sizes=[6, 2.5, 3]), "whole numbers"),
    (dict(sizes=[6, "ten", 3]), "whole numbers"),
    (dict(sizes=[6, 5, 3], dropout=[0.1, 0.2]), "expected 1 dropout rates"),
    (dict(sizes=[6, 5, 3], dtype="float16"), "unsupported dtype.*float32, float64"),
    (dict(sizes=[6, 5, 3], dtype="int64"), "unsupported dtype.*float32, float64"),
])
def test_bad_constructor_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern) as info:
        bn.MLP(**kwargs)
    assert isinstance(info.value, bn.BarenetError)


def test_bad_inputs_and_labels():
    model = bn.MLP([6, 5, 3], seed=0)
    x, y = _data()
    with pytest.raises(ValueError, match="input has 5 features per sample but the model expects 6"):
        model.forward(x[:, :5])
    with pytest.raises(ValueError, match="scalar"):
        model.forward(1.0)
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.2"):
        model.loss_and_gradients(x, y + 1, "cross_entropy")
    with pytest.raises(ValueError, match="11 labels for 12"):
        model.loss_and_gradients(x, y[:11], "cross_entropy")
    with pytest.raises(ValueError, match="shape"):
        model.loss_and_gradients(x, y.reshape(-1, 1), "cross_entropy")
    with pytest.raises(ValueError, match="shape"):
        model.loss_and_gradients(x, np.eye(4)[y % 4], "squared_error")
    binary = bn.MLP([6, 5, 1], output="sigmoid", seed=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        binary.loss_and_gradients(x, y, "binary_cross_entropy")  # labels 0..2 on one unit
    with pytest.raises(ValueError, match="unknown loss"):
        model.loss_and_gradients(x, y, "hinge")


# ------------------------------------------------------------------ determinism
def _train(seed: int, steps: int = 5) -> list[np.ndarray]:
    x, y = _data(n=32, seed=9)
    model = bn.MLP([6, 16, 8, 3], hidden="relu", dropout=0.3, init="he_uniform", seed=seed)
    opt = bn.Adam(0.01)
    for _ in range(steps):
        model.loss_and_gradients(x, y, "cross_entropy")
        opt.step(model.params())
    return model.get_weights()


def test_same_seed_gives_bit_identical_training():
    a, b, c = _train(1), _train(1), _train(2)
    for wa, wb in zip(a, b, strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert not all(np.array_equal(wa, wc) for wa, wc in zip(a, c, strict=True))


# ------------------------------------------------------------------ learning sanity
def test_initial_cross_entropy_is_about_log_ten():
    """A fresh 10-class net is no better than chance: CE ~ log(10) on MNIST-like inputs."""
    rng = np.random.default_rng(0)
    x = mnist_like(2000, rng).astype(np.float32)
    y = rng.integers(0, 10, size=2000)
    for seed in range(3):
        model = bn.MLP([784, 100, 10], seed=seed)
        value = bn.Loss("cross_entropy").value(model.predict_proba(x), y)
        assert abs(value - math.log(10)) < 0.3, value
        # and no class dominates the predictions
        assert np.bincount(model.predict(x), minlength=10).max() < 0.6 * len(x)
    for spec in ("xavier_uniform", "he_normal", "max_fan_normal"):
        model = bn.MLP([784, 100, 10], hidden="sigmoid", init=spec, seed=0)
        value = bn.Loss("cross_entropy").value(model.predict_proba(x), y)
        assert abs(value - math.log(10)) < 0.3, (spec, value)


def _real_mnist(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first n test images of the MNIST copy shipped in the package, read here directly
    from the IDX files (header: magic, count, rows, cols as big-endian int32)."""
    data = Path(bn.__file__).parent / "data" / "mnist"
    images, labels = data / "t10k-images-idx3-ubyte.gz", data / "t10k-labels-idx1-ubyte.gz"
    if not images.exists():
        pytest.skip("the packaged MNIST files are not present")
    with gzip.open(images) as f:
        x = np.frombuffer(f.read(16 + 784 * n)[16:], dtype=np.uint8).reshape(n, 784)
    with gzip.open(labels) as f:
        y = np.frombuffer(f.read(8 + n)[8:], dtype=np.uint8)
    return x.astype(np.float32) / 255, y.astype(np.int64)


def test_initial_cross_entropy_on_real_mnist_and_overfitting_it():
    x, y = _real_mnist(2000)
    assert np.bincount(y, minlength=10).min() > 150  # all ten digits present
    for seed in range(3):
        model = bn.MLP([784, 100, 10], seed=seed)
        value = bn.Loss("cross_entropy").value(model.predict_proba(x), y)
        assert abs(value - math.log(10)) < 0.3, value
    model = bn.MLP([784, 64, 10], seed=0)
    opt = bn.Adam(0.003)
    for _ in range(100):
        model.loss_and_gradients(x[:50], y[:50], "cross_entropy")
        opt.step(model.params())
    assert np.mean(model.predict(x[:50]) == y[:50]) == 1.0


@pytest.mark.parametrize("structured", [False, True], ids=["random-labels", "structured"])
def test_small_net_overfits_fifty_samples(structured):
    rng = np.random.default_rng(1)
    if structured:  # ten noisy prototypes, one per class
        y = np.arange(50) % 10
        x = rng.normal(size=(10, 20))[y] + 0.5 * rng.normal(size=(50, 20))
    else:
        x = rng.uniform(size=(50, 20))
        y = rng.integers(0, 10, size=50)
    model = bn.MLP([20, 64, 10], hidden="relu", seed=0)
    opt = bn.Adam(0.01)
    loss = bn.Loss("cross_entropy")
    first = model.loss_and_gradients(x, y, loss)
    for _ in range(300):
        last = model.loss_and_gradients(x, y, loss)
        opt.step(model.params())
    assert np.mean(model.predict(x) == y) == 1.0
    assert last < 0.1 * first


@pytest.mark.parametrize("output, loss_name", [("softmax", "cross_entropy"),
                                               ("sigmoid", "binary_cross_entropy"),
                                               ("softmax", "squared_error")])
def test_the_readme_training_step_leaves_p_unchanged(output, loss_name):
    """README's step: forward, loss.value, backward, step. backward must not write p - y
    over the caller's p; overwrite_p=True is the explicit fast path, with the same gradients."""
    x, y = _data(seed=7)
    if output == "sigmoid":
        y = (y > 0).astype(np.int64)
    n_out = 1 if output == "sigmoid" else 3
    model = bn.MLP([6, 5, n_out], output=output, seed=0)
    loss = bn.Loss(loss_name)
    p = model.forward(x, training=True)
    kept = p.copy()
    model.backward(p, y, loss)
    np.testing.assert_array_equal(p, kept)
    grads = [q.grad.copy() for q in model.params()]
    fast = model.forward(x, training=True, copy=False)
    model.backward(fast, y, loss, overwrite_p=True)
    for q, g in zip(model.params(), grads, strict=True):
        np.testing.assert_array_equal(q.grad, g)
    if loss.is_fused_with(output):
        assert not np.array_equal(fast, kept)  # the fast path did write dL/dz over it

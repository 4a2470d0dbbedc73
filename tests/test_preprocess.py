"""Preprocessing: selection, balanced subsets, splits, layout, scaling, minibatches."""

from __future__ import annotations

import json

import numpy as np
import pytest

from barenet import BarenetError, DataError
from barenet.losses import one_hot as losses_one_hot
from barenet.preprocess import (
    STD_FLOOR,
    Normalizer,
    digits_from_pair,
    first_per_class,
    flatten,
    from_columns,
    iterate_minibatches,
    one_hot,
    select_digits,
    stratified_split,
    to_columns,
)


@pytest.fixture
def toy():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, size=500).astype(np.uint8)
    x = rng.integers(0, 256, size=(500, 4, 5), dtype=np.uint8)
    x[:, 0, 0] = np.arange(500) % 256  # sample i has id i (see _ids)
    x[:, 0, 1] = np.arange(500) // 256
    return x, y


def _ids(x):
    """The id stored in the first two pixels of each sample (its original index)."""
    f = np.asarray(x).reshape(len(x), -1).astype(int)
    return f[:, 0] + 256 * f[:, 1]


# ------------------------------------------------------------------------------ selection


def test_select_digits_maps_labels_and_keeps_order(toy):
    x, y = toy
    xs, y01 = select_digits(x, y, 7, 1)
    mask = (y == 7) | (y == 1)
    np.testing.assert_array_equal(xs, x[mask])
    np.testing.assert_array_equal(y01, (y[mask] == 1).astype(np.uint8))
    assert set(np.unique(y01)) == {0, 1} and y01.dtype == np.uint8
    np.testing.assert_array_equal(digits_from_pair(y01, 7, 1), y[mask])


def test_select_digits_on_mnist_counts(mnist):
    xs, y01 = select_digits(mnist.x_train, mnist.y_train, 1, 5)
    assert xs.shape == (6742 + 5421, 28, 28)
    assert np.count_nonzero(y01 == 0) == 6742 and np.count_nonzero(y01) == 5421


@pytest.mark.parametrize("d1,d2,match", [(3, 3, "two different"), (1, 10, "does not occur"),
                                         (-1, 2, "does not occur")])
def test_select_digits_errors(toy, d1, d2, match):
    x, y = toy
    with pytest.raises(DataError, match=match):
        select_digits(x, y, d1, d2)
    assert issubclass(DataError, BarenetError) and issubclass(DataError, ValueError)


def test_first_per_class_is_balanced_and_in_original_order(toy):
    x, y = toy
    xs, ys = first_per_class(x, y, 20)
    assert np.all(np.bincount(ys) == 20)
    expected = np.sort(np.concatenate([np.flatnonzero(y == c)[:20] for c in range(10)]))
    np.testing.assert_array_equal(xs, x[expected])
    np.testing.assert_array_equal(ys, y[expected])


def test_first_per_class_e5_subsets(mnist):
    xs, ys = first_per_class(mnist.x_train, mnist.y_train, 1000)
    assert xs.shape == (10000, 28, 28) and np.all(np.bincount(ys) == 1000)
    x58, y58 = select_digits(mnist.x_train, mnist.y_train, 5, 8)
    xb, yb = first_per_class(x58, y58, 1000)
    assert len(xb) == 2000 and np.all(np.bincount(yb) == 1000)
    xt, _ = select_digits(mnist.x_test, mnist.y_test, 5, 8)
    assert len(xt) == 1866  # "test on every test 5 and 8 (1866 images)"


def test_first_per_class_errors(toy):
    x, y = toy
    with pytest.raises(DataError, match="fewer than"):
        first_per_class(x, y, 10_000)
    with pytest.raises(DataError, match="positive"):
        first_per_class(x, y, 0)


def test_stratified_split_is_stratified_seeded_and_complete(toy):
    x, y = toy
    xt, yt, xv, yv = stratified_split(x, y, 0.2, seed=3)
    counts = np.bincount(y, minlength=10)
    np.testing.assert_array_equal(np.bincount(yv, minlength=10), np.floor(0.2 * counts + 0.5))
    assert len(xt) + len(xv) == len(x)
    # every sample exactly once, and original order kept within each part
    ids = np.concatenate([_ids(xt), _ids(xv)])
    assert sorted(ids.tolist()) == list(range(len(x)))
    assert np.all(np.diff(_ids(xt)) > 0) and np.all(np.diff(_ids(xv)) > 0)
    np.testing.assert_array_equal(y[_ids(xv)], yv)
    again = stratified_split(x, y, 0.2, seed=3)
    for a, b in zip((xt, yt, xv, yv), again, strict=True):
        np.testing.assert_array_equal(a, b)
    other = stratified_split(x, y, 0.2, seed=4)
    assert not np.array_equal(xv, other[2])
    gen = stratified_split(x, y, 0.2, seed=np.random.default_rng(3))
    np.testing.assert_array_equal(gen[2], xv)


def test_stratified_split_keeps_one_training_sample_per_class():
    x = np.arange(3).reshape(3, 1)
    y = np.array([0, 1, 1])
    xt, yt, xv, yv = stratified_split(x, y, 0.9, seed=0)
    assert sorted(yt.tolist()) == [0, 1] and yv.tolist() == [1]


@pytest.mark.parametrize("fraction", [0, 0.0, 1, 1.5, -0.1])
def test_stratified_split_rejects_bad_fractions(toy, fraction):
    with pytest.raises(DataError, match="between 0 and 1"):
        stratified_split(*toy, fraction, seed=0)


# ------------------------------------------------------------------------------ layout


def test_flatten_is_a_view():
    x = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    f = flatten(x)
    assert f.shape == (2, 12) and np.shares_memory(f, x)
    x.flags.writeable = False
    assert flatten(x).shape == (2, 12)


def test_columns_round_trip():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    c = to_columns(x)
    assert c.shape == (4, 3) and c.flags.c_contiguous
    np.testing.assert_array_equal(c[:, 1], x[1])
    back = from_columns(c)
    assert back.flags.c_contiguous
    np.testing.assert_array_equal(back, x)


def test_one_hot_is_the_losses_one():
    assert one_hot is losses_one_hot
    np.testing.assert_array_equal(one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])


# ------------------------------------------------------------------------------ Normalizer


def test_scale_255_matches_division(toy):
    x = flatten(toy[0])
    out = Normalizer("255").transform(x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, (x / np.float32(255)).astype(np.float32))
    assert Normalizer("scale").method == "255"
    d16 = Normalizer("255").fit(x, pixel_max=16).transform(x, dtype=np.float64)
    np.testing.assert_allclose(d16, x / 16.0)


def test_max_divides_each_image_by_its_own_max():
    x = np.array([[0, 10, 20], [0, 0, 0], [255, 1, 3]], dtype=np.uint8)
    out = Normalizer("max").transform(x)
    np.testing.assert_allclose(out, [[0, 0.5, 1], [0, 0, 0], [1, 1 / 255, 3 / 255]], rtol=1e-6)
    img = x.reshape(3, 1, 3)
    np.testing.assert_allclose(Normalizer("max").transform(img).reshape(3, 3), out)


def test_standardize_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, size=(1000, 6)).astype(np.uint8)
    train[:, 5] = 7  # a constant feature
    norm = Normalizer("standardize").fit(train)
    np.testing.assert_allclose(norm.mean, train.mean(axis=0))
    expected_std = np.maximum(train.std(axis=0), STD_FLOOR * 255)
    np.testing.assert_allclose(norm.std, expected_std)
    z = norm.transform(train, dtype=np.float64)
    np.testing.assert_allclose(z[:, :5].mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(z[:, :5].std(axis=0), 1, rtol=1e-9)
    assert np.all(z[:, 5] == 0)
    test = np.full((2, 6), 255, np.uint8)
    assert np.all(np.abs(norm.transform(test)) < 255 / (STD_FLOOR * 255) + 1)  # no blow-up
    with pytest.raises(DataError, match="features"):
        norm.transform(np.zeros((2, 5), np.uint8))


def test_standardize_must_be_fitted():
    with pytest.raises(BarenetError, match="fit"):
        Normalizer("standardize").transform(np.zeros((2, 3), np.uint8))
    with pytest.raises(BarenetError, match="fit"):
        Normalizer("standardize").to_dict()


def test_none_gives_raw_floats():
    x = np.array([[0, 7, 255]], np.uint8)
    np.testing.assert_array_equal(Normalizer("none").transform(x), [[0, 7, 255]])


def test_transform_writes_into_out_without_touching_input(toy):
    x = flatten(toy[0])
    before = x.copy()
    for method in ("255", "max", "standardize", "none"):
        norm = Normalizer(method).fit(x)
        out = np.empty(x.shape, np.float32)
        res = norm.transform(x, out=out)
        assert res is out
        np.testing.assert_array_equal(out, norm.transform(x))
        np.testing.assert_array_equal(x, before)
    with pytest.raises(BarenetError, match="shape"):
        Normalizer("255").transform(x, out=np.empty((1, 1), np.float32))


@pytest.mark.parametrize("method", ["255", "max", "standardize", "none"])
def test_to_dict_round_trip_through_json(toy, method):
    x = flatten(toy[0])
    norm = Normalizer(method).fit(x, pixel_max=255)
    d = json.loads(json.dumps(norm.to_dict()))
    back = Normalizer.from_dict(d)
    assert back.method == method and back.pixel_max == 255
    np.testing.assert_array_equal(back.transform(x), norm.transform(x))


@pytest.mark.parametrize("bad", [{}, {"method": "cube"}, {"method": "standardize"},
                                 {"method": "standardize", "mean": [0, 1], "std": [1]},
                                 {"method": "standardize", "mean": [0], "std": [0]},
                                 {"method": "255", "pixel_max": -3}, "255"])
def test_from_dict_rejects_malformed(bad):
    with pytest.raises(DataError):
        Normalizer.from_dict(bad)


def test_unknown_method():
    with pytest.raises(BarenetError, match="choose one of"):
        Normalizer("l2")


# ------------------------------------------------------------------------------ minibatches


def test_minibatches_cover_every_sample_once_and_keep_x_uint8(toy):
    x, y = toy
    x = flatten(x)
    x.flags.writeable = False
    seen_x, seen_y = [], []
    batches = list(iterate_minibatches(x, y, 64, rng=np.random.default_rng(0),
                                       normalizer=Normalizer("255")))
    for xb, yb in batches[:-1]:
        assert xb.shape == (64, 20) and len(yb) == 64
    for xb, yb in iterate_minibatches(x, y, 64, rng=np.random.default_rng(0),
                                      normalizer=Normalizer("none")):
        assert xb.dtype == np.float32
        seen_x.append(_ids(xb))  # a copy: the buffer is reused
        seen_y.append(yb)
    assert x.dtype == np.uint8
    ids = np.concatenate(seen_x)
    assert sorted(ids.tolist()) == list(range(len(x)))
    assert len(np.concatenate(seen_y)) == len(y)
    assert batches[-1][0].shape == (500 - 7 * 64, 20)


def test_minibatches_pair_images_with_their_labels(toy):
    x, y = toy
    x = flatten(x)
    for xb, yb in iterate_minibatches(x, y, 50, rng=7):
        np.testing.assert_array_equal(y[_ids(xb)], yb)


def test_minibatches_reproducible_and_reshuffled_each_epoch(toy):
    x, y = toy

    def epoch(rng):
        return np.concatenate([yb for _, yb in iterate_minibatches(x, y, 100, rng=rng)])

    a, b = np.random.default_rng(5), np.random.default_rng(5)
    e1a, e1b = epoch(a), epoch(b)
    np.testing.assert_array_equal(e1a, e1b)
    assert not np.array_equal(epoch(a), e1a)  # next epoch, next permutation


def test_minibatch_buffer_is_reused(toy):
    x, y = toy
    it = iterate_minibatches(x, y, 100, rng=0, normalizer=Normalizer("255"))
    first, _ = next(it)
    second, _ = next(it)
    assert np.shares_memory(first, second)
    assert first.shape == (100, 4, 5) and first.dtype == np.float32


def test_minibatches_no_shuffle_drop_last_and_float64(toy):
    x, y = toy
    out = list(iterate_minibatches(x, y, 128, shuffle=False, drop_last=True, dtype=np.float64))
    assert len(out) == 3
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in out]), y[:384])
    assert out[0][0].dtype == np.float64
    np.testing.assert_array_equal(out[-1][0], x[256:384])
    assert list(iterate_minibatches(x[:10], y[:10], 20, drop_last=True, rng=0)) == []
    assert len(list(iterate_minibatches(x[:10], y[:10], 20, rng=0))) == 1


def test_minibatches_with_standardize_on_images(toy):
    x, y = toy
    norm = Normalizer("standardize").fit(flatten(x))
    xb, _ = next(iterate_minibatches(flatten(x), y, 32, rng=0, normalizer=norm))
    assert xb.shape == (32, 20) and np.isfinite(xb).all()


@pytest.mark.parametrize("batch_size", [0, -1, 2.5])
def test_minibatches_reject_bad_batch_size(toy, batch_size):
    with pytest.raises(BarenetError, match="batch size"):
        next(iterate_minibatches(*toy, batch_size, rng=0))


def test_minibatches_reject_mismatched_lengths(toy):
    x, y = toy
    with pytest.raises(DataError, match="labels"):
        next(iterate_minibatches(x, y[:-1], 10, rng=0))


@pytest.fixture(scope="module")
def mnist():
    from barenet.datasets import load_mnist

    return load_mnist()

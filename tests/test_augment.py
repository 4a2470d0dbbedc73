"""Random-shift augmentation: the vectorized gather against a naive per-sample reference, its
random offsets, and its plumbing through iterate_minibatches, Trainer, checkpoints and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

import barenet as bn
from barenet.augment import RandomShift, random_shift_for
from barenet.cli import main
from barenet.data.augment_spec import parse_augment
from barenet.datasets import load_mnist
from barenet.errors import BarenetError, DataError
from barenet.io import load_model
from barenet.preprocess import Normalizer, first_per_class, flatten, iterate_minibatches
from barenet.training import Trainer
from core_helpers import shifted_reference
from training_helpers import InterruptAt, assert_resume_is_bit_identical


@pytest.mark.parametrize("shape, m", [((28, 28), 2), ((8, 8), 1), ((5, 7), 3), ((6, 4), 3)])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_matches_the_per_sample_reference(shape, m, dtype):
    h, w = shape
    rng = np.random.default_rng(1)
    x = (rng.integers(1, 256, size=(64, h * w))).astype(dtype)
    shift = RandomShift(m, shape)
    out = shift(x, np.random.default_rng(7))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert not np.shares_memory(out, x)
    offsets = shift.last_offsets
    assert offsets.shape == (64, 2)
    for b in range(len(x)):
        dy, dx = (int(v) for v in offsets[b])
        expected = shifted_reference(x[b].reshape(h, w), dy, dx)
        assert np.array_equal(out[b].reshape(h, w), expected), (b, dy, dx)


def test_sign_convention_and_3d_batches():
    image = np.zeros((1, 5, 5), dtype=np.uint8)
    image[0, 2, 2] = 9
    shift = RandomShift(2, (5, 5))
    out = shift(image, np.random.default_rng(3))
    assert out.shape == (1, 5, 5)
    dy, dx = shift.last_offsets[0]
    assert out[0, 2 + dy, 2 + dx] == 9 and out.sum() == 9  # dy > 0 down, dx > 0 right


def test_shift_zero_is_the_identity_and_draws_nothing():
    x = np.arange(3 * 16, dtype=np.uint8).reshape(3, 16)
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    out = RandomShift(0, (4, 4))(x, rng)
    assert np.array_equal(out, x) and not np.shares_memory(out, x)
    assert rng.bit_generator.state == state
    assert random_shift_for(0, (28, 28)) is None


def test_offsets_stay_in_range_and_cover_it():
    m = 2
    shift = RandomShift(m, (8, 8))
    rng = np.random.default_rng(0)
    seen = []
    for _ in range(20):
        shift(np.ones((100, 64), dtype=np.uint8), rng)
        seen.append(shift.last_offsets)
    offsets = np.concatenate(seen)
    assert offsets.min() >= -m and offsets.max() <= m
    pairs = {(int(a), int(b)) for a, b in offsets}
    assert pairs == {(a, b) for a in range(-m, m + 1) for b in range(-m, m + 1)}  # all 25 occur


def test_same_seed_same_output_different_seed_differs():
    x = flatten(load_mnist().x_train[:50])
    shift = RandomShift(2, (28, 28))
    a = shift(x, np.random.default_rng(5))
    b = shift(x, np.random.default_rng(5))
    c = shift(x, np.random.default_rng(6))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("args, fragment", [
    ((-1, (28, 28)), "positive number of pixels"),
    ((28, (28, 28)), "less than 28"),
    ((5, (5, 9)), "less than 5"),
    ((1.5, (28, 28)), "whole number"),
    ((True, (28, 28)), "whole number"),
    ((1, (784,)), "2-D image shape"),
])
def test_bad_arguments_are_user_errors(args, fragment):
    with pytest.raises(BarenetError, match=None) as info:
        RandomShift(*args)
    assert fragment in str(info.value)


def test_a_batch_of_the_wrong_size_is_a_data_error():
    with pytest.raises(DataError, match="need a batch of shape"):
        RandomShift(1, (4, 4))(np.zeros((2, 15)), np.random.default_rng(0))


@pytest.mark.parametrize("shift, shape, fragment", [
    (-2, [28, 28], "positive number of pixels"),
    (28, [28, 28], "less than 28"),
    (8, [8, 8], "less than 8"),
    (1, [784], "flat features"),
    (1, [], "flat features"),
])
def test_random_shift_for_names_the_flag(shift, shape, fragment):
    with pytest.raises(BarenetError) as info:
        random_shift_for(shift, shape)
    assert "--shift" in str(info.value) and fragment in str(info.value)


def test_iterate_minibatches_augments_the_raw_batch_before_normalization():
    x = np.full((10, 16), 200, dtype=np.uint8)
    y = np.arange(10)
    norm = Normalizer("standardize").fit(np.arange(160, dtype=np.uint8).reshape(10, 16))
    shift = RandomShift(1, (4, 4))
    rng = np.random.default_rng(0)
    batches = list((xb.copy(), yb) for xb, yb in
                   iterate_minibatches(x, y, 5, rng=rng, normalizer=norm, augment=shift))
    # the same permutation as without augmentation, then one shift per batch from the same rng
    rng2 = np.random.default_rng(0)
    order = rng2.permutation(10)
    assert np.array_equal(np.concatenate([yb for _, yb in batches]), order)
    for k in range(2):
        raw = shift(np.take(x, order[5 * k:5 * k + 5], axis=0), rng2)
        assert np.array_equal(batches[k][0], norm.transform(raw))
    # the fill is the raw background 0 (then standardized like any other 0 pixel)
    assert set(np.unique(raw)) == {0, 200}


def test_iterate_minibatches_without_shuffle_also_augments():
    x = np.tile(np.arange(16, dtype=np.uint8), (4, 1))
    out = [xb.copy() for xb, _ in iterate_minibatches(x, np.zeros(4), 4, rng=1, shuffle=False,
                                                      augment=RandomShift(1, (4, 4)))]
    assert not np.array_equal(out[0], x.astype(np.float32))


def small_mnist(per_class=30):
    ds = load_mnist()
    x, y = first_per_class(ds.x_train, ds.y_train, per_class)
    return flatten(x), y


def test_trainer_with_augmentation_learns():
    x, y = small_mnist(30)
    ds = load_mnist()
    x_test, y_test = flatten(ds.x_test[:500]), ds.y_test[:500]
    norm = Normalizer("255")
    model = bn.MLP([784, 64, 10], seed=0)
    history = bn.fit(model, x, y, optimizer=bn.Adam(0.003), batch_size=32, epochs=8, seed=0,
                     normalizer=norm, augment=RandomShift(2, (28, 28)), validation=(x_test, y_test))
    assert history.last["val_accuracy"] > 0.6  # 300 images, 8 epochs: far above chance (0.1)
    assert history.last["train_loss"] < history.epochs[0]["train_loss"]


def test_trainer_refuses_an_augmentation_of_the_wrong_image_size():
    x, y = small_mnist(2)
    trainer = Trainer(bn.MLP([784, 8, 10], seed=0), augment=RandomShift(1, (8, 8)), epochs=1)
    with pytest.raises(BarenetError, match="8x8 images"):
        trainer.fit(x, y)


def test_augmented_run_differs_and_is_reproducible():
    x, y = small_mnist(10)

    def run(augment):
        model = bn.MLP([784, 16, 10], seed=0)
        bn.fit(model, x, y, batch_size=20, epochs=2, seed=0, normalizer=Normalizer("255"),
               augment=augment, track_norms=False)
        return model.get_weights()

    a, b = run(RandomShift(1, (28, 28))), run(RandomShift(1, (28, 28)))
    plain = run(None)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert not all(np.array_equal(u, v) for u, v in zip(a, plain, strict=True))


@pytest.mark.parametrize("spec, max_norm", [
    (None, None),  # RandomShift(2)
    ("shift(2)+rotate(10)+scale(0.1)+shear(0.2)+translate(1)+elastic(34,4)", 2.0),
])
def test_resume_with_augmentation_is_bit_identical(tmp_path, spec, max_norm):
    x, y = small_mnist(20)

    def trainer(callbacks):
        model = bn.MLP([784, 16, 10], dropout=0.2, seed=3)
        augment = RandomShift(2, (28, 28)) if spec is None else parse_augment(spec, (28, 28))
        return Trainer(model, "cross_entropy", bn.Adam(0.003), batch_size=32, epochs=4, seed=4,
                       normalizer=Normalizer("255"), callbacks=callbacks, augment=augment,
                       max_norm=max_norm)

    assert_resume_is_bit_identical(trainer, x, y, tmp_path / "ck.npz")


RECIPE = ["--per-class", "40", "--layers", "16", "--epochs", "3", "--batch-size", "32",
          "--val-fraction", "0.2", "--quiet", "--no-report"]


@pytest.mark.slow
def test_cli_shift_is_recorded_and_resumes_bit_identically(tmp_path, monkeypatch, capsys):
    straight = tmp_path / "straight"
    assert main(["train", *RECIPE, "--shift", "2", "--out", str(straight)]) == 0
    assert "shift = 2" in (straight / "config.toml").read_text().splitlines()
    assert load_model(straight / "model.npz")[1]["training"]["shift"] == 2
    plain = tmp_path / "plain"
    assert main(["train", *RECIPE, "--out", str(plain)]) == 0
    assert "shift = 0" in (plain / "config.toml").read_text().splitlines()
    w_shift = load_model(straight / "model.npz")[0].get_weights()
    w_plain = load_model(plain / "model.npz")[0].get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(w_shift, w_plain, strict=True))

    # --config RUN/config.toml reproduces the augmented run bit for bit
    again = tmp_path / "again"
    assert main(["train", "--config", str(straight / "config.toml"), "--quiet", "--no-report",
                 "--out", str(again)]) == 0
    w_again = load_model(again / "model.npz")[0].get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(w_shift, w_again, strict=True))

    # interrupted mid-epoch, then resumed: identical to the uninterrupted run
    import barenet.runner as runner

    original = runner.Trainer

    class InterruptingTrainer(original):
        def __init__(self, *args, **kwargs):
            kwargs["callbacks"] = [InterruptAt(2, 3), *kwargs.get("callbacks", [])]
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(runner, "Trainer", InterruptingTrainer)
    broken = tmp_path / "broken"
    assert main(["train", *RECIPE, "--shift", "2", "--out", str(broken)]) == 130
    capsys.readouterr()
    monkeypatch.setattr(runner, "Trainer", original)
    assert main(["train", "--resume", str(broken), "--quiet", "--no-report"]) == 0
    w_resumed = load_model(broken / "model.npz")[0].get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(w_shift, w_resumed, strict=True))
    m1 = json.loads((straight / "metrics.json").read_text())
    m2 = json.loads((broken / "metrics.json").read_text())
    assert m1["test"]["accuracy"] == m2["test"]["accuracy"]


def test_config_file_shift(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("shift = 1\nper_class = 20\nlayers = [8]\nepochs = 1\n")
    out = tmp_path / "r"
    assert main(["train", "--config", str(path), "--out", str(out), "--quiet", "--no-report"]) == 0
    assert "shift = 1" in (out / "config.toml").read_text().splitlines()


@pytest.mark.parametrize("args, fragment", [
    (["--shift", "-1"], "--shift must be 0 (off) or a positive number of pixels"),
    (["--shift", "28"], "--shift 28 would move the 28x28 images entirely out of view"),
    (["--shift", "8", "--dataset", "digits8"], "--shift 8 would move the 8x8 images"),
    (["--shift", "one"], "--shift must be 0 (off) or a positive number of pixels; got 'one'"),
])
def test_cli_bad_shift_exits_2_with_one_line(args, fragment, tmp_path, capsys):
    if "digits8" in args:
        pytest.importorskip("sklearn")
    code = main(["train", "--per-class", "5", "--layers", "4", "--epochs", "1", *args,
                 "--out", str(tmp_path / "r"), "--quiet", "--no-report"])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("barenet: error:") and fragment in lines[0]
    assert "Traceback" not in err


def test_train_run_refuses_shift_on_data_without_an_image_shape(monkeypatch):
    """Every loaded Dataset holds (N, H, W) images (a flat square .npz becomes (N, S, S)), so
    flat features reach the runner only through prepared data of another shape."""
    import dataclasses

    import barenet.runner as runner
    from barenet.config import make_config

    config = make_config(None, per_class=5, layers=[4], epochs=1, shift=1, val_fraction=0.0,
                         batch_size=10)
    original = runner.prepare_data
    assert original(config).input_shape == [28, 28]
    monkeypatch.setattr(runner, "prepare_data", lambda config, dataset=None: dataclasses.replace(
        original(config, dataset), input_shape=[784]))
    with pytest.raises(BarenetError, match="--shift moves 2-D images.*flat features"):
        runner.train_run(config, write=False)
    config.shift = 0
    assert runner.train_run(config, write=False).metrics["epochs_run"] == 1

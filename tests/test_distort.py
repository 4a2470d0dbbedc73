"""Affine and elastic distortions (data/distort.py) and the augmentation spec (data/augment_spec.py):
exact identities, rot90, translation against slicing, determinism, resume, spec errors, CLI/TOML."""

from __future__ import annotations

import numpy as np
import pytest

from barenet.cli import main
from barenet.data.augment import RandomShift
from barenet.data.augment_spec import Augmentation, augmentation_for, check_augment_spec, parse_augment
from barenet.data.distort import RandomDistortion, affine_warp, bilinear_sample, gaussian_matrix
from barenet.errors import BarenetError
from core_helpers import shifted_reference

FULL = "shift(2)+rotate(10)+scale(0.1)+shear(0.2)+translate(1)+elastic(34,4)"


def images(b=6, h=28, w=28, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (b, h, w)).astype(np.uint8)


def test_identity_parameters_reproduce_the_input_exactly():
    x = images()
    out = RandomDistortion((28, 28), elastic=(0.0, 4.0))(x.reshape(6, -1), np.random.default_rng(1))
    assert out.shape == (6, 784) and out.dtype == np.float32
    assert np.array_equal(out, x.reshape(6, -1).astype(np.float32))


def test_elastic_with_alpha_zero_is_the_identity():
    x = images(4, 10, 12)
    d = RandomDistortion((10, 12), elastic=(0.0, 2.0))
    _, _, displacement = d.draw(4, np.random.default_rng(0))
    assert not displacement.any()
    assert np.array_equal(d(x, np.random.default_rng(3)), x.astype(np.float32))


def test_integer_translation_equals_slicing():
    x = images(5, 9, 7)
    offsets = np.array([[1, 2], [-2, 0], [0, -3], [3, 3], [0, 0]])
    out = affine_warp(x, np.tile(np.eye(2), (5, 1, 1)), -offsets.astype(float))  # read at u - d
    for b, (dy, dx) in enumerate(offsets):
        assert np.array_equal(out[b], shifted_reference(x[b], dy, dx).astype(np.float32))


def test_rotation_by_90_degrees_matches_rot90():
    x = images(3, 8, 8)
    theta = np.pi / 2  # output (i, j) reads source A (u - m) + m: the content turns
    a = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    out = affine_warp(x, np.tile(a, (3, 1, 1)), np.zeros((3, 2)))
    expected = np.rot90(x, k=-1, axes=(1, 2)).astype(np.float32)
    np.testing.assert_allclose(out, expected, atol=1e-3)  # float32 points: cos(pi/2) ~ 4e-8


def test_bilinear_sample_between_pixels_and_outside():
    x = np.array([[[0.0, 10.0], [20.0, 30.0]]])
    rows = np.array([[[0.5, 0.0], [5.0, -0.5]]])
    cols = np.array([[[0.5, 0.25], [0.0, 0.0]]])
    out = bilinear_sample(x, rows, cols)
    np.testing.assert_allclose(out, [[[15.0, 2.5], [0.0, 0.0]]])


def test_gaussian_matrix_rows_sum_to_one_inside():
    g = gaussian_matrix(40, 2.0)
    np.testing.assert_allclose(g[15:25].sum(axis=1), 1.0)
    assert np.allclose(g, g.T)


def test_same_seed_same_output_different_seed_differs():
    x = images().reshape(6, -1)
    aug = parse_augment(FULL, (28, 28))
    a = aug(x, np.random.default_rng(5))
    b = aug(x, np.random.default_rng(5))
    c = aug(x, np.random.default_rng(6))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.shape == x.shape and np.isfinite(a).all() and a.min() >= 0 and a.max() <= 255


def test_random_parameters_stay_in_range():
    d = RandomDistortion((28, 28), rotate=10, scale=0.1, shear=0.2, translate=1.5)
    m, t, disp = d.draw(2000, np.random.default_rng(0))
    assert disp is None and np.abs(t).max() <= 1.5
    det = np.linalg.det(m)  # s^2 (rotation and shear keep the area)
    assert 0.9 ** 2 - 1e-9 <= det.min() and det.max() <= 1.1 ** 2 + 1e-9


@pytest.mark.parametrize("spec, fragment", [
    ("wobble(3)", "unknown augmentation term 'wobble(3)'"),
    ("rotate(10)+rotate(5)", "names rotate(...) twice"),
    ("elastic(34)", "elastic(...) takes 2 number(s)"),
    ("rotate(ten)", "takes numbers"),
    ("rotate(-1)", "needs finite numbers >= 0"),
    ("shift(1.5)", "shift(N) takes a whole number"),
    ("rotate10", "unknown augmentation term"),
])
def test_spec_errors_are_one_line(spec, fragment):
    with pytest.raises(BarenetError, match=None) as info:
        check_augment_spec(spec)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_parse_spec_builds_the_steps():
    assert parse_augment("none", (28, 28)) is None and parse_augment("", (28, 28)) is None
    aug = parse_augment("elastic(34, 4) + shift(2) + rotate(10)", (28, 28))
    assert isinstance(aug, Augmentation)
    assert isinstance(aug.steps[0], RandomShift) and isinstance(aug.steps[1], RandomDistortion)
    assert aug.steps[1].rotate == 10 and aug.steps[1].elastic == (34.0, 4.0)
    with pytest.raises(BarenetError, match="rotate"):
        parse_augment("rotate(200)", (28, 28))
    with pytest.raises(BarenetError, match="2-D images"):
        parse_augment("rotate(5)", (64,))


def test_shift_option_is_shift_term():
    x = images().reshape(6, -1)
    old = augmentation_for("none", (28, 28), shift=2)
    assert isinstance(old, RandomShift)
    a = augmentation_for("rotate(5)", (28, 28), shift=2)(x, np.random.default_rng(0))
    b = parse_augment("shift(2)+rotate(5)", (28, 28))(x, np.random.default_rng(0))
    assert np.array_equal(a, b)
    with pytest.raises(BarenetError, match="both set a shift"):
        augmentation_for("shift(1)", (28, 28), shift=2)


def test_cli_and_toml_take_the_spec(tmp_path, capsys):
    common = ["--per-class", "20", "--layers", "8", "--epochs", "1", "--quiet", "--no-report"]
    out = tmp_path / "cli"
    assert main(["train", "--augment", "rotate(10)+elastic(34,4)", "--out", str(out), *common]) == 0
    assert 'augment = "rotate(10)+elastic(34,4)"' in (out / "config.toml").read_text()
    toml = tmp_path / "c.toml"
    toml.write_text('augment = "shift(1)+scale(0.1)"\nper_class = 20\nlayers = [8]\nepochs = 1\n')
    assert main(["train", "--config", str(toml), "--out", str(tmp_path / "t"), "--quiet", "--no-report"]) == 0
    capsys.readouterr()
    code = main(["train", "--augment", "spin(3)", "--out", str(tmp_path / "bad"), *common])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("barenet: error:") and "spin(3)" in err[0]
    assert not (tmp_path / "bad").exists()

"""Tests for barenet.images: user images and arrays -> MNIST-style 28 x 28 uint8 inputs."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from barenet.errors import DataError
from barenet.images import as_mnist_batch, load_image, load_inputs, mnist_style


def _seven(h: int = 100, w: int = 80) -> np.ndarray:
    """A thick dark "7" on a white background, uint8 (h, w), drawn off-centre."""
    a = np.full((h, w), 255, dtype=np.uint8)
    a[15:25, 15:55] = 0  # top bar
    a[15:85, 45:55] = 0  # stem
    a[50:54, 38:62] = 30  # a cross stroke in dark grey
    return a


def _centre_of_mass(m: np.ndarray) -> tuple[float, float]:
    g = m.astype(np.float64)
    total = g.sum()
    return (np.arange(28) @ g.sum(axis=1) / total, np.arange(28) @ g.sum(axis=0) / total)


def _assert_mnist_like(m: np.ndarray) -> None:
    assert m.shape == (28, 28) and m.dtype == np.uint8
    assert m.max() == 255  # contrast stretched; light ink
    border = np.concatenate([m[0], m[-1], m[:, 0], m[:, -1]])
    assert border.max() == 0  # dark background
    cy, cx = _centre_of_mass(m)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    rows, cols = np.nonzero(m)
    assert rows.max() - rows.min() + 1 <= 20 and cols.max() - cols.min() + 1 <= 20
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 >= 19  # fills the box


def _save(path: Path, array: np.ndarray, **kw) -> Path:
    Image.fromarray(array).save(path, **kw)
    return path


# ----------------------------------------------------------------------------- the recipe
def test_png_digit_becomes_mnist_style(tmp_path):
    m = load_image(_save(tmp_path / "seven.png", _seven()))
    _assert_mnist_like(m)
    # the stem of the 7 is on the right of the top bar: more ink right of centre up top
    assert m[:10].sum() > 0


def test_light_and_dark_backgrounds_give_the_same_digit():
    a = _seven()
    light = mnist_style(a)  # dark ink on white: inverted
    dark = mnist_style(255 - a)  # light ink on black: used as is
    np.testing.assert_array_equal(light, dark)
    _assert_mnist_like(dark)


def test_float_inputs_match_uint8():
    a = _seven()
    np.testing.assert_array_equal(mnist_style(a / 255.0), mnist_style(a))
    np.testing.assert_array_equal(mnist_style(a.astype(np.float32)), mnist_style(a))


def test_grey_paper_and_faint_ink_are_normalized():
    a = _seven().astype(np.float64)
    paper = 200 - (255 - a) * 0.5  # grey paper (200), ink only 128 levels darker
    np.testing.assert_array_equal(mnist_style(paper), mnist_style(_seven()))


def test_small_and_wide_digits_fit_the_box():
    a = np.zeros((200, 300), dtype=np.uint8)
    a[100:104, 150:153] = 255  # a tiny dot: enlarged to the 20 x 20 box
    _assert_mnist_like(mnist_style(a))
    b = np.zeros((60, 400), dtype=np.uint8)
    b[20:40, 10:390] = 255  # a wide bar: 20 wide, about 1 tall
    m = mnist_style(b)
    rows, cols = np.nonzero(m)
    assert cols.max() - cols.min() + 1 == 20 and rows.max() - rows.min() + 1 <= 2
    assert abs(_centre_of_mass(m)[0] - 14) <= 1


def test_blank_image_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="blank.png has no ink"):
        load_image(_save(tmp_path / "blank.png", np.full((40, 40), 250, np.uint8)))
    noisy = np.random.default_rng(0).integers(240, 256, (50, 50)).astype(np.uint8)
    with pytest.raises(DataError, match="no ink"):
        mnist_style(noisy)
    with pytest.raises(DataError, match="no ink"):
        mnist_style(np.zeros((28, 28), np.uint8))


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 28, 28)), "2-D"),
    (np.zeros((0, 5)), "2-D"),
    (np.full((30, 30), np.nan), "NaN"),
    (np.full((30, 30), 300.0), r"\[0, 1\] or \[0, 255\]"),
    (np.full((30, 30), -1), r"\[0, 1\] or \[0, 255\]"),
    (np.array([["a", "b"], ["c", "d"]]), "dtype"),
])
def test_mnist_style_rejects_bad_arrays(bad, match):
    with pytest.raises(DataError, match=match):
        mnist_style(bad)


# ----------------------------------------------------------------------------- 28 x 28 as is
def test_dark_28x28_png_round_trips_exactly(tmp_path):
    rng = np.random.default_rng(1)
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[6:22, 9:19] = rng.integers(0, 256, (16, 10))  # off-centre, arbitrary values
    got = load_image(_save(tmp_path / "mnist.png", digit))
    np.testing.assert_array_equal(got, digit)


def test_light_28x28_is_processed():
    digit = np.full((28, 28), 255, dtype=np.uint8)
    digit[2:12, 2:6] = 0  # dark ink, top-left corner
    m = mnist_style(digit)
    cy, cx = _centre_of_mass(m)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1


# ----------------------------------------------------------------------------- file formats
def test_jpeg(tmp_path):
    path = _save(tmp_path / "seven.jpg", _seven(), quality=85)
    m = load_image(path)
    _assert_mnist_like(m)
    ref = mnist_style(_seven())
    assert np.abs(m.astype(int) - ref.astype(int)).mean() < 8


def test_rgba_with_transparency_is_composited_on_white(tmp_path):
    ink = _seven() < 128
    rgba = np.zeros((100, 80, 4), dtype=np.uint8)  # transparent black everywhere...
    rgba[ink, 3] = 255  # ...except the opaque black ink
    m = load_image(_save(tmp_path / "seven.png", rgba))
    np.testing.assert_array_equal(m, mnist_style(np.where(ink, 0, 255).astype(np.uint8)))
    _assert_mnist_like(m)


def test_rgb_bmp_gif_and_16_bit(tmp_path):
    a = _seven()
    ref = mnist_style(a)
    rgb = np.repeat(a[:, :, None], 3, axis=2)
    np.testing.assert_array_equal(load_image(_save(tmp_path / "s.png", rgb)), ref)
    np.testing.assert_array_equal(load_image(_save(tmp_path / "s.bmp", a)), ref)
    np.testing.assert_array_equal(load_image(_save(tmp_path / "s.gif", a)), ref)
    wide = a.astype(np.uint16) * 257  # the same image in 16 bits
    np.testing.assert_array_equal(load_image(_save(tmp_path / "s16.png", wide)), ref)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_large_photo_is_shrunk_first(tmp_path, suffix):
    big = np.asarray(Image.fromarray(_seven()).resize((1600, 2000), Image.Resampling.NEAREST))
    m = load_image(_save(tmp_path / f"big{suffix}", big))
    _assert_mnist_like(m)
    assert np.abs(m.astype(int) - mnist_style(_seven()).astype(int)).mean() < 8


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture\n")
    with pytest.raises(DataError, match=r"notes.png is not an image Pillow can read") as info:
        load_image(path)
    assert "give PNG/JPEG images, .npy arrays or IDX files" in str(info.value)
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(_save(tmp_path / "ok.png", _seven()).read_bytes()[:120])
    with pytest.raises(DataError, match="cut.png is not an image"):
        load_image(truncated)
    with pytest.raises(DataError, match="no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(DataError, match="directory"):
        load_inputs([tmp_path])


# ----------------------------------------------------------------------------- arrays
def test_npy_variants(tmp_path):
    rng = np.random.default_rng(2)
    imgs = rng.integers(0, 256, (3, 28, 28)).astype(np.uint8)
    files = {
        "one.npy": imgs[0],
        "many.npy": imgs,
        "flat_unit.npy": imgs.reshape(3, 784) / 255.0,
        "flat_255.npy": imgs.reshape(3, 784).astype(np.float32),
        "vector.npy": imgs[1].reshape(784).astype(np.int64),
    }
    for name, arr in files.items():
        np.save(tmp_path / name, arr)
    x, names = load_inputs([tmp_path / n for n in files])
    assert x.dtype == np.uint8 and x.shape == (11, 28, 28)
    np.testing.assert_array_equal(x[0], imgs[0])
    for start in (1, 4, 7):
        np.testing.assert_array_equal(x[start:start + 3], imgs)
    np.testing.assert_array_equal(x[10], imgs[1])
    assert names[0] == str(tmp_path / "one.npy")
    assert names[1:4] == [f"{tmp_path / 'many.npy'}[{i}]" for i in range(3)]
    assert names[10] == str(tmp_path / "vector.npy")


@pytest.mark.parametrize("arr, match", [
    (np.full((2, 28, 28), np.nan), "NaN"),
    (np.full((28, 28), np.inf, dtype=np.float32), "NaN or inf"),
    (np.zeros((5, 32, 32)),
     r"shape \(5, 32, 32\); expected \(28, 28\), \(N, 28, 28\) or \(N, 784\)"),
    (np.zeros((3, 100)), "expected"),
    (np.zeros((0, 784)), "no images"),
    (np.full((1, 784), 999.0), r"\[0, 1\] or \[0, 255\]"),
])
def test_bad_npy(tmp_path, arr, match):
    path = tmp_path / "bad.npy"
    np.save(path, arr)
    with pytest.raises(DataError, match=match) as info:
        load_inputs([path])
    assert str(path) in str(info.value)


def test_pickled_and_truncated_npy(tmp_path):
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="pickled"):
        load_inputs([obj])
    cut = tmp_path / "cut.npy"
    np.save(cut, np.zeros((10, 28, 28), np.uint8))
    cut.write_bytes(cut.read_bytes()[:500])
    with pytest.raises(DataError, match="cut.npy is not a valid .npy file"):
        load_inputs([cut])


def test_mixed_inputs_and_empty_list(tmp_path):
    png = _save(tmp_path / "seven.png", _seven())
    npy = tmp_path / "two.npy"
    np.save(npy, np.zeros((2, 28, 28), np.uint8) + 7)
    x, names = load_inputs([str(png), npy])
    assert x.shape == (3, 28, 28)
    np.testing.assert_array_equal(x[0], load_image(png))
    assert names == [str(png), f"{npy}[0]", f"{npy}[1]"]
    with pytest.raises(DataError, match="no input files"):
        load_inputs([])


def test_as_mnist_batch_keeps_uint8_without_copying_values():
    a = np.arange(2 * 784, dtype=np.int64).reshape(2, 784) % 256
    out = as_mnist_batch(a.astype(np.uint8))
    assert out.shape == (2, 28, 28)
    np.testing.assert_array_equal(out.reshape(2, 784), a)


def _write_idx_ubyte(path: Path, array: np.ndarray) -> Path:
    """A minimal IDX file: magic (0, 0, 0x08 = ubyte, ndim), big-endian int32 dims, data."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}i", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())
    return path


def test_idx_file(tmp_path):
    pytest.importorskip("barenet.datasets.idx", reason="barenet.datasets.idx not written yet")
    imgs = np.random.default_rng(3).integers(0, 256, (4, 28, 28)).astype(np.uint8)
    path = _write_idx_ubyte(tmp_path / "images-idx3-ubyte", imgs)
    x, names = load_inputs([path])
    np.testing.assert_array_equal(x, imgs)
    assert names == [f"{path}[{i}]" for i in range(4)]
    labels = _write_idx_ubyte(tmp_path / "labels-idx1-ubyte", np.arange(4))
    with pytest.raises(DataError, match="expected"):
        load_inputs([labels])


# ----------------------------------------------------------------------------- other grids
def test_on_grid_leaves_mnist_alone_and_frames_the_ink_on_a_small_grid():
    from barenet.images import on_grid

    digits = np.zeros((2, 28, 28), np.uint8)
    digits[0, 4:24, 12:16] = 255  # a "1": a bar 20 high, 4 wide
    digits[1, 4:24, 4:24] = 128  # a grey square
    assert on_grid(digits, (28, 28), 255) is digits
    small = on_grid(digits, (8, 8), 16)
    assert small.shape == (2, 8, 8) and small.dtype == np.uint8 and small.max() <= 16
    assert small[0].sum(axis=1).min() > 0  # the bar fills every row (its height is the frame's)
    assert small[0, :, 0].max() == 0 and small[0, :, 7].max() == 0  # and not the outer columns
    assert small[1].max() == round(128 * 16 / 255)  # the grey level, on the 0..16 scale
    faint = np.full((1, 28, 28), 40, np.uint8)  # no pixel above a fifth of full scale
    framed = on_grid(faint, (8, 8), 16)[0]  # framed whole (1.2 times as wide: dark margins)
    assert (framed[:, 1:7] == round(40 * 16 / 255)).all() and (framed[:, [0, 7]] < 3).all()


@pytest.mark.parametrize("array, expected", [
    (np.full((8, 8), 16, np.int64), 16),          # one image, whole numbers 0..16
    (np.full((3, 64), 1.0), 16),                   # floats in [0, 1]: times 16
    (np.full((2, 8, 8), 8.0), 8),                  # floats in [0, 16]
])
def test_arrays_on_another_grid_and_scale(array, expected):
    batch = as_mnist_batch(array, "a", (8, 8), 16)
    assert batch.shape[1:] == (8, 8) and batch.dtype == np.uint8 and batch.max() == expected


def test_arrays_off_the_model_grid_or_scale_are_refused():
    with pytest.raises(DataError, match=r"this model takes 8 x 8 images: expected \(8, 8\), \(N, 8, 8\)"):
        as_mnist_batch(np.zeros((2, 28, 28), np.uint8), "a", (8, 8), 16)
    with pytest.raises(DataError, match=r"pixels must lie in \[0, 1\] or \[0, 16\]"):
        as_mnist_batch(np.full((8, 8), 17), "a", (8, 8), 16)


def test_a_vector_model_takes_arrays_only(tmp_path):
    Image.fromarray(_seven()).save(tmp_path / "seven.png")
    with pytest.raises(DataError, match="this model takes vectors of 20 values, not images"):
        load_inputs([tmp_path / "seven.png"], shape=(20,))
    np.save(tmp_path / "v.npy", np.arange(40).reshape(2, 20))
    x, names = load_inputs([tmp_path / "v.npy"], shape=(20,))
    assert x.shape == (2, 20) and names == [f"{tmp_path / 'v.npy'}[0]", f"{tmp_path / 'v.npy'}[1]"]
    with pytest.raises(DataError, match=r"expected \(40,\) or \(N, 40\)"):
        load_inputs([tmp_path / "v.npy"], shape=(40,))


def test_mnist_digits_framed_on_the_8x8_grid_are_read_by_an_8x8_model():
    # GRID_FRAME_WIDTH's claim: framing the ink beats moving the whole 28 x 28 field, and a
    # model of the 8 x 8 digits names most MNIST digits moved this way
    import barenet as bn
    from barenet.data import load_dataset, load_mnist
    from barenet.images import on_grid

    d8 = load_dataset("digits8")
    model = bn.MLP([64, 64, 10], seed=0)
    bn.fit(model, d8.x_train.reshape(len(d8.x_train), -1) / 16.0, d8.y_train, epochs=30,
           batch_size=32, optimizer=bn.Adam(0.003), seed=0)
    mnist = load_mnist()
    x, y = mnist.x_test[:1000], mnist.y_test[:1000]

    def accuracy(images):
        return float(np.mean(model.predict(images.reshape(len(images), -1) / 16.0) == y))

    whole = np.stack([np.asarray(Image.fromarray(a.astype(np.float32)).resize((8, 8), Image.Resampling.BOX))
                      for a in x]) * 16 / 255
    framed = on_grid(x, (8, 8), 16)
    assert accuracy(framed) > 0.55 and accuracy(framed) > accuracy(np.round(whole)) + 0.15

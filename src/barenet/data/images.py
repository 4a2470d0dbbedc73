"""Turn user images and arrays into MNIST-style 28 x 28 uint8 inputs (for ``barenet predict``).

A model trained on another grid (scikit-learn's 8 x 8 digits, 0..16) gets its inputs on that
grid: image files are prepared as below and then framed onto it (:func:`on_grid`), and arrays
must already be on it.

MNIST digits are light ink on a black background, size-normalized to fit a 20 x 20 box (aspect
ratio kept, anti-aliased) and placed in a 28 x 28 field so that their centre of mass sits at
the centre. :func:`mnist_style` repeats that recipe for a grayscale image of any size:

1. scale to 0..255; if the background is light (median of the border pixels > 127), invert,
   so the digit is light on dark;
2. subtract the background level b (border median) and stretch the contrast:
   ``g = 255 * max(x - b, 0) / max(x - b)``; an image whose ink contrast ``max(x - b)`` is
   below :data:`MIN_CONTRAST` is blank and raises :class:`DataError`;
3. crop to the bounding box of the ink (pixels with g > ``ink_threshold * 255``);
4. resize so the longer side is 20 pixels with Pillow's BILINEAR filter (a triangle filter
   widened when shrinking, so it anti-aliases; unlike LANCZOS it never rings);
5. paste into a black 28 x 28 canvas at the integer offset that puts the patch's centre of mass
   ``(sum_ij g_ij * (i, j)) / sum_ij g_ij`` closest to (14, 14), clipped so the patch stays
   inside the canvas.

Already-prepared digits are left alone: an image that is already 28 x 28 with a dark
background (border median <= 127) is returned unchanged (only converted to uint8), so a real
MNIST digit saved as PNG round-trips exactly. Arrays read from ``.npy`` and IDX files are
likewise taken as already prepared (only scaled to uint8), since those formats hold data sets.
"""

from __future__ import annotations

import math
import os
import re
import struct
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import BarenetError, DataError
from ..files.safe_read import READ_ERRORS, file_kind, read_npy_header, summary
from .idx import CODE_TO_DTYPE, read_idx

Array = np.ndarray

SIZE = 28  #: MNIST side length
BOX = 20  #: the digit is scaled to fit a BOX x BOX square
CENTRE = SIZE / 2  #: target centre of mass (row, column), in pixel-index coordinates
MIN_CONTRAST = 32.0  #: least ink-minus-background level (0..255) that counts as a digit
MAX_SIDE = 1024  #: image files are first shrunk to at most this many pixels on a side
#: An image file with a shorter side (in pixels) cannot show a digit: predict warns. Eight is
#: the side of the smallest digit images in use (scikit-learn's 8 x 8 digits).
MIN_DIGIT_SIDE = 8
#: An image file this many times longer than wide (or wider than long) is not one digit:
#: predict warns. A handwritten "1" cropped to its ink is about 4:1; a page margin is not.
MAX_DIGIT_ASPECT = 4.0
SHAPES_HINT = "expected (28, 28), (N, 28, 28) or (N, 784)"
FORMATS_HINT = "give PNG/JPEG images, .npy arrays or IDX files"


# ----------------------------------------------------------------------------- pixel scale
def _to_scale(a: Array, name: str, top: int = 255) -> Array:
    """Pixel values as float64 on a 0..``top`` scale (255 for MNIST, 16 for the 8 x 8 digits).

    bool -> {0, top}; integers must lie in 0..top; floats must be finite and lie in [0, 1]
    (multiplied by top) or in [0, top].
    """
    if a.dtype == bool:
        return a.astype(np.float64) * top
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise DataError(f"{name} has dtype {a.dtype}; pixels must be numbers")
    g = a.astype(np.float64)
    if not np.all(np.isfinite(g)):
        raise DataError(f"{name} holds NaN or inf pixels; fix or drop those images")
    lo, hi = (float(g.min()), float(g.max())) if g.size else (0.0, 0.0)
    if lo < 0 or hi > top:
        raise DataError(f"{name} has pixel values in [{lo:g}, {hi:g}]; pixels must lie in "
                        f"[0, 1] or [0, {top}]")
    if np.issubdtype(a.dtype, np.floating) and hi <= 1.0:
        g *= top
    return g


def _to_uint8(g: Array) -> Array:
    return np.clip(np.floor(g + 0.5), 0, 255).astype(np.uint8)


def _border(g: Array) -> Array:
    """The pixels of the outermost rows and columns."""
    return np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])


# ----------------------------------------------------------------------------- the recipe
def _ink_box(g: Array, threshold: float) -> tuple[slice, slice]:
    """Row and column slices of the bounding box of the pixels above ``threshold``."""
    mask = g > threshold
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _fit_box(crop: Array) -> Array:
    """Resize so the longer side is BOX pixels, keeping the aspect ratio (float, 0..255)."""
    h, w = crop.shape
    scale = BOX / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    if (nh, nw) == (h, w):
        return crop
    out = Image.fromarray(crop.astype(np.float32)).resize((nw, nh), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(out, dtype=np.float64), 0.0, 255.0)


def _centre_of_mass(patch: Array) -> tuple[float, float]:
    """(row, column) centre of mass ``sum g * (i, j) / sum g`` (geometric centre if empty)."""
    total = patch.sum()
    if total <= 0:
        return (patch.shape[0] - 1) / 2, (patch.shape[1] - 1) / 2
    rows = np.arange(patch.shape[0]) @ patch.sum(axis=1) / total
    cols = np.arange(patch.shape[1]) @ patch.sum(axis=0) / total
    return float(rows), float(cols)


def _paste_centred(patch: Array) -> Array:
    """A SIZE x SIZE black canvas with ``patch`` placed so its centre of mass is at CENTRE."""
    h, w = patch.shape
    cy, cx = _centre_of_mass(patch)
    top = min(max(math.floor(CENTRE - cy + 0.5), 0), SIZE - h)
    left = min(max(math.floor(CENTRE - cx + 0.5), 0), SIZE - w)
    canvas = np.zeros((SIZE, SIZE), dtype=np.float64)
    canvas[top:top + h, left:left + w] = patch
    return canvas


def mnist_style(image: Array, name: str = "image", ink_threshold: float = 0.2) -> Array:
    """A 2-D grayscale image (any size; uint8, bool or float) -> MNIST-style uint8 (28, 28).

    See the module docstring for the recipe. ``name`` labels error messages (e.g. the file).
    ``ink_threshold`` (a fraction of the stretched peak) decides which pixels bound the digit.
    """
    a = np.asarray(image)
    if a.ndim != 2 or a.size == 0:
        raise DataError(f"{name} must be a 2-D grayscale image; got an array of shape {a.shape}")
    g = _to_scale(a, name)
    border = _border(g)
    light_background = bool(np.median(border) > 127)
    if light_background:
        g = 255.0 - g
        border = 255.0 - border
    background = float(np.median(border))
    ink = np.clip(g - background, 0.0, None)
    contrast = float(ink.max())
    if contrast < MIN_CONTRAST:
        raise DataError(f"{name} has no ink (the image is blank or nearly uniform); "
                        "give an image of one handwritten digit")
    if g.shape == (SIZE, SIZE) and not light_background:
        return _to_uint8(g)  # already MNIST-style: keep it exactly
    ink *= 255.0 / contrast
    crop = ink[_ink_box(ink, ink_threshold * 255.0)]
    return _to_uint8(_paste_centred(_fit_box(crop)))


# ----------------------------------------------------------------------------- image files
def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info


def _grayscale(img: Image.Image) -> Array:
    """A Pillow image as a 2-D array: alpha composited on white, 16-bit scaled to 0..255."""
    if img.mode.startswith("I;16"):
        return np.asarray(img, dtype=np.float64) / 257.0
    if img.mode in ("I", "F"):
        g = np.asarray(img, dtype=np.float64)
        return g / 257.0 if img.mode == "I" and g.size and g.max() > 255 else g
    if _has_alpha(img):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.array(img.convert("L"), dtype=np.uint8)


def _shrink(g: Array) -> Array:
    """Downscale (anti-aliased) so the longer side is at most MAX_SIDE pixels."""
    h, w = g.shape
    scale = MAX_SIDE / max(h, w)
    if scale >= 1:
        return g
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    out = Image.fromarray(g.astype(np.float32)).resize(size, Image.Resampling.BILINEAR)
    return np.asarray(out, dtype=np.float64)


def _read_image(path: Path) -> Array:
    try:
        with warnings.catch_warnings():
            # Pillow only warns below twice its pixel limit; a warning would be a second
            # line on stderr, so a possible decompression bomb is refused outright.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.format == "JPEG":
                    img.draft("L", (MAX_SIDE, MAX_SIDE))  # decode big photos at a reduced scale
                img.load()
                g = _grayscale(ImageOps.exif_transpose(img))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{claimed.group(1)} pixels" if claimed else "too many pixels"
        raise DataError(f"{path} claims {size}, more than the {Image.MAX_IMAGE_PIXELS} pixels "
                        f"barenet decodes ({type(exc).__name__}: a possible decompression bomb); "
                        "give a smaller image of one digit") from None
    except (UnidentifiedImageError, OSError, ValueError, EOFError, SyntaxError, IndexError,
            KeyError, TypeError, struct.error) as exc:
        raise DataError(f"{path} is not an image Pillow can read ({summary(exc)}); "
                        f"{FORMATS_HINT}") from None
    if g.ndim != 2 or g.size == 0:
        raise DataError(f"{path} decodes to an empty or odd-shaped image {g.shape}; "
                        f"{FORMATS_HINT}")
    return _shrink(g)


def _existing_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise DataError(f"{path} is a directory; give the files in it (e.g. {path}/*.png)")
    return path


def doubt_about(image: Array) -> str | None:
    """Why a 2-D image file is unlikely to show one digit (too small or far from square:
    see :data:`MIN_DIGIT_SIDE`, :data:`MAX_DIGIT_ASPECT`), or None. Blank images are refused
    outright by :func:`mnist_style`."""
    h, w = image.shape[:2]
    if min(h, w) < MIN_DIGIT_SIDE:
        return f"is only {w} x {h} pixels, too small to show a digit"
    if max(h, w) > MAX_DIGIT_ASPECT * min(h, w):
        return f"is {w} x {h} pixels, far from square: not a single digit"
    return None


def load_image(path: str | os.PathLike) -> Array:
    """Read a PNG/JPEG/BMP/GIF/... image file -> MNIST-style uint8 (28, 28).

    Converted to grayscale ("L"; transparency composited on white; EXIF rotation applied;
    the first frame of an animation; 16-bit scaled to 8), shrunk (anti-aliased) to at most
    :data:`MAX_SIDE` pixels on a side so that large photos stay fast, then :func:`mnist_style`.
    """
    path = _existing_file(path)
    return mnist_style(_read_image(path), name=str(path))


# ----------------------------------------------------------------------------- arrays
def as_mnist_batch(array: Array, name: str = "array", shape: tuple[int, ...] = (SIZE, SIZE),
                   pixel_max: int = 255) -> Array:
    """An array of prepared digits -> uint8 (N, 28, 28), without re-centring.

    Accepts (28, 28), (784,), (N, 28, 28) and (N, 784); uint8/bool/integer pixels in 0..255,
    or floats in [0, 1] (times 255, rounded) or [0, 255] (rounded). For a model of another
    input ``shape`` and ``pixel_max`` (the 8 x 8 digits' (8, 8) and 16; (D,) for vectors), the
    same on that shape and scale: ``shape``, (prod(shape),), (N, *shape) and (N, prod(shape)).
    """
    shape = tuple(int(n) for n in shape)
    size = math.prod(shape)
    a = np.asarray(array)
    if a.shape in (shape, (size,)):
        a = a.reshape((1, *shape))
    elif a.ndim == 2 and a.shape[1] == size:
        a = a.reshape((-1, *shape))
    elif not (a.ndim == len(shape) + 1 and a.shape[1:] == shape):
        raise DataError(f"{name} holds an array of shape {a.shape}; {_shapes_hint(shape)}")
    if a.shape[0] == 0:
        raise DataError(f"{name} holds no images")
    if a.dtype == np.uint8 and pixel_max == 255:
        return np.ascontiguousarray(a)
    return _to_uint8(_to_scale(a, name, pixel_max))


def _shapes_hint(shape: tuple[int, ...]) -> str:
    if shape == (SIZE, SIZE):
        return SHAPES_HINT
    size = math.prod(shape)
    if len(shape) == 1:
        return f"this model takes vectors of {size} values: expected ({size},) or (N, {size})"
    return (f"this model takes {' x '.join(map(str, shape))} images: expected {shape}, "
            f"(N, {', '.join(map(str, shape))}) or (N, {size})")


#: How much wider than the digit's height :func:`on_grid` frames it: the 8 x 8 digits fill
#: their rows and leave the outer columns nearly empty (ink in 0-1 % of columns 0 and 7 against
#: 36-45 % of every row). A model of the 8 x 8 digits names about 62 % of the first 1000 MNIST
#: test digits moved onto its grid with this frame, 58 % with a square one (1.0) and 29 % with
#: the whole 28 x 28 field (test_images.py checks the order; the rest is the two data sets'
#: different handwriting and strokes).
GRID_FRAME_WIDTH = 1.2


def on_grid(digits: Array, shape: tuple[int, int], pixel_max: int) -> Array:
    """MNIST-style digits uint8 (N, 28, 28) -> another data set's grid and pixel scale: uint8
    (N, H, W) in 0..``pixel_max``.

    Each digit's ink (pixels above a fifth of full scale, as :func:`mnist_style` bounds it) is
    framed in a box as high as its longer side and :data:`GRID_FRAME_WIDTH` times as wide,
    centred on the ink; each new pixel is the mean of the pixels it covers (Pillow's BOX
    filter), times ``pixel_max / 255``, rounded: how scikit-learn's 8 x 8 digits were made from
    32 x 32 bitmaps of a digit filling its frame (each pixel the count of inked pixels in a
    4 x 4 block, 0..16). The 28 x 28 grid at 0..255 returns ``digits`` unchanged.
    """
    height, width = shape
    if (height, width) == (SIZE, SIZE) and pixel_max == 255:
        return digits
    out = np.empty((len(digits), height, width), dtype=np.uint8)
    for i, digit in enumerate(digits):  # one per image file given on the command line
        ink = digit.astype(np.float64)
        rows, cols = (_ink_box(ink, 0.2 * 255) if ink.max() > 0.2 * 255
                      else (slice(0, SIZE), slice(0, SIZE)))  # no ink: the whole field
        side = max(rows.stop - rows.start, cols.stop - cols.start)
        cy, cx = (rows.start + rows.stop) / 2, (cols.start + cols.stop) / 2
        half_h, half_w = side / 2, side * GRID_FRAME_WIDTH / 2
        frame = Image.fromarray(digit.astype(np.float32)).crop(
            (cx - half_w, cy - half_h, cx + half_w, cy + half_h))
        small = frame.resize((width, height), Image.Resampling.BOX)
        out[i] = _to_uint8(np.asarray(small, dtype=np.float64) * (pixel_max / 255))
    return out


def _read_npy(path: Path) -> Array:
    """np.load(allow_pickle=False) after checking the header against the file size."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            shape, dtype, offset = read_npy_header(f)
        if dtype.hasobject:
            raise DataError(f"{path} holds Python objects (pickled data), which barenet never "
                            "loads; save a numeric array with numpy.save")
        if min(shape, default=0) < 0 or math.prod(shape) * dtype.itemsize > size - offset:
            raise ValueError("the file is shorter than its header says (truncated)")
        return np.load(path, allow_pickle=False)
    except READ_ERRORS as exc:
        if isinstance(exc, BarenetError):
            raise
        raise DataError(f"{path} is not a valid .npy file ({summary(exc)}); "
                        "save arrays with numpy.save") from None


def _kind(path: Path) -> str:
    """"npy", "idx", "image" or "idx or image", from the first bytes of the file (not its name).

    IDX files start with two zero bytes, a dtype code and a rank (gzipped, the way MNIST is
    shipped, they start like any gzip file); TGA and ICO images may start with two zero bytes
    too, so such a file without a well-formed IDX header is "idx or image".
    """
    kind = file_kind(path)
    if kind in ("npy", "gzip"):
        return "idx" if kind == "gzip" else "npy"
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] != b"\0\0":
        return "image"
    if len(head) == 4 and head[2] in CODE_TO_DTYPE and head[3]:
        return "idx"
    return "idx or image"


def _read_image_or_none(path: Path, kind: str) -> Array | None:
    """The grayscale image in ``path``, or None when it is an IDX file instead. A file that
    starts like an IDX file and that Pillow cannot read gets the IDX reader's diagnosis."""
    if kind == "idx":
        return None
    try:
        return _read_image(path)
    except DataError:
        if kind == "image":
            raise
    read_idx(path)  # raises the IDX reader's one-line diagnosis of the header, if it has one
    return None


def load_inputs(paths: Iterable[str | os.PathLike], warn: Callable[[str], None] | None = None,
                shape: tuple[int, ...] = (SIZE, SIZE), pixel_max: int = 255) -> tuple[Array, list[str]]:
    """Many files -> one uint8 (N, 28, 28) array and one name per image.

    Images (any size) go through :func:`load_image`; ``.npy`` and IDX files (recognized by
    their first bytes) hold prepared digits (see :func:`as_mnist_batch`). An array file with
    several images names them ``file[0]``, ``file[1]``, ... ``warn`` is called with a line for
    each image file that is unlikely to show a digit (:func:`doubt_about`).

    For a model of another grid and pixel scale (``shape`` (H, W) and ``pixel_max``: the 8 x 8
    digits' (8, 8) and 16), arrays must be on that grid and scale, and image files are
    prepared MNIST-style and then moved onto it (:func:`on_grid`); the result is (N, H, W).
    A model of feature vectors (``shape`` (D,)) takes arrays (D,) or (N, D) only.
    """
    shape = tuple(int(n) for n in shape)
    batches: list[Array] = []
    names: list[str] = []
    for raw in paths:
        path = _existing_file(raw)
        kind = _kind(path)
        image = None if kind == "npy" else _read_image_or_none(path, kind)
        if image is not None:
            if len(shape) != 2:
                raise DataError(f"{path} is an image, but this model takes vectors of "
                                f"{shape[0]} values, not images; give .npy arrays of shape "
                                f"(N, {shape[0]})")
            batches.append(on_grid(mnist_style(image, name=str(path))[None], shape, pixel_max))
            names.append(str(path))
            doubt = doubt_about(image)  # after: a refused image gets its error line only
            if doubt and warn is not None:
                warn(f"{path} {doubt}; its prediction means little")
            continue
        array = _read_npy(path) if kind == "npy" else read_idx(path)
        batch = as_mnist_batch(array, str(path) if kind == "npy" else f"{path} (an IDX file)",
                               shape, pixel_max)
        batches.append(batch)
        single = array.shape in (shape, (math.prod(shape),))
        names.extend([str(path)] if single else [f"{path}[{i}]" for i in range(len(batch))])
    if not batches:
        raise DataError(f"no input files given; {FORMATS_HINT}")
    return np.concatenate(batches), names

"""Data augmentation for training batches: random translations, vectorized.

:class:`RandomShift` moves every image of a batch by its own random integer offset
(dy, dx), each drawn uniformly from {-m, ..., m} (m = ``max_shift``); pixels uncovered by
the move are filled with 0 (MNIST's background) and pixels moved past the border are lost::

    out[b, i, j] = x[b, i - dy_b, j - dx_b]    when 0 <= i - dy_b < H and 0 <= j - dx_b < W
                 = 0                           otherwise

(dy > 0 moves the content down, dx > 0 to the right.) Shapes: ``x`` (B, H*W) or (B, H, W),
uint8 raw pixels or float; the result has the same shape and dtype. No loop over samples:

    padded  = zeros (B, H + 2m, W + 2m); padded[:, m:m+H, m:m+W] = x      (zero border)
    base    = (i + m) * (W + 2m) + (j + m)            (H*W,)  flat index of (i, j) in padded
    offset  = -dy * (W + 2m) - dx                     (B,)    one per sample
    out     = take_along_axis(padded.reshape(B, -1), base + offset[:, None], axis=1)

Since |dy|, |dx| <= m, every gathered index lies inside the padded image. The offsets come
from the caller's :class:`numpy.random.Generator` (the :class:`~barenet.training.Trainer`
passes its own), so a run is reproducible from its seed and a resumed run stays
bit-identical. Augmentation is applied to the **raw** training batch, before normalization,
so the zero fill is the raw background whatever the scaling; validation, test and evaluation
batches are never augmented.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import BarenetError, DataError

Array = np.ndarray

__all__ = ["RandomShift", "check_image_batch", "random_shift_for"]


def check_image_batch(x: Array, image_shape: Sequence[int], what: str) -> Array:
    """``x`` as an array if it is a batch (B, H*W) or (B, H, W) of ``image_shape`` (H, W)
    images; otherwise a :class:`DataError` saying what ``what`` needs."""
    x = np.asarray(x)
    h, w = image_shape
    if x.ndim not in (2, 3) or math.prod(x.shape[1:]) != h * w:
        raise DataError(f"{what} of {h}x{w} images need a batch of shape (B, {h * w}) "
                        f"or (B, {h}, {w}); got {x.shape}")
    return x


class RandomShift:
    """Translate each image of a batch by a random (dy, dx) in [-max_shift, max_shift]^2.

    ``image_shape`` is (H, W); ``max_shift`` must be an integer in 0..min(H, W) - 1 (0 returns
    an unchanged copy). ``shift(x, rng)`` returns a new array; see the module docstring for the
    formula. :attr:`last_offsets` holds the (B, 2) offsets (dy, dx) of the latest call.
    """

    def __init__(self, max_shift: int, image_shape: Sequence[int]) -> None:
        if isinstance(max_shift, bool) or not isinstance(max_shift, int | np.integer):
            raise BarenetError(f"the shift must be a whole number of pixels; got {max_shift!r}")
        shape = tuple(image_shape)
        if len(shape) != 2 or not all(isinstance(s, int | np.integer) and s > 0 for s in shape):
            raise BarenetError(f"random shifts need a 2-D image shape (H, W); got {shape}")
        self.max_shift = int(max_shift)
        self.image_shape = (int(shape[0]), int(shape[1]))
        h, w = self.image_shape
        if self.max_shift < 0:
            raise BarenetError(f"the shift must be 0 (off) or a positive number of pixels; "
                               f"got {self.max_shift}")
        if self.max_shift >= min(h, w):
            raise BarenetError(f"a shift of {self.max_shift} pixels would move {h}x{w} images "
                               f"entirely out of view; use less than {min(h, w)}")
        m = self.max_shift
        wp = w + 2 * m
        rows = np.arange(h, dtype=np.intp)[:, None] + m
        cols = np.arange(w, dtype=np.intp)[None, :] + m
        self._base = (rows * wp + cols).reshape(-1)  # (H*W,) flat index into the padded image
        self.last_offsets: Array | None = None

    def __repr__(self) -> str:
        return f"RandomShift({self.max_shift}, image_shape={self.image_shape})"

    def __call__(self, x: Array, rng: np.random.Generator) -> Array:
        x = check_image_batch(x, self.image_shape, "random shifts")
        h, w = self.image_shape
        b, m = len(x), self.max_shift
        offsets = rng.integers(-m, m + 1, size=(b, 2)) if m else np.zeros((b, 2), dtype=np.int64)
        self.last_offsets = offsets
        if m == 0 or b == 0:
            return x.copy()
        hp, wp = h + 2 * m, w + 2 * m
        padded = np.zeros((b, hp, wp), dtype=x.dtype)
        padded[:, m:m + h, m:m + w] = x.reshape(b, h, w)
        delta = -(offsets[:, 0] * wp + offsets[:, 1]).astype(np.intp)  # (B,)
        index = self._base[None, :] + delta[:, None]  # (B, H*W)
        out = np.take_along_axis(padded.reshape(b, hp * wp), index, axis=1)
        return out.reshape(x.shape)


def random_shift_for(shift: int, input_shape: Sequence[int]) -> RandomShift | None:
    """The augmentation for ``barenet train --shift N`` on data of per-sample ``input_shape``:
    None for 0 (off), else a :class:`RandomShift`. Data without a 2-D image shape (H, W) and
    shifts of a whole image side or more are a :class:`BarenetError`."""
    if isinstance(shift, bool) or not isinstance(shift, int | np.integer):
        raise BarenetError(f"--shift takes a whole number of pixels; got {shift!r}")
    if shift < 0:
        raise BarenetError(f"--shift must be 0 (off) or a positive number of pixels; got {shift}")
    if shift == 0:
        return None
    shape = tuple(input_shape)
    if len(shape) != 2:
        raise BarenetError(f"--shift moves 2-D images, but these data have per-sample shape "
                           f"{shape}; use --shift 0 for flat features")
    h, w = shape
    if shift >= min(h, w):
        raise BarenetError(f"--shift {shift} would move the {h}x{w} images entirely out of view; "
                           f"use less than {min(h, w)}")
    return RandomShift(int(shift), (h, w))

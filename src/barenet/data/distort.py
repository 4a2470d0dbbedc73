"""Random affine and elastic distortions of image batches, one bilinear resampling per batch.

:class:`RandomDistortion` maps every output pixel (i, j) of image b back to a source point
(r, c) of the input (inverse mapping) and reads the input there by bilinear interpolation;
points outside the image read 0 (MNIST's background). With the image centre
m = ((H - 1) / 2, (W - 1) / 2) and the output pixel u = (i, j)::

    u'      = u + alpha * (G_H @ e_b @ G_W^T)            elastic (Simard et al. 2003)
    (r, c)  = A_b (u' - m) + m + t_b                     affine
    A_b     = s_b * R(theta_b) @ [[1, k_b], [0, 1]]      scale, rotation, shear

drawn per image b from the caller's Generator, in this order: theta_b ~ U(-deg, deg)
(degrees, converted to radians), s_b ~ U(1 - f, 1 + f), k_b ~ U(-shear, shear),
t_b ~ U(-translate, translate)^2 (pixels), and the elastic field e_b ~ U(-1, 1)^(2, H, W)
(one (H, W) plane for the row and one for the column displacement). The field is smoothed by a
Gaussian of width sigma as a separable convolution written as two matrix products with the
(H, H) and (W, W) float32 band matrices G[i, k] = g(i - k) (g the normalized Gaussian kernel cut at
4 sigma, zero outside the image, like scipy's ``gaussian_filter(mode="constant")``), then
scaled by alpha. Everything is vectorized over the batch: no loop over images.

Bilinear sampling, with r0 = floor(r), fr = r - r0 (likewise c0, fc)::

    top    = x[r0, c0]     + fc (x[r0, c0+1]     - x[r0, c0])
    bottom = x[r0+1, c0]   + fc (x[r0+1, c0+1]   - x[r0+1, c0])
    out    = top + fr (bottom - top)

The source points are float32 (a pixel's coordinate to about 1e-6). At exact grid points
(fr = fc = 0) this returns the pixel itself, so identity parameters
(deg = f = shear = translate = alpha = 0) reproduce the input bit for bit, and an integer
translation equals :class:`~barenet.data.augment.RandomShift`'s slicing. The result is float32
(raw pixel scale; the normalizer runs afterwards) and has the input's shape, (B, H*W) or
(B, H, W).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import BarenetError
from .augment import check_image_batch

Array = np.ndarray

__all__ = ["RandomDistortion", "affine_warp", "bilinear_sample", "gaussian_matrix"]


def bilinear_sample(images: Array, rows: Array, cols: Array) -> Array:
    """``images`` (B, H, W) read at the source points ``rows``, ``cols`` (B, H, W) by bilinear
    interpolation (module docstring); points outside the image read 0. Returns float32 (B, H, W).

    The images sit in a zero frame (one pixel above and left, two below and right), and the
    points are clipped to [-1, H] x [-1, W] (which changes nothing: beyond that everything
    reads 0), so the four neighbours of every point are valid flat indices ``k``, ``k + 1``,
    ``k + W + 3`` and ``k + W + 4`` of the framed batch: four gathers with ``np.take``.
    """
    x = np.asarray(images)
    b, h, w = x.shape
    hp, wp = h + 3, w + 3
    framed = np.zeros((b, hp, wp), dtype=np.float32)
    framed[:, 1:h + 1, 1:w + 1] = x
    rows = np.clip(rows, -1, h)
    cols = np.clip(cols, -1, w)
    r0 = np.floor(rows)
    c0 = np.floor(cols)
    fr = (rows - r0).astype(np.float32)
    fc = (cols - c0).astype(np.float32)
    k = (r0.astype(np.intp) + 1) * wp + (c0.astype(np.intp) + 1)
    k += (np.arange(b, dtype=np.intp) * (hp * wp))[:, None, None]
    flat = framed.reshape(-1)
    top = np.take(flat, k)
    top += fc * (np.take(flat, k + 1) - top)
    bottom = np.take(flat, k + wp)
    bottom += fc * (np.take(flat, k + wp + 1) - bottom)
    return top + fr * (bottom - top)


def affine_warp(images: Array, matrices: Array, offsets: Array, displacement: Array | None = None) -> Array:
    """Resample ``images`` (B, H, W) through the per-image affine maps ``matrices`` (B, 2, 2)
    and ``offsets`` t (B, 2) about the image centre, after an optional ``displacement``
    (B, 2, H, W) of the output grid (module docstring). float32 (B, H, W)."""
    b, h, w = np.shape(images)
    centre = np.array([(h - 1) / 2, (w - 1) / 2], dtype=np.float32)
    grid = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij")).astype(np.float32)
    u = np.broadcast_to(grid - centre[:, None, None], (b, 2, h, w))  # (B, 2, H, W)
    if displacement is not None:
        u = u + displacement
    src = np.einsum("bkl,blhw->bkhw", np.asarray(matrices, dtype=np.float32), u)
    src += (centre + np.asarray(offsets, dtype=np.float32))[:, :, None, None]
    return bilinear_sample(images, src[:, 0], src[:, 1])


def gaussian_matrix(n: int, sigma: float) -> Array:
    """The (n, n) band matrix G[i, k] = g(i - k) of the normalized Gaussian kernel of width
    ``sigma`` (cut at 4 sigma); ``G @ v`` smooths v with zeros outside 0..n-1."""
    radius = max(1, int(math.ceil(4 * sigma)))
    taps = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    kernel /= kernel.sum()
    d = np.arange(n)[:, None] - np.arange(n)[None, :]
    return np.where(np.abs(d) <= radius, kernel[np.clip(d + radius, 0, 2 * radius)], 0.0)


class RandomDistortion:
    """Random rotation, scale, shear, translation and elastic distortion (module docstring).

    ``rotate`` is in degrees, ``scale`` a fraction (0.1: 90 % to 110 %), ``shear`` the shear
    factor, ``translate`` in pixels; ``elastic`` is (alpha, sigma) in pixels or None. All 0 /
    None is the identity. ``image_shape`` is (H, W).
    """

    def __init__(self, image_shape: Sequence[int], *, rotate: float = 0.0, scale: float = 0.0,
                 shear: float = 0.0, translate: float = 0.0,
                 elastic: tuple[float, float] | None = None) -> None:
        shape = tuple(int(s) for s in image_shape)
        if len(shape) != 2 or min(shape) < 1:
            raise BarenetError(f"distortions need a 2-D image shape (H, W); got {tuple(image_shape)}")
        for name, value, high in (("rotate", rotate, 180), ("scale", scale, 1),
                                  ("shear", shear, None), ("translate", translate, min(shape))):
            if not (math.isfinite(value) and value >= 0 and (high is None or value < high)):
                limit = f" and less than {high}" if high is not None else ""
                raise BarenetError(f"{name}(...) must be a number >= 0{limit}; got {value!r}")
        if elastic is not None:
            alpha, sigma = elastic
            if not (math.isfinite(alpha) and alpha >= 0 and math.isfinite(sigma) and sigma > 0):
                raise BarenetError(f"elastic(alpha, sigma) needs alpha >= 0 and sigma > 0; got {elastic}")
        self.image_shape = shape
        self.rotate, self.scale, self.shear, self.translate = rotate, scale, shear, translate
        self.elastic = None if elastic is None else (float(elastic[0]), float(elastic[1]))
        if self.elastic is not None:
            self._smooth_rows = gaussian_matrix(shape[0], self.elastic[1]).astype(np.float32)
            self._smooth_cols_t = gaussian_matrix(shape[1], self.elastic[1]).T.astype(np.float32)

    def __repr__(self) -> str:
        return (f"RandomDistortion({self.image_shape}, rotate={self.rotate}, scale={self.scale}, "
                f"shear={self.shear}, translate={self.translate}, elastic={self.elastic})")

    def draw(self, b: int, rng: np.random.Generator) -> tuple[Array, Array, Array | None]:
        """The matrices A (B, 2, 2), offsets t (B, 2) and displacement (B, 2, H, W) or None."""
        theta = np.deg2rad(rng.uniform(-self.rotate, self.rotate, b))
        s = rng.uniform(1 - self.scale, 1 + self.scale, b)
        k = rng.uniform(-self.shear, self.shear, b)
        t = rng.uniform(-self.translate, self.translate, (b, 2))
        cos, sin = np.cos(theta), np.sin(theta)
        # s * R(theta) @ [[1, k], [0, 1]] with R = [[cos, -sin], [sin, cos]]
        matrices = s[:, None, None] * np.stack([np.stack([cos, cos * k - sin], -1),
                                                np.stack([sin, sin * k + cos], -1)], 1)
        displacement = None
        if self.elastic is not None:
            h, w = self.image_shape
            field = rng.random((b, 2, h, w), dtype=np.float32) * 2 - 1  # U(-1, 1)
            displacement = self._smooth_rows @ field @ self._smooth_cols_t
            displacement *= np.float32(self.elastic[0])
        return matrices, t, displacement

    def __call__(self, x: Array, rng: np.random.Generator) -> Array:
        x = check_image_batch(x, self.image_shape, "distortions")
        h, w = self.image_shape
        matrices, t, displacement = self.draw(len(x), rng)
        out = affine_warp(x.reshape(-1, h, w), matrices, t, displacement)
        return out.reshape(x.shape)

"""Preparing images for a network, vectorized (no Python loops over samples).

Data stay uint8 (N, H, W) or (N, D) in memory; a minibatch becomes float only when it is used
(:func:`iterate_minibatches`, :class:`Normalizer`). Conventions: rows are samples (N, D);
:func:`to_columns` gives the exercises' column layout (D, N).

=======================  =====================================================================
selection                :func:`select_digits` (two digits -> labels 0/1),
                         :func:`first_per_class` (balanced subsets),
                         :func:`stratified_split` (train / validation)
layout                   :func:`flatten` (N, H, W) -> (N, H*W); :func:`to_columns` /
                         :func:`from_columns` (N, D) <-> (D, N); :func:`one_hot`
scaling                  :class:`Normalizer`: ``"255"`` x / pixel_max, ``"max"`` x / max(x_i)
                         per image, ``"standardize"`` (x - mean) / std, ``"none"``
batches                  :func:`iterate_minibatches` (optionally augmented:
                         :mod:`barenet.augment`)
=======================  =====================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..errors import BarenetError, DataError
from ..nn.losses import one_hot

Array = np.ndarray
Seed = int | np.random.Generator | None
Augment = Callable[[Array, np.random.Generator], Array]  # (raw batch, rng) -> new raw batch

__all__ = [
    "NORMALIZATIONS", "Normalizer", "digits_from_pair", "first_per_class", "flatten",
    "from_columns", "iterate_minibatches", "one_hot", "select_digits", "stratified_split",
    "to_columns",
]

NORMALIZATIONS = ("255", "max", "standardize", "none")
_ALIASES = {"scale": "255", "/255": "255"}
STD_FLOOR = 1e-2  # standardize: std >= STD_FLOOR * pixel_max (see Normalizer)


def _rng(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _check_xy(x: Array, y: Array, dense_ok: bool = False) -> tuple[Array, Array]:
    """x and y as arrays with one label (N,) per sample, or with ``dense_ok`` also dense
    targets (N, C) (one-hot rows or probabilities, as the training loop accepts)."""
    x, y = np.asarray(x), np.asarray(y)
    if y.ndim != 1 and not (dense_ok and y.ndim == 2):
        shapes = "(N,) or dense targets (N, C)" if dense_ok else "(N,)"
        raise DataError(f"labels must have shape {shapes}; got {y.shape}")
    if len(x) != len(y):
        raise DataError(f"{len(x)} samples but {len(y)} labels")
    return x, y


# ---------------------------------------------------------------------------- selection


def select_digits(x: Array, y: Array, d1: int, d2: int) -> tuple[Array, Array]:
    """The samples labelled ``d1`` or ``d2``, in their original order, relabelled d1 -> 0, d2 -> 1.

    ``y01 = (y[mask] == d2)`` as uint8, with ``mask = (y == d1) | (y == d2)``. Map predictions
    back with :func:`digits_from_pair`.
    """
    x, y = _check_xy(x, y)
    if int(d1) == int(d2):
        raise DataError(f"select two different digits; got {d1} twice")
    top = int(y.max()) if y.size else -1
    for d in (d1, d2):
        if not 0 <= int(d) <= top or not np.any(y == d):
            raise DataError(f"digit {d} does not occur in the labels (they range over 0..{top})")
    mask = (y == d1) | (y == d2)
    return x[mask], (y[mask] == d2).astype(np.uint8)


def digits_from_pair(y01: Array, d1: int, d2: int) -> Array:
    """Inverse of :func:`select_digits`' relabelling: 0 -> d1, 1 -> d2."""
    return np.where(np.asarray(y01) != 0, d2, d1)


def _rank_in_class(y: Array, order: Array) -> tuple[Array, Array, Array]:
    """For samples taken in ``order``: (sorted labels, rank within its class, class counts).

    ``order`` is stably sorted by label, so samples of one class keep ``order``'s sequence;
    rank[i] = i - (index of the first sample of that class).
    """
    by_class = order[np.argsort(y[order], kind="stable")]
    labels = y[by_class]
    classes, starts, counts = np.unique(labels, return_index=True, return_counts=True)
    rank = np.arange(len(labels)) - np.repeat(starts, counts)
    return by_class, rank, np.repeat(counts, counts)


def first_per_class(x: Array, y: Array, k: int) -> tuple[Array, Array]:
    """The first ``k`` samples of every class present in ``y``, kept in their original order
    (balanced subsets, as in E5: ``first_per_class(x, y, 1000)`` -> 1000 per digit).

    Raises :class:`DataError` when a class has fewer than ``k`` samples.
    """
    x, y = _check_xy(x, y)
    if int(k) < 1:
        raise DataError(f"k must be a positive number of samples per class; got {k}")
    classes, counts = np.unique(y, return_counts=True)
    short = counts < k
    if np.any(short):
        c, n = classes[short][0], counts[short][0]
        raise DataError(f"class {c} has only {n} samples, fewer than the {k} asked for")
    by_class, rank, _ = _rank_in_class(y, np.arange(len(y)))
    keep = np.sort(by_class[rank < k])
    return x[keep], y[keep]


def stratified_split(x: Array, y: Array, fraction: float,
                     seed: Seed = 0) -> tuple[Array, Array, Array, Array]:
    """Seeded stratified split -> ``(x_train, y_train, x_val, y_val)``.

    Each class c with n_c samples sends round(fraction * n_c) of them (chosen at random with
    ``seed``, an int or a Generator) to validation, but always keeps at least one for training.
    Both parts keep the original order of the samples. ``fraction`` must lie in (0, 1): for no
    validation split, do not call this.
    """
    x, y = _check_xy(x, y)
    if not 0.0 < float(fraction) < 1.0:
        raise DataError(f"the validation fraction must be between 0 and 1 (exclusive); "
                        f"got {fraction}")
    order = _rng(seed).permutation(len(y))
    by_class, rank, n_c = _rank_in_class(y, order)
    n_val = np.minimum(np.floor(fraction * n_c + 0.5), n_c - 1)
    is_val = rank < n_val
    val = np.sort(by_class[is_val])
    train = np.sort(by_class[~is_val])
    return x[train], y[train], x[val], y[val]


# ---------------------------------------------------------------------------- layout


def flatten(x: Array) -> Array:
    """(N, H, W) -> (N, H*W); a view (no copy) when ``x`` is contiguous."""
    x = np.asarray(x)
    if x.ndim < 1:
        raise DataError("cannot flatten a scalar; expected images of shape (N, H, W)")
    return x.reshape(len(x), math.prod(x.shape[1:]))  # not -1: an empty x has no -1


def to_columns(x: Array) -> Array:
    """(N, D) -> (D, N), contiguous: one column per sample, the exercises' convention."""
    return np.ascontiguousarray(np.asarray(x).T)


def from_columns(x_columns: Array) -> Array:
    """(D, N) -> (N, D), contiguous: the inverse of :func:`to_columns`."""
    return np.ascontiguousarray(np.asarray(x_columns).T)


# ---------------------------------------------------------------------------- scaling


class Normalizer:
    """Pixel scaling, fitted on the training split and applied per batch.

    ``method``:

    * ``"255"`` (alias ``"scale"``): x / pixel_max (pixel_max = 255 for MNIST, 16 for digits8);
    * ``"max"``: x_i / max_j x_ij, each image divided by its own largest pixel (E1); an
      all-zero image stays 0;
    * ``"standardize"``: (x - mean) / std per feature, mean and std from :meth:`fit` (use the
      training split only). std is floored at ``STD_FLOOR * pixel_max`` (2.55 for MNIST), so a
      pixel that is constant in training (MNIST's borders) cannot blow up at test time;
    * ``"none"``: the raw values, as float.

    ``"255"``, ``"max"`` and ``"none"`` need no fitting. :meth:`to_dict` / :meth:`from_dict`
    round-trip the normalizer through JSON (for model files).
    """

    def __init__(self, method: str = "255", *, pixel_max: int = 255) -> None:
        method = _ALIASES.get(str(method), str(method))
        if method not in NORMALIZATIONS:
            raise BarenetError(f"unknown normalization {method!r}; choose one of: "
                               f"{', '.join(NORMALIZATIONS)}")
        self.method = method
        self.pixel_max = _check_pixel_max(pixel_max)
        self.mean: Array | None = None
        self.std: Array | None = None
        self._cache: dict[np.dtype, tuple[Array, Array]] = {}

    def __repr__(self) -> str:
        fitted = "" if self.method != "standardize" else f", fitted={self.mean is not None}"
        return f"Normalizer({self.method!r}, pixel_max={self.pixel_max}{fitted})"

    def fit(self, x: Array, pixel_max: int | None = None) -> Normalizer:
        """Learn what the method needs from training data ``x`` (N, D) (or (N, H, W)).

        standardize: mean_j = sum_i x_ij / N, std_j = sqrt(sum_i x_ij^2 / N - mean_j^2),
        accumulated in float64 over blocks of rows (never a float copy of all of ``x``).
        """
        if pixel_max is not None:
            self.pixel_max = _check_pixel_max(pixel_max)
        if self.method != "standardize":
            return self
        x = np.asarray(x)
        if x.ndim < 2 or len(x) == 0:
            raise DataError(f"standardize needs at least one sample of shape (N, D); got {x.shape}")
        x = x.reshape(len(x), -1)
        total = np.zeros(x.shape[1])
        total_sq = np.zeros(x.shape[1])
        for start in range(0, len(x), 4096):  # blocks of rows, not samples one by one
            block = x[start:start + 4096].astype(np.float64)
            total += block.sum(axis=0)
            total_sq += np.einsum("ij,ij->j", block, block)
        mean = total / len(x)
        std = np.sqrt(np.maximum(total_sq / len(x) - mean * mean, 0.0))
        self._set_stats(mean, np.maximum(std, STD_FLOOR * self.pixel_max))
        return self

    def _set_stats(self, mean: Array, std: Array) -> None:
        self.mean, self.std = mean, std
        self._cache.clear()

    def _stats(self, dtype: np.dtype) -> tuple[Array, Array]:
        """(mean, 1/std) in ``dtype``, computed once per dtype."""
        if self.mean is None or self.std is None:
            raise BarenetError("Normalizer('standardize') must be fitted on the training data "
                               "first: call .fit(x_train)")
        if dtype not in self._cache:
            self._cache[dtype] = (self.mean.astype(dtype), (1.0 / self.std).astype(dtype))
        return self._cache[dtype]

    def transform(self, x: Array, out: Array | None = None,
                  dtype: np.dtype | type = np.float32) -> Array:
        """Scaled float copy of ``x`` (any shape with samples first), written into ``out``
        (same shape; its dtype wins over ``dtype``) when given: no allocation beyond a few
        per-sample maxima. Returns ``out``."""
        x = np.asarray(x)
        if out is None:
            out = np.empty(x.shape, dtype=dtype)
        elif out.shape != x.shape or not out.flags.c_contiguous:
            raise BarenetError(f"out must be a C-contiguous array of shape {x.shape}; got "
                               f"shape {out.shape}")
        dt = out.dtype
        if dt.kind != "f":
            raise BarenetError(f"normalized data must be floating point, not {dt}")
        if self.method == "255":
            np.divide(x, dt.type(self.pixel_max), out=out, dtype=dt, casting="unsafe")
        elif self.method == "max":
            axes = tuple(range(1, x.ndim))
            if x.size == 0:
                return out
            peak = x.max(axis=axes, keepdims=True)  # (N, 1, ...): one maximum per image
            denom = np.where(peak > 0, peak, 1).astype(dt)
            np.divide(x, denom, out=out, dtype=dt, casting="unsafe")
        elif self.method == "standardize":
            mean, inv_std = self._stats(dt)
            x2, out2 = x.reshape(len(x), -1), out.reshape(len(out), -1)
            if x2.shape[1] != mean.shape[0]:
                raise DataError(f"the normalizer was fitted on {mean.shape[0]} features but the "
                                f"data have {x2.shape[1]}")
            np.subtract(x2, mean, out=out2, dtype=dt, casting="unsafe")
            np.multiply(out2, inv_std, out=out2)
        else:
            np.copyto(out, x, casting="unsafe")
        return out

    def fit_transform(self, x: Array, pixel_max: int | None = None,
                      dtype: np.dtype | type = np.float32) -> Array:
        return self.fit(x, pixel_max).transform(x, dtype=dtype)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable description (mean and std as lists for ``standardize``)."""
        d: dict[str, Any] = {"method": self.method, "pixel_max": self.pixel_max}
        if self.method == "standardize":
            if self.mean is None or self.std is None:
                raise BarenetError("cannot save an unfitted standardize normalizer; fit it first")
            d["mean"] = self.mean.tolist()
            d["std"] = self.std.tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalizer:
        """Rebuild a normalizer saved by :meth:`to_dict`; malformed input -> :class:`DataError`."""
        if not isinstance(d, dict) or "method" not in d:
            raise DataError(f"a saved normalizer must be a dict with a 'method'; got {d!r:.80}")
        try:
            norm = cls(d["method"], pixel_max=d.get("pixel_max", 255))
        except BarenetError as exc:
            raise DataError(f"saved normalizer: {exc}") from None
        if norm.method == "standardize":
            try:
                mean = np.asarray(d["mean"], dtype=np.float64)
                std = np.asarray(d["std"], dtype=np.float64)
            except (KeyError, TypeError, ValueError):
                raise DataError("saved standardize normalizer needs numeric lists "
                                "'mean' and 'std'") from None
            if (mean.ndim != 1 or mean.shape != std.shape or not np.all(np.isfinite(mean))
                    or not np.all(np.isfinite(std)) or np.any(std <= 0)):
                raise DataError("saved standardize normalizer: 'mean' and 'std' must be lists "
                                "of the same length, finite, with std > 0")
            norm._set_stats(mean, std)
        return norm


def _check_pixel_max(pixel_max: Any) -> int:
    try:
        value = int(pixel_max)
    except (TypeError, ValueError):
        value = 0
    if value != pixel_max or value < 1:
        raise BarenetError(f"pixel_max must be a positive integer; got {pixel_max!r}")
    return value


# ---------------------------------------------------------------------------- batches


def iterate_minibatches(x: Array, y: Array, batch_size: int, *, rng: Seed = None,
                        shuffle: bool = True, drop_last: bool = False,
                        normalizer: Normalizer | None = None,
                        dtype: np.dtype | type = np.float32,
                        augment: Augment | None = None) -> Iterator[tuple[Array, Array]]:
    """One epoch of ``(x_batch, y_batch)`` pairs; ``x`` stays uint8 (or whatever it is).

    With ``shuffle``, one permutation of 0..N-1 is drawn from ``rng`` (a Generator, or a seed;
    ``None`` draws an unseeded one) and each batch is one gather (``np.take``) of its slice.
    Each gathered batch is converted by ``normalizer.transform`` (raw values as ``dtype`` when
    ``normalizer`` is None) into one float buffer allocated once per epoch.

    **The yielded x_batch is that buffer: the next batch overwrites it.** Copy it to keep it.
    ``y_batch`` is a fresh array. ``drop_last`` drops the final batch when it is smaller than
    ``batch_size``; otherwise every sample appears exactly once per epoch.

    ``augment`` (training batches only, e.g. :class:`barenet.augment.RandomShift`) is called as
    ``augment(raw_batch, rng)`` on each gathered raw batch, before normalization, and returns
    the new raw batch; it draws from the same Generator, after the epoch's permutation.
    """
    x, y = _check_xy(x, y, dense_ok=True)
    if int(batch_size) != batch_size or batch_size < 1:
        raise BarenetError(f"batch size must be a positive integer; got {batch_size}")
    n, batch_size = len(x), int(batch_size)
    normalizer = normalizer if normalizer is not None else Normalizer("none")
    size = min(batch_size, n)
    stop = n - n % batch_size if drop_last else n
    if stop == 0:
        return
    out = np.empty((size,) + x.shape[1:], dtype=dtype)
    generator = _rng(rng)
    if not shuffle:
        for start in range(0, stop, batch_size):
            xb = x[start:start + batch_size]
            if augment is not None:
                xb = augment(xb, generator)
            yield normalizer.transform(xb, out=out[:len(xb)]), y[start:start + batch_size].copy()
        return
    order = generator.permutation(n)
    gathered = np.empty((size,) + x.shape[1:], dtype=x.dtype)
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        xb = np.take(x, idx, axis=0, out=gathered[:len(idx)], mode="clip")  # unbuffered
        if augment is not None:
            xb = augment(xb, generator)
        yield normalizer.transform(xb, out=out[:len(idx)]), np.take(y, idx, axis=0)

"""The :class:`Dataset` every loader returns, and the checks that turn raw arrays into one.

Conventions: images are uint8, (N, H, W), values 0..``pixel_max``; labels are integers 0..C-1,
(N,), stored as uint8 when C <= 256. Arrays coming from the loaders are read-only (they may be
shared through an in-process cache); copy one before changing it in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError


@dataclass
class Dataset:
    """A train split, an optional test split, and the class names.

    ``x_train`` (N, H, W) uint8, ``y_train`` (N,) integer labels in 0..len(class_names)-1;
    ``x_test``/``y_test`` likewise, or both ``None`` for a set with one split.
    ``pixel_max`` is the largest possible pixel value (255 for MNIST, 16 for digits8).
    ``source`` says where the data came from (a path or a description).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    class_names: list[str]
    pixel_max: int = 255
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if (self.x_test is None) != (self.y_test is None):
            raise DataError(f"{self.name}: give both x_test and y_test, or neither")
        if not 1 <= int(self.pixel_max) <= 255:
            raise DataError(f"{self.name}: pixel_max must be in 1..255, got {self.pixel_max}")
        splits = [("train", self.x_train, self.y_train)]
        if self.x_test is not None:
            splits.append(("test", self.x_test, self.y_test))
        for split, x, y in splits:
            if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 3:
                raise DataError(f"{self.name}: x_{split} must be a uint8 array of shape "
                                f"(N, H, W); got {_describe(x)}")
            if not isinstance(y, np.ndarray) or y.ndim != 1 or y.dtype.kind not in "ui":
                raise DataError(f"{self.name}: y_{split} must be an integer array of shape (N,); "
                                f"got {_describe(y)}")
            if len(x) != len(y):
                raise DataError(f"{self.name}: x_{split} has {len(x)} images but y_{split} has "
                                f"{len(y)} labels")
            if x.size == 0:
                where = self.source or self.name
                raise DataError(f"{where}: the {split} split holds no images (x_{split} has shape "
                                f"{x.shape}); give at least one image"
                                + (", or leave the test split out" if split == "test" else ""))
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= len(self.class_names)):
                raise DataError(f"{self.name}: y_{split} has labels {int(y.min())}..{int(y.max())} "
                                f"but there are {len(self.class_names)} class names")
        if self.x_test is not None and self.x_test.shape[1:] != self.x_train.shape[1:]:
            raise DataError(f"{self.name}: train images are {self.x_train.shape[1:]} but test "
                            f"images are {self.x_test.shape[1:]}")

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int]:
        return self.x_train.shape[1], self.x_train.shape[2]


def _describe(a: object) -> str:
    if isinstance(a, np.ndarray):
        return f"{a.dtype.name} array of shape {a.shape}"
    return type(a).__name__


def as_images(x: np.ndarray, what: str) -> np.ndarray:
    """Images as uint8 (N, H, W): accepts (N, H, W), (N, H, W, 1) and (N, S*S) square images.

    Integer or integral float pixels 0..255 are converted to uint8; anything else is an error.
    """
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[3] == 1:
        x = x[..., 0]
    if x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side * side != x.shape[1]:
            raise DataError(f"{what}: images of shape {x.shape} are flat with {x.shape[1]} pixels, "
                            "which is not a square; store them as (N, H, W)")
        x = x.reshape(len(x), side, side)
    if x.ndim != 3:
        raise DataError(f"{what}: images must have shape (N, H, W); got {x.shape}")
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind not in "uif":
        raise DataError(f"{what}: images must be numbers, got dtype {x.dtype}")
    if x.size:
        lo, hi = x.min(), x.max()
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi > 255:
            raise DataError(f"{what}: pixel values must be 0..255, got {lo}..{hi}")
        if x.dtype.kind == "f" and not np.array_equal(x, np.round(x)):
            raise DataError(f"{what}: pixel values must be whole numbers 0..255; these are "
                            f"floats in {lo}..{hi} (if they are scaled to [0, 1], multiply by 255 "
                            "and round before saving)")
    return x.astype(np.uint8)


#: Most classes a label array may imply: the loaders name every class 0..max label, and the
#: reports hold a C x C confusion matrix, so a stray huge label must not be taken at its word.
MAX_CLASSES = 1000


def as_labels(y: np.ndarray, what: str) -> np.ndarray:
    """Labels as a 1-D integer array (uint8 when every label is 0..255, else int64), each
    below :data:`MAX_CLASSES`."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{what}: labels must have shape (N,); got {y.shape}")
    if y.dtype.kind not in "uif":
        raise DataError(f"{what}: labels must be integers, got dtype {y.dtype}")
    if y.size and y.dtype.kind == "f" and not (
            np.all(np.isfinite(y)) and np.array_equal(y, np.round(y))):
        raise DataError(f"{what}: labels must be whole numbers")
    if y.size and y.min() < 0:
        raise DataError(f"{what}: labels must be >= 0; found {y.min()}")
    if y.size and y.max() >= MAX_CLASSES:
        raise DataError(f"{what}: labels must be class indices 0..{MAX_CLASSES - 1}; found "
                        f"{y.max()} (a corrupt label file, or not class labels at all)")
    if not y.size or y.max() <= 255:
        return y.astype(np.uint8, copy=False)
    return y.astype(np.int64, copy=False)


def default_class_names(*labels: np.ndarray | None) -> list[str]:
    """``["0", "1", ..., str(max label)]`` over all the given label arrays."""
    top = max((int(y.max()) for y in labels if y is not None and y.size), default=0)
    return [str(i) for i in range(top + 1)]


def freeze(*arrays: np.ndarray | None) -> None:
    """Mark arrays read-only so a shared (cached) array cannot be changed by accident."""
    for a in arrays:
        if a is not None:
            a.flags.writeable = False

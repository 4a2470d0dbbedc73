"""The 8 x 8 handwritten digits (1797 images, pixel values 0..16) shipped with scikit-learn.

scikit-learn is an optional extra (``pip install barenet[sklearn]``); it reads the images from
its own package data, so no network is involved. The set has no official test split: barenet
makes one with :func:`barenet.preprocess.stratified_split` at ``TEST_FRACTION`` = 0.15 and
``SEED`` = 0, which puts round(0.15 * n_c) images of each digit c in the test split
(1528 training and 269 test images), always the same ones.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .base import Dataset, freeze

TEST_FRACTION = 0.15
SEED = 0
PIXEL_MAX = 16


def load_digits8(*, test_fraction: float = TEST_FRACTION, seed: int = SEED) -> Dataset:
    """digits8: ``x_train`` (1528, 8, 8) uint8 in 0..16, ``x_test`` (269, 8, 8), labels 0..9."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("the 8 x 8 digits set comes with scikit-learn, which is not installed: "
                        "pip install 'barenet[sklearn]'") from None
    from .preprocess import stratified_split  # the split is a preprocessing step

    bunch = load_digits()
    images = np.asarray(bunch.images).astype(np.uint8)
    labels = np.asarray(bunch.target).astype(np.uint8)
    x_train, y_train, x_test, y_test = stratified_split(images, labels, test_fraction, seed)
    freeze(x_train, y_train, x_test, y_test)
    return Dataset(name="digits8", x_train=x_train, y_train=y_train, x_test=x_test,
                   y_test=y_test, class_names=[str(i) for i in range(10)], pixel_max=PIXEL_MAX,
                   source=f"sklearn.datasets.load_digits (stratified split, test fraction "
                          f"{test_fraction}, seed {seed})")

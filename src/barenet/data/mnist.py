"""MNIST, shipped inside barenet: 60000 training and 10000 test images, 28 x 28, uint8.

The four official IDX files live gzipped in ``barenet/data/mnist/`` (with their licence).
:func:`load_mnist` checks each file's SHA-256 (of the uncompressed bytes, the official values)
and caches the decoded arrays in-process, read-only: the first call takes about 0.3 s, later
calls are free.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError
from .base import Dataset
from .idxdir import find_idx_files, load_idx_directory
from .sources import PACKAGE_DATA, SOURCES


def load_mnist(verify: bool = True, *, directory: str | os.PathLike | None = None) -> Dataset:
    """MNIST: ``x_train`` (60000, 28, 28) uint8, ``y_train`` (60000,) uint8, and the test split
    (10000 images). ``verify`` checks the official SHA-256 of every file; a corrupt or replaced
    file raises :class:`barenet.DataError` naming it. ``directory`` reads the four files from
    elsewhere (default: the copy inside the package). The arrays are read-only.
    """
    where = Path(directory) if directory is not None else PACKAGE_DATA
    if directory is None and not (where.is_dir() and len(find_idx_files(where)) == 4):
        raise DataError(f"the MNIST files that ship with barenet are missing from {where}; "
                        "reinstall barenet, or download MNIST with "
                        "load_dataset('mnist', download=True)")
    remedy = ("reinstall barenet (pip install --force-reinstall barenet)" if directory is None
              else "replace it with a good copy")
    return load_idx_directory(where, name="mnist", spec=SOURCES["mnist"], verify=verify,
                              remedy=remedy)

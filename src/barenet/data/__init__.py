"""Data sets: files -> uint8 arrays, in a :class:`Dataset`.

* :func:`load_dataset` -- any source by name or path (the one entry point most code needs);
* :func:`load_mnist` -- MNIST from the copy inside barenet, SHA-256 verified, cached;
* :mod:`.idx` -- :func:`read_idx` / :func:`write_idx`, the IDX (MNIST) file format;
* :mod:`.download` -- :func:`cache_dir`, ``download``, :func:`fetch` (mirrors, checksums);
* :mod:`.sources` -- the known sets' files, checksums, mirrors and system locations.
"""

from .base import Dataset
from .digits8 import load_digits8
from .download import cache_dir, fetch
from .idx import read_idx, write_idx
from .idxdir import load_idx_directory
from .loader import DATASETS, load_dataset, load_path
from .mnist import load_mnist
from .npz import load_npz

__all__ = [
    "DATASETS", "Dataset", "cache_dir", "fetch", "load_dataset", "load_digits8",
    "load_idx_directory", "load_mnist", "load_npz", "load_path", "read_idx", "write_idx",
]

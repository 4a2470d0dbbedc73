"""Load the ``.npz`` layouts users already have, never unpickling anything.

Accepted key sets:

* ``x_train, y_train`` and optionally ``x_test, y_test`` (what ``keras.datasets.mnist``
  caches as ``mnist.npz``);
* ``x, y`` for a single split (the E1 exercise's file): ``x_test`` is then ``None``;
* optionally ``class_names``, a string array.

Images may be (N, H, W), (N, H, W, 1) or flat (N, S*S); pixels must be whole numbers 0..255.
The file is opened with ``allow_pickle=False``: an archive holding Python objects is refused.
Before an array is read, its member's ``.npy`` header is checked against the sizes the zip
records and the file's length (:func:`barenet.files.safe_read.check_npz_member`), so a crafted header
cannot make barenet allocate more than the input allows; every malformed file raises
:class:`barenet.DataError`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..files.safe_read import READ_ERRORS, check_npz_member, file_kind, summary
from .base import Dataset, as_images, as_labels, default_class_names, freeze

LAYOUTS = (("x_train", "y_train", "x_test", "y_test"), ("x", "y"))


_FIXES = {
    "corrupt": "use an intact copy of the file",
    "pickled": "barenet never unpickles data files: save plain numeric arrays, e.g. "
               "np.savez(path, x=images.astype(np.uint8), y=labels)",
    "compression": "save it with numpy.savez or numpy.savez_compressed",
}


def _get(archive: np.lib.npyio.NpzFile, key: str, path: Path, size: int) -> np.ndarray:
    """One array of the archive, its member checked before anything is allocated."""
    names = archive.zip.namelist()
    if key in names or f"{key}.npy" not in names:
        raise DataError(f"{path}: the member {key!r} is not a .npy array; {_FIXES['corrupt']}")

    def fail(problem: str, kind: str) -> DataError:
        return DataError(f"{path}: {problem}; {_FIXES[kind]}")

    check_npz_member(archive.zip, archive.zip.getinfo(f"{key}.npy"), size, fail)
    return archive[key]


def _sniff(path: Path) -> int:
    """The file's size, after refusing anything that is not a zip archive (np.load would
    read a lone .npy whole, allocating whatever its header claims)."""
    try:
        kind = file_kind(path)
        size = path.stat().st_size
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not an .npz file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if kind == "npy":
        raise DataError(f"{path}: a single .npy array, not an .npz archive with keys "
                        "x_train/y_train/x_test/y_test or x/y")
    if kind != "zip":
        raise DataError(f"{path}: not a NumPy .npz archive (it does not start like a zip file); "
                        "save the arrays with numpy.savez")
    return size


def load_npz(path: str | os.PathLike, *, name: str | None = None,
             class_names: list[str] | None = None, pixel_max: int = 255) -> Dataset:
    """A :class:`Dataset` from an ``.npz`` file in one of the :data:`LAYOUTS`."""
    path = Path(path)
    size = _sniff(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            layout = next((lay for lay in LAYOUTS if set(lay[:2]) <= keys), None)
            if layout is None:
                raise DataError(f"{path}: expected the keys x_train, y_train (and x_test, y_test) "
                                f"or x, y; the file has: {', '.join(sorted(keys)) or 'no arrays'}")
            if len(layout) == 4 and ("x_test" in keys) != ("y_test" in keys):
                raise DataError(f"{path}: has only one of x_test and y_test; give both or neither")
            arrays = {k: _get(archive, k, path, size) for k in layout if k in keys}
            if "class_names" in keys:
                names = _get(archive, "class_names", path, size)
                if names.dtype.kind not in "US" or names.ndim != 1:
                    raise DataError(f"{path}: class_names must be a 1-D array of strings")
                class_names = [str(n) for n in names.astype(str)]
    except DataError:
        raise
    except READ_ERRORS as exc:
        raise DataError(f"{path}: cannot read the file as .npz ({summary(exc)}); it is corrupt "
                        f"or truncated; {_FIXES['corrupt']}") from None
    x_key, y_key = layout[0], layout[1]
    x_train = as_images(arrays[x_key], f"{path}[{x_key}]")
    y_train = as_labels(arrays[y_key], f"{path}[{y_key}]")
    x_test = y_test = None
    if "x_test" in arrays:
        x_test = as_images(arrays["x_test"], f"{path}[x_test]")
        y_test = as_labels(arrays["y_test"], f"{path}[y_test]")
    pairs = [(x_key, y_key, x_train, y_train)]
    if x_test is not None:
        pairs.append(("x_test", "y_test", x_test, y_test))
    for x_name, y_name, x, y in pairs:
        if len(x) != len(y):
            raise DataError(f"{path}: {x_name} has {len(x)} images but {y_name} has {len(y)} "
                            "labels")
    freeze(x_train, y_train, x_test, y_test)
    if class_names is None:
        class_names = default_class_names(y_train, y_test)
    return Dataset(name=name or path.stem, x_train=x_train, y_train=y_train, x_test=x_test,
                   y_test=y_test, class_names=list(class_names), pixel_max=pixel_max,
                   source=str(path))

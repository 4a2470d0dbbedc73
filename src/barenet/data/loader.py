"""``load_dataset``: one entry point for every data source barenet reads.

Where each named set comes from, in order (the first complete copy wins):

=================  ==========================================================================
``mnist``          the copy inside barenet; ``cache_dir()/mnist``; the public mirrors, only
                   with ``download=True``
``fashion-mnist``  /usr/share/datasets/fashion-mnist (Debian's ``dataset-fashion-mnist``);
                   ``cache_dir()/fashion-mnist``; the mirrors (unless ``download=False``)
``kmnist``         ``cache_dir()/kmnist``; the mirrors (unless ``download=False``)
``digits8``        scikit-learn's copy (optional extra), split by ``digits8.load_digits8``
=================  ==========================================================================

Known copies are checksum-verified (``verify``). ``data=PATH`` (the CLI's ``--data``) replaces
all of that with the user's own directory of MNIST-format files or ``.npz`` file, taken as it
is (shape and label checks only, no checksums: it may be any MNIST-format set).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from ..errors import DataError
from .base import Dataset, default_class_names
from .digits8 import PIXEL_MAX as DIGITS8_PIXEL_MAX
from .digits8 import load_digits8
from .download import cache_dir, fetch, manual_help
from .idxdir import find_idx_files, load_idx_directory
from .npz import load_npz
from .sources import MIRRORS, PACKAGE_DATA, SOURCES, SYSTEM_DIRS

DATASETS = ("mnist", "fashion-mnist", "kmnist", "digits8")
ALIASES = {"fashion": "fashion-mnist", "fashion_mnist": "fashion-mnist",
           "fashionmnist": "fashion-mnist", "k-mnist": "kmnist", "kuzushiji-mnist": "kmnist",
           "digits": "digits8"}
_ZIP_MAGIC = b"PK\x03\x04"


def load_path(path: str | os.PathLike, *, name: str | None = None,
              class_names: list[str] | None = None, pixel_max: int = 255) -> Dataset:
    """A directory of MNIST-format files, or an ``.npz`` file, as a :class:`Dataset`."""
    p = Path(path).expanduser()
    if p.is_dir():
        return load_idx_directory(p, name=name, class_names=class_names, pixel_max=pixel_max)
    if p.is_file():
        with open(p, "rb") as handle:
            is_zip = handle.read(4) == _ZIP_MAGIC
        if is_zip or p.suffix.lower() == ".npz":
            return load_npz(p, name=name, class_names=class_names, pixel_max=pixel_max)
        raise DataError(f"{p}: not a directory of MNIST-format files or an .npz file; for "
                        "single IDX files put the four of them in one directory")
    raise DataError(f"{p}: no such file or directory")


def _complete(directory: Path) -> bool:
    return directory.is_dir() and len(find_idx_files(directory)) == 4


def _load_known(name: str, download: bool | None, verify: bool, progress: bool) -> Dataset:
    spec = SOURCES[name]
    local = [(PACKAGE_DATA, "reinstall barenet")] if name == "mnist" else []
    local += [(d, f"reinstall the package that provides {d}") for d in SYSTEM_DIRS.get(name, [])]
    for directory, remedy in local:
        if _complete(directory):
            return load_idx_directory(directory, name=name, spec=spec, verify=verify,
                                      remedy=remedy)
    cache = cache_dir() / name
    remedy = f"delete {cache} and load {name} with download=True to fetch it again"
    allowed = download if download is not None else name != "mnist"
    if allowed:
        cache = fetch(name, directory=cache, progress=progress)
    if _complete(cache):
        return load_idx_directory(cache, name=name, spec=spec, verify=verify, remedy=remedy)
    looked = ", ".join(str(d) for d, _ in local + [(cache, "")])
    raise DataError(f"{spec.title} was not found (looked in {looked}) and downloading is off; "
                    f"load it with download=True to fetch it, or "
                    + manual_help(name, cache, MIRRORS.get(name, [])))


def load_dataset(name_or_path: str = "mnist", data: str | os.PathLike | None = None, *,
                 download: bool | None = None, verify: bool = True,
                 progress: bool = True) -> Dataset:
    """Load a data set by name (``mnist``, ``fashion-mnist``, ``kmnist``, ``digits8``) or path.

    ``data``: a directory of MNIST-format files or an ``.npz`` file to read instead of the named
    set's usual copy. The name then supplies the pixel range, and the names of the file's labels
    when the file names none of its own; the classes are always the file's (labels 0..2 make
    three classes, never the named set's ten).
    ``download``: ``True`` allows fetching a set that has no local copy, ``False`` forbids it,
    ``None`` (default) allows it for Fashion-MNIST and KMNIST, not for MNIST (built in).
    ``verify``: check the checksums of known copies. ``progress``: show download progress.
    """
    key = str(name_or_path).strip()
    name = ALIASES.get(key.lower(), key.lower())
    if name not in DATASETS:
        if data is not None:
            raise DataError(f"unknown data set {name_or_path!r}; with data=PATH give one of "
                            f"{', '.join(DATASETS)} as the name")
        if Path(key).expanduser().exists():
            return load_path(key)
        raise DataError(f"unknown data set {name_or_path!r}: choose one of "
                        f"{', '.join(DATASETS)}, or give a directory of MNIST-format files or "
                        "an .npz file")
    pixel_max = DIGITS8_PIXEL_MAX if name == "digits8" else 255
    if data is not None:
        ds = load_path(data, name=name, pixel_max=pixel_max)
        known = SOURCES[name].class_names if name in SOURCES else tuple(map(str, range(10)))
        named_by_labels = ds.class_names == default_class_names(ds.y_train, ds.y_test)
        if named_by_labels and len(ds.class_names) <= len(known):  # the set's names, the file's classes
            ds = dataclasses.replace(ds, class_names=list(known[:len(ds.class_names)]))
        return ds
    if name == "digits8":
        return load_digits8()
    return _load_known(name, download, verify, progress)


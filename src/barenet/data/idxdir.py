"""Load a directory of MNIST-format files (``--data DIR``), optionally verifying checksums.

A directory holds ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte`` and, usually,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``; each may end in ``.gz``. Also
accepted: ``test-`` instead of ``t10k-``, ``.`` or ``_`` instead of ``-`` (Kaggle writes
``train-images.idx3-ubyte``), and a prefix (``emnist-letters-train-images-idx3-ubyte.gz``).

Decoded files are cached in-process by (path, size, mtime, inode), read-only, with the SHA-256
of their uncompressed bytes (up to ``CACHE_BYTES`` in all, least recently used dropped first),
so loading the same files again costs nothing and verifying them costs one comparison.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..errors import DataError
from .base import Dataset, as_images, as_labels, default_class_names, freeze
from .idx import read_idx_sha256
from .sources import ROLES, DatasetSpec, FileSpec

_PATTERNS = {
    "train_images": r"train[-_.]images[-_.]idx3[-_.]ubyte",
    "train_labels": r"train[-_.]labels[-_.]idx1[-_.]ubyte",
    "test_images": r"(?:t10k|test)[-_.]images[-_.]idx3[-_.]ubyte",
    "test_labels": r"(?:t10k|test)[-_.]labels[-_.]idx1[-_.]ubyte",
}
_REGEX = {role: re.compile(rf"^(?:.*[-_.])?{p}(\.gz)?$", re.IGNORECASE)
          for role, p in _PATTERNS.items()}
EXPECTED_NAMES = ("train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
                  "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]")


def find_idx_files(directory: str | os.PathLike) -> dict[str, Path]:
    """Map each role (``train_images`` ...) to its file in ``directory``; missing roles absent.

    When a file exists both gzipped and not, the uncompressed one is used (faster to read).
    """
    directory = Path(directory)
    try:
        names = sorted(p.name for p in directory.iterdir() if p.is_file())
    except FileNotFoundError:
        raise DataError(f"{directory}: no such directory") from None
    except NotADirectoryError:
        raise DataError(f"{directory}: not a directory") from None
    except OSError as exc:
        raise DataError(f"{directory}: cannot list the directory ({exc.strerror or exc})") from None
    found: dict[str, Path] = {}
    for role, regex in _REGEX.items():
        matches = [n for n in names if regex.match(n)]
        plain = [n for n in matches if not n.lower().endswith(".gz")]
        stems = {n[:-3] if n.lower().endswith(".gz") else n for n in matches}
        if len(stems) > 1:
            raise DataError(f"{directory}: several files could be the {role.replace('_', ' ')}: "
                            f"{', '.join(matches)}; keep one of them in the directory")
        if matches:
            found[role] = directory / (plain[0] if plain else matches[0])
    return found


CACHE_BYTES = 512 << 20  # decoded arrays kept in-process (least recently used dropped first)
_cache: OrderedDict[tuple, tuple[np.ndarray, str]] = OrderedDict()
_cache_lock = threading.Lock()


def _read_cached(*key: object) -> tuple[np.ndarray, str]:
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    array, digest = read_idx_sha256(str(key[0]))
    freeze(array)
    with _cache_lock:
        _cache[key] = (array, digest)
        while len(_cache) > 1 and sum(a.nbytes for a, _ in _cache.values()) > CACHE_BYTES:
            _cache.popitem(last=False)
    return array, digest


@functools.lru_cache(maxsize=16)
def _md5_cached(path: str, size: int, mtime_ns: int, inode: int) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            md5.update(block)
    return md5.hexdigest()


def _key(path: Path) -> tuple[str, int, int, int]:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    return str(path), st.st_size, st.st_mtime_ns, st.st_ino


def read_idx_cached(path: str | os.PathLike) -> tuple[np.ndarray, str]:
    """(read-only array, SHA-256 of the uncompressed bytes) of an IDX file, cached."""
    return _read_cached(*_key(Path(path)))


def check_file(path: Path, digest: str, spec: FileSpec, title: str, remedy: str) -> None:
    """Accept ``path`` when its uncompressed SHA-256 or its raw MD5 matches ``spec``."""
    if spec.sha256 is None and spec.md5_gz is None:
        return
    if spec.sha256 is not None and digest == spec.sha256:
        return
    if spec.md5_gz is not None and _md5_cached(*_key(path)) == spec.md5_gz:
        return
    expected = f"SHA-256 {spec.sha256}" if spec.sha256 else f"MD5 {spec.md5_gz} of the .gz"
    raise DataError(f"{path}: checksum mismatch: this is not the official {title} "
                    f"{spec.role.replace('_', ' ')} file (uncompressed SHA-256 {digest}, "
                    f"expected {expected}); the file is corrupt or was replaced; {remedy}")


def load_idx_directory(directory: str | os.PathLike, *, name: str | None = None,
                       spec: DatasetSpec | None = None, verify: bool = False,
                       class_names: list[str] | None = None, pixel_max: int = 255,
                       remedy: str = "replace it with a good copy") -> Dataset:
    """A :class:`Dataset` from the MNIST-format files in ``directory``.

    The train files are required; the test files are optional (``x_test`` is then ``None``).
    With ``verify`` and a ``spec``, every file must match the spec's checksums.
    Class names: ``class_names``, else the spec's, else ``"0".."max label"``.
    """
    directory = Path(directory)
    files = find_idx_files(directory)
    missing = [r for r in ROLES[:2] if r not in files]
    if missing:
        raise DataError(f"{directory}: no MNIST-format training files found (expected "
                        f"{EXPECTED_NAMES})")
    has_test = [r in files for r in ROLES[2:]]
    if any(has_test) and not all(has_test):
        have, lack = ("images", "labels") if has_test[0] else ("labels", "images")
        raise DataError(f"{directory}: found test {have} but no test {lack}; add the missing "
                        "file or remove the other one")
    arrays: dict[str, np.ndarray] = {}
    for role, path in files.items():
        array, digest = read_idx_cached(path)
        if verify and spec is not None:
            check_file(path, digest, spec.file(role), spec.title, remedy)
        if role.endswith("images"):
            array = as_images(array, str(path))
        else:
            array = as_labels(array, str(path))
        freeze(array)
        arrays[role] = array
    for split in ("train", "test"):
        if f"{split}_images" in arrays:
            n_x, n_y = len(arrays[f"{split}_images"]), len(arrays[f"{split}_labels"])
            if n_x != n_y:
                raise DataError(f"{directory}: {n_x} {split} images but {n_y} {split} labels; "
                                f"{files[f'{split}_images'].name} and "
                                f"{files[f'{split}_labels'].name} do not belong together")
    y_test = arrays.get("test_labels")
    if class_names is None:
        class_names = (list(spec.class_names) if spec is not None
                       else default_class_names(arrays["train_labels"], y_test))
    return Dataset(name=name or directory.name, x_train=arrays["train_images"],
                   y_train=arrays["train_labels"], x_test=arrays.get("test_images"),
                   y_test=y_test, class_names=list(class_names), pixel_max=pixel_max,
                   source=str(directory))

"""Read files that may be corrupt or crafted, allocating no more than the input allows.

One place for what every reader of untrusted bytes needs (model files, checkpoints, ``.npz``
and ``.npy`` data, IDX and gzip files, downloads):

* :data:`READ_ERRORS`: the exceptions the zip, npy, zlib and json layers raise on bad bytes,
  to be turned into one line naming the file (:func:`summary` shortens the cause);
* :func:`read_json`: a run directory's JSON file, or one line saying why not;
* :func:`file_kind` and :func:`read_npy_header`: what a file is, from its first bytes and its
  ``.npy`` header, before any array is allocated;
* :func:`check_npz_member` and :func:`read_checked_npz`: a zip member's recorded sizes and
  ``.npy`` header checked against each other and against the file's length, so a crafted header
  cannot make numpy allocate more than the file holds;
* :class:`GzipStream`: incremental gunzip that never produces more output than asked for.

Deflate (the compression of gzip and of zip members) cannot expand ``n`` bytes to more than
about ``1032 * n``: its longest output per code is a 258-byte match, and a match costs at least
two bits (a 1-bit length code and a 1-bit distance code), so 8 bits give at most
``4 * 258 = 1032`` bytes. A size claim beyond :data:`MAX_DEFLATE_RATIO` times the compressed
length is therefore a lie, refused before anything is allocated (:func:`exceeds_deflate`).
"""

from __future__ import annotations

import json
import math
import tokenize
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BarenetError, DataError

#: Exceptions the zip / npy / zlib / json layers raise on corrupt bytes.
READ_ERRORS = (OSError, EOFError, ValueError, TypeError, KeyError, IndexError, OverflowError,
               MemoryError, RuntimeError, SyntaxError, zipfile.BadZipFile, zlib.error,
               tokenize.TokenError)
#: Largest expansion deflate can produce (see the module docstring for the derivation).
MAX_DEFLATE_RATIO = 1032
GZIP_MAGIC = b"\x1f\x8b"
NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive

#: ``fail(problem, kind)`` builds the caller's error; kind is "corrupt", "pickled" or "compression".
Fail = Callable[[str, str], BarenetError]


def summary(exc: BaseException, limit: int = 120) -> str:
    """An exception as one short line: its type and its message, cut at a word boundary."""
    text = " ".join(str(exc).split())
    if len(text) > limit:
        cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
        text = cut.rstrip(",;:") + " ..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def exceeds_deflate(claimed: int, compressed: int) -> bool:
    """Whether ``claimed`` bytes are more than ``compressed`` deflated bytes can expand to."""
    return claimed > MAX_DEFLATE_RATIO * max(compressed, 1)


def file_kind(path: str | Path) -> str:
    """``"zip"``, ``"npy"``, ``"gzip"`` or ``"other"``, from the first bytes (OSError if unreadable)."""
    with open(path, "rb") as handle:
        head = handle.read(6)
    if head.startswith(ZIP_MAGICS):
        return "zip"
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    return "other"


def read_json(path: Path) -> Any:
    """The decoded JSON file of a run directory; missing or malformed is one BarenetError line."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BarenetError(f"{path} not found; is {path.parent} a run directory written by "
                           "`barenet train`?") from None
    except (OSError, ValueError) as exc:
        raise BarenetError(f"cannot read {path}: {summary(exc)}") from None


class UnsupportedNpyVersion(ValueError):
    """An .npy header of a version numpy's format module does not read."""


def read_npy_header(fp: Any) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) from an open .npy stream, reading only its header."""
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
    else:
        raise UnsupportedNpyVersion(f"unsupported .npy version {version}")
    return shape, dtype, fp.tell()


def check_npz_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, size: int, fail: Fail) -> str:
    """Validate one ``.npz`` member's sizes and ``.npy`` header without reading its data.

    ``size`` is the archive's length in bytes. Returns the array name; a problem raises
    ``fail(problem, kind)``. Once this passes, reading the member allocates exactly the bytes it
    holds: at most ``size`` for a stored member, ``MAX_DEFLATE_RATIO * size`` for a deflated
    one. The zip and npy layers may still raise any of :data:`READ_ERRORS` on corrupt bytes.
    """
    name = info.filename
    if not name.endswith(".npy"):
        raise fail(f"holds a member {name!r} that is not a .npy array", "corrupt")
    if info.flag_bits & 0x1:
        raise fail(f"member {name!r} is encrypted", "corrupt")
    if info.compress_type == zipfile.ZIP_STORED:
        if info.file_size != info.compress_size:
            raise fail(f"member {name!r} has inconsistent sizes (corrupt)", "corrupt")
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        if exceeds_deflate(info.file_size, info.compress_size):
            raise fail(f"member {name!r} claims an impossible size (corrupt)", "corrupt")
    else:
        raise fail(f"member {name!r} uses an unsupported compression", "compression")
    if info.compress_size > size:
        raise fail(f"member {name!r} is larger than the file (truncated)", "corrupt")
    with zf.open(info) as fp:
        try:
            shape, dtype, offset = read_npy_header(fp)
        except UnsupportedNpyVersion as exc:
            raise fail(f"member {name!r}: {exc}", "corrupt") from None
    if dtype.hasobject:
        raise fail(f"array {name[:-4]!r} holds pickled Python objects, which barenet never "
                   "loads (loading a file must never run code)", "pickled")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes != info.file_size - offset:
        raise fail(f"array {name[:-4]!r} declares {nbytes} bytes but holds "
                   f"{info.file_size - offset} (truncated or corrupt)", "corrupt")
    return name[:-4]


def read_checked_npz(path: Path, fail: Fail) -> dict[str, np.ndarray]:
    """Every array of the zip archive at ``path``, each member checked first
    (:func:`check_npz_member`). The caller has made sure it is a zip (:func:`file_kind`):
    numpy would read a lone ``.npy`` whole, allocating whatever its header claims."""
    size = path.stat().st_size
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = [check_npz_member(npz.zip, info, size, fail) for info in npz.zip.infolist()]
            if len(set(names)) != len(names):
                raise fail("holds the same array name twice (corrupt)", "corrupt")
            return {name: npz[name] for name in names}
    except BarenetError:
        raise
    except READ_ERRORS as exc:
        raise fail(f"is not a valid .npz archive ({summary(exc)}); it is corrupt or truncated",
                   "corrupt") from None


class GzipStream:
    """Incremental gzip decoding of the bytes ``read_raw()`` returns (``b""`` at the end).

    Several concatenated members are allowed (``gzip`` writes them when appending).
    :meth:`readinto` never asks zlib for more output than ``len(view)`` bytes, so a
    "decompression bomb" costs no more memory than the caller's buffer; it returns fewer bytes
    only at the clean end of the last member (its CRC and length verified by zlib). ``limit``
    caps the total output (a :class:`DataError` beyond it). Corrupt, truncated or trailing data
    raise :class:`DataError` naming ``name``.
    """

    def __init__(self, read_raw: Callable[[], bytes], name: str, limit: int | None = None) -> None:
        self._read_raw_piece = read_raw
        self._name = name
        self._limit = limit
        self._inflater = zlib.decompressobj(wbits=31)  # 31: gzip header and trailer
        self._pending = b""  # compressed input not yet given to zlib
        self._raw_eof = False
        self.total = 0  #: bytes produced so far

    def _read_raw(self) -> bytes:
        if self._raw_eof:
            return b""
        data = self._read_raw_piece()
        if not data:
            self._raw_eof = True
        return data

    def readinto(self, view: memoryview) -> int:
        filled = 0
        while filled < len(view):
            if self._inflater.eof:  # end of a member: another member, the end, or garbage
                tail = self._inflater.unused_data
                if len(tail) < 2:
                    tail += self._read_raw()
                if not tail:
                    return filled
                if tail[:2] != GZIP_MAGIC:
                    raise DataError(f"{self._name}: unexpected bytes after the end of the gzip "
                                    "data; the file is corrupt")
                self._inflater = zlib.decompressobj(wbits=31)
                self._pending = tail
            if not self._pending:
                self._pending = self._read_raw()
            try:
                out = self._inflater.decompress(self._pending, len(view) - filled)
            except zlib.error as exc:
                raise DataError(f"{self._name}: corrupt gzip data ({exc})") from None
            self._pending = self._inflater.unconsumed_tail
            if not out and not self._inflater.eof and not self._pending and self._raw_eof:
                raise DataError(f"{self._name}: truncated, not complete gzip data (the compressed "
                                "stream ends early); download or copy the file again")
            view[filled:filled + len(out)] = out
            filled += len(out)
            self.total += len(out)
            if self._limit is not None and self.total > self._limit:
                raise DataError(f"{self._name}: the gzip data decompresses to more than "
                                f"{self._limit} bytes; refusing it")
        return filled

    def read(self, n: int) -> bytes:
        """Up to ``n`` decompressed bytes (fewer only at the end)."""
        buffer = bytearray(n)
        return bytes(buffer[:self.readinto(memoryview(buffer))])

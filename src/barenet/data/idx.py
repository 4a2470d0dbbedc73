"""Read and write IDX files (the MNIST file format), gzipped or not.

Layout of an IDX file (all integers big-endian)::

    byte 0, 1   0x00 0x00                      magic
    byte 2      dtype code                     0x08 uint8   0x09 int8    0x0B int16
                                               0x0C int32   0x0D float32 0x0E float64
    byte 3      ndim (rank, 0..255)
    4 * ndim    dims d_0 ... d_{ndim-1}        unsigned 32-bit each
    data        prod(d) * itemsize bytes       row-major (C order), big-endian values

A file is gzipped when it starts with the gzip magic bytes ``1f 8b`` (the file name does not
matter). Every malformed input raises :class:`barenet.DataError` naming the file: bad magic,
unsupported dtype code, truncated header or data, trailing bytes, sizes that disagree with the
file length, and gzip errors.

Nothing is allocated before the header's sizes are checked against the input's length: exactly
for an uncompressed file; for a gzipped one against deflate's maximum expansion
(:data:`barenet.files.safe_read.MAX_DEFLATE_RATIO`, 1032:1), and decompression is incremental
(:class:`barenet.files.safe_read.GzipStream`) and never produces more than the header promises
plus one byte, so a "decompression bomb" costs no more memory than the array the header
honestly describes. Returned arrays are native-endian and writeable.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import struct
import sys
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np

from ..errors import DataError
from ..files.atomic import atomic_write
from ..files.safe_read import GZIP_MAGIC, GzipStream, exceeds_deflate

# IDX dtype code -> big-endian NumPy dtype as stored in the file.
CODE_TO_DTYPE: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
# (kind, itemsize) -> IDX dtype code, for writing.
_KIND_TO_CODE = {(dt.kind, dt.itemsize): code for code, dt in CODE_TO_DTYPE.items()}
_CHUNK = 1 << 22  # 4 MiB: the unit of reading, decompressing and hashing

Source = str | os.PathLike | bytes | bytearray | memoryview


class _Stream(Protocol):
    def readinto(self, view: memoryview) -> int: ...


class _RawStream:
    """Uncompressed bytes: ``readinto`` fills as much of ``view`` as the input still has."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    def readinto(self, view: memoryview) -> int:
        filled = 0
        while filled < len(view):
            got = self._handle.readinto(view[filled:])
            if not got:
                break
            filled += got
        return filled


def _stream(handle: BinaryIO, name: str, gzipped: bool) -> _Stream:
    if gzipped:
        return GzipStream(lambda: handle.read(_CHUNK), name)
    return _RawStream(handle)


def _describe(source: Source) -> str:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    return str(source)


def _read(stream: _Stream, name: str, length: int, gzipped: bool, hasher) -> np.ndarray:
    """Decode one IDX payload from ``stream``; ``length`` is the (compressed) input length."""
    head = bytearray(4)
    got = stream.readinto(memoryview(head))
    if got < 4:
        raise DataError(f"{name}: too short to be an IDX file ({got} bytes; the header alone "
                        "has at least 4)")
    if head[0] != 0 or head[1] != 0:
        raise DataError(f"{name}: not an IDX file (bad magic bytes {bytes(head[:4]).hex(' ')}; "
                        "an IDX file starts with 00 00 <dtype> <ndim>)")
    code, ndim = head[2], head[3]
    if code not in CODE_TO_DTYPE:
        known = ", ".join(f"0x{c:02X} {dt.name}" for c, dt in CODE_TO_DTYPE.items())
        raise DataError(f"{name}: unsupported IDX dtype code 0x{code:02X} (supported: {known})")
    dims_raw = bytearray(4 * ndim)
    got = stream.readinto(memoryview(dims_raw))
    if got < len(dims_raw):
        raise DataError(f"{name}: truncated IDX header: {ndim} dimensions announced but the "
                        "file ends inside the list of sizes")
    dims = struct.unpack(f">{ndim}I", dims_raw)
    file_dtype = CODE_TO_DTYPE[code]
    nbytes = math.prod(dims) * file_dtype.itemsize
    expected = 4 + 4 * ndim + nbytes
    shape = " x ".join(map(str, dims)) or "scalar"
    if not gzipped and expected != length:
        what = "truncated" if length < expected else "has trailing bytes"
        raise DataError(f"{name}: the file {what}: its header describes a {shape} "
                        f"{file_dtype.name} array ({expected} bytes with the header) but the "
                        f"file has {length} bytes")
    if gzipped and exceeds_deflate(expected, length):
        raise DataError(f"{name}: the header describes a {shape} {file_dtype.name} array "
                        f"({expected} bytes), more than a {length}-byte gzip file can hold; "
                        "the file is truncated or corrupt")
    if hasher is not None:
        hasher.update(head)
        hasher.update(dims_raw)
    try:
        array = np.empty(dims, dtype=file_dtype.newbyteorder("="))
    except ValueError as exc:  # more than 64 dimensions, or sizes whose product overflows
        raise DataError(f"{name}: the header describes a {ndim}-dimensional {file_dtype.name} "
                        f"array that NumPy cannot hold ({exc}); the file is corrupt") from None
    except MemoryError:
        raise DataError(f"{name}: not enough memory for the {nbytes}-byte {shape} "
                        f"{file_dtype.name} array it holds") from None
    view = memoryview(array.reshape(-1).view(np.uint8))
    for start in range(0, nbytes, _CHUNK):
        chunk = view[start:start + _CHUNK]
        got = stream.readinto(chunk)
        if got < len(chunk):
            raise DataError(f"{name}: truncated IDX data: the header describes {nbytes} data "
                            f"bytes ({shape} {file_dtype.name}) but only {start + got} follow")
        if hasher is not None:
            hasher.update(chunk)
    if stream.readinto(memoryview(bytearray(1))):
        raise DataError(f"{name}: trailing bytes after the {nbytes} data bytes that the header "
                        f"describes ({shape} {file_dtype.name}); the file is corrupt")
    if file_dtype.itemsize > 1 and sys.byteorder == "little":
        array.byteswap(inplace=True)  # file order is big-endian; the array is native
    return array


def _read_source(source: Source, hasher=None) -> np.ndarray:
    name = _describe(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = memoryview(source).cast("B")
        gzipped = bytes(data[:2]) == GZIP_MAGIC
        handle: BinaryIO = io.BytesIO(source if isinstance(source, bytes) else bytes(data))
        stream = _stream(handle, name, gzipped)
        return _read(stream, name, len(data), gzipped, hasher)
    try:
        with open(source, "rb") as handle:
            length = os.fstat(handle.fileno()).st_size
            gzipped = handle.read(2) == GZIP_MAGIC
            handle.seek(0)
            stream = _stream(handle, name, gzipped)
            return _read(stream, name, length, gzipped, hasher)
    except FileNotFoundError:
        raise DataError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{name}: is a directory, not an IDX file") from None
    except OSError as exc:
        raise DataError(f"{name}: cannot read the file ({exc.strerror or exc})") from None


def read_idx(source: Source) -> np.ndarray:
    """Read an IDX file (path, or the file's bytes), gzipped or not, into a native array.

    Shapes: an ``idx3`` file of N images of H x W gives an (N, H, W) array; ``idx1`` labels
    give (N,). The dtype follows the file's dtype code (uint8 for MNIST).
    """
    return _read_source(source)


def read_idx_sha256(source: Source) -> tuple[np.ndarray, str]:
    """:func:`read_idx` plus the SHA-256 (hex) of the *uncompressed* IDX bytes, in one pass."""
    hasher = hashlib.sha256()
    array = _read_source(source, hasher)
    return array, hasher.hexdigest()


def _header(array: np.ndarray) -> tuple[bytes, np.dtype]:
    dtype = array.dtype
    code = _KIND_TO_CODE.get((dtype.kind, dtype.itemsize))
    if code is None or dtype.kind == "b":
        raise DataError(f"cannot write a {dtype.name} array as IDX: the format stores uint8, "
                        "int8, int16, int32, float32 and float64; convert it first, e.g. "
                        "array.astype(np.int32)")
    if array.ndim > 255:
        raise DataError(f"cannot write a {array.ndim}-dimensional array as IDX (at most 255)")
    if any(d > 0xFFFFFFFF for d in array.shape):
        raise DataError(f"cannot write shape {array.shape} as IDX: each size must fit in 32 bits")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header, CODE_TO_DTYPE[code]


def encode_idx(array: np.ndarray) -> bytes:
    """The uncompressed IDX bytes of ``array`` (header + big-endian data)."""
    array = np.asarray(array)
    header, file_dtype = _header(array)
    return header + np.ascontiguousarray(array, dtype=file_dtype).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` to ``path`` as IDX, atomically (temporary file, fsync, rename).

    ``compress``: gzip the file; ``None`` (default) gzips when the name ends in ``.gz``. The
    gzip header carries no timestamp, so the same array always gives the same bytes.
    """
    array = np.asarray(array)
    header, file_dtype = _header(array)
    data = np.ascontiguousarray(array, dtype=file_dtype).reshape(-1).view(np.uint8)
    if compress is None:
        compress = Path(path).name.lower().endswith(".gz")
    with atomic_write(path, "wb") as handle:
        out = gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=0) if compress else handle
        out.write(header)
        view = memoryview(data)
        for start in range(0, len(view), _CHUNK):
            out.write(view[start:start + _CHUNK])
        if compress:
            out.close()  # writes the gzip trailer; the underlying handle stays open

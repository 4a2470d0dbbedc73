"""IDX reader and writer: round trips for every dtype and several ranks, every malformed case."""

from __future__ import annotations

import gzip
import hashlib
import struct
import time
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from barenet import DataError
from barenet.datasets.idx import (
    CODE_TO_DTYPE,
    encode_idx,
    read_idx,
    read_idx_sha256,
    write_idx,
)

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
SHAPES = [(), (0,), (7,), (3, 4), (2, 3, 5), (2, 1, 3, 2), (0, 28, 28)]


def _sample(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "ui" else None
    if info is not None:
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    return rng.standard_normal(shape).astype(dtype) * 1e3


def _header(code: int, dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


# ------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("suffix", ["idx", "idx.gz"])
def test_round_trip_every_dtype_and_rank(tmp_path, dtype, shape, suffix):
    a = _sample(dtype, shape)
    path = tmp_path / f"a.{suffix}"
    write_idx(path, a)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == suffix.endswith(".gz")
    b = read_idx(path)
    assert b.shape == a.shape and b.dtype == a.dtype and b.dtype.isnative
    np.testing.assert_array_equal(a, b)
    assert b.flags.writeable
    np.testing.assert_array_equal(read_idx(path.read_bytes()), a)  # bytes source too


@pytest.mark.parametrize("dtype", [">i2", "<i2", ">f8", "<f4"])
def test_any_byte_order_is_written_big_endian_and_read_native(tmp_path, dtype):
    a = np.arange(-3, 9, dtype=dtype).reshape(3, 4)
    write_idx(tmp_path / "a.idx", a)
    raw = (tmp_path / "a.idx").read_bytes()
    assert raw[2] == {"i2": 0x0B, "f8": 0x0E, "f4": 0x0D}[np.dtype(dtype).str[1:]]
    assert raw[12:] == a.astype(np.dtype(dtype).newbyteorder(">")).tobytes()
    b = read_idx(raw)
    assert b.dtype.isnative
    np.testing.assert_array_equal(a, b)


def test_header_layout_matches_the_mnist_spec():
    a = np.zeros((2, 28, 28), np.uint8)
    raw = encode_idx(a)
    assert raw[:4] == b"\x00\x00\x08\x03"
    assert struct.unpack(">3I", raw[4:16]) == (2, 28, 28)
    assert len(raw) == 16 + 2 * 28 * 28


def test_gzip_is_detected_by_magic_not_by_name(tmp_path):
    a = np.arange(12, dtype=np.int32).reshape(3, 4)
    write_idx(tmp_path / "plain.gz", a, compress=False)
    write_idx(tmp_path / "packed.idx", a, compress=True)
    assert (tmp_path / "packed.idx").read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.gz"), a)
    np.testing.assert_array_equal(read_idx(tmp_path / "packed.idx"), a)


def test_gzip_output_is_deterministic(tmp_path):
    a = np.arange(100, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", a)
    first = (tmp_path / "a.gz").read_bytes()
    time.sleep(0.01)
    write_idx(tmp_path / "a.gz", a)
    assert (tmp_path / "a.gz").read_bytes() == first


def test_multi_member_gzip_is_read(tmp_path):
    raw = encode_idx(np.arange(1000, dtype=np.int16))
    data = gzip.compress(raw[:700], mtime=0) + gzip.compress(raw[700:], mtime=0)
    np.testing.assert_array_equal(read_idx(data), np.arange(1000, dtype=np.int16))


def test_sha256_is_of_the_uncompressed_bytes(tmp_path):
    a = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    raw = encode_idx(a)
    write_idx(tmp_path / "a.gz", a)
    arr, digest = read_idx_sha256(tmp_path / "a.gz")
    assert digest == hashlib.sha256(raw).hexdigest()
    np.testing.assert_array_equal(arr, a)


def test_write_is_atomic_and_replaces(tmp_path):
    path = tmp_path / "a.idx"
    write_idx(path, np.zeros(3, np.uint8))
    write_idx(path, np.ones(5, np.uint8))
    np.testing.assert_array_equal(read_idx(path), np.ones(5, np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.idx"]


@pytest.mark.parametrize("dtype", [np.int64, np.uint16, np.bool_, np.complex64, np.float16])
def test_write_refuses_types_idx_cannot_hold(tmp_path, dtype):
    with pytest.raises(DataError, match="IDX"):
        write_idx(tmp_path / "a.idx", np.zeros(3, dtype))
    assert not (tmp_path / "a.idx").exists()


# ------------------------------------------------------------------------------ malformed input


def _err(source, match):
    with pytest.raises(DataError, match=match):
        read_idx(source)


def test_bad_magic():
    _err(b"\x01\x00\x08\x01\x00\x00\x00\x00", "bad magic")
    _err(b"PK\x03\x04" + bytes(20), "bad magic")


def test_unsupported_dtype_code():
    _err(_header(0x0A, (1,)) + b"\x00", "unsupported IDX dtype code 0x0A")
    _err(_header(0xFF, (1,)) + b"\x00", "unsupported")


def test_too_short_and_truncated_header():
    _err(b"", "too short")
    _err(b"\x00\x00\x08", "too short")
    _err(b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated IDX header")


def test_truncated_data_and_trailing_bytes_uncompressed():
    full = encode_idx(np.zeros((2, 3, 4), np.int32))
    _err(full[:-1], "truncated")
    _err(full + b"\x00", "trailing")


def test_error_names_the_file(tmp_path):
    path = tmp_path / "broken-images-idx3-ubyte"
    path.write_bytes(encode_idx(np.zeros((2, 3), np.uint8))[:-2])
    with pytest.raises(DataError, match="broken-images-idx3-ubyte"):
        read_idx(path)


def test_header_sizes_checked_before_allocating():
    # 2^32-1 x 2^32-1 float64 = 147 exabytes claimed by a 20-byte input: must not allocate.
    _err(_header(0x0E, (0xFFFFFFFF, 0xFFFFFFFF)) + b"\x00" * 4, "truncated")
    # Same claim in a gzip file: more than deflate's 1032:1 ratio can hold.
    _err(gzip.compress(_header(0x0E, (0xFFFFFFFF, 0xFFFFFFFF))), "cannot hold|more than")


def test_gzip_truncated_data():
    full = gzip.compress(encode_idx(np.arange(5000, dtype=np.int32)))
    _err(full[: len(full) // 2], "truncated")
    _err(full[:-4], "truncated")  # only the gzip trailer is missing


def test_gzip_payload_shorter_or_longer_than_header():
    raw = encode_idx(np.zeros((4, 4), np.uint8))
    _err(gzip.compress(raw[:-1]), "truncated")
    _err(gzip.compress(raw + b"\x07"), "trailing")


def test_gzip_corrupt_stream_and_bad_crc():
    packed = bytearray(gzip.compress(encode_idx(np.arange(4000, dtype=np.int32)), mtime=0))
    corrupt = bytearray(packed)
    corrupt[len(corrupt) // 2] ^= 0xFF
    _err(bytes(corrupt), "corrupt gzip|truncated|trailing|IDX")
    bad_crc = bytearray(packed)
    bad_crc[-8] ^= 0x01  # the CRC32 field of the trailer
    _err(bytes(bad_crc), "corrupt gzip")


def test_garbage_after_gzip_stream():
    packed = gzip.compress(encode_idx(np.zeros(3, np.uint8)))
    _err(packed + b"garbage", "after the end of the gzip")
    _err(packed + b"\x1f", "after the end of the gzip")


@pytest.mark.slow
def test_decompression_bomb_is_not_expanded():
    # Header says 16 bytes; the gzip stream then expands to 200 MB of zeros. The reader must
    # stop after one extra byte instead of inflating everything.
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [comp.compress(_header(0x08, (16,)) + bytes(16))]
    zeros = bytes(1 << 20)
    parts += [comp.compress(zeros) for _ in range(200)]
    bomb = b"".join(parts) + comp.flush()
    assert len(bomb) < 1_000_000
    start = time.perf_counter()
    _err(bomb, "trailing")
    assert time.perf_counter() - start < 0.5


def test_missing_file_and_directory(tmp_path):
    _err(tmp_path / "nope.idx", "no such file")
    _err(tmp_path, "directory")


# ------------------------------------------------------------------------------ properties


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=64))
def test_any_bytes_give_an_array_or_a_data_error(data):
    for source in (data, gzip.compress(data, mtime=0)):
        try:
            out = read_idx(source)
        except DataError:
            continue
        assert isinstance(out, np.ndarray)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=4, max_size=40), st.sampled_from(sorted(CODE_TO_DTYPE)),
       st.lists(st.integers(0, 5), max_size=4))
def test_plausible_headers_with_random_payloads(payload, code, dims):
    data = _header(code, tuple(dims)) + payload
    for source in (data, gzip.compress(data, mtime=0), gzip.compress(data)[:-3]):
        try:
            out = read_idx(source)
        except DataError:
            continue
        assert out.shape == tuple(dims)


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(st.sampled_from(DTYPES), hnp.array_shapes(min_dims=0, max_dims=4,
                                                            min_side=0, max_side=5)),
       st.booleans())
def test_round_trip_property(array, compress):
    raw = encode_idx(array)
    source = gzip.compress(raw, mtime=0) if compress else raw
    back = read_idx(source)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)

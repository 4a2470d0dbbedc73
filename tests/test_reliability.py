"""Reliability (issue 7): every bad input gives one clear line and exit 2, never a traceback;
divergence keeps the last good model; a full disk loses nothing; the loaders survive any
bytes without over-allocating; nothing barenet loads can run code.

docs/reliability.md lists each bad input with the test that covers it.
"""

from __future__ import annotations

import errno
import gzip
import io as stdio
import json
import os
import pickle
import struct
import subprocess
import sys
import tokenize
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import barenet
from barenet import fileio
from barenet.checkpoint import load_checkpoint, save_checkpoint
from barenet.cli import main
from barenet.config import make_config, read_toml
from barenet.datasets import load_npz, load_path, read_idx
from barenet.datasets.idx import CODE_TO_DTYPE, encode_idx
from barenet.errors import BarenetError, DataError
from barenet.files.safe_read import MAX_DEFLATE_RATIO
from barenet.images import load_inputs
from barenet.io import load_model, save_model
from barenet.runner import train_run, write_run

SRC = Path(barenet.__file__).parent
ROLES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
         "t10k-labels-idx1-ubyte")
TRAIN = ["--layers", "4", "--epochs", "1", "--batch-size", "5", "--val-fraction", "0", "--quiet"]


# ============================================================================= helpers
def run_cli(args, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, fragment: str = "") -> str:
    """Exit 2, exactly one stderr line ``barenet: error: ...`` containing ``fragment``."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("barenet: error: "), err
    assert fragment in lines[0], lines[0]
    return lines[0]


def idx_set(directory: Path, **files: bytes | np.ndarray) -> Path:
    """A small MNIST-format set (30 train, 10 test images of 6 x 6, 3 classes); keyword
    arguments named after a file (``train_images_idx3_ubyte=...``) replace it (bytes or array)."""
    rng = np.random.default_rng(0)
    arrays = {ROLES[0]: rng.integers(0, 256, (30, 6, 6), dtype=np.uint8),
              ROLES[1]: (np.arange(30) % 3).astype(np.uint8),
              ROLES[2]: rng.integers(0, 256, (10, 6, 6), dtype=np.uint8),
              ROLES[3]: (np.arange(10) % 3).astype(np.uint8)}
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        content = files.get(name.replace("-", "_"), array)
        if isinstance(content, np.ndarray):
            content = encode_idx(content)
        (directory / name).write_bytes(content)
    return directory


def idx_header(code: int, dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


def npy_bytes(shape: tuple[int, ...], descr: str, payload: bytes) -> bytes:
    """A .npy file whose header claims ``shape`` and ``descr``, followed by ``payload``."""
    buf = stdio.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue() + payload


def zip_with(path: Path, members: dict[str, bytes], source: Path | None = None,
             compression: int = zipfile.ZIP_STORED) -> Path:
    """A zip (an .npz) holding ``source``'s members, replaced or added from ``members``."""
    with zipfile.ZipFile(path, "w", compression) as zout:
        if source is not None:
            with zipfile.ZipFile(source) as zin:
                for info in zin.infolist():
                    if info.filename not in members:
                        zout.writestr(info.filename, zin.read(info))
        for name, data in members.items():
            zout.writestr(name, data)
    return path


def put(path: Path, data: bytes | str) -> Path:
    """Write ``data`` (bytes, or text) to ``path``; return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)
    return path


def digits(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n) % 10


def npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def png_claiming(width: int, height: int) -> bytes:
    """A PNG header announcing width x height grey pixels, with almost no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(64)))
            + chunk(b"IEND", b""))


def peak_bytes(call: Callable[[], object]) -> int:
    """Peak traced allocation (bytes) while ``call`` runs; barenet errors are expected."""
    outer = tracemalloc.is_tracing()
    if not outer:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        call()
    except BarenetError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1] - base
        if not outer:
            tracemalloc.stop()
    return peak


@pytest.fixture(scope="module")
def model_run(tmp_path_factory) -> Path:
    """A tiny trained 10-class MNIST run (model.npz, config.toml, ...), read-only."""
    out = tmp_path_factory.mktemp("model") / "run"
    config = make_config({}, per_class=10, layers=[8], epochs=1, val_fraction=0.0, batch_size=10)
    train_run(config, out=out)
    return out


# ============================================================================= bad data files
def _idx_cases() -> dict[str, tuple[Callable[[Path], Path], str]]:
    good = encode_idx(np.random.default_rng(0).integers(0, 256, (30, 6, 6), dtype=np.uint8))
    packed = bytearray(gzip.compress(good, mtime=0))
    packed[-8] ^= 0x01  # the CRC32 of the gzip trailer
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = comp.compress(idx_header(0x08, (30,)) + bytes(30))
    bomb += b"".join(comp.compress(bytes(1 << 20)) for _ in range(50)) + comp.flush()
    nan = np.zeros((30, 6, 6), np.float32)
    nan[3, 2, 2] = np.nan
    noise = np.random.default_rng(1).integers(0, 256, 300, dtype=np.uint8).tobytes()
    return {
        "idx-bad-magic": (lambda d: idx_set(d, train_images_idx3_ubyte=b"\x01\x02" + good[2:]),
                          "bad magic"),
        "idx-bad-dtype-code": (lambda d: idx_set(d, train_images_idx3_ubyte=b"\0\0\x0a" + good[3:]),
                               "unsupported IDX dtype code 0x0A"),
        "idx-truncated-header": (lambda d: idx_set(d, train_images_idx3_ubyte=good[:10]),
                                 "truncated IDX header"),
        "idx-truncated-data": (lambda d: idx_set(d, train_images_idx3_ubyte=good[:-7]),
                               "truncated"),
        "idx-trailing-bytes": (lambda d: idx_set(d, train_images_idx3_ubyte=good + b"\0"),
                               "trailing bytes"),
        "idx-oversized-header": (lambda d: idx_set(
            d, train_images_idx3_ubyte=idx_header(0x0E, (0xFFFFFFFF,) * 3) + bytes(64)),
            "truncated"),
        "idx-oversized-header-gz": (lambda d: idx_set(
            d, train_images_idx3_ubyte=gzip.compress(idx_header(0x0E, (0xFFFFFFFF,) * 3))),
            "more than a"),
        "idx-65-dimensions": (lambda d: idx_set(d, train_images_idx3_ubyte=idx_header(8, (0,) * 65)),
                              "NumPy cannot hold"),
        "gzip-garbage": (lambda d: idx_set(d, train_images_idx3_ubyte=b"\x1f\x8b\x08\x00" + noise),
                         "gzip"),
        "gzip-bad-crc": (lambda d: idx_set(d, train_images_idx3_ubyte=bytes(packed)),
                         "corrupt gzip"),
        "gzip-garbage-after-the-end": (lambda d: idx_set(
            d, train_images_idx3_ubyte=gzip.compress(good) + b"garbage"), "after the end of the gzip"),
        "gzip-decompression-bomb": (lambda d: idx_set(d, train_labels_idx1_ubyte=bomb),
                                    "trailing bytes"),
        "idx-wrong-rank": (lambda d: idx_set(d, train_images_idx3_ubyte=np.zeros((30, 6, 6, 3),
                                                                                 np.uint8)),
                           "(N, H, W)"),
        "idx-nan-pixels": (lambda d: idx_set(d, train_images_idx3_ubyte=nan), "0..255, got nan"),
        "idx-labels-out-of-range": (lambda d: idx_set(
            d, train_labels_idx1_ubyte=np.full(30, 10**9, np.int32)), "class indices 0..999"),
        "idx-labels-negative": (lambda d: idx_set(d, train_labels_idx1_ubyte=np.full(30, -1, np.int8)),
                                ">= 0"),
        "idx-label-count": (lambda d: idx_set(d, train_labels_idx1_ubyte=np.zeros(29, np.uint8)),
                            "30 train images but 29 train labels"),
        "idx-empty-data-set": (lambda d: idx_set(d, train_images_idx3_ubyte=np.zeros((0, 6, 6), np.uint8),
                                                 train_labels_idx1_ubyte=np.zeros(0, np.uint8)),
                               "holds no images"),
        "idx-no-files": (lambda d: (d.mkdir(), d)[1], "no MNIST-format training files"),
    }


def _npz_cases() -> dict[str, tuple[Callable[[Path], Path], str]]:
    x, y = digits()
    obj = np.empty(40, dtype=object)
    obj[:] = [{"run": "code"}] * 40
    return {
        "npz-pickled-objects": (lambda d: npz(d / "a.npz", x=obj, y=y), "pickled Python objects"),
        "npz-huge-member": (lambda d: zip_with(d / "a.npz", {
            "x.npy": npy_bytes((10**5, 10**5), "<f8", bytes(64)), "y.npy": npy_bytes((1,), "|u1", b"\0")}),
            "declares 80000000000 bytes"),
        "npz-not-a-zip": (lambda d: put(d / "a.npz", "x,y\n1,2\n"), "not a NumPy .npz archive"),
        "npz-single-npy": (lambda d: put(d / "a.npz", npy_bytes((2,), "<f8", bytes(16))),
                           "a single .npy array"),
        "npz-truncated": (lambda d: put(d / "a.npz", npz(d / "b.npz", x=x, y=y).read_bytes()[:5000]),
                          "corrupt or truncated"),
        "npz-wrong-keys": (lambda d: npz(d / "a.npz", images=x, labels=y), "expected the keys"),
        "npz-wrong-shape": (lambda d: npz(d / "a.npz", x=x.reshape(40, -1)[:, :700], y=y),
                            "not a square"),
        "npz-rgb-images": (lambda d: npz(d / "a.npz", x=np.stack([x] * 3, axis=-1), y=y),
                           "(N, H, W)"),
        "npz-complex-dtype": (lambda d: npz(d / "a.npz", x=x.astype(np.complex64), y=y),
                              "must be numbers"),
        "npz-string-dtype": (lambda d: npz(d / "a.npz", x=x.astype(str), y=y), "must be numbers"),
        "npz-nan-pixels": (lambda d: npz(d / "a.npz", x=np.where(x > 250, np.nan, x), y=y),
                           "0..255, got nan"),
        "npz-inf-pixels": (lambda d: npz(d / "a.npz", x=np.where(x > 250, np.inf, x), y=y),
                           "inf"),
        "npz-pixels-above-255": (lambda d: npz(d / "a.npz", x=x.astype(np.int32) * 2, y=y), "0..255"),
        "npz-fractional-pixels": (lambda d: npz(d / "a.npz", x=x / 255.0, y=y), "multiply by 255"),
        "npz-labels-negative": (lambda d: npz(d / "a.npz", x=x, y=y - 5), ">= 0"),
        "npz-labels-out-of-range": (lambda d: npz(d / "a.npz", x=x, y=np.where(y == 3, 10**9, y)),
                                    "class indices 0..999"),
        "npz-labels-fractional": (lambda d: npz(d / "a.npz", x=x, y=y + 0.5), "whole numbers"),
        "npz-labels-nan": (lambda d: npz(d / "a.npz", x=x, y=np.where(y == 1, np.nan, y)),
                           "whole numbers"),
        "npz-labels-2d": (lambda d: npz(d / "a.npz", x=x, y=np.zeros((40, 10))), "shape (N,)"),
        "npz-label-count": (lambda d: npz(d / "a.npz", x=x, y=y[:39]), "40 images but y has 39"),
        "npz-empty-data-set": (lambda d: npz(d / "a.npz", x=x[:0], y=y[:0]), "holds no images"),
        "npz-empty-test-split": (lambda d: npz(d / "a.npz", x_train=x, y_train=y, x_test=x[:0],
                                               y_test=y[:0]), "test split holds no images"),
        "missing-path": (lambda d: d / "nowhere.npz", "no such file"),
    }


DATA_CASES = {**_idx_cases(), **_npz_cases()}


@pytest.mark.parametrize("case", list(DATA_CASES))
def test_train_refuses_bad_data_with_one_line(case, tmp_path, capsys):
    build, fragment = DATA_CASES[case]
    data = build(tmp_path / "data") if case.startswith(("idx", "gzip")) else build(tmp_path)
    code, _, err = run_cli(["train", "--data", data, *TRAIN, "--out", tmp_path / "run"], capsys)
    assert_one_line_error(code, err, fragment)
    assert not (tmp_path / "run" / "model.npz").exists()


def test_pickled_data_is_refused_without_unpickling(tmp_path, capsys):
    x, y = digits()
    obj = np.empty(40, dtype=object)
    obj[:] = [np.zeros((28, 28))] * 40
    for name, arrays in {"x": dict(x=obj, y=y), "y": dict(x=x, y=obj.copy()),
                         "class_names": dict(x=x, y=y, class_names=np.array(["a", 1], object))}.items():
        path = npz(tmp_path / f"{name}.npz", **arrays)
        with mock.patch.object(pickle, "load", side_effect=AssertionError("unpickled")), \
                mock.patch.object(pickle, "loads", side_effect=AssertionError("unpickled")):
            code, _, err = run_cli(["train", "--data", path, *TRAIN, "--out", tmp_path / "r"], capsys)
        assert f"array {name!r} holds pickled Python objects" in assert_one_line_error(code, err)


def test_digits_absent_from_the_data(tmp_path, capsys):
    data = idx_set(tmp_path / "d")
    code, _, err = run_cli(["train", "--data", data, "--digits", "1", "7", *TRAIN,
                            "--out", tmp_path / "r"], capsys)
    assert_one_line_error(code, err, "digit 7 does not occur")


# ============================================================================= bad model files
def _rewrite_model(src: Path, dst: Path, header: Callable[[dict], dict] | None = None,
                   **arrays: np.ndarray) -> Path:
    with np.load(src, allow_pickle=False) as archive:
        contents = {k: archive[k] for k in archive.files}
    if header is not None:
        h = header(json.loads(contents["header"].tobytes()))
        contents["header"] = np.frombuffer(json.dumps(h).encode(), np.uint8)
    contents.update(arrays)
    np.savez(dst, **contents)
    return dst


def _new_header(**changes) -> Callable[[dict], dict]:
    return lambda header: {**header, **changes}


MODEL_CASES: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    "newer-format-version": (lambda m, d: _rewrite_model(m, d / "m.npz", _new_header(format_version=2)),
                             "newer barenet"),
    "not-a-barenet-model": (lambda m, d: _rewrite_model(m, d / "m.npz", _new_header(format="keras")),
                            "is not a barenet model"),
    "truncated": (lambda m, d: put(d / "m.npz", m.read_bytes()[:3000]), "corrupt"),
    "text-file": (lambda m, d: put(d / "m.npz", "weights = 1\n"), "not an .npz archive"),
    "data-npz-as-model": (lambda m, d: npz(d / "m.npz", x=digits(2)[0], y=np.zeros(2)),
                          "no 'header' array"),
    "wrong-weight-shape": (lambda m, d: _rewrite_model(
        m, d / "m.npz", **{"layer1.W": np.zeros((5, 8), np.float32)}), "has shape (5, 8)"),
    "wrong-weight-dtype": (lambda m, d: _rewrite_model(
        m, d / "m.npz", **{"layer1.b": np.zeros(8, np.float64)}), "dtype float64"),
    "nan-weights": (lambda m, d: _rewrite_model(
        m, d / "m.npz", **{"layer2.b": np.full(10, np.nan, np.float32)}), "NaN or inf"),
    "pickled-weights": (lambda m, d: _rewrite_model(
        m, d / "m.npz", **{"layer2.b": np.array([{}], object)}), "pickled Python objects"),
    "huge-member": (lambda m, d: zip_with(
        d / "m.npz", {"layer1.W.npy": npy_bytes((10**6, 10**6), "<f4", bytes(64))}, source=m),
        "declares 4000000000000 bytes"),
    "missing": (lambda m, d: d / "absent.npz", "not found"),
}


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_bad_model_files_give_one_line(case, model_run, tmp_path, capsys):
    build, fragment = MODEL_CASES[case]
    path = build(model_run / "model.npz", tmp_path)
    code, _, err = run_cli(["info", path], capsys)
    assert_one_line_error(code, err, fragment)


@pytest.mark.parametrize("command", ["evaluate", "predict", "info"])
def test_every_command_refuses_a_newer_model_format(command, model_run, tmp_path, capsys):
    path = _rewrite_model(model_run / "model.npz", tmp_path / "new.npz",
                          _new_header(format_version=99))
    np.save(tmp_path / "x.npy", np.zeros((28, 28), np.uint8))
    extra = [tmp_path / "x.npy"] if command == "predict" else []
    code, _, err = run_cli([command, path, *extra], capsys)
    line = assert_one_line_error(code, err, "format 99")
    assert "upgrade barenet" in line


# ============================================================================= bad inputs to predict
def _seven() -> np.ndarray:
    a = np.zeros((40, 30), np.uint8)
    a[5:9, 5:25] = 255
    a[5:35, 20:25] = 255
    return a


def _save_png(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


def _npy(path: Path, array: np.ndarray, **kw) -> Path:
    np.save(path, array, **kw)
    return path


PREDICT_CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "text-file": (lambda d: put(d / "notes.txt", "hello\n"), "is not an image Pillow can read"),
    "pdf-named-png": (lambda d: put(d / "scan.png", b"%PDF-1.7\n%\xe2\xe3"),
                      "is not an image Pillow can read"),
    "truncated-png": (lambda d: put(d / "cut.png", _save_png(d / "ok.png", _seven()).read_bytes()[:60]),
                      "is not an image Pillow can read"),
    "decompression-bomb-png": (lambda d: put(d / "bomb.png", png_claiming(10000, 10000)),
                               "DecompressionBomb"),
    "huge-bomb-png": (lambda d: put(d / "bomb.png", png_claiming(30000, 30000)), "DecompressionBomb"),
    "blank-image": (lambda d: _save_png(d / "blank.png", np.full((28, 28), 200, np.uint8)), "has no ink"),
    "npy-nan-pixels": (lambda d: _npy(d / "x.npy", np.full((2, 28, 28), np.nan)), "NaN"),
    "npy-inf-pixels": (lambda d: _npy(d / "x.npy", np.full((28, 28), np.inf, np.float32)), "NaN or inf"),
    "npy-wrong-shape": (lambda d: _npy(d / "x.npy", np.zeros((5, 32, 32))), "expected (28, 28)"),
    "npy-wrong-dtype": (lambda d: _npy(d / "x.npy", np.zeros((28, 28), np.complex128)),
                        "pixels must be numbers"),
    "npy-pickled": (lambda d: _npy(d / "x.npy", np.array([{"a": 1}], object), allow_pickle=True),
                    "pickled"),
    "npy-truncated": (lambda d: put(d / "x.npy", _npy(d / "y.npy", digits(10)[0]).read_bytes()[:300]),
                      "is not a valid .npy file"),
    "npy-huge-header": (lambda d: put(d / "x.npy", npy_bytes((10**6, 10**6), "<f8", bytes(64))),
                        "truncated"),
    "npy-no-images": (lambda d: _npy(d / "x.npy", np.zeros((0, 784), np.uint8)), "holds no images"),
    "idx-labels-file": (lambda d: put(d / "l-idx1-ubyte", encode_idx(np.arange(5, dtype=np.uint8))),
                        "expected (28, 28)"),
    "idx-garbage-gzip": (lambda d: put(d / "x.gz", b"\x1f\x8b\x08\x00garbage"), "gzip"),
    "directory": (lambda d: d, "is a directory"),
    "missing": (lambda d: d / "absent.png", "no such file"),
}


@pytest.mark.parametrize("case", list(PREDICT_CASES))
def test_predict_refuses_bad_inputs_with_one_line(case, model_run, tmp_path, capsys):
    build, fragment = PREDICT_CASES[case]
    code, _, err = run_cli(["predict", model_run, build(tmp_path)], capsys)
    assert_one_line_error(code, err, fragment)


@pytest.mark.parametrize("build, fragment", [
    (lambda d: idx_set(d / "small"), "features per sample"),  # 6 x 6 images, a 784-input model
    (lambda d: npz(d / "a.npz", x=digits(26)[0], y=np.arange(26)), "labels must lie in 0..9"),
    (lambda d: npz(d / "a.npz", x=digits()[0][:0], y=np.zeros(0)), "holds no images"),
], ids=["wrong-image-size", "labels-beyond-the-model", "empty-data-set"])
def test_evaluate_refuses_mismatched_data(build, fragment, model_run, tmp_path, capsys):
    code, _, err = run_cli(["evaluate", model_run, "--data", build(tmp_path)], capsys)
    assert_one_line_error(code, err, fragment)


# ============================================================================= output and resume
@pytest.mark.parametrize("where, fragment", [
    ("under-a-file", "cannot create the run directory"),
    ("a-file", "cannot create the run directory"),
    ("/proc/barenet-run", "cannot create the run directory"),
    ("/proc", "--out /proc already holds a run (or other files)"),
], ids=["under-a-file", "a-file", "proc-subdir", "proc"])
def test_unwritable_output_directory(where, fragment, tmp_path, capsys):
    (tmp_path / "file").write_text("I am a regular file")
    out = {"under-a-file": tmp_path / "file" / "run", "a-file": tmp_path / "file"}.get(where, where)
    if str(out).startswith("/proc") and not Path("/proc/self").exists():
        pytest.skip("no /proc on this system")
    code, _, err = run_cli(["train", "--data", idx_set(tmp_path / "d"), *TRAIN, "--out", out], capsys)
    assert_one_line_error(code, err, fragment)
    assert (tmp_path / "file").read_text() == "I am a regular file"


def test_resume_from_a_damaged_checkpoint(model_run, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_bytes((model_run / "config.toml").read_bytes())
    code, _, err = run_cli(["train", "--resume", run, "--quiet"], capsys)
    assert_one_line_error(code, err, "no checkpoint at")
    state, arrays = load_checkpoint(model_run / "checkpoint.npz")
    for damage, fragment in [({"epoch": "abc"}, "damaged"), ({"history": [1]}, "damaged"),
                             ({"shuffle_rng": {"bit_generator": "MT"}}, "damaged"),
                             ({"format_version": 7}, "newer barenet")]:
        save_checkpoint(run / "checkpoint.npz", {**state, **damage}, arrays)
        code, _, err = run_cli(["train", "--resume", run, "--quiet"], capsys)
        assert_one_line_error(code, err, fragment)
    save_checkpoint(run / "checkpoint.npz", {k: v for k, v in state.items() if k != "epoch"}, arrays)
    assert_one_line_error(*run_cli(["train", "--resume", run, "--quiet"], capsys)[::2], "damaged")
    data = (model_run / "checkpoint.npz").read_bytes()
    (run / "checkpoint.npz").write_bytes(data[: len(data) // 2])
    assert_one_line_error(*run_cli(["train", "--resume", run, "--quiet"], capsys)[::2], "corrupt")


# ============================================================================= a full disk
class _FullHandle:
    """A file whose writes fail with ENOSPC after part of the data has landed."""

    def __init__(self, handle) -> None:
        self._handle = handle

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        self._handle.close()
        return False

    def write(self, data) -> int:
        self._handle.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class DiskFull:
    """Simulate a full disk inside :func:`barenet.fileio.atomic_write`: writing the file named
    ``name`` fails with ENOSPC once ``after`` writes of it have succeeded. Other files, and
    everything outside barenet.fileio, are untouched."""

    def __init__(self, monkeypatch, name: str, after: int = 0) -> None:
        self.name, self.after, self.writes, self.failures = name, after, 0, 0
        real_os, real_tempfile, pending = fileio.os, fileio.tempfile, {}
        disk = self

        class TempfileProxy:
            def __getattr__(self, attr):
                return getattr(real_tempfile, attr)

            def mkstemp(self, *args, **kwargs):
                fd, tmp = real_tempfile.mkstemp(*args, **kwargs)
                pending[fd] = Path(tmp).name
                return fd, tmp

        class OsProxy:
            def __getattr__(self, attr):
                return getattr(real_os, attr)

            def fdopen(self, fd, *args, **kwargs):
                handle = real_os.fdopen(fd, *args, **kwargs)
                if not pending.pop(fd, "").startswith(f".{disk.name}."):
                    return handle
                disk.writes += 1
                if disk.writes <= disk.after:
                    return handle
                disk.failures += 1
                return _FullHandle(handle)

        monkeypatch.setattr(fileio, "tempfile", TempfileProxy())
        monkeypatch.setattr(fileio, "os", OsProxy())


def _temporaries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_full_disk_while_checkpointing_keeps_the_previous_checkpoint(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    disk = DiskFull(monkeypatch, "checkpoint.npz", after=1)  # epoch 1 fits, epoch 2 does not
    code, _, err = run_cli(["train", "--per-class", "10", "--layers", "8", "--epochs", "3",
                            "--batch-size", "20", "--checkpoint-every", "1", "--quiet",
                            "--out", run], capsys)
    line = assert_one_line_error(code, err, "No space left on device")
    assert "checkpoint.npz" in line and disk.failures == 1
    assert _temporaries(run) == [] and not (run / "model.npz").exists()
    state, _ = load_checkpoint(run / "checkpoint.npz")
    assert state["epoch"] == 1  # the previous checkpoint survived, intact
    monkeypatch.undo()  # space freed: the run resumes from it and finishes
    train_run(make_config(read_toml(run / "config.toml")), out=run, resume=True)
    assert load_checkpoint(run / "checkpoint.npz")[0]["epoch"] == 3
    load_model(run / "model.npz")


@pytest.mark.parametrize("name", ["model.npz", "metrics.json", "config.toml"])
def test_full_disk_while_saving_the_run_keeps_the_old_files(name, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    recipe = ["--per-class", "10", "--layers", "8", "--epochs", "1", "--batch-size", "20",
              "--val-fraction", "0", "--quiet", "--out", run]
    config = make_config({}, per_class=10, layers=[8], epochs=1, batch_size=20, val_fraction=0.0, seed=1)
    result = train_run(config, out=run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    with monkeypatch.context() as patched:
        DiskFull(patched, name)
        with pytest.raises(BarenetError, match="No space left on device"):
            write_run(result, config, run)  # rewriting the run's files
    assert _temporaries(run) == []
    assert (run / name).read_bytes() == before[name]  # the old file, byte for byte
    if name == "model.npz":
        load_model(run / "model.npz")
    DiskFull(monkeypatch, name)  # a new run into the same directory, with --overwrite
    code, _, err = run_cli(["train", *recipe, "--overwrite"], capsys)
    assert_one_line_error(code, err, f"cannot write {run / name}: No space left on device")
    assert _temporaries(run) == []


def test_full_disk_in_the_library_save_model(tmp_path, monkeypatch):
    model = barenet.MLP([4, 3, 2], seed=0)
    path = save_model(tmp_path / "m.npz", model)
    before = path.read_bytes()
    DiskFull(monkeypatch, "m.npz")
    with pytest.raises(BarenetError, match="No space left on device"):
        save_model(path, barenet.MLP([4, 3, 2], seed=1))
    assert path.read_bytes() == before and _temporaries(tmp_path) == []


# ============================================================================= divergence
DIVERGE = ["--per-class", "20", "--layers", "16", "--hidden", "identity", "--output", "identity",
           "--loss", "squared_error", "--reduction", "sum", "--normalize", "none",
           "--optimizer", "sgd", "--val-fraction", "0", "--threads", "1", "--quiet"]  # one count:
# --threads auto may pick another count for the reference run on a busy machine (not bit-identical)


def test_divergence_in_the_first_epoch_stops_and_explains(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = run_cli(["train", *DIVERGE, "--lr", "10", "--epochs", "3", "--out", run], capsys)
    assert code == 1 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("barenet: training diverged: the loss became")
    assert "learning rate (10) is probably too large" in lines[0]
    assert "no model to keep" in lines[0]
    assert not (run / "model.npz").exists()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["diverged"] is True and metrics["last_good_epoch"] == 0
    assert not metrics["model_saved"] and "diverged" in metrics["divergence"]


def test_divergence_keeps_the_model_of_the_last_good_epoch(tmp_path, capsys):
    # lr x 10000 every epoch: epochs 1 and 2 are finite, epoch 3 overflows
    recipe = [*DIVERGE, "--lr", "1e-9", "--schedule", "step(1,10000)", "--checkpoint-every", "1"]
    run = tmp_path / "run"
    code, _, err = run_cli(["train", *recipe, "--epochs", "4", "--out", run], capsys)
    assert code == 1 and "Traceback" not in err
    [line] = err.strip().splitlines()
    assert line.startswith("barenet: training diverged: the loss became inf at epoch 3")
    assert f"last good epoch (2) is saved in {run / 'model.npz'}" in line
    kept, _ = load_model(run / "model.npz")
    assert all(np.isfinite(w).all() for w in kept.get_weights())
    # bit-identical to a run that simply stopped after epoch 2
    config = make_config({}, per_class=20, layers=[16], hidden="identity", output="identity",
                         loss="squared_error", reduction="sum", normalize="none", optimizer="sgd",
                         val_fraction=0.0, lr=1e-9, schedule="step(1,10000)", epochs=2, threads=1)
    reference = train_run(config, write=False).model
    for a, b in zip(kept.get_weights(), reference.get_weights(), strict=True):
        assert np.array_equal(a, b)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["diverged"] and metrics["last_good_epoch"] == 2 and metrics["model_saved"]
    assert len(json.loads((run / "history.json").read_text())["epochs"]) == 2
    assert _temporaries(run) == []
    code, out, _ = run_cli(["evaluate", run, "--json"], capsys)  # the kept model is usable
    assert code == 0 and 0 <= json.loads(out)["accuracy"] <= 1


@pytest.mark.slow
def test_a_real_process_diverges_with_exit_1_and_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "barenet", "train", *DIVERGE, "--lr", "10",
                           "--epochs", "2", "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("barenet: training diverged")


@pytest.mark.slow
def test_a_real_process_refuses_pickled_data_and_non_images(tmp_path, model_run):
    obj = np.empty(2, dtype=object)
    obj[:] = [{"a": 1}, None]
    npz(tmp_path / "evil.npz", x=obj, y=np.arange(2))
    (tmp_path / "notes.png").write_text("not an image")
    for args in (["train", "--data", str(tmp_path / "evil.npz"), "--out", str(tmp_path / "r")],
                 ["predict", str(model_run), str(tmp_path / "notes.png")]):
        proc = subprocess.run([sys.executable, "-m", "barenet", *args], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("barenet: error: ")
        assert "Traceback" not in proc.stderr


# ============================================================================= properties
FUZZ = settings(max_examples=150, deadline=2000,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MiB = 1 << 20


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _idx_must_load_or_refuse(data: bytes) -> None:
    result: list[np.ndarray] = []
    peak = peak_bytes(lambda: result.append(read_idx(data)))
    gzipped = data[:2] == b"\x1f\x8b"
    allowed = (3 * MAX_DEFLATE_RATIO if gzipped else 2) * len(data) + MiB
    assert peak <= allowed, (peak, len(data))
    if result:
        assert isinstance(result[0], np.ndarray)


@FUZZ
@given(st.binary(max_size=256))
def test_idx_any_bytes(data):
    _idx_must_load_or_refuse(data)
    _idx_must_load_or_refuse(gzip.compress(data, mtime=0))


dims = st.lists(st.one_of(st.integers(0, 6), st.integers(0, 2**32 - 1)), max_size=70)


@FUZZ
@given(st.sampled_from(sorted(CODE_TO_DTYPE)), dims, st.binary(max_size=64),
       st.sampled_from(["raw", "gzip", "gzip-cut"]))
def test_idx_crafted_headers_never_over_allocate(code, shape, payload, packing):
    data = idx_header(code, tuple(shape)) + payload
    if packing != "raw":
        data = gzip.compress(data, mtime=0)
        data = data[:-3] if packing == "gzip-cut" else data
    _idx_must_load_or_refuse(data)


def _npz_must_load_or_refuse(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    allowed = 3 * MAX_DEFLATE_RATIO * len(data) + MiB
    with mock.patch.object(pickle, "load", side_effect=AssertionError("unpickled")), \
            mock.patch.object(pickle, "loads", side_effect=AssertionError("unpickled")):
        for loader in (load_npz, load_path):
            got: list[object] = []
            peak = peak_bytes(lambda: got.append(loader(path)))  # noqa: B023
            assert peak <= allowed, (peak, len(data))
            if got:
                assert isinstance(got[0], barenet.datasets.Dataset)


@pytest.fixture(scope="module")
def npz_samples() -> list[bytes]:
    x, y = digits(6)
    samples = []
    for save, arrays in [(np.savez, dict(x_train=x, y_train=y, x_test=x[:2], y_test=y[:2])),
                         (np.savez_compressed, dict(x=x.astype(np.float32), y=y,
                                                    class_names=np.array(list("abcdefghij"))))]:
        buf = stdio.BytesIO()
        save(buf, **arrays)
        samples.append(buf.getvalue())
    return samples


@FUZZ
@given(st.binary(max_size=512))
@pytest.mark.slow
def test_npz_any_bytes(fuzz_dir, data):
    _npz_must_load_or_refuse(fuzz_dir / "any.npz", data)
    _npz_must_load_or_refuse(fuzz_dir / "zip.npz", b"PK\x03\x04" + data)


@FUZZ
@given(st.integers(0, 1), st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
                                   min_size=1, max_size=8),
       st.one_of(st.none(), st.floats(0, 1)))
@pytest.mark.slow
def test_npz_corrupted_files(fuzz_dir, npz_samples, which, edits, cut):
    data = bytearray(npz_samples[which])
    for where, value in edits:
        data[int(where * len(data))] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    _npz_must_load_or_refuse(fuzz_dir / "mutated.npz", bytes(data))


npy_shapes = st.lists(st.one_of(st.integers(0, 30), st.integers(0, 2**40)), max_size=4)


@FUZZ
@given(npy_shapes, st.sampled_from(["|u1", "<f8", "<i4", ">f4", "|b1", "<U3"]),
       st.binary(max_size=128), st.booleans())
@pytest.mark.slow
def test_npz_crafted_member_headers_never_over_allocate(fuzz_dir, shape, descr, payload, deflate):
    path = fuzz_dir / "crafted.npz"
    member = npy_bytes(tuple(shape), descr, payload)
    zip_with(path, {"x.npy": member, "y.npy": npy_bytes((1,), "|u1", b"\x01")},
             compression=zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED)
    _npz_must_load_or_refuse(path, path.read_bytes())


@pytest.fixture(scope="module")
def model_bytes(fuzz_dir) -> bytes:
    model = barenet.MLP([6, 5, 3], dropout=0.2, seed=1)
    return save_model(fuzz_dir / "valid.npz", model, {"classes": ["a", "b", "c"]}).read_bytes()


def _model_must_load_or_refuse(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    got: list[object] = []
    with mock.patch.object(pickle, "load", side_effect=AssertionError("unpickled")), \
            mock.patch.object(pickle, "loads", side_effect=AssertionError("unpickled")):
        peak = peak_bytes(lambda: got.append(load_model(path)))
    assert peak <= 3 * MAX_DEFLATE_RATIO * len(data) + MiB, (peak, len(data))
    if got:
        assert isinstance(got[0][0], barenet.MLP)


@FUZZ
@given(st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1,
                max_size=8), st.one_of(st.none(), st.floats(0, 1)))
@pytest.mark.slow
def test_model_corrupted_files_never_over_allocate(fuzz_dir, model_bytes, edits, cut):
    data = bytearray(model_bytes)
    for where, value in edits:
        data[int(where * len(data))] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    _model_must_load_or_refuse(fuzz_dir / "mutated.npz", bytes(data))


@FUZZ
@given(npy_shapes, st.sampled_from(["<f4", "<f8", "|O", "<c16"]), st.binary(max_size=64),
       st.booleans())
@pytest.mark.slow
def test_model_crafted_member_headers_never_over_allocate(fuzz_dir, model_bytes, shape, descr,
                                                          payload, deflate):
    source = fuzz_dir / "source.npz"
    source.write_bytes(model_bytes)
    path = fuzz_dir / "crafted-model.npz"
    zip_with(path, {"layer1.W.npy": npy_bytes(tuple(shape), descr, payload)}, source=source,
             compression=zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED)
    _model_must_load_or_refuse(path, path.read_bytes())


@FUZZ
@given(st.binary(max_size=200), st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff",
                                                 b"\x93NUMPY", b"\x1f\x8b", b"\0\0\x08\x03", b"GIF89a"]))
def test_predict_inputs_any_bytes(fuzz_dir, data, prefix):
    path = fuzz_dir / "input.bin"
    path.write_bytes(prefix + data)
    try:
        x, names = load_inputs([path])
    except DataError:
        return
    assert x.dtype == np.uint8 and x.shape[1:] == (28, 28) and len(names) == len(x)


def test_crafted_huge_claims_allocate_almost_nothing(tmp_path):
    """80 GB claimed by a few hundred bytes: refused before any large allocation."""
    assert peak_bytes(lambda: read_idx(idx_header(0x0E, (0xFFFFFFFF,) * 3) + bytes(64))) < MiB
    assert peak_bytes(lambda: read_idx(gzip.compress(idx_header(0x08, (10**4, 10**4, 10))))) < MiB
    path = zip_with(tmp_path / "a.npz", {"x.npy": npy_bytes((10**5, 10**5), "<f8", bytes(64)),
                                         "y.npy": npy_bytes((1,), "|u1", b"\0")})
    with pytest.raises(DataError, match="declares"):
        load_npz(path)
    assert peak_bytes(lambda: load_npz(path)) < MiB
    (tmp_path / "b.npz").write_bytes(npy_bytes((10**5, 10**5), "<f8", bytes(64)))
    assert peak_bytes(lambda: load_path(tmp_path / "b.npz")) < MiB


# ============================================================================= no code execution
FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "cloudpickle", "dill", "joblib", "shelve",
                     "marshal", "copyreg"}
FORBIDDEN_CALLS = {"eval", "exec", "__import__"}


def _code_tokens(path: Path) -> list[tokenize.TokenInfo]:
    """The tokens of a Python file without its comments and string literals (docstrings)."""
    skip = {tokenize.COMMENT, tokenize.STRING, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
            tokenize.DEDENT, tokenize.ENCODING, tokenize.ENDMARKER}
    skip |= {getattr(tokenize, n) for n in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END")
             if hasattr(tokenize, n)}
    with open(path, "rb") as handle:
        return [t for t in tokenize.tokenize(handle.readline) if t.type not in skip]


def pickle_problems(path: Path) -> list[str]:
    """Ways ``path`` could load pickles or run code: importing pickle or a pickle-based
    loader, eval/exec, allow_pickle=True, np.load without an explicit allow_pickle=False,
    torch.load or yaml.load. Comments and string literals (docstrings) do not count."""
    tokens = _code_tokens(path)
    words = [t.string for t in tokens]
    problems = []
    for i, t in enumerate(tokens):
        line = f"{path.name}:{t.start[0]}"
        previous = words[i - 1] if i else ""
        following = words[i + 1] if i + 1 < len(words) else ""
        if t.type == tokenize.NAME and t.string in FORBIDDEN_MODULES and previous in (
                "import", "from", ",", "."):
            problems.append(f"{line} imports {t.string}")
        if t.string in FORBIDDEN_CALLS and following == "(" and previous != ".":
            problems.append(f"{line} calls {t.string}()")
        if t.string == "allow_pickle" and words[i + 1:i + 3] == ["=", "True"]:
            problems.append(f"{line} passes allow_pickle=True")
        if words[i:i + 4] in (["np", ".", "load", "("], ["numpy", ".", "load", "("]):
            depth, args = 0, []
            for word in words[i + 3:]:
                depth += {"(": 1, ")": -1}.get(word, 0)
                args.append(word)
                if depth == 0:
                    break
            explicit = any(args[k:k + 3] == ["allow_pickle", "=", "False"] for k in range(len(args)))
            if not explicit:
                problems.append(f"{line} calls np.load without allow_pickle=False")
        if words[i:i + 3] in (["torch", ".", "load"], ["yaml", ".", "load"],
                              ["yaml", ".", "unsafe_load"]):
            problems.append(f"{line} calls {''.join(words[i:i + 3])}")
    return problems


@pytest.mark.slow
def test_no_pickle_anywhere_in_the_source():
    """Nothing in src/barenet can unpickle or evaluate code: see :func:`pickle_problems`."""
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 20
    assert [problem for path in files for problem in pickle_problems(path)] == []


def test_the_source_scan_notices_pickle(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('"""pickle.load(f) and import pickle are fine in a docstring."""\n'
                   "import numpy as np  # import pickle: fine in a comment\n"
                   "import os, pickle\n"
                   "from joblib import load\n"
                   "x = np.load('a.npy', allow_pickle=True)\n"
                   "y = np.load('b.npy')\n"
                   "z = np.load('c.npy', allow_pickle=False)\n"
                   "eval('1 + 1')\n")
    assert sorted(pickle_problems(bad)) == [
        "bad.py:3 imports pickle", "bad.py:4 imports joblib",
        "bad.py:5 calls np.load without allow_pickle=False", "bad.py:5 passes allow_pickle=True",
        "bad.py:6 calls np.load without allow_pickle=False", "bad.py:8 calls eval()"]


def test_loading_everything_never_calls_pickle(model_run, tmp_path, capsys):
    x, y = digits(20)
    npz(tmp_path / "d.npz", x=x, y=y)
    np.save(tmp_path / "x.npy", x[:2])
    _save_png(tmp_path / "seven.png", _seven())
    with mock.patch.object(pickle, "load", side_effect=AssertionError("unpickled")), \
            mock.patch.object(pickle, "loads", side_effect=AssertionError("unpickled")), \
            mock.patch.object(pickle, "Unpickler", side_effect=AssertionError("unpickled")):
        load_model(model_run / "model.npz")
        load_checkpoint(model_run / "checkpoint.npz")
        load_npz(tmp_path / "d.npz")
        load_path(idx_set(tmp_path / "idx"))
        load_inputs([tmp_path / "x.npy", tmp_path / "seven.png"])
        assert run_cli(["evaluate", model_run, "--data", tmp_path / "d.npz", "--json"],
                       capsys)[0] == 0

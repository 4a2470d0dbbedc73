"""Tests for barenet.io: bit-identical save/load, atomic writes, and every malformed file
raising ModelFileError (including a hypothesis property over arbitrary bytes)."""

from __future__ import annotations

import io as stdio
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from barenet import MLP
from barenet.errors import BarenetError, DivergenceError, ModelFileError
from barenet.io import (
    FORMAT_VERSION,
    load_model,
    model_summary_dict,
    read_header,
    save_model,
)

ARCHS = [
    dict(sizes=[6, 5, 3], hidden="relu", output="softmax", dtype="float32"),
    dict(sizes=[6, 5, 3], hidden="relu", output="softmax", dtype="float64"),
    dict(sizes=[10, 8, 4, 1], hidden="tanh", output="sigmoid", dtype="float32", dropout=0.3),
    dict(sizes=[10, 8, 4, 1], hidden=["leaky_relu", "sigmoid"], output="sigmoid",
         dtype="float64", dropout=[0.5, 0.1], init=["uniform(-1,1)", "normal(0.1)", "he"]),
    dict(sizes=[4, 3], output="softmax", dtype="float64", bias_init=0.1, seed=None),
]


def _model(**kw) -> MLP:
    kw.setdefault("seed", 7)
    return MLP(**kw)


def _x(model: MLP, n: int = 9) -> np.ndarray:
    return np.random.default_rng(0).random((n, model.n_inputs)).astype(model.dtype)


@pytest.fixture
def saved(tmp_path) -> tuple[Path, MLP]:
    model = _model(**ARCHS[0])
    return save_model(tmp_path / "model.npz", model, {"loss": "cross_entropy"}), model


# ----------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: f"{a['sizes']}-{a['dtype']}")
def test_round_trip_is_bit_identical(tmp_path, arch):
    model = _model(**arch)
    classes = list(range(1, 1 + max(2, arch["sizes"][-1])))  # must match the outputs (checked)
    meta = {"loss": "cross_entropy", "classes": classes, "input_shape": [28, 28],
            "training": {"lr": 0.01, "epochs": 3}}
    path = save_model(tmp_path / "m.npz", model, meta)
    loaded, got = load_model(path)
    x = _x(model)
    assert np.array_equal(loaded.predict_proba(x), model.predict_proba(x))
    assert loaded.dtype == model.dtype
    assert loaded.config() == model.config()
    assert got == meta
    for a, b in zip(loaded.params(), model.params(), strict=True):
        assert a.name == b.name and a.value.dtype == b.value.dtype
        assert np.array_equal(a.value, b.value)
    # the generator state travels too: training-mode (dropout) passes continue identically
    assert np.array_equal(loaded.forward(x, training=True), model.forward(x, training=True))
    assert os.listdir(tmp_path) == ["m.npz"]  # no temporary file left behind


def test_header_layout(saved):
    path, model = saved
    with np.load(path, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["header", "layer1.W", "layer1.b", "layer2.W", "layer2.b"]
        header = json.loads(npz["header"].tobytes().decode("utf-8"))
        assert npz["header"].dtype == np.uint8 and npz["header"].ndim == 1
    assert header["format"] == "barenet-model"
    assert header["format_version"] == FORMAT_VERSION
    assert header["model"] == model.config()
    assert header["metadata"] == {"loss": "cross_entropy"}
    assert read_header(path) == header
    import barenet
    assert header["barenet_version"] == barenet.__version__


def test_suffix_is_added_when_missing(tmp_path):
    model = _model(**ARCHS[0])
    path = save_model(tmp_path / "run" / "model", model)
    assert path == tmp_path / "run" / "model.npz" and path.exists()
    loaded, meta = load_model(tmp_path / "run" / "model")  # finds model.npz
    assert meta == {} and loaded.config() == model.config()
    other = save_model(tmp_path / "model.weights", model)
    assert other.name == "model.weights"


def test_metadata_numpy_values_are_converted(tmp_path):
    meta = {"loss": np.float32(0.25), "n": np.int64(3), "ok": np.bool_(True),
            "classes": np.array([1, 5, 7]), "shape": (28, 28), "dir": tmp_path,
            "nested": {"mean": np.array([[0.5]])}}
    _, got = load_model(save_model(tmp_path / "m.npz", _model(**ARCHS[0]), meta))
    assert got == {"loss": 0.25, "n": 3, "ok": True, "classes": [1, 5, 7], "shape": [28, 28],
                   "dir": str(tmp_path), "nested": {"mean": [[0.5]]}}


@pytest.mark.parametrize("meta, match", [
    ({"loss": float("nan")}, "NaN"),
    ({"x": {1, 2}}, "set"),
    ({1: "a"}, "key"),
    ({"a": np.array(["x"], dtype=object)}, "dtype"),
    ([1, 2], "dict"),
])
def test_bad_metadata_raises_and_writes_nothing(tmp_path, meta, match):
    with pytest.raises(BarenetError, match=match):
        save_model(tmp_path / "m.npz", _model(**ARCHS[0]), meta)
    assert os.listdir(tmp_path) == []


def test_diverged_model_is_not_saved(tmp_path):
    model = _model(**ARCHS[0])
    model.params()[0].value[0, 0] = np.nan
    with pytest.raises(DivergenceError, match="layer1.W"):
        save_model(tmp_path / "m.npz", model)
    assert os.listdir(tmp_path) == []


def test_summary_dict():
    d = model_summary_dict(_model(**ARCHS[2]))
    json.dumps(d)
    assert d["n_params"] == 10 * 8 + 8 + 8 * 4 + 4 + 4 * 1 + 1
    assert [layer["type"] for layer in d["layers"]] == [
        "Dense", "Activation", "Dropout", "Dense", "Activation", "Dropout", "Dense", "Activation"]


# ----------------------------------------------------------------------------- atomicity
@pytest.mark.parametrize("error, raised", [(OSError(28, "No space left on device"), BarenetError),
                                           (RuntimeError("boom"), RuntimeError)])
def test_failing_write_keeps_the_old_file(saved, monkeypatch, error, raised):
    path, model = saved
    before = path.read_bytes()

    def broken_savez(handle, **arrays):
        handle.write(b"PK\x03\x04 half a zip")  # a partial write, then the failure
        raise error

    monkeypatch.setattr(np, "savez", broken_savez)
    other = _model(**ARCHS[1])
    with pytest.raises(raised):
        save_model(path, other)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]
    loaded, _ = load_model(path)
    assert np.array_equal(loaded.predict_proba(_x(model)), model.predict_proba(_x(model)))


# ----------------------------------------------------------------------------- malformed files
def _header(net: MLP, **changes) -> dict:
    h = {"format": "barenet-model", "format_version": 1, "barenet_version": "0.1.0",
         "model": net.config(), "metadata": {}}
    h.update(changes)
    return h


def _craft(path: Path, header: dict | bytes | None, arrays: dict[str, np.ndarray]) -> Path:
    """Write an .npz by hand: ``header`` as JSON (dict) or raw bytes, plus ``arrays``."""
    contents = dict(arrays)
    if header is not None:
        raw = header if isinstance(header, bytes) else json.dumps(header).encode()
        contents["header"] = np.frombuffer(raw, dtype=np.uint8)
    np.savez(path, **contents)
    return path


def _weights(model: MLP) -> dict[str, np.ndarray]:
    return {p.name: p.value.copy() for p in model.params()}


def _load_error(path: Path) -> str:
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_missing_file_and_directory(tmp_path):
    assert "no such model file" in _load_error(tmp_path / "nope.npz")
    assert "directory" in _load_error(tmp_path)


@pytest.mark.parametrize("content, match", [
    (b"", "not an .npz"),
    (b"hello, I am a text file\n", "not an .npz"),
    (b"PK\x03\x04garbage that is no zip", "corrupt"),
    (b"\x80\x04\x95pickle-looking bytes.", "not an .npz"),
])
def test_not_an_npz(tmp_path, content, match):
    path = tmp_path / "m.npz"
    path.write_bytes(content)
    assert match in _load_error(path)


def test_a_single_npy_is_refused(tmp_path):
    path = tmp_path / "m.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros((10**3,)))
    assert ".npy" in _load_error(path)


def test_truncated_file(saved):
    path, _ = saved
    data = path.read_bytes()
    for cut in (len(data) // 3, len(data) - 30):
        path.write_bytes(data[:cut])
        assert "corrupt" in _load_error(path) or "truncated" in _load_error(path)


def test_header_problems(tmp_path):
    model = _model(**ARCHS[0])
    w = _weights(model)
    cases = {
        "no 'header'": _craft(tmp_path / "a.npz", None, w),
        "not valid UTF-8": _craft(tmp_path / "b.npz", b"\xff\xfe{", w),
        "not valid JSON": _craft(tmp_path / "c.npz", b'{"format": ', w),
        "not a barenet model": _craft(tmp_path / "d.npz", _header(model, format="keras"), w),
        "newer barenet (format 2": _craft(tmp_path / "e.npz", _header(model, format_version=2), w),
        "invalid format_version": _craft(tmp_path / "f.npz", _header(model, format_version="1"), w),
        "no 'model'": _craft(tmp_path / "g.npz", _header(model, model=None), w),
        "'metadata'": _craft(tmp_path / "h.npz", _header(model, metadata=[1]), w),
        "JSON object": _craft(tmp_path / "i.npz", b"[1, 2]", w),
    }
    for match, path in cases.items():
        msg = _load_error(path)
        assert match in msg, msg
    assert "upgrade barenet" in _load_error(cases["newer barenet (format 2"])
    deep = _craft(tmp_path / "j.npz", b"[" * 100_000, w)
    assert "JSON" in _load_error(deep)
    two_d = tmp_path / "k.npz"
    np.savez(two_d, header=np.zeros((2, 2), np.uint8), **w)
    assert "malformed header" in _load_error(two_d)


def test_array_set_problems(tmp_path):
    model = _model(**ARCHS[0])
    h = _header(model)
    w = _weights(model)
    missing = {k: v for k, v in w.items() if k != "layer2.b"}
    assert "lacks the arrays layer2.b" in _load_error(_craft(tmp_path / "a.npz", h, missing))
    extra = {**w, "layer3.W": np.zeros((3, 3), np.float32)}
    assert "layer3.W" in _load_error(_craft(tmp_path / "b.npz", h, extra))
    shape = {**w, "layer1.W": np.zeros((5, 6), np.float32)}
    assert "shape (5, 6)" in _load_error(_craft(tmp_path / "c.npz", h, shape))
    dtype = {**w, "layer1.b": w["layer1.b"].astype(np.float64)}
    assert "dtype float64" in _load_error(_craft(tmp_path / "d.npz", h, dtype))
    nan = {**w, "layer2.W": np.full_like(w["layer2.W"], np.inf)}
    assert "NaN or inf" in _load_error(_craft(tmp_path / "e.npz", h, nan))


def test_pickled_object_array_is_refused_without_unpickling(tmp_path, monkeypatch):
    import pickle

    model = _model(**ARCHS[0])
    w = {**_weights(model), "layer1.W": np.array([{"evil": 1}, None], dtype=object)}
    path = _craft(tmp_path / "m.npz", _header(model), w)

    def no_unpickling(*args, **kwargs):
        raise AssertionError("load_model tried to unpickle")

    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(pickle, "loads", no_unpickling)
    msg = _load_error(path)
    assert "pickled" in msg and "layer1.W" in msg


@pytest.mark.parametrize("change, match", [
    ({"sizes": [10**12, 5, 10**12]}, "shape"),
    ({"sizes": [6, -5, 3]}, "sizes"),
    ({"sizes": "6,5,3"}, "sizes"),
    ({"hidden": ["nope"]}, "cannot build"),
    ({"hidden": "relu"}, "'hidden'"),
    ({"output": 3}, "'output'"),
    ({"dropout": [1.5]}, "cannot build"),
    ({"dtype": "float16"}, "'dtype'"),
    ({"init": ["bogus(", "he"]}, "initializer"),
    ({"seed": "x"}, "'seed'"),
])
def test_bad_model_config(tmp_path, change, match):
    model = _model(**ARCHS[0])
    cfg = {**model.config(), **change}
    path = _craft(tmp_path / "m.npz", _header(model, model=cfg), _weights(model))
    assert match in _load_error(path)


def test_bad_rng_state(tmp_path):
    model = _model(**ARCHS[0])
    path = _craft(tmp_path / "m.npz", _header(model, rng_state={"bit_generator": "nope"}),
                  _weights(model))
    assert "rng_state" in _load_error(path)


def _npy_bytes(shape: tuple[int, ...], descr: str, payload: bytes) -> bytes:
    buf = stdio.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + payload


def test_member_claiming_a_huge_array_is_refused_before_allocation(tmp_path, saved):
    """An .npy header inside the zip may claim any shape; it must match the bytes present."""
    src, _ = saved
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "layer1.W.npy":
                data = _npy_bytes((10**6, 10**6), "<f4", b"\0" * 64)
            zout.writestr(info.filename, data)
    assert "declares 4000000000000 bytes" in _load_error(path)


def test_foreign_members_and_compression(tmp_path, saved):
    src, model = saved
    odd = tmp_path / "odd.npz"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(odd, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
        zout.writestr("readme.txt", b"hi")
    assert "readme.txt" in _load_error(odd)
    # a deflated archive (np.savez_compressed) is fine
    deflated = tmp_path / "deflated.npz"
    with np.load(src) as npz:
        np.savez_compressed(deflated, **{k: npz[k] for k in npz.files})
    loaded, _ = load_model(deflated)
    assert np.array_equal(loaded.predict_proba(_x(model)), model.predict_proba(_x(model)))
    bz = tmp_path / "bz.npz"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(bz, "w", zipfile.ZIP_BZIP2) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
    assert "unsupported compression" in _load_error(bz)


# ----------------------------------------------------------------------------- properties
@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def valid_bytes(fuzz_dir) -> bytes:
    return save_model(fuzz_dir / "valid.npz", _model(**ARCHS[2]), {"a": 1}).read_bytes()


def _must_load_or_refuse(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        model, meta = load_model(path)
    except ModelFileError:
        return
    assert isinstance(model, MLP) and isinstance(meta, dict)


_FUZZ = settings(max_examples=50, deadline=2000)


@_FUZZ
@given(data=st.binary(max_size=512))
def test_arbitrary_bytes_load_or_raise_model_file_error(fuzz_dir, data):
    _must_load_or_refuse(fuzz_dir / "any.npz", data)


@_FUZZ
@given(data=st.binary(max_size=512))
def test_zip_looking_bytes_load_or_raise_model_file_error(fuzz_dir, data):
    _must_load_or_refuse(fuzz_dir / "zip.npz", b"PK\x03\x04" + data)


@_FUZZ
@given(edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
                      min_size=1, max_size=6),
       cut=st.one_of(st.none(), st.floats(0, 1)))
def test_corrupted_model_files_load_or_raise_model_file_error(fuzz_dir, valid_bytes, edits, cut):
    data = bytearray(valid_bytes)
    for where, value in edits:
        data[int(where * len(data))] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    _must_load_or_refuse(fuzz_dir / "mutated.npz", bytes(data))


def test_save_model_names_its_argument_order(tmp_path):
    import barenet as bn
    from barenet.errors import BarenetError

    model = bn.MLP([4, 3], seed=0)
    swapped = r"save_model\(path, model\) takes the path first.*MLP and PosixPath"
    with pytest.raises(BarenetError, match=swapped):
        bn.save_model(model, tmp_path / "m.npz")
    assert not list(tmp_path.iterdir())

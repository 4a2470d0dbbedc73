"""Downloads against a local HTTP server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import shutil
import socket
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import barenet.datasets.loader as loader
import barenet.datasets.sources as sources
from barenet import DataError
from barenet.datasets import cache_dir, fetch, load_dataset, write_idx
from barenet.datasets.download import download


class _Handler(SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):
        self.requests.append(self.path)
        if self.path == "/short":  # promises 1000 bytes, sends 10, hangs up
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path, monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "www"
    root.mkdir()
    requests: list[str] = []
    handler = type("Handler", (_Handler,), {"requests": requests})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}", requests
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def dead_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens here any more


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BARENET_DATA", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# ------------------------------------------------------------------------------ cache_dir


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("BARENET_DATA", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("BARENET_DATA")
    assert cache_dir() == tmp_path / "xdg" / "barenet"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "barenet"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == tmp_path / "home" / ".cache" / "barenet"
    assert not (tmp_path / "home").exists()  # not created just by asking


# ------------------------------------------------------------------------------ download


def test_download_success_with_checksums(server, tmp_path, capsys):
    root, url, _ = server
    payload = bytes(range(256)) * 4000
    (root / "blob.bin").write_bytes(payload)
    dest = tmp_path / "out" / "blob.bin"
    got = download(f"{url}/blob.bin", dest, sha256=hashlib.sha256(payload).hexdigest(),
                   md5=hashlib.md5(payload).hexdigest())
    assert got == dest and dest.read_bytes() == payload
    assert _leftovers(dest.parent) == ["blob.bin"]
    assert capsys.readouterr().err == ""  # no progress bar when stderr is not a terminal


def test_checksum_mismatch_leaves_no_file(server, tmp_path):
    root, url, _ = server
    (root / "blob.bin").write_bytes(b"the wrong content")
    dest = tmp_path / "out" / "blob.bin"
    with pytest.raises(DataError, match="checksum mismatch.*not saved"):
        download(f"{url}/blob.bin", dest, sha256="0" * 64)
    assert _leftovers(dest.parent) == []
    dest.write_bytes(b"old good file")
    with pytest.raises(DataError, match="checksum mismatch"):
        download(f"{url}/blob.bin", dest, md5="0" * 32)
    assert dest.read_bytes() == b"old good file"  # untouched
    assert _leftovers(dest.parent) == ["blob.bin"]


def test_uncompressed_checksum_and_match_any(server, tmp_path):
    root, url, _ = server
    raw = b"idx payload " * 1000
    (root / "a.gz").write_bytes(gzip.compress(raw, 1))
    good = hashlib.sha256(raw).hexdigest()
    download(f"{url}/a.gz", tmp_path / "a.gz", sha256_uncompressed=good)
    assert gzip.decompress((tmp_path / "a.gz").read_bytes()) == raw
    download(f"{url}/a.gz", tmp_path / "b.gz", md5="0" * 32, sha256_uncompressed=good,
             match="any")
    with pytest.raises(DataError, match="checksum mismatch"):
        download(f"{url}/a.gz", tmp_path / "c.gz", md5="0" * 32, sha256_uncompressed=good)
    (root / "plain").write_bytes(raw)
    with pytest.raises(DataError, match="gzip"):
        download(f"{url}/plain", tmp_path / "d.gz", sha256_uncompressed=good)
    assert not (tmp_path / "c.gz").exists() and not (tmp_path / "d.gz").exists()


def test_uncompressed_checksum_of_multi_member_highly_compressed_gzip(server, tmp_path):
    root, url, _ = server
    raw = bytes(5 << 20) + b"tail" + bytes(3 << 20)  # expands far beyond one network chunk
    (root / "z.gz").write_bytes(gzip.compress(raw[:100], 9) + gzip.compress(raw[100:], 9))
    download(f"{url}/z.gz", tmp_path / "z.gz", sha256_uncompressed=hashlib.sha256(raw).hexdigest())
    (root / "cut.gz").write_bytes(gzip.compress(raw, 9)[:-6])
    with pytest.raises(DataError, match="not complete gzip"):
        download(f"{url}/cut.gz", tmp_path / "cut.gz",
                 sha256_uncompressed=hashlib.sha256(raw).hexdigest())


def test_http_error(server, tmp_path):
    _, url, _ = server
    with pytest.raises(DataError, match="HTTP 404"):
        download(f"{url}/missing.gz", tmp_path / "missing.gz")
    assert not (tmp_path / "missing.gz").exists()


def test_server_down_is_a_clear_error(dead_url, tmp_path):
    with pytest.raises(DataError, match="cannot reach the server"):
        download(f"{dead_url}/x.gz", tmp_path / "x.gz", timeout=5)
    assert _leftovers(tmp_path) == []


def test_truncated_transfer(server, tmp_path):
    _, url, _ = server
    with pytest.raises(DataError, match="short|broke off|stopped"):
        download(f"{url}/short", tmp_path / "out" / "short", timeout=5)
    assert _leftovers(tmp_path / "out") == []


def test_progress_bar_on_a_terminal(server, tmp_path, monkeypatch):
    root, url, _ = server
    (root / "blob.bin").write_bytes(b"z" * 300_000)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    download(f"{url}/blob.bin", tmp_path / "blob.bin", progress=True)
    download(f"{url}/blob.bin", tmp_path / "quiet.bin", progress=False)
    assert (tmp_path / "blob.bin").stat().st_size == 300_000


# ------------------------------------------------------------------------------ fetch


def _publish_fake_set(root: Path, classes: int = 10) -> dict[str, np.ndarray]:
    """Write four small gz IDX files into ``root``; return the arrays by role."""
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
              "train_labels": (np.arange(40) % classes).astype(np.uint8),
              "test_images": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
              "test_labels": (np.arange(20) % classes).astype(np.uint8)}
    spec = sources.SOURCES["kmnist"]
    for f in spec.files:
        write_idx(root / f.filename, arrays[f.role])
    return arrays


def _spec_for(root: Path, name: str = "kmnist") -> sources.DatasetSpec:
    """The known spec with MD5s of the files published in ``root`` (as for the real KMNIST)."""
    spec = sources.SOURCES[name]
    files = tuple(dataclasses.replace(
        f, sha256=None, md5_gz=hashlib.md5((root / f.filename).read_bytes()).hexdigest())
        for f in spec.files)
    return dataclasses.replace(spec, files=files)


def test_fetch_tries_mirrors_in_order_into_the_cache(server, dead_url, cache, monkeypatch):
    root, url, requests = server
    arrays = _publish_fake_set(root)
    monkeypatch.setitem(sources.SOURCES, "kmnist", _spec_for(root))
    monkeypatch.setitem(sources.MIRRORS, "kmnist", [dead_url, url + "/"])
    target = fetch("kmnist", progress=False)
    assert target == cache / "kmnist"
    assert _leftovers(target) == sorted(f.filename for f in sources.SOURCES["kmnist"].files)
    ds = load_dataset("kmnist", progress=False)  # now served from the cache
    assert ds.name == "kmnist" and ds.class_names[:3] == ["o", "ki", "su"]
    np.testing.assert_array_equal(ds.x_train, arrays["train_images"])
    np.testing.assert_array_equal(ds.y_test, arrays["test_labels"])
    assert len(requests) == 4  # good cached files are not downloaded again


def test_load_dataset_downloads_a_missing_set(server, cache, monkeypatch):
    root, url, requests = server
    _publish_fake_set(root)
    monkeypatch.setitem(sources.SOURCES, "kmnist", _spec_for(root))
    monkeypatch.setitem(sources.MIRRORS, "kmnist", [url])
    ds = load_dataset("kmnist", progress=False)
    assert len(ds.x_train) == 40 and len(requests) == 4
    assert (cache / "kmnist" / "train-images-idx3-ubyte.gz").exists()


def test_fetch_replaces_a_corrupt_cached_file(server, cache, monkeypatch):
    root, url, requests = server
    _publish_fake_set(root)
    monkeypatch.setitem(sources.SOURCES, "kmnist", _spec_for(root))
    monkeypatch.setitem(sources.MIRRORS, "kmnist", [url])
    fetch("kmnist", progress=False)
    bad = cache / "kmnist" / "t10k-labels-idx1-ubyte.gz"
    write_idx(bad, np.zeros(20, np.uint8))
    fetch("kmnist", progress=False)
    assert requests[-1] == "/t10k-labels-idx1-ubyte.gz" and len(requests) == 5
    assert bad.read_bytes() == (root / bad.name).read_bytes()


def test_fetch_offline_explains_the_manual_route(dead_url, cache, monkeypatch):
    monkeypatch.setitem(sources.MIRRORS, "fashion-mnist", [dead_url])
    monkeypatch.setitem(sources.SYSTEM_DIRS, "fashion-mnist", [])
    with pytest.raises(DataError) as info:
        load_dataset("fashion-mnist", progress=False)
    message = str(info.value)
    assert "could not download Fashion-MNIST" in message and "cannot reach" in message
    assert "--data DIR" in message and "train-images-idx3-ubyte.gz" in message
    assert _leftovers(cache / "fashion-mnist") == []


def test_fetch_wrong_file_on_mirror_is_rejected(server, cache, monkeypatch):
    root, url, _ = server
    _publish_fake_set(root)
    monkeypatch.setitem(sources.MIRRORS, "kmnist", [url])  # real KMNIST checksums
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch("kmnist", progress=False)
    assert _leftovers(cache / "kmnist") == []


def test_mnist_download_when_the_package_copy_is_missing(server, cache, monkeypatch, tmp_path):
    root, url, _ = server
    for f in sources.SOURCES["mnist"].files:  # a mirror with a re-compressed official copy
        shutil.copy(sources.PACKAGE_DATA / f.filename, root / f.filename)
    monkeypatch.setattr(loader, "PACKAGE_DATA", tmp_path / "no-package-copy")
    monkeypatch.setitem(sources.MIRRORS, "mnist", [url])
    with pytest.raises(DataError, match="download=True"):
        load_dataset("mnist")  # MNIST never downloads unless asked
    ds = load_dataset("mnist", download=True, progress=False)
    assert ds.x_train.shape == (60000, 28, 28) and np.bincount(ds.y_test).tolist()[:2] == [980, 1135]
    assert ds.source == str(cache / "mnist")

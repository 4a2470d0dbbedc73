"""Data sets: built-in MNIST (verified, cached), directories, .npz files, digits8, load_dataset."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import shutil
import sys
import zipfile

import numpy as np
import pytest

import barenet.datasets.sources as sources
from barenet import DataError
from barenet.datasets import (
    DATASETS,
    Dataset,
    load_dataset,
    load_digits8,
    load_idx_directory,
    load_mnist,
    load_npz,
    read_idx,
    write_idx,
)
from barenet.datasets.idx import encode_idx

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_NAMES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def write_fake_set(directory, n_train=30, n_test=10, classes=3, names=None, gz=True, seed=0):
    """A small MNIST-format set; returns {role: (path, uncompressed sha256)}."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    names = names or [n if gz else n[:-3] for n in MNIST_NAMES]
    arrays = [rng.integers(0, 256, (n_train, 6, 6), dtype=np.uint8),
              (np.arange(n_train) % classes).astype(np.uint8),
              rng.integers(0, 256, (n_test, 6, 6), dtype=np.uint8),
              (np.arange(n_test) % classes).astype(np.uint8)]
    out = {}
    for role, name, a in zip(sources.ROLES, names, arrays, strict=True):
        write_idx(directory / name, a)
        out[role] = (directory / name, hashlib.sha256(encode_idx(a)).hexdigest())
    return out


# ------------------------------------------------------------------------------ MNIST


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


def test_mnist_shapes_dtypes_and_label_counts(mnist):
    assert mnist.name == "mnist" and mnist.pixel_max == 255
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_train.dtype == np.uint8
    assert mnist.x_test.shape == (10000, 28, 28) and mnist.x_test.dtype == np.uint8
    assert mnist.y_train.shape == (60000,) and mnist.y_train.dtype == np.uint8
    assert mnist.y_test.shape == (10000,) and mnist.y_test.dtype == np.uint8
    assert np.bincount(mnist.y_train).tolist() == TRAIN_COUNTS
    assert np.bincount(mnist.y_test).tolist() == TEST_COUNTS
    assert mnist.class_names == [str(i) for i in range(10)] and mnist.n_classes == 10
    assert mnist.image_shape == (28, 28)
    assert int(mnist.x_train.max()) == 255 and int(mnist.x_train.min()) == 0


def test_mnist_is_cached_and_read_only(mnist):
    again = load_mnist()
    assert again.x_train is mnist.x_train  # decoded once per process
    for a in (mnist.x_train, mnist.y_train, mnist.x_test, mnist.y_test):
        assert not a.flags.writeable
        with pytest.raises(ValueError):
            a[0] = 1
    assert load_dataset("mnist").x_test is mnist.x_test
    assert load_mnist(verify=False).x_train is mnist.x_train


def test_package_copy_has_attribution():
    text = (sources.PACKAGE_DATA / "README.md").read_text()
    assert "LeCun" in text and "Cortes" in text and "Attribution-Share Alike 3.0" in text


@pytest.fixture
def mnist_copy(tmp_path):
    for name in MNIST_NAMES:
        shutil.copy(sources.PACKAGE_DATA / name, tmp_path / name)
    return tmp_path


def test_tampered_copy_fails_verification_naming_the_file(mnist_copy):
    labels = gzip.decompress((mnist_copy / MNIST_NAMES[1]).read_bytes())
    tampered = bytearray(labels)
    tampered[100] = (tampered[100] + 1) % 10  # still a valid label file
    (mnist_copy / MNIST_NAMES[1]).write_bytes(gzip.compress(bytes(tampered)))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz.*checksum mismatch"):
        load_mnist(directory=mnist_copy)
    ds = load_mnist(verify=False, directory=mnist_copy)  # verification off: loads
    assert ds.y_train[92] == (load_mnist().y_train[92] + 1) % 10  # byte 100 = label 100 - 8


def test_recompressed_and_uncompressed_copies_pass(mnist_copy):
    # The checksum is of the uncompressed bytes: any gzip encoding (or none) is accepted.
    raw = gzip.decompress((mnist_copy / MNIST_NAMES[3]).read_bytes())
    (mnist_copy / MNIST_NAMES[3]).unlink()
    (mnist_copy / "t10k-labels-idx1-ubyte").write_bytes(raw)
    (mnist_copy / MNIST_NAMES[1]).write_bytes(
        gzip.compress(gzip.decompress((mnist_copy / MNIST_NAMES[1]).read_bytes()), 1))
    ds = load_mnist(directory=mnist_copy)
    assert np.bincount(ds.y_test).tolist() == TEST_COUNTS


def test_replaced_file_is_rejected(mnist_copy):
    write_idx(mnist_copy / MNIST_NAMES[2], np.zeros((10000, 28, 28), np.uint8))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz"):
        load_mnist(directory=mnist_copy)


def test_missing_package_copy_says_how_to_fix(monkeypatch, tmp_path):
    import barenet.datasets.mnist as mnist_module

    monkeypatch.setattr(mnist_module, "PACKAGE_DATA", tmp_path / "gone")
    with pytest.raises(DataError, match="reinstall barenet"):
        load_mnist()


# ------------------------------------------------------------------------------ directories


def test_directory_loader_reads_a_small_set(tmp_path):
    files = write_fake_set(tmp_path / "set")
    ds = load_idx_directory(tmp_path / "set")
    assert ds.name == "set" and ds.x_train.shape == (30, 6, 6) and ds.x_test.shape == (10, 6, 6)
    assert ds.class_names == ["0", "1", "2"]
    np.testing.assert_array_equal(ds.x_train, read_idx(files["train_images"][0]))
    assert not ds.x_train.flags.writeable


@pytest.mark.parametrize("names", [
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "test-images-idx3-ubyte",
     "test-labels-idx1-ubyte"],
    ["train-images.idx3-ubyte", "train-labels.idx1-ubyte", "t10k-images.idx3-ubyte",
     "t10k-labels.idx1-ubyte"],
    ["emnist-letters-train-images-idx3-ubyte.gz", "emnist-letters-train-labels-idx1-ubyte.gz",
     "emnist-letters-test-images-idx3-ubyte.gz", "emnist-letters-test-labels-idx1-ubyte.gz"],
])
def test_directory_loader_accepts_common_names(tmp_path, names):
    write_fake_set(tmp_path, names=names)
    ds = load_idx_directory(tmp_path)
    assert len(ds.x_train) == 30 and len(ds.x_test) == 10


def test_directory_without_test_split(tmp_path):
    write_fake_set(tmp_path)
    for name in MNIST_NAMES[2:]:
        (tmp_path / name).unlink()
    ds = load_idx_directory(tmp_path)
    assert ds.x_test is None and ds.y_test is None


def test_directory_errors(tmp_path):
    with pytest.raises(DataError, match="no such directory"):
        load_idx_directory(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        load_idx_directory(tmp_path / "empty")
    write_fake_set(tmp_path / "half")
    (tmp_path / "half" / MNIST_NAMES[3]).unlink()
    with pytest.raises(DataError, match="no test labels"):
        load_idx_directory(tmp_path / "half")


def test_directory_with_mismatched_counts(tmp_path):
    write_fake_set(tmp_path)
    write_idx(tmp_path / MNIST_NAMES[1], np.zeros(29, np.uint8))
    with pytest.raises(DataError, match="30 train images but 29 train labels"):
        load_idx_directory(tmp_path)


def test_directory_with_ambiguous_files(tmp_path):
    write_fake_set(tmp_path)
    write_idx(tmp_path / "other-train-images-idx3-ubyte", np.zeros((30, 6, 6), np.uint8))
    with pytest.raises(DataError, match="several files"):
        load_idx_directory(tmp_path)


def test_directory_prefers_the_uncompressed_twin(tmp_path):
    write_fake_set(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.full((30, 6, 6), 9, np.uint8))
    assert np.all(load_idx_directory(tmp_path).x_train == 9)


def test_directory_with_wrong_image_rank(tmp_path):
    write_fake_set(tmp_path)
    write_idx(tmp_path / MNIST_NAMES[0], np.zeros((30, 6, 6, 3), np.uint8))
    with pytest.raises(DataError, match=r"\(N, H, W\)"):
        load_idx_directory(tmp_path)


def test_directory_with_float_images_converts_whole_numbers(tmp_path):
    write_fake_set(tmp_path)
    write_idx(tmp_path / MNIST_NAMES[0], np.full((30, 6, 6), 200.0, np.float32))
    assert load_idx_directory(tmp_path).x_train.dtype == np.uint8
    write_idx(tmp_path / MNIST_NAMES[0], np.full((30, 6, 6), 0.5, np.float32))
    with pytest.raises(DataError, match="whole numbers"):
        load_idx_directory(tmp_path)


def test_load_dataset_data_directory_with_known_name(tmp_path):
    write_fake_set(tmp_path)
    ds = load_dataset("fashion-mnist", data=str(tmp_path))
    assert ds.name == "fashion-mnist" and ds.class_names == ["T-shirt/top", "Trouser", "Pullover"]
    ds = load_dataset(str(tmp_path))
    assert ds.class_names == ["0", "1", "2"]


def test_load_dataset_data_with_more_classes_than_the_name(tmp_path):
    write_fake_set(tmp_path, classes=26)
    ds = load_dataset("mnist", data=tmp_path)  # the CLI's default name with --data DIR
    assert ds.n_classes == 26


# ------------------------------------------------------------------------------ .npz


def test_npz_keras_layout(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
              "y_train": np.arange(20) % 10, "x_test": np.zeros((5, 28, 28), np.uint8),
              "y_test": np.arange(5, dtype=np.int64)}
    np.savez(tmp_path / "mnist.npz", **arrays)
    ds = load_dataset(str(tmp_path / "mnist.npz"))
    np.testing.assert_array_equal(ds.x_train, arrays["x_train"])
    assert ds.y_train.dtype == np.uint8 and ds.x_test.shape == (5, 28, 28)
    assert ds.name == "mnist" and ds.n_classes == 10
    assert not ds.x_train.flags.writeable


def test_npz_single_split_layout_and_flat_images(tmp_path):
    x = np.arange(4 * 784).reshape(4, 784) % 256
    np.savez_compressed(tmp_path / "pair.npz", x=x, y=np.array([1, 5, 5, 1]))
    ds = load_npz(tmp_path / "pair.npz")
    assert ds.x_train.shape == (4, 28, 28) and ds.x_test is None and ds.y_test is None
    assert ds.n_classes == 6


def test_npz_class_names_key(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((2, 4, 4), np.uint8), y=np.array([0, 1]),
             class_names=np.array(["cat", "dog"]))
    assert load_npz(tmp_path / "a.npz").class_names == ["cat", "dog"]


def test_npz_with_objects_is_refused(tmp_path):
    obj = np.empty(2, dtype=object)
    obj[0], obj[1] = np.zeros((2, 2)), "payload"
    np.savez(tmp_path / "evil.npz", x=obj, y=np.array([0, 1]))
    with pytest.raises(DataError, match="Python objects"):
        load_dataset(str(tmp_path / "evil.npz"))


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "keys.npz", images=np.zeros((2, 4, 4)), labels=np.zeros(2))
    with pytest.raises(DataError, match="expected the keys.*images, labels"):
        load_npz(tmp_path / "keys.npz")
    np.savez(tmp_path / "scaled.npz", x=np.full((2, 4, 4), 0.25), y=np.zeros(2))
    with pytest.raises(DataError, match="multiply by 255"):
        load_npz(tmp_path / "scaled.npz")
    np.savez(tmp_path / "len.npz", x=np.zeros((3, 4, 4), np.uint8), y=np.zeros(2, np.uint8))
    with pytest.raises(DataError, match="3 images but y has 2"):
        load_npz(tmp_path / "len.npz")
    np.savez(tmp_path / "half.npz", x_train=np.zeros((2, 4, 4), np.uint8), y_train=np.zeros(2),
             x_test=np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(DataError, match="x_test and y_test"):
        load_npz(tmp_path / "half.npz")
    np.savez(tmp_path / "neg.npz", x=np.zeros((2, 4, 4), np.uint8), y=np.array([0, -1]))
    with pytest.raises(DataError, match=">= 0"):
        load_npz(tmp_path / "neg.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(DataError, match="npz"):
        load_npz(tmp_path / "single.npy")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="junk.npz"):
        load_npz(tmp_path / "junk.npz")
    with pytest.raises(DataError, match="no such file"):
        load_npz(tmp_path / "absent.npz")


def test_npz_truncated_archive(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((50, 28, 28), np.uint8), y=np.zeros(50))
    data = (tmp_path / "a.npz").read_bytes()
    (tmp_path / "b.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="b.npz"):
        load_npz(tmp_path / "b.npz")
    assert zipfile.is_zipfile(tmp_path / "a.npz")


# ------------------------------------------------------------------------------ digits8


def test_digits8_split():
    ds = load_digits8()
    assert ds.name == "digits8" and ds.pixel_max == 16
    assert ds.x_train.shape == (1528, 8, 8) and ds.x_test.shape == (269, 8, 8)
    assert ds.x_train.dtype == np.uint8 and int(ds.x_train.max()) == 16
    assert np.bincount(ds.y_test).tolist() == [27, 27, 27, 27, 27, 27, 27, 27, 26, 27]
    again = load_dataset("digits8")
    np.testing.assert_array_equal(again.x_test, ds.x_test)  # always the same split


def test_digits8_without_sklearn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(DataError, match=r"pip install 'barenet\[sklearn\]'"):
        load_dataset("digits8")


# ------------------------------------------------------------------------------ load_dataset


def test_known_names_and_aliases():
    assert DATASETS == ("mnist", "fashion-mnist", "kmnist", "digits8")
    assert load_dataset("MNIST").name == "mnist"


def test_unknown_name(tmp_path):
    with pytest.raises(DataError, match="choose one of mnist, fashion-mnist"):
        load_dataset("cifar10")
    with pytest.raises(DataError, match="no such file"):
        load_dataset("mnist", data=tmp_path / "nowhere")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="not a directory of MNIST-format files"):
        load_dataset(str(tmp_path / "notes.txt"))


def _fake_spec(name, files):
    spec = sources.SOURCES[name]
    return dataclasses.replace(spec, files=tuple(
        sources.FileSpec(f.role, f.filename, files[f.role][1], None) for f in spec.files))


def test_fashion_from_the_system_directory(monkeypatch, tmp_path):
    files = write_fake_set(tmp_path / "fashion-mnist", classes=10)
    monkeypatch.setitem(sources.SYSTEM_DIRS, "fashion-mnist", [tmp_path / "fashion-mnist"])
    monkeypatch.setitem(sources.SOURCES, "fashion-mnist", _fake_spec("fashion-mnist", files))
    monkeypatch.setenv("BARENET_DATA", str(tmp_path / "cache"))
    ds = load_dataset("fashion", download=False)
    assert ds.name == "fashion-mnist" and ds.class_names[-1] == "Ankle boot"
    assert ds.source == str(tmp_path / "fashion-mnist")
    # A corrupt system copy is an error naming the file, not a silent fallback.
    write_idx(files["test_labels"][0], np.zeros(10, np.uint8))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz.*checksum mismatch"):
        load_dataset("fashion-mnist", download=False)


def test_fashion_missing_and_offline_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setitem(sources.SYSTEM_DIRS, "fashion-mnist", [tmp_path / "none"])
    monkeypatch.setenv("BARENET_DATA", str(tmp_path / "cache"))
    with pytest.raises(DataError, match="--data DIR"):
        load_dataset("fashion-mnist", download=False)


def test_dataset_validation():
    x = np.zeros((2, 3, 3), np.uint8)
    y = np.zeros(2, np.uint8)
    Dataset("ok", x, y, None, None, ["a"])
    with pytest.raises(DataError, match="uint8"):
        Dataset("bad", x.astype(np.float32), y, None, None, ["a"])
    with pytest.raises(DataError, match="both x_test and y_test"):
        Dataset("bad", x, y, x, None, ["a"])
    with pytest.raises(DataError, match="2 images but y_train has 3"):
        Dataset("bad", x, np.zeros(3, np.uint8), None, None, ["a"])
    with pytest.raises(DataError, match="class names"):
        Dataset("bad", x, np.array([0, 1], np.uint8), None, None, ["a"])
    with pytest.raises(DataError, match="pixel_max"):
        Dataset("bad", x, y, None, None, ["a"], pixel_max=0)


def test_a_files_classes_are_its_own_whatever_the_set_name(tmp_path):
    """A file of 3 labels makes 3 classes (not the named set's 10), and names in the file win
    over the set's names; the set only names labels the file left unnamed."""
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8), np.arange(30) % 3
    np.savez(tmp_path / "named.npz", x_train=x, y_train=y, class_names=np.array(["cat", "dog", "bird"]))
    np.savez(tmp_path / "plain.npz", x_train=x, y_train=y)
    for name in ("mnist", "fashion-mnist"):
        assert load_dataset(name, data=tmp_path / "named.npz").class_names == ["cat", "dog", "bird"]
    assert load_dataset("mnist", data=tmp_path / "plain.npz").class_names == ["0", "1", "2"]
    assert load_dataset("fashion-mnist", data=tmp_path / "plain.npz").class_names == [
        "T-shirt/top", "Trouser", "Pullover"]


def test_cli_trains_as_many_outputs_as_the_file_has_classes(tmp_path):
    from barenet.cli import main
    from barenet.export.native import load_model

    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 256, size=(60, 28, 28), dtype=np.uint8), np.arange(60) % 3
    np.savez(tmp_path / "three.npz", x_train=x, y_train=y, x_test=x[:12], y_test=y[:12],
             class_names=np.array(["cat", "dog", "bird"]))
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "three.npz"), "--epochs", "1", "--layers", "4",
                 "--batch-size", "16", "--threads", "1", "--out", str(out), "--quiet",
                 "--no-report"]) == 0
    model, meta = load_model(out / "model.npz")
    assert model.n_outputs == 3 and meta["classes"] == ["cat", "dog", "bird"]

"""Where the known data sets live: file names, checksums, class names, mirrors, system copies.

Checksums (see docs/data.md for where each one comes from):

* ``sha256``: SHA-256 of the *uncompressed* IDX file. For MNIST these are the official values;
  for Fashion-MNIST they were computed from Debian's ``dataset-fashion-mnist`` package.
* ``md5_gz``: MD5 of the ``.gz`` file as its publisher serves it (the values torchvision
  checks). Re-compressed copies (like the one inside barenet) have other ``.gz`` bytes, so a
  file is accepted when *either* checksum matches.

``MIRRORS`` and ``SYSTEM_DIRS`` are plain module-level dicts so that tests and users can point
them elsewhere (e.g. a local mirror).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROLES = ("train_images", "train_labels", "test_images", "test_labels")


@dataclass(frozen=True)
class FileSpec:
    """One of the four files of an MNIST-format data set."""

    role: str
    filename: str  # the published (gzipped) file name
    sha256: str | None = None  # of the uncompressed IDX bytes
    md5_gz: str | None = None  # of the published .gz bytes


@dataclass(frozen=True)
class DatasetSpec:
    """A known MNIST-format data set."""

    name: str
    title: str
    class_names: tuple[str, ...]
    files: tuple[FileSpec, ...]
    homepage: str
    license: str

    def file(self, role: str) -> FileSpec:
        return next(f for f in self.files if f.role == role)


def _files(sha: tuple, md5: tuple) -> tuple[FileSpec, ...]:
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    return tuple(FileSpec(r, n, s, m) for r, n, s, m in zip(ROLES, names, sha, md5, strict=True))


SOURCES: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        title="MNIST",
        class_names=tuple(str(i) for i in range(10)),
        files=_files(
            ("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
             "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
             "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
             "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
            ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
             "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
        ),
        homepage="http://yann.lecun.com/exdb/mnist/",
        license="Yann LeCun, Corinna Cortes and Christopher J.C. Burges; CC BY-SA 3.0",
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        title="Fashion-MNIST",
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                     "Sneaker", "Bag", "Ankle boot"),
        files=_files(
            ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
             "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
             "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
             "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
            ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
             "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
        ),
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        license="Zalando SE; MIT",
    ),
    "kmnist": DatasetSpec(
        name="kmnist",
        title="Kuzushiji-MNIST",
        class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        files=_files(
            (None, None, None, None),
            ("bdb82020997e1d708af4cf47b453dcf7", "e144d726b3acfaa3e44228e80efcd344",
             "5c965bf0a639b31b8f53240b1b52f4d7", "7320c461ea6c1c855c0b718fb2a4b134"),
        ),
        homepage="https://github.com/rois-codh/kmnist",
        license="ROIS-DS Center for Open Data in the Humanities; CC BY-SA 4.0",
    ),
}

# Base URLs tried in order; a file's URL is base + "/" + FileSpec.filename.
MIRRORS: dict[str, list[str]] = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist",
        "https://storage.googleapis.com/cvdf-datasets/mnist",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets",
    ],
    "kmnist": [
        "http://codh.rois.ac.jp/kmnist/dataset/kmnist",
    ],
}

# Directories where an operating-system package installs a data set (searched before the
# cache and before downloading).
SYSTEM_DIRS: dict[str, list[Path]] = {
    "fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")],  # Debian dataset-fashion-mnist
}

# Operating-system packages that provide a data set (named in "how to get it" messages).
SYSTEM_PACKAGES: dict[str, str] = {"fashion-mnist": "apt install dataset-fashion-mnist (Debian)"}

PACKAGE_DATA = Path(__file__).resolve().parent / "mnist"  # MNIST, shipped inside barenet

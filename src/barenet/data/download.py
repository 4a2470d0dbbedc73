"""Download data files into a cache directory, verified, atomically, with a progress bar.

* :func:`cache_dir`: ``$BARENET_DATA``, else ``$XDG_CACHE_HOME/barenet``, else
  ``~/.cache/barenet``.
* :func:`download`: one URL to one file. The bytes stream into a temporary file beside the
  destination while their checksums are computed; only when they match is the file renamed into
  place (:func:`barenet.fileio.atomic_write`), so a failed or corrupt download leaves nothing.
* :func:`fetch`: the four files of a known data set into ``cache_dir()/<name>``, trying the
  mirrors in :data:`barenet.datasets.sources.MIRRORS` in order.

Downloads happen only when asked for (``load_dataset(..., download=True)``), or for
Fashion-MNIST and KMNIST when no local copy exists. Offline, they fail with a
:class:`barenet.DataError` saying how to get the files by hand and use ``--data DIR``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import DataError
from ..files.atomic import atomic_write
from ..files.safe_read import GzipStream
from .sources import MIRRORS, SOURCES, SYSTEM_PACKAGES

if TYPE_CHECKING:
    import http.client

_CHUNK = 1 << 20
MAX_UNCOMPRESSED = 1 << 32  # a gzip download expanding past 4 GiB is refused (a bomb)


def cache_dir() -> Path:
    """Where downloads go: ``$BARENET_DATA``, ``$XDG_CACHE_HOME/barenet`` or ``~/.cache/barenet``.

    The directory is not created here.
    """
    env = os.environ.get("BARENET_DATA")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and Path(xdg).is_absolute():  # the XDG spec says to ignore relative paths
        return Path(xdg) / "barenet"
    return Path.home() / ".cache" / "barenet"


def _gunzipped_sha256(chunks: Iterator[bytes], url: str) -> str:
    """SHA-256 of the decompressed bytes of a gzip stream arriving in ``chunks`` (bounded memory)."""
    stream = GzipStream(lambda: next(chunks, b""), url, limit=MAX_UNCOMPRESSED)
    digest = hashlib.sha256()
    while piece := stream.read(_CHUNK):
        digest.update(piece)
    return digest.hexdigest()


def _chunks(response: http.client.HTTPResponse, url: str) -> Iterator[bytes]:
    """The response body in pieces; network errors become :class:`DataError` here (inside
    ``atomic_write`` an ``OSError`` would read as a disk problem)."""
    import http.client

    while True:
        try:
            chunk = response.read(_CHUNK)
        except (OSError, http.client.HTTPException) as exc:
            raise DataError(f"{url}: the download broke off ({type(exc).__name__}: "
                            f"{exc})") from None
        if not chunk:
            return
        yield chunk


def _saved(chunks: Iterator[bytes], handle: BinaryIO, hashers: Iterable[Any],
           advance: Callable[[int], None]) -> Iterator[bytes]:
    """``chunks`` passed through, each written to ``handle`` and fed to ``hashers`` first."""
    for chunk in chunks:
        handle.write(chunk)
        for h in hashers:
            h.update(chunk)
        advance(len(chunk))
        yield chunk


@contextlib.contextmanager
def _progress_bar(label: str, total: int | None, enabled: bool) -> Iterator:
    """A rich progress bar on stderr, or a no-op when disabled or stderr is not a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


def download(url: str, dest: str | os.PathLike, *, sha256: str | None = None,
             md5: str | None = None, sha256_uncompressed: str | None = None,
             match: str = "all", progress: bool = True, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest`` (atomically) and return ``dest``.

    Checksums, verified before the file is renamed into place: ``sha256`` and ``md5`` of the
    downloaded bytes, ``sha256_uncompressed`` of their gunzipped content. ``match="all"``
    requires every given checksum to match; ``match="any"`` at least one (a re-compressed
    mirror has other .gz bytes but the same content). On any failure ``dest`` is untouched and
    a :class:`barenet.DataError` says what went wrong.
    """
    if match not in ("all", "any"):
        raise ValueError(f"match must be 'all' or 'any', not {match!r}")
    dest = Path(dest)
    expected = {k: v.lower() for k, v in (("sha256", sha256), ("md5", md5),
                                         ("sha256 of the uncompressed data", sha256_uncompressed))
                if v}
    hashers = {"sha256": hashlib.sha256(), "md5": hashlib.md5(usedforsecurity=False)}
    import http.client  # the network modules load only when something is downloaded
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "barenet"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with atomic_write(dest, "wb") as handle, \
                    _progress_bar(dest.name, total, progress) as advance:
                chunks = _saved(_chunks(response, url), handle, hashers.values(), advance)
                got = {}
                if sha256_uncompressed:
                    got["sha256 of the uncompressed data"] = _gunzipped_sha256(chunks, url)
                for _ in chunks:  # the rest of the body (all of it without a gunzip checksum)
                    pass
                received = handle.tell()
                if total is not None and received != total:
                    raise DataError(f"{url}: the download stopped after {received} of {total} "
                                    "bytes")
                got.update({k: hashers[k].hexdigest() for k in ("sha256", "md5") if k in expected})
                ok = [got[k] == v for k, v in expected.items()]
                if expected and not (all(ok) if match == "all" else any(ok)):
                    detail = "; ".join(f"{k} {got[k]}, expected {v}" for k, v in expected.items())
                    raise DataError(f"{url}: checksum mismatch ({detail}); the file was not "
                                    "saved")
    except urllib.error.HTTPError as exc:
        raise DataError(f"{url}: the server answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DataError(f"{url}: cannot reach the server ({exc.reason}); check the network "
                        "connection") from None
    except (http.client.HTTPException, TimeoutError, ConnectionError) as exc:
        raise DataError(f"{url}: the download failed ({type(exc).__name__}: {exc})") from None
    except OSError as exc:
        raise DataError(f"{url}: the download failed ({exc.strerror or exc})") from None
    return dest


def manual_help(name: str, directory: Path, mirrors: Sequence[str]) -> str:
    """How to get data set ``name`` without barenet downloading it (for error messages)."""
    spec = SOURCES[name]
    files = ", ".join(f.filename for f in spec.files)
    where = f" from {mirrors[0]}" if mirrors else ""
    system = f"; or {SYSTEM_PACKAGES[name]}" if name in SYSTEM_PACKAGES else ""
    return (f"to get {spec.title} by hand, download {files}{where} on a machine with internet "
            f"access, copy them into a directory here and pass --data DIR "
            f"(load_dataset({name!r}, data=DIR)), or put them in {directory}{system}")


def fetch(name: str, *, directory: str | os.PathLike | None = None, progress: bool = True,
          timeout: float = 30.0, mirrors: Sequence[str] | None = None) -> Path:
    """Make sure the four files of data set ``name`` are in ``directory`` (default
    ``cache_dir() / name``), downloading the missing or corrupt ones; return the directory.

    Each file is tried from each mirror in turn (``mirrors``, default ``MIRRORS[name]``) and
    accepted when its .gz MD5 or its uncompressed SHA-256 matches the known value.
    """
    from .idxdir import check_file, read_idx_cached

    if name not in SOURCES:
        raise DataError(f"no download source for {name!r}; known: {', '.join(SOURCES)}")
    spec = SOURCES[name]
    target = Path(directory) if directory is not None else cache_dir() / name
    bases = list(mirrors if mirrors is not None else MIRRORS.get(name, []))
    for file in spec.files:
        dest = target / file.filename
        if dest.exists():
            try:
                _, digest = read_idx_cached(dest)
                check_file(dest, digest, file, spec.title, "")
                continue
            except DataError:
                pass  # corrupt or partial: download it again
        errors = []
        for base in bases:
            url = base.rstrip("/") + "/" + file.filename
            try:
                download(url, dest, md5=file.md5_gz, sha256_uncompressed=file.sha256,
                         match="any", progress=progress, timeout=timeout)
                break
            except DataError as exc:
                errors.append(str(exc))
        else:
            reasons = "; ".join(errors) or "no download mirror is configured"
            raise DataError(f"could not download {spec.title} ({reasons}); "
                            + manual_help(name, target, bases))
    return target

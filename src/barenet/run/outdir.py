"""Output directories of runs and searches: a new run never writes into another run's directory.

* Without ``--out`` a run gets ``runs/<YYYYmmdd-HHMMSS>``, created with ``os.mkdir`` (which
  fails when the name exists, atomically, even between processes); on a collision the next
  free suffix ``-2``, ``-3``, ... is taken. Runs started in the same second, or concurrently,
  each get their own directory.
* ``--out DIR`` that does not exist is created the same way. An existing empty directory is
  claimed by creating its ``config.toml`` exclusively (``O_CREAT | O_EXCL``), so two runs
  racing for it cannot both win.
* An existing non-empty ``--out`` is refused, unless ``overwrite``: then the files barenet
  writes into a run directory (:data:`RUN_FILES`, ``figures/*.png`` and barenet's temporary
  files) are removed first. A directory holding anything else is never cleared: it does not
  look like a run directory, and its files are not barenet's to delete.
* While a process writes a run (trains it, resumes it, writes its report) it holds the
  directory (:func:`hold_run_dir`: an exclusive advisory lock on the directory itself, which
  the operating system drops when the process ends, even by a crash). Another process that
  would write there, ``--overwrite`` and ``--resume`` included, is refused with one line
  instead of clearing or mixing a run that is still going.
"""

from __future__ import annotations

import errno
import os
from datetime import datetime
from pathlib import Path

from ..errors import BarenetError

#: Where runs go without ``--out``.
RUNS_ROOT = Path("runs")
CONFIG_NAME = "config.toml"
MODEL_NAME = "model.npz"
CHECKPOINT_NAME = "checkpoint.npz"
HISTORY_CSV = "history.csv"
HISTORY_JSON = "history.json"
METRICS_NAME = "metrics.json"
REPORT_NAME = "report.html"
PLAYGROUND_NAME = "playground.html"  #: written with the report, and by barenet export --format html
ONNX_NAME = "model.onnx"  #: barenet export --format onnx, by default
FIGURES_DIR = "figures"
#: The files ``barenet train`` and ``barenet report`` write at the top of a run directory.
RUN_FILES = (CONFIG_NAME, MODEL_NAME, CHECKPOINT_NAME, HISTORY_CSV, HISTORY_JSON,
             METRICS_NAME, REPORT_NAME, PLAYGROUND_NAME, ONNX_NAME)
#: The file whose exclusive creation claims a directory for one run.
CLAIM_FILE = CONFIG_NAME
#: Collisions tried before giving up on a timestamp name (a thousand runs in one second).
MAX_SUFFIX = 1000


def model_file(path: str | os.PathLike) -> Path:
    """The model file a path names: the file itself, or ``RUN/model.npz`` for a run directory."""
    p = Path(path)
    if p.is_dir():
        p = p / MODEL_NAME
    if not p.exists():
        raise BarenetError(f"model file {p} not found; give a model.npz file or a run directory")
    return p


def _is_temporary(name: str) -> bool:
    """A temporary file of :func:`barenet.files.atomic.atomic_write`: ``.<name>.<random>.tmp``."""
    return name.startswith(".") and name.endswith(".tmp")


def _cannot_create(path: Path, exc: OSError) -> BarenetError:
    return BarenetError(f"cannot create the run directory {path}: {exc.strerror or exc}; "
                        "choose a writable location with --out")


def _mkdir_new(path: Path) -> bool:
    """Create ``path`` (and its parents); False when it exists already."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(path)
    except FileExistsError:
        return False
    except OSError as exc:
        raise _cannot_create(path, exc) from None
    return True


def new_run_dir(root: Path = RUNS_ROOT, now: datetime | None = None, prefix: str = "") -> Path:
    """Create and return a fresh ``root/<prefix><timestamp>`` (``-2``, ``-3``, ... on a
    collision)."""
    stamp = prefix + (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    for n in range(1, MAX_SUFFIX + 1):
        path = root / (stamp if n == 1 else f"{stamp}-{n}")
        if _mkdir_new(path):
            return path
    raise BarenetError(f"{MAX_SUFFIX} runs already started in {root} this second; give --out")


def foreign_entries(path: Path) -> list[str]:
    """Names in ``path`` that barenet never writes into a run directory."""
    foreign = []
    for entry in sorted(path.iterdir()):
        if entry.name == FIGURES_DIR and entry.is_dir():
            foreign += [f"{FIGURES_DIR}/{f.name}" for f in sorted(entry.iterdir())
                        if not (f.is_file() and (f.suffix == ".png" or _is_temporary(f.name)))]
        elif not (entry.is_file() and (entry.name in RUN_FILES or _is_temporary(entry.name))):
            foreign.append(entry.name)
    return foreign


def clear_run_dir(path: Path) -> None:
    """Remove what an earlier run left in ``path``; refuse if it holds anything else."""
    foreign = foreign_entries(path)
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise BarenetError(f"--out {path} holds files barenet did not write ({shown}); "
                           "--overwrite clears only run directories; choose another --out")
    figures = path / FIGURES_DIR
    for entry in [*path.iterdir(), *(figures.iterdir() if figures.is_dir() else [])]:
        if entry.is_file():
            entry.unlink()
    if figures.is_dir():
        figures.rmdir()


def claim_search_dir(out: str | os.PathLike | None, claim_file: str) -> Path:
    """The directory of a new search: a fresh ``runs/search-<timestamp>``, or ``out`` when it
    is new or empty (claimed by creating ``claim_file`` exclusively); a non-empty ``out`` is
    refused before any trial runs."""
    if out is None:
        return new_run_dir(prefix="search-")
    path = Path(out)
    if not _mkdir_new(path) and path.is_dir() and any(path.iterdir()):
        raise BarenetError(f"--out {path} already holds files (an earlier search?); choose a new "
                           "directory")
    _claim(path, claim_file)
    return path


def _claim(path: Path, claim_file: str) -> None:
    """Create ``path / claim_file`` exclusively: only one run can win a directory."""
    try:
        os.close(os.open(path / claim_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except FileExistsError:
        raise BarenetError(f"--out {path} was just taken by another run; choose another "
                           "directory") from None
    except OSError as exc:
        raise _cannot_create(path, exc) from None


#: Directories this process holds: resolved path -> [the descriptor holding the lock, holds].
_HELD: dict[str, list[int]] = {}


def hold_run_dir(path: str | os.PathLike) -> Path:
    """Hold the run directory ``path`` for this process until :func:`release_run_dir` (or the
    process ends): an exclusive ``flock`` on the directory, refused with one line when another
    live process holds it. Holds nest: the lock goes with the last release. Where advisory locks do not exist
    (Windows), the exclusive creation of config.toml alone guards new directories."""
    path = Path(path)
    key = str(path.resolve())
    if key in _HELD:
        _HELD[key][1] += 1
        return path
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return path
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise _cannot_create(path, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
            return path  # a file system without locks (ENOLCK on some network mounts): go on
        raise BarenetError(f"{path} is in use by a barenet run that is still going (training, "
                           "resuming or writing its report); wait for it to end, or choose "
                           "another --out") from None
    _HELD[key] = [fd, 1]
    return path


def release_run_dir(path: str | os.PathLike) -> None:
    """Let go of a hold :func:`hold_run_dir` took (nothing if this process does not hold it)."""
    key = str(Path(path).resolve())
    held = _HELD.get(key)
    if held is None:
        return
    held[1] -= 1
    if held[1] == 0:
        del _HELD[key]
        os.close(held[0])


def claim_run_dir(out: str | os.PathLike | None, overwrite: bool = False) -> Path:
    """The directory a new run writes into, created or claimed for it alone (see module doc),
    and held by this process (:func:`hold_run_dir`)."""
    if out is None:
        return hold_run_dir(new_run_dir())
    path = Path(out)
    if _mkdir_new(path):
        return hold_run_dir(path)
    if not path.is_dir():
        raise BarenetError(f"cannot create the run directory {path}: it exists and is not a "
                           "directory; choose another --out")
    hold_run_dir(path)  # before looking inside: a run still writing there is never cleared
    try:
        _claim_existing(path, overwrite)
    except BaseException:
        release_run_dir(path)
        raise
    return path


def _claim_existing(path: Path, overwrite: bool) -> None:
    if any(path.iterdir()):
        if not overwrite:
            raise BarenetError(f"--out {path} already holds a run (or other files); choose a new "
                               "directory, or add --overwrite to replace the run in it")
        clear_run_dir(path)
    _claim(path, CLAIM_FILE)

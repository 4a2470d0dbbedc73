"""Run every bad-input case of docs/reliability.md's matrix and write the block of what barenet
answered (command, exit status, the exact message) into the page.

    PYTHONPATH=src python scripts/reliability_matrix.py            # regenerate the block
    PYTHONPATH=src python scripts/reliability_matrix.py --check    # exit 1 if the page is stale

Each case is a real ``python -m barenet`` process in a scratch directory (so the messages hold
short relative paths), with its address space capped at :data:`MEMORY_LIMIT` (a case that
would allocate tens of GiB fails instead of swapping the machine) and :data:`TIMEOUT` seconds.
The table is never typed: it is what the processes printed on stderr (the last line, and how
many lines there were). ``tests/test_reliability_matrix.py`` checks the recorded block.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from doc_block import write_block  # noqa: E402

PAGE = ROOT / "docs" / "reliability.md"
BLOCK = "bad-input-matrix"
SCRIPT = "scripts/reliability_matrix.py"
MEMORY_LIMIT = 6 << 30  #: bytes of address space per case
TIMEOUT = 180  #: seconds per case
#: Options that make any training a case starts finish in about a second (shown as "…").
FAST = ["--per-class", "5", "--layers", "8", "--epochs", "1", "--batch-size", "10",
        "--val-fraction", "0", "--threads", "1", "--quiet"]
#: The same for ``search`` (``…search`` in a case; shown as "…" too).
FAST_SEARCH = ["--per-class", "5", "--layers", "8", "--epochs", "1", "--batch-size", "10", "--quiet"]


@dataclass(frozen=True)
class Case:
    """One bad input: ``args`` of ``barenet`` (``…`` expands to :data:`FAST`), the exit status
    it must give (2 for a refusal; 0 for a warning, or for what used to be refused wrongly)
    and what the row is about."""

    what: str
    args: tuple[str, ...]
    exit: int = 2

    def argv(self) -> list[str]:
        out: list[str] = []
        for a in self.args:
            out += FAST if a == "…" else FAST_SEARCH if a == "…search" else [a]
        return out

    def command(self) -> str:
        shown = ["…" if a.startswith("…") else (f'"{a}"' if (" " in a or "(" in a) else a)
                 for a in self.args]
        return "barenet " + " ".join(shown)


CASES = [
    # silently wrong
    Case("evaluate a run trained on --data labels 200..209 on MNIST",
         ("evaluate", "run200", "--dataset", "mnist")),
    Case("evaluate on labels beyond the model's classes", ("evaluate", "run", "--data", "labels-0-300.npz")),
    Case("evaluate on data of another input size", ("evaluate", "run", "--data", "six-by-six.npz")),
    Case("negative learning rate in a schedule", ("train", "…", "--schedule", "cosine(-1)", "--out", "o1")),
    Case("fractional batch size in TOML (no --batch-size flag to override it)",
         ("train", "--config", "batch-12.5.toml", "--per-class", "5", "--layers", "8", "--epochs", "1",
          "--quiet", "--out", "o2")),
    Case("infinite learning rate", ("train", "…", "--lr", "inf", "--out", "o3")),
    Case("NaN decay in a schedule", ("train", "…", "--schedule", "exponential(nan)", "--out", "o4")),
    Case("NaN weight decay", ("train", "…", "--weight-decay", "nan", "--out", "o5")),
    Case("an output/loss pairing that cannot be meant",
         ("train", "…", "--output", "tanh", "--loss", "binary_cross_entropy", "--out", "o6")),
    Case("a test split holding classes the training split lacks (trained on 0..2, tested on 0..9)",
         ("train", "…", "--data", "train-0-2-test-0-9.npz", "--out", "o12")),
    Case("a cosine schedule that would climb: min_lr above the learning rate",
         ("train", "…", "--schedule", "cosine(1)", "--out", "o13")),
    Case("a warm-up as long as the whole run",
         ("train", "…", "--schedule", "warmup(1)+cosine", "--out", "o14")),
    Case("three class names on a one-output model", ("info", "three-names-one-output.npz")),
    Case("an input_shape that does not fit the model", ("info", "input-shape-5x5.npz")),
    Case("a 1 x 2 pixel PNG (a warning; the prediction still prints)", ("predict", "run", "tiny.png"), 0),
    Case("a blank 1 x 1 PNG (its error line only, no size warning before it)",
         ("predict", "run", "blank-1x1.png")),
    Case("MNIST-sized arrays for a model of the 8 x 8 digits", ("predict", "run8", "mnist-sized.npy")),
    Case("an image file for a model of the 8 x 8 digits (framed onto its grid; accepted)",
         ("predict", "run8", "digit.png"), 0),
    Case("resume after config.toml was edited (adam -> sgd)", ("train", "--resume", "edited")),
    # silently lost
    Case("--out of an existing run", ("train", "…", "--out", "run")),
    Case("--overwrite of a directory that is not a run", ("train", "…", "--overwrite", "--out", "thesis")),
    Case("--per-class 2: no validation sample",
         ("train", "--per-class", "2", "--epochs", "1", "--out", "o7")),
    # tracebacks
    Case("a model too large for memory", ("train", "…", "--layers", "10000000", "--out", "o8")),
    Case("--layers 10000000 in search", ("search", "…search", "--layers", "10000000", "--out", "s1")),
    Case("negative seed", ("train", "…", "--seed", "-1", "--out", "o9")),
    Case("negative seed in TOML", ("train", "…", "--config", "seed-minus-1.toml", "--out", "o10")),
    Case("negative seed in gradcheck", ("gradcheck", "--seed", "-1")),
    Case("negative seed in search", ("search", "…search", "--seed", "-1", "--out", "s2")),
    Case("a --config file that is not UTF-8", ("train", "…", "--config", "latin1.toml", "--out", "o11")),
    Case("a model header whose metadata.training is a string", ("info", "training-a-string.npz")),
    Case("report of a run whose history.json is a list", ("report", "history-a-list")),
    Case("inspect of a run whose history.json is a list", ("inspect", "history-a-list")),
    Case("diagnose of a run whose history.json is a list", ("diagnose", "history-a-list")),
    # messages that pointed the wrong way
    Case("evaluate on a data set that does not exist", ("evaluate", "run", "--dataset", "cifar")),
    Case("search --digits with a space, as train takes it (accepted: the search runs)",
         ("search", "…search", "--digits", "1", "5", "--batch-size", "4", "--lr", "0.01", "0.001",
          "--out", "s3"), 0),
    Case("a decompression bomb PNG", ("predict", "run", "bomb.png")),
    Case("an IDX file of 20 x 20 images given to predict", ("predict", "run", "images-20x20.idx")),
    Case("--resume of a directory that does not exist", ("train", "--resume", "/nonexistent/run")),
    Case("predict --top 0", ("predict", "run", "digit.png", "--top", "0")),
    Case("predict --top -1", ("predict", "run", "digit.png", "--top", "-1")),
    Case("inspect --top 0", ("inspect", "run", "--top", "0")),
    Case("gradcheck --tolerance -1", ("gradcheck", "--tolerance", "-1")),
    Case("search --random 0", ("search", "…search", "--random", "0", "--lr", "0.01", "0.001", "--out", "s4")),
    Case("search --val-fraction 0", ("search", "…search", "--val-fraction", "0", "--lr", "0.01", "0.001",
                                     "--out", "s5")),
]


# ============================================================================ the files the cases use
def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(64)))
            + chunk(b"IEND", b""))


def _labels200(path: Path) -> None:
    rng = np.random.default_rng(0)
    y_train, y_test = 200 + np.arange(200) % 10, 200 + np.arange(30) % 10
    x_train = (rng.random((200, 28, 28)) * 60 + 19 * (y_train - 200)[:, None, None]).astype(np.uint8)
    x_test = (rng.random((30, 28, 28)) * 60 + 19 * (y_test - 200)[:, None, None]).astype(np.uint8)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


def _barenet(work: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "barenet", *args], cwd=work, check=True)


def _tampered(work: Path) -> None:
    from barenet.data.preprocess import Normalizer
    from barenet.export.native import load_model, save_model
    from barenet.nn.model import MLP

    scaling = {"normalizer": Normalizer("255").fit(np.zeros((1, 4), np.uint8)).to_dict()}
    save_model(work / "three-names-one-output.npz", MLP([784, 3, 1], output="sigmoid", seed=0),
               {"classes": ["a", "b", "c"], "preprocessing": scaling})
    save_model(work / "input-shape-5x5.npz", MLP([784, 3, 10], seed=0),
               {"preprocessing": {**scaling, "input_shape": [5, 5]}})
    model, meta = load_model(work / "run" / "model.npz")
    save_model(work / "training-a-string.npz", model, {**meta, "training": "lr=0.01"})


def _interrupted_and_edited(work: Path) -> None:
    from barenet.run.config import make_config
    from barenet.run.runner import train_run

    class StopInEpoch2:
        def on_batch_end(self, trainer, batch, n_batches, loss):
            if trainer.epoch == 1:
                raise KeyboardInterrupt

    config = make_config({}, per_class=5, layers=[8], epochs=3, batch_size=10, val_fraction=0.0,
                         checkpoint_every=1, threads=1)
    try:
        train_run(config, out=work / "edited", callbacks=[StopInEpoch2()])
    except KeyboardInterrupt:
        pass
    toml = work / "edited" / "config.toml"
    toml.write_text(toml.read_text().replace('optimizer = "adam"', 'optimizer = "sgd"'))


def prepare(work: Path) -> None:
    """Every file and run directory the cases name, in ``work``."""
    from PIL import Image

    from barenet.data.idx import encode_idx

    _barenet(work, "train", *FAST, "--out", "run")  # with its report: inspect needs figures
    _labels200(work / "labels200.npz")
    _barenet(work, "train", "--data", "labels200.npz", *FAST, "--no-report", "--out", "run200")
    _tampered(work)
    _interrupted_and_edited(work)
    rng = np.random.default_rng(1)
    np.savez(work / "labels-0-300.npz", x=rng.integers(0, 256, (4, 28, 28)), y=np.array([0, 1, 250, 300]))
    np.savez(work / "six-by-six.npz", x=rng.integers(0, 256, (10, 6, 6)), y=np.arange(10) % 10)
    (work / "batch-12.5.toml").write_text("batch_size = 12.5\n")
    (work / "seed-minus-1.toml").write_text("seed = -1\n")
    (work / "latin1.toml").write_bytes('# r\xe9sum\xe9\nepochs = 1\n'.encode("latin-1"))
    (work / "thesis").mkdir()
    (work / "thesis" / "chapter1.tex").write_text("years of work\n")
    shutil.copytree(work / "run", work / "history-a-list")
    (work / "history-a-list" / "history.json").write_text(json.dumps([1, 2, 3]))
    Image.fromarray(np.array([[0, 255]], np.uint8)).save(work / "tiny.png")
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    Image.fromarray(digit).save(work / "digit.png")
    (work / "bomb.png").write_bytes(_png_claiming(30000, 30000))
    (work / "images-20x20.idx").write_bytes(encode_idx(rng.integers(0, 256, (2, 20, 20), dtype=np.uint8)))
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(work / "blank-1x1.png")
    np.save(work / "mnist-sized.npy", np.zeros((2, 28, 28), np.uint8))
    _barenet(work, "train", "--dataset", "digits8", *FAST[2:], "--no-report", "--out", "run8")
    y_train, y_test = np.arange(60) % 3, np.arange(20) % 10
    np.savez(work / "train-0-2-test-0-9.npz", x_train=rng.integers(0, 256, (60, 28, 28), dtype=np.uint8),
             y_train=y_train, x_test=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), y_test=y_test)


# ============================================================================ running them
def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_case(case: Case, work: Path) -> tuple[int, list[str]]:
    """(exit status, stderr lines) of one case."""
    try:
        proc = subprocess.run([sys.executable, "-m", "barenet", *case.argv()], cwd=work, text=True,
                              capture_output=True, timeout=TIMEOUT, preexec_fn=_limit_memory,
                              env={**os.environ, "COLUMNS": "200"})
    except subprocess.TimeoutExpired:
        return -1, [f"(still running after {TIMEOUT} s)"]
    return proc.returncode, proc.stderr.strip().splitlines()


def results(jobs: int = 2) -> list[tuple[Case, int, list[str]]]:
    env_path = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    os.environ["PYTHONPATH"] = env_path
    with tempfile.TemporaryDirectory(prefix="barenet-matrix-") as tmp:
        work = Path(tmp)
        prepare(work)
        with ThreadPoolExecutor(jobs) as pool:
            answers = list(pool.map(lambda c: run_case(c, work), CASES))
    return [(case, code, lines) for case, (code, lines) in zip(CASES, answers, strict=True)]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def block_lines(rows: list[tuple[Case, int, list[str]]]) -> list[str]:
    lines = [f"`…` stands for `{' '.join(FAST)}` in `train` and `{' '.join(FAST_SEARCH)}` in "
             "`search`, so that a case that is accepted finishes in a second. Each row: the exit "
             "status and the last line barenet printed on stderr (with the number of lines when "
             "there were more than one).", "",
             "| case | command | exit | stderr |", "|------|---------|------|--------|"]
    for case, code, err in rows:
        last = err[-1] if err else "(nothing)"
        count = f" ({len(err)} lines)" if len(err) > 1 else ""
        lines.append(f"| {_cell(case.what)} | `{_cell(case.command())}` | {code} | "
                     f"{_cell(last)}{count} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare with the page")
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once (default 2)")
    args = parser.parse_args(argv)
    lines = block_lines(results(args.jobs))
    if args.check:
        current = recorded_block(PAGE.read_text())
        if current != lines:
            print(f"{PAGE} is stale; regenerate with: PYTHONPATH=src python {SCRIPT}", file=sys.stderr)
            return 1
        return 0
    write_block(PAGE, BLOCK, SCRIPT, lines)
    print(f"wrote {len(CASES)} cases into {PAGE}")
    return 0


def recorded_block(text: str) -> list[str]:
    """The lines between the block's markers in ``text`` (empty when it has none)."""
    start, end = text.find(f"<!-- {BLOCK}:"), text.find(f"<!-- end {BLOCK} -->")
    if start == -1 or end == -1:
        return []
    return text[start:end].splitlines()[1:]


if __name__ == "__main__":
    sys.exit(main())

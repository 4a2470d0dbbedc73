"""Measure the size of each export format for the default model and write the table in
docs/export.md (the block between its markers).

The default model is ``barenet train``'s default architecture (784 -> 192 ReLU -> 10 softmax,
float32, /255 input); the run here trains it for one epoch on 100 images per class, which
changes no size but the few header bytes that record the training options.

    PYTHONPATH=src python benchmarks/export_sizes.py          # prints and rewrites the block
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from doc_block import write_block

from barenet.cli import main

ROOT = Path(__file__).resolve().parent.parent
FORMATS = (("npz", "model.npz", "the native format: weights + JSON header"),
           ("onnx", "model.onnx", "one ONNX graph: normalizer, Dense layers, probabilities and labels"),
           ("html", "playground.html", "the playground page: weights in base64, the page's JS and CSS, "
                                       "10 test digits"))


def measure() -> dict[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        assert main(["train", "--epochs", "1", "--per-class", "100", "--quiet", "--out", str(run)]) == 0
        sizes = {}
        for fmt, name, _ in FORMATS:
            out = Path(tmp) / name
            assert main(["export", str(run), "--format", fmt, "-o", str(out), "--quiet"]) == 0
            sizes[fmt] = out.stat().st_size
        return sizes


def table(sizes: dict[str, int]) -> list[str]:
    lines = ["| format | file | bytes | holds |", "|---|---|---:|---|"]
    for fmt, name, holds in FORMATS:
        lines.append(f"| `{fmt}` | {name} | {sizes[fmt]:,} | {holds} |")
    return lines


if __name__ == "__main__":
    lines = table(measure())
    print("\n".join(lines))
    write_block(ROOT / "docs" / "export.md", "export sizes", "benchmarks/export_sizes.py", lines)

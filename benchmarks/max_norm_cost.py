"""What the max-norm projection costs per step, the way it is now and the way it was.

    python benchmarks/max_norm_cost.py          # a few seconds; one BLAS thread

Late in a max-norm run most units sit at the bound, so most columns are projected every step.
The first version selected those columns (``W[:, outside] *= c / norms[outside]``), which
gathers them into a copy, scales it and scatters it back; the version in
:mod:`barenet.nn.constraints` scales every column by ``min(1, c / norm)`` in one in-place pass
(bit for bit the same result). This script times both on the record recipe's layers
(examples/record-noaug.toml: 784-1024-1024-1024-10) with none, half and all of the units
outside the ball, and writes the table in docs/performance.md between the ``max-norm cost``
markers.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
from doc_block import write_block

from barenet.nn.constraints import max_norm_
from barenet.train.threads import blas_threads

ROOT = Path(__file__).resolve().parent.parent
LAYERS = [(784, 1024), (1024, 1024), (1024, 1024), (1024, 10)]


def max_norm_first_version(weights: np.ndarray, c: float) -> np.ndarray:
    """The projection as it was first written (kept here only to be timed)."""
    norms = np.sqrt(np.einsum("ij,ij->j", weights, weights))
    outside = norms > c
    if np.any(outside):
        weights[:, outside] *= (c / norms[outside]).astype(weights.dtype)
    return weights


def step_ms(project, share_outside: float, repeats: int = 30) -> float:
    """Median milliseconds to project all four layers once, with ``share_outside`` of each
    layer's units beyond the bound (the bound is the matching quantile of the column norms)."""
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(shape).astype(np.float32) for shape in LAYERS]
    bounds = []
    for w in weights:
        norms = np.linalg.norm(w, axis=0)
        bounds.append(float(np.quantile(norms, 1 - share_outside)) * (1 + 1e-6) if share_outside < 1
                      else 0.5 * float(norms.min()))
    times = []
    for _ in range(repeats):
        copies = [w.copy() for w in weights]  # the same state every repeat
        start = time.perf_counter()
        for w, c in zip(copies, bounds, strict=True):
            project(w, c)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    rows = []
    with blas_threads(1):
        for share in (0.0, 0.5, 1.0):
            first, now = step_ms(max_norm_first_version, share), step_ms(max_norm_, share)
            rows.append((share, first, now))
            print(f"{share:.0%} of units outside: first version {first:.2f} ms, now {now:.2f} ms",
                  file=sys.stderr)
    lines = ["Milliseconds per step to project the four layers of 784-1024-1024-1024-10 (median of "
             "30), one thread:", "",
             "| units outside the ball | first version (copy of the outside columns) "
             "| now (one in-place pass) |",
             "|---:|---:|---:|"]
    lines += [f"| {share:.0%} | {first:.2f} | {now:.2f} |" for share, first, now in rows]
    write_block(ROOT / "docs" / "performance.md", "max-norm cost", "benchmarks/max_norm_cost.py", lines)


if __name__ == "__main__":
    main()

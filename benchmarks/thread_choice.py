"""Does ``--threads auto`` pick the thread count that really trains faster?

    python benchmarks/thread_choice.py [--rounds 25]     # about 2 minutes

Each round, one right after the other on this machine: the time of one first-layer product
alone with 1 and with 2 BLAS threads (what ``--threads auto`` measured before), the time of
:func:`barenet.threads.time_step` with 1 and 2 threads (what it measures now), and the truth:
the time per step of real training steps (784-192-10, Adam, batch 128, MNIST batches) with 1
and 2 threads. A method is right in a round when it names the count whose real steps were
faster. Writes benchmarks/results/thread_choice.json and the table in docs/performance.md
between the ``thread choice`` markers.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path

import numpy as np
from doc_block import write_block

ROOT = Path(__file__).resolve().parent.parent
SHAPE = (128, 784, 192)  # the default recipe's first layer at batch 128


def product_alone(threads: int, repeats: int = 9) -> float:
    """Median seconds of the first layer's forward product alone."""
    from barenet.threads import blas_threads

    m, k, n = SHAPE
    rng = np.random.default_rng(0)
    a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
    out = np.empty((m, n), dtype=np.float32)
    times = []
    with blas_threads(threads):
        np.matmul(a, b, out=out)
        for _ in range(repeats):
            start = time.perf_counter()
            np.matmul(a, b, out=out)
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def make_training_steps():
    """A function (threads) -> seconds per real training step, over 40 MNIST batches."""
    import barenet as bn
    from barenet.datasets import load_mnist
    from barenet.losses import get_loss
    from barenet.preprocess import Normalizer, flatten, iterate_minibatches
    from barenet.threads import blas_threads

    ds = load_mnist()
    x, y = flatten(ds.x_train), ds.y_train
    batches = [(xb.copy(), yb) for xb, yb in
               islice(iterate_minibatches(x, y, 128, rng=0, normalizer=Normalizer("255")), 45)]
    model = bn.MLP([784, 192, 10], seed=0)
    optimizer, params, loss = bn.Adam(1e-3), model.params(), get_loss("cross_entropy")

    def steps(threads: int) -> float:
        with blas_threads(threads):
            for i, (xb, yb) in enumerate(batches):
                if i == 5:  # the first five warm up
                    start = time.perf_counter()
                p = model.forward(xb, training=True, copy=False)
                loss.value(p, yb)
                model.backward(p, yb, loss)
                optimizer.step(params)
        return (time.perf_counter() - start) / (len(batches) - 5)

    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()
    from barenet.threads import time_step

    steps = make_training_steps()
    rounds = []
    for r in range(args.rounds):
        row = {"product": {t: product_alone(t) for t in (1, 2)},
               "step": {t: time_step(t, SHAPE) for t in (1, 2)},
               "training": {t: steps(t) for t in (1, 2)}}
        faster = {kind: min((1, 2), key=times.get) for kind, times in row.items()}
        rounds.append({**row, "faster": faster})
        print(f"round {r + 1}: " + " | ".join(
            f"{kind} 1t {1e6 * times[1]:.0f} us, 2t {1e6 * times[2]:.0f} us -> {faster[kind]}"
            for kind, times in row.items()), flush=True)
    right = {kind: sum(r["faster"][kind] == r["faster"]["training"] for r in rounds)
             for kind in ("product", "step")}
    two_slower = sum(r["faster"]["training"] == 1 for r in rounds)
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "shape": SHAPE, "rounds": rounds, "right": right,
              "rounds_where_one_thread_trained_faster": two_slower}
    out = ROOT / "benchmarks" / "results" / "thread_choice.json"
    out.write_text(json.dumps(result, indent=2))
    lines = [f"Measured {result['date']}, {args.rounds} rounds; one thread trained faster in "
             f"{two_slower} of them.", "",
             "| what `--threads auto` times | rounds it named the faster count for training |",
             "|---|---:|",
             f"| the first-layer product alone (before) | {right['product']} of {args.rounds} |",
             f"| `barenet.threads.time_step` (now) | {right['step']} of {args.rounds} |",
             "", "Median times in microseconds, in the rounds where each count trained faster:", "",
             "| rounds | n | product 1t / 2t | `time_step` 1t / 2t | training step 1t / 2t |",
             "|---|---:|---:|---:|---:|"]
    for winner in (1, 2):
        group = [r for r in rounds if r["faster"]["training"] == winner]
        if not group:
            continue
        cells = [" / ".join(f"{1e6 * np.median([r[kind][t] for r in group]):.0f}" for t in (1, 2))
                 for kind in ("product", "step", "training")]
        lines.append(f"| {winner} thread{'s' if winner > 1 else ''} trained faster | {len(group)} | "
                     + " | ".join(cells) + " |")
    write_block(ROOT / "docs" / "performance.md", "thread choice", "benchmarks/thread_choice.py",
                lines)
    print(f"right: {right}; wrote {out} and docs/performance.md")


if __name__ == "__main__":
    main()

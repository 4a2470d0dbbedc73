"""Cost per epoch (60000 images) of each augmentation term, against one training epoch.

Each spec is applied to ``--batches`` batches of 128 raw MNIST images (uint8, from the
packaged training set); the time per image times 60000 is the cost per epoch. The reference
is the training step (forward, backward, Adam, max-norm) of the two record recipes, read from
examples/record-aug.toml and examples/record-noaug.toml (their widths and dropout), on the same
batches, on one BLAS thread as examples/records.py runs them. Writes the table into
docs/performance.md (block "augment cost").

    PYTHONPATH=src python benchmarks/augment_cost.py [--batches 40] [--no-write]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
from bench import cpu_model  # noqa: E402  (the machine, named as bench.py names it)
from doc_block import write_block  # noqa: E402

import barenet as bn  # noqa: E402
from barenet.data.augment_spec import parse_augment  # noqa: E402
from barenet.datasets import load_mnist  # noqa: E402
from barenet.nn.constraints import max_norm_  # noqa: E402
from barenet.preprocess import Normalizer, flatten  # noqa: E402
from barenet.run.config import make_config, read_toml  # noqa: E402
from barenet.run.runner import build_model  # noqa: E402

SPECS = ("shift(2)", "translate(2)", "rotate(10)", "scale(0.1)", "shear(0.2)", "elastic(34,4)",
         "rotate(10)+scale(0.1)+shear(0.2)", "shift(2)+rotate(10)+scale(0.1)+shear(0.2)+elastic(34,4)")
BATCH, EPOCH = 128, 60000


def per_epoch(run, batches) -> float:
    """Seconds per 60000 images of ``run(batch)``, best of three passes over ``batches``."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for xb in batches:
            run(xb)
        best = min(best, time.perf_counter() - start)
    return best / (len(batches) * BATCH) * EPOCH


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    x = flatten(load_mnist().x_train[:args.batches * BATCH])
    y = load_mnist().y_train[:args.batches * BATCH]
    batches = np.split(x, args.batches)
    rows = []
    for spec in SPECS:
        aug = parse_augment(spec, (28, 28))
        rng = np.random.default_rng(0)
        rows.append((f"`{spec}`", per_epoch(lambda xb, aug=aug, rng=rng: aug(xb, rng), batches)))
    norm = Normalizer("255")
    for record in ("aug", "noaug"):
        config = make_config(read_toml(ROOT / "examples" / f"record-{record}.toml"))
        model, loss = build_model(config, 784, 10)
        opt = bn.Adam(config.lr)
        labels = np.split(y, args.batches)
        pairs = iter(range(10 ** 9))

        def step(xb, model=model, opt=opt, loss=loss, labels=labels, pairs=pairs, c=config.max_norm):
            yb = labels[next(pairs) % len(labels)]
            p = model.forward(norm.transform(xb.astype(np.float32)), training=True, copy=False)
            model.backward(p, yb, loss, overwrite_p=True)
            opt.step(model.params())
            if c is not None:
                for layer in model.dense_layers:
                    max_norm_(layer.W, c)
        with threadpool_limits(1):
            seconds = per_epoch(step, batches)
        rows.append((f"training step of record-{record}, 784-{'-'.join(map(str, config.layers))}-10 "
                     "(reference)", seconds))
    lines = ["", f"Measured on {cpu_model()}, numpy "
             f"{np.__version__}, {args.batches} batches of {BATCH}, best of 3, scaled to "
             f"{EPOCH} images (seconds per epoch):", "",
             "| augmentation | s / epoch |", "|---|---:|"]
    lines += [f"| {name} | {seconds:.2f} |" for name, seconds in rows]
    lines.append("")
    for name, seconds in rows:
        print(f"{seconds:8.2f} s/epoch  {name}")
    if not args.no_write:
        write_block(Path(__file__).parent.parent / "docs" / "performance.md", "augment cost",
                    "benchmarks/augment_cost.py", lines)


if __name__ == "__main__":
    main()

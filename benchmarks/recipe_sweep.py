"""How the default recipe of ``barenet train`` was chosen: candidates scored on validation.

    python benchmarks/recipe_sweep.py            # about 15 minutes, on a quiet machine
    python benchmarks/recipe_sweep.py --reuse    # new candidates only, costs measured again

The goal (issue 16): reach 98.0 % test accuracy with the whole ``barenet train`` process in at
most 0.4 x the time of the fastest PyTorch process to 98 % (benchmarks/bench.py measures both),
on full MNIST with the default 10 % validation split. Each candidate
changes a few fields of :class:`barenet.config.TrainConfig` and is trained with several seeds
(each seed draws the validation split, the initialization and the batch order). The choice
uses the mean **validation** accuracy among the candidates cheap enough for the time budget;
the test accuracy is printed beside it to show how reliable the choice is, not to make it.

``cost`` is the time of a run relative to one epoch of 784-256-10 at batch 128: epochs, times
the measured time of one epoch of the candidate's shape (width and batch size) over that of the
reference, each the fastest of interleaved rounds on this machine, with the thread count the
default ``--threads auto`` picks (:func:`epoch_costs`; the first version of this script used a
model, epochs x width / 256 x a guessed factor per batch size, which leaves out that the
optimizer steps and the per-batch work do not shrink with the width). The training runs that
score the candidates use one BLAS thread, so their accuracies do not depend on the machine's
load. Writes benchmarks/results/recipe_sweep.json and the table in docs/performance.md between the
``recipe sweep`` markers.
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path

from doc_block import write_block

from barenet.train.threads import blas_threads

ROOT = Path(__file__).resolve().parent.parent
SEEDS = (0, 1, 2)
CANDIDATES = [
    {"layers": [256], "lr": 0.002, "epochs": 8},
    {"layers": [256], "lr": 0.003, "epochs": 8},
    {"layers": [256], "lr": 0.003, "epochs": 7},
    {"layers": [256], "lr": 0.003, "epochs": 6},
    {"layers": [256], "lr": 0.004, "epochs": 6},
    {"layers": [256], "lr": 0.005, "epochs": 6},
    {"layers": [256], "lr": 0.004, "epochs": 5},
    {"layers": [256], "lr": 0.002, "epochs": 6, "batch_size": 64},
    {"layers": [256], "lr": 0.002, "epochs": 5, "batch_size": 64},
    {"layers": [256], "lr": 0.003, "epochs": 10, "batch_size": 256},
    {"layers": [384], "lr": 0.002, "epochs": 6},
    {"layers": [512], "lr": 0.002, "epochs": 8},
    {"layers": [256], "lr": 0.005, "epochs": 5},
    {"layers": [256], "lr": 0.006, "epochs": 5},
    {"layers": [256], "lr": 0.005, "epochs": 4},
    {"layers": [256], "lr": 0.006, "epochs": 4},
    {"layers": [224], "lr": 0.005, "epochs": 5},
    {"layers": [192], "lr": 0.004, "epochs": 6},
    {"layers": [192], "lr": 0.005, "epochs": 6},
    {"layers": [192], "lr": 0.006, "epochs": 6},
    {"layers": [192], "lr": 0.005, "epochs": 5},
    {"layers": [192], "lr": 0.006, "epochs": 5},
    {"layers": [160], "lr": 0.005, "epochs": 6},
    {"layers": [128], "lr": 0.005, "epochs": 8},
    # larger batches: half the optimizer steps and per-batch work per epoch, at a higher lr
    {"layers": [192], "lr": 0.008, "epochs": 6, "batch_size": 256},
    {"layers": [192], "lr": 0.01, "epochs": 6, "batch_size": 256},
    {"layers": [192], "lr": 0.01, "epochs": 7, "batch_size": 256},
    {"layers": [256], "lr": 0.008, "epochs": 6, "batch_size": 256},
    {"layers": [256], "lr": 0.01, "epochs": 5, "batch_size": 256},
    {"layers": [256], "lr": 0.01, "epochs": 6, "batch_size": 256},
    {"layers": [256], "lr": 0.015, "epochs": 6, "batch_size": 256},
    {"layers": [256], "lr": 0.015, "epochs": 8, "batch_size": 512},
    # added after the sweep above found batch 256 at width 192 about as accurate for less time
    {"layers": [192], "lr": 0.006, "epochs": 6, "batch_size": 256},
    {"layers": [192], "lr": 0.008, "epochs": 7, "batch_size": 256},
    {"layers": [160], "lr": 0.01, "epochs": 7, "batch_size": 256},
    {"layers": [224], "lr": 0.008, "epochs": 6, "batch_size": 256},
    {"layers": [224], "lr": 0.01, "epochs": 6, "batch_size": 256},
    {"layers": [256], "lr": 0.006, "epochs": 5, "batch_size": 256},
]
# The target (issue 16): the whole process within 0.4 x the fastest PyTorch process to 98 %,
# which took 9.4-9.5 s in the benchmark runs here, so about 3.8 s. Outside its epochs a quiet run
# spends about 0.8 s (start-up and imports 0.35 s, data 0.22 s, the final evaluation 0.21 s: the
# fastest whole run of the 2026-12-02 benchmark), and a unit of cost (one epoch of 784-256-10 at
# batch 128, two threads) takes about 0.5 s. The machine runs 1.3-1.6x slower than that for long
# stretches (that benchmark's three whole runs took 3.91, 4.55 and 5.18 s), so with a margin of
# 1.5: 1.5 * (0.8 + 0.5 * cost) <= 3.8 gives cost <= 3.5. (The first budget, 4.5, had a margin
# of 1.2, and units timed on one thread.)
MAX_COST = 3.5


REFERENCE = (256, 128)  # (width, batch size) of the unit of cost


def shape(c: dict) -> tuple[int, int]:
    return c["layers"][0], c.get("batch_size", 128)


def epoch_costs(dataset, shapes: list[tuple[int, int]], rounds: int = 5) -> dict:
    """Wall seconds of one training epoch per (width, batch size), with the BLAS thread count
    ``barenet train --threads auto`` uses on this machine (all cores when it is quiet), the
    fastest of ``rounds`` interleaved rounds (each shape once per round, so a slow spell
    touches all of them), on the same 54000 training images the sweep trains on.

    Timed the way the default runs, not on one thread: with two threads the matrix products
    halve while the optimizer step and the per-batch work do not, so a larger batch saves more
    than a one-thread measurement shows (an earlier version timed one thread's CPU time, and
    rated batch 256 at width 192 16 % cheaper than batch 128, where whole ``barenet train``
    processes in the same minutes ran 30 % faster). Needs a machine with nothing else
    running."""
    from barenet.config import TrainConfig
    from barenet.data.preprocess import Normalizer
    from barenet.run.runner import build_model
    from barenet.train.threads import resolve_threads
    from barenet.train.trainer import Trainer

    x = dataset.x_train.reshape(len(dataset.x_train), -1)[:54000]
    y = dataset.y_train[:54000]
    best = {s: float("inf") for s in shapes}
    for _ in range(rounds):
        for width, batch in shapes:
            model, loss = build_model(TrainConfig(layers=[width]), x.shape[1], 10)
            with blas_threads(resolve_threads("auto", (batch, x.shape[1], width))):
                trainer = Trainer(model, loss, "adam", lr=0.005, batch_size=batch, epochs=2,
                                  schedule="cosine", normalizer=Normalizer("255"), seed=0)
                trainer.fit(x, y)  # the first epoch warms up; the second is timed
            best[(width, batch)] = min(best[(width, batch)], trainer.history.epochs[-1]["seconds"])
    return best


def cost(c: dict, seconds: dict) -> float:
    return c["epochs"] * seconds[shape(c)] / seconds[REFERENCE]


def label(c: dict) -> str:
    return (f"[{c['layers'][0]}], lr {c['lr']}, batch {c.get('batch_size', 128)}, "
            f"{c['epochs']} epochs")


def main() -> None:
    import argparse

    from barenet.config import TrainConfig
    from barenet.datasets import load_dataset
    from barenet.runner import train_run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true",
                        help="keep the accuracies of candidates already in recipe_sweep.json "
                             "(training is deterministic); measure the costs again and train "
                             "only the new candidates")
    args = parser.parse_args()
    out = ROOT / "benchmarks" / "results" / "recipe_sweep.json"
    known = {}
    if args.reuse and out.exists():
        known = {json.dumps(r["candidate"], sort_keys=True): r["runs"]
                 for r in json.loads(out.read_text())["results"]}
    dataset = load_dataset("mnist")
    shapes = sorted({REFERENCE, *(shape(c) for c in CANDIDATES)})
    seconds = epoch_costs(dataset, shapes)
    for (width, batch), sec in seconds.items():
        print(f"epoch of 784-{width}-10 at batch {batch}: {sec:.3f} s "
              f"({sec / seconds[REFERENCE]:.2f} units)", file=sys.stderr, flush=True)
    results = []
    for candidate in CANDIDATES:
        runs = known.get(json.dumps(candidate, sort_keys=True), [])
        for seed in SEEDS if not runs else ():
            config = replace(TrainConfig(), seed=seed, threads=1, **candidate)
            metrics = train_run(config, write=False, dataset=dataset).metrics
            runs.append({"seed": seed, "val": metrics["validation"]["accuracy"],
                         "test": metrics["test"]["accuracy"]})
            print(f"{label(candidate)}, seed {seed}: val {runs[-1]['val']:.4f} "
                  f"test {runs[-1]['test']:.4f}", file=sys.stderr, flush=True)
        results.append({"candidate": candidate, "cost": cost(candidate, seconds), "runs": runs,
                        "val_mean": statistics.mean(r["val"] for r in runs),
                        "test_mean": statistics.mean(r["test"] for r in runs),
                        "test_min": min(r["test"] for r in runs)})
    affordable = [r for r in results if r["cost"] <= MAX_COST]
    chosen = max(affordable, key=lambda r: r["val_mean"])
    for r in results:
        r["chosen"] = r is chosen
    out.parent.mkdir(parents=True, exist_ok=True)
    epoch_seconds = [{"width": w, "batch_size": b, "seconds": sec} for (w, b), sec in seconds.items()]
    out.write_text(json.dumps({"seeds": list(SEEDS), "max_cost": MAX_COST, "epoch_seconds": epoch_seconds,
                               "results": results}, indent=2))
    write_doc(ROOT / "docs" / "performance.md", results, seconds)
    print(f"chosen: {label(chosen['candidate'])}; wrote {out} and docs/performance.md")


def write_doc(path: Path, results: list[dict], seconds: dict) -> None:
    units = ", ".join(f"784-{w}-10 at batch {b}: {sec / seconds[REFERENCE]:.2f}"
                      for (w, b), sec in sorted(seconds.items()))
    lines = [f"Seeds {', '.join(map(str, SEEDS))} (each draws the validation split, the "
             f"initialization and the batch order); affordable means cost <= {MAX_COST:g}. "
             f"Measured cost of one epoch (wall time, the thread count `--threads auto` picks, "
             f"the fastest of 5 rounds), in units of 784-256-10 at batch 128 "
             f"({seconds[REFERENCE]:.3f} s here): {units}.", "",
             "| candidate (Adam, cosine) | cost | mean validation | mean test | lowest test | |",
             "|---|---:|---:|---:|---:|---|"]
    for r in results:
        mark = "chosen" if r["chosen"] else ("" if r["cost"] <= MAX_COST else "too slow")
        lines.append(f"| {label(r['candidate'])} | {r['cost']:.1f} | {100 * r['val_mean']:.2f} % | "
                     f"{100 * r['test_mean']:.2f} % | {100 * r['test_min']:.2f} % | {mark} |")
    write_block(path, "recipe sweep", "benchmarks/recipe_sweep.py", lines)


if __name__ == "__main__":
    main()

"""How the default recipe of ``barenet train`` was chosen: candidates scored on validation.

    python benchmarks/recipe_sweep.py            # about 10 minutes on 2 cores

The goal (issue #9): reach 98.0 % test accuracy within 5 s of wall time for the whole
``barenet train`` process, on full MNIST with the default 10 % validation split. Each candidate
changes a few fields of :class:`barenet.config.TrainConfig` and is trained with several seeds
(each seed draws the validation split, the initialization and the batch order). The choice
uses the mean **validation** accuracy among the candidates cheap enough for the time budget;
the test accuracy is printed beside it to show how reliable the choice is, not to make it.

``cost`` is the work of a run relative to one epoch of 784-256-10 at batch 128: epochs, times
the width over 256 (the matrix products), times 1.4 at batch 64 (twice the optimizer steps).
Runs use one BLAS thread, so the choice does not depend on the machine's load. Writes
benchmarks/results/recipe_sweep.json and the table in docs/performance.md between the
``recipe sweep`` markers.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from dataclasses import replace
from pathlib import Path

from doc_block import write_block

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy loads

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
]
# What fits in 5 s even on a machine running 1.5x slower than when quiet: start-up, data
# loading and the final evaluation take about 1 s on a quiet machine and a unit of cost about
# 0.5 s, so 1.5 * (1 + 0.5 * cost) <= 5 gives cost <= 4.7. This machine is shared and spends
# long stretches 1.5-1.7x slower than quiet (docs/performance.md), so a budget sized for a quiet
# machine (cost 6, the first version of this sweep) misses the target in those stretches.
MAX_COST = 4.5


def cost(c: dict) -> float:
    batch = c.get("batch_size", 128)
    per_step = 1.4 if batch == 64 else 0.85 if batch == 256 else 1.0
    return c["epochs"] * c["layers"][0] / 256 * per_step


def label(c: dict) -> str:
    return (f"[{c['layers'][0]}], lr {c['lr']}, batch {c.get('batch_size', 128)}, "
            f"{c['epochs']} epochs")


def main() -> None:
    from barenet.config import TrainConfig
    from barenet.datasets import load_dataset
    from barenet.runner import train_run

    dataset = load_dataset("mnist")
    results = []
    for candidate in CANDIDATES:
        runs = []
        for seed in SEEDS:
            config = replace(TrainConfig(), seed=seed, **candidate)
            metrics = train_run(config, write=False, dataset=dataset).metrics
            runs.append({"seed": seed, "val": metrics["validation"]["accuracy"],
                         "test": metrics["test"]["accuracy"]})
            print(f"{label(candidate)}, seed {seed}: val {runs[-1]['val']:.4f} "
                  f"test {runs[-1]['test']:.4f}", file=sys.stderr, flush=True)
        results.append({"candidate": candidate, "cost": cost(candidate), "runs": runs,
                        "val_mean": statistics.mean(r["val"] for r in runs),
                        "test_mean": statistics.mean(r["test"] for r in runs),
                        "test_min": min(r["test"] for r in runs)})
    affordable = [r for r in results if r["cost"] <= MAX_COST]
    chosen = max(affordable, key=lambda r: r["val_mean"])
    for r in results:
        r["chosen"] = r is chosen
    out = ROOT / "benchmarks" / "results" / "recipe_sweep.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"seeds": list(SEEDS), "max_cost": MAX_COST, "results": results},
                              indent=2))
    write_doc(ROOT / "docs" / "performance.md", results)
    print(f"chosen: {label(chosen['candidate'])}; wrote {out} and docs/performance.md")


def write_doc(path: Path, results: list[dict]) -> None:
    lines = [f"Seeds {', '.join(map(str, SEEDS))} (each draws the validation split, the "
             f"initialization and the batch order); affordable means cost <= {MAX_COST:g}.", "",
             "| candidate (Adam, cosine) | cost | mean validation | mean test | lowest test | |",
             "|---|---:|---:|---:|---:|---|"]
    for r in results:
        mark = "chosen" if r["chosen"] else ("" if r["cost"] <= MAX_COST else "too slow")
        lines.append(f"| {label(r['candidate'])} | {r['cost']:.1f} | {100 * r['val_mean']:.2f} % | "
                     f"{100 * r['test_mean']:.2f} % | {100 * r['test_min']:.2f} % | {mark} |")
    write_block(path, "recipe sweep", "benchmarks/recipe_sweep.py", lines)


if __name__ == "__main__":
    main()

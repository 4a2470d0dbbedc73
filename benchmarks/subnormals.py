"""Where subnormal floats appear in training, and what flushing them changes.

    python benchmarks/subnormals.py [--baseline 6a76242] [--quick]

Each probe trains one recipe on a small subset of MNIST (``barenet.run`` with ``per_class``)
for many optimizer steps and counts, at the end of every epoch, the subnormal entries (nonzero,
below ``np.finfo(dtype).tiny``) of each kind of optimizer state, the weights, the gradients and
the layers' buffers (:func:`barenet.nn.subnormal.subnormal_counts`). Every probe runs twice, in
its own process: once with this tree's code (which flushes decayed optimizer state, see
:mod:`barenet.nn.subnormal`) and once with the code of the ``--baseline`` commit, extracted
with ``git archive`` into a temporary directory. The two runs' final losses and test accuracies
are compared (the fix must change nothing beyond float32 rounding), and the epoch times are
reported as seen, on this machine's CPU.

It also times one flush against one Adam step, to show what the schedule costs. The results go
into benchmarks/results/subnormals.json and a generated block of docs/performance.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import datetime, timezone
from io import BytesIO
from pathlib import Path

from bench import cpu_model
from doc_block import write_block

ROOT = Path(__file__).resolve().parent.parent
SUBNORMAL_PY = ROOT / "src" / "barenet" / "nn" / "subnormal.py"

# name -> (what it shows, TrainConfig overrides). Subsets: per_class images of each class.
PROBES: dict[str, tuple[str, dict]] = {
    # the default recipe until 2026-12-03, spelled out so that the probe stays the same
    # recipe whatever the default becomes (tests/test_subnormals.py guards today's default)
    "default-full": ("the default recipe of 2026-12-02 as `barenet train` ran it (784-192-10 ReLU, "
                     "Adam lr 0.005 cosine, batch 128, full MNIST, 6 epochs), float32",
                     {"layers": [192], "lr": 0.005, "batch_size": 128, "epochs": 6}),
    "default": ("the default recipe of 2026-12-02 (784-192-10 ReLU, Adam lr 0.005 cosine, batch 128), "
                "float32",
                {"layers": [192], "lr": 0.005, "batch_size": 128, "per_class": 300, "epochs": 60}),
    "adam-1e-3": ("784-256-10 ReLU, Adam lr 1e-3 constant, batch 128, float32 (the bench network)",
                  {"per_class": 300, "epochs": 60, "layers": [256], "lr": 1e-3, "schedule": "constant"}),
    "adamw": ("784-256-10 ReLU, AdamW lr 1e-3 (decay 0.01), batch 128, float32",
              {"per_class": 300, "epochs": 60, "layers": [256], "lr": 1e-3, "optimizer": "adamw",
               "schedule": "constant"}),
    "sgd-momentum": ("784-256-10 ReLU, SGD lr 0.01 momentum 0.9, batch 128, float32",
                     {"per_class": 300, "epochs": 60, "layers": [256], "lr": 0.01, "optimizer": "sgd",
                      "momentum": 0.9, "schedule": "constant"}),
    "sigmoid-adam": ("784-100-100-10 sigmoid, Adam lr 1e-4, batch 32, float32",
                     {"per_class": 100, "epochs": 60, "layers": [100, 100], "hidden": "sigmoid",
                      "lr": 1e-4, "batch_size": 32, "schedule": "constant"}),
    "sigmoid-e3": ("E3's recipe (784-100-100-10 sigmoid, SGD lr 0.005, summed loss, batch 100), float32",
                   {"config": "examples/e3-sigmoid-eta0005.toml", "per_class": 100, "epochs": 60}),
    "e1-float64": ("E1's recipe (1 vs 5, 784-500-250-1, uniform(-1,1), SGD, squared error, "
                   "batch 1000), float64",
                   {"config": "examples/e1-1v5.toml", "per_class": 1000, "batch_size": 1000,
                    "epochs": 40}),
    "e1-float32": ("E1's recipe in float32 (saturated sigmoid output; tests/test_subnormals.py)",
                   {"config": "examples/e1-1v5.toml", "dtype": "float32", "per_class": 200,
                    "batch_size": 100, "epochs": 3}),
    "sigmoid-adam-b1": ("784-64-10 sigmoid, Adam lr 1e-3, batch 1, float32 (tests/test_subnormals.py)",
                        {"per_class": 60, "layers": [64], "hidden": "sigmoid", "batch_size": 1, "epochs": 2,
                         "lr": 1e-3, "schedule": "constant"}),
    "adam-float64": ("784-192-10 ReLU, Adam lr 1e-3 constant, batch 16, float64 (many steps)",
                     {"per_class": 100, "epochs": 150, "lr": 1e-3, "batch_size": 16, "dtype": "float64",
                      "schedule": "constant"}),
}


# ----------------------------------------------------------------------------- worker
def _load_counters():
    """barenet.nn.subnormal from THIS tree, loaded by path: it imports nothing from barenet, so
    it also counts in the baseline tree, which predates it."""
    spec = importlib.util.spec_from_file_location("subnormal_counters", SUBNORMAL_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _give_layers_buffers() -> None:
    """The baseline's layers predate ``buffers()``: add the same accessor (reads only)."""
    from barenet.nn import layers

    if hasattr(layers.Dense, "buffers"):
        return

    def buffers(names):
        return lambda self: [a for a in (getattr(self, n, None) for n in names) if a is not None]

    layers.Dense.buffers = buffers(("_x", "_z", "_dx"))
    layers.ActivationLayer.buffers = buffers(("_y",))
    layers.Dropout.buffers = buffers(("_mask", "_y"))


def worker(name: str, threads: int, quick: bool) -> dict:
    import numpy as np

    from barenet.run.config import make_config, read_toml
    from barenet.run.runner import train_run

    counters = _load_counters()
    _give_layers_buffers()
    overrides = dict(PROBES[name][1])
    config_file = overrides.pop("config", None)
    if quick:
        overrides["epochs"] = max(2, overrides.get("epochs", 6) // 10)
    options = read_toml(ROOT / config_file) if config_file else {}
    config = make_config(options, **overrides, threads=threads)

    class Probe:
        """Counts at the end of every epoch, and the worst step seen (every step counted)."""

        def __init__(self):
            self.epochs: list[dict] = []
            self.worst: dict[str, int] = {}

        def on_batch_end(self, trainer, batch, n_batches, loss):
            counts = counters.subnormal_counts(trainer.model, trainer.optimizer)
            for kind, n in counts.items():
                self.worst[kind] = max(self.worst.get(kind, 0), n)

        def on_epoch_end(self, trainer, record):
            self.epochs.append({"epoch": record["epoch"], "seconds": record["seconds"],
                                "steps": trainer.optimizer.t,
                                "counts": counters.subnormal_counts(trainer.model, trainer.optimizer)})

    probe = Probe()
    result = train_run(config, write=False, callbacks=[probe])
    model = result.model
    sizes = {f"state {kind}": model.n_params() for kind in result_state_names(config)}
    sizes["weights"] = sizes["gradients"] = model.n_params()
    split = result.metrics.get("test") or result.metrics["train"]
    return {"epochs": probe.epochs, "worst": probe.worst, "sizes": sizes,
            "final_train_loss": result.history.last["train_loss"],
            "test_loss": split["loss"], "test_accuracy": split["accuracy"],
            "weights_digest": float(np.sum([np.sum(np.abs(w), dtype=np.float64)
                                            for w in model.get_weights()])),
            "dtype": str(model.dtype)}


def result_state_names(config) -> tuple[str, ...]:
    if config.optimizer == "sgd":
        return ("buffers",) if config.momentum else ()
    return ("u", "s")


def worker_flush_cost() -> dict:
    """One flush of Adam's two moments against one Adam step, 784-192-10 packed, in us."""
    import numpy as np

    import barenet as bn
    from barenet.nn import subnormal

    model = bn.MLP([784, 192, 10], seed=0)
    params = model.params()
    optimizer = bn.Adam(1e-3)
    rng = np.random.default_rng(0)
    for p in params:
        p.grad[...] = rng.standard_normal(p.grad.shape)
    optimizer.step(params)
    scratch = np.empty(model.n_params(), np.float32)
    u = np.concatenate([a.reshape(-1) for a in optimizer.u])

    def best(fn, repeats=200):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return 1e6 * min(times)

    penalty = {}
    g = np.zeros(model.n_params(), np.float32)  # the entries whose gradient is zero
    for share in (0.0, 0.08, 0.3):
        m = rng.standard_normal(model.n_params()).astype(np.float32) * 1e-3
        m[: int(share * m.size)] = 1e-39  # subnormal, and stays so for a few steps of *= 0.9
        penalty[str(share)] = best(lambda m=m: (np.multiply(m, 0.9, out=m), np.add(m, g, out=m)), 20)
    step_us = best(lambda: optimizer.step(params))
    flush_us = best(lambda: subnormal.flush_decayed(u, 0.9, subnormal.flush_period(0.9), scratch))
    return {"adam_step_us": step_us, "flush_us": flush_us, "params": model.n_params(),
            "momentum_update_us": penalty,
            "period_beta1": subnormal.flush_period(0.9), "period_beta2": subnormal.flush_period(0.999)}


# ----------------------------------------------------------------------------- driver
def extract(commit: str, into: Path) -> Path:
    """The ``src`` tree of ``commit``, extracted into ``into``; returns its src directory."""
    archive = subprocess.run(["git", "archive", commit, "src"], cwd=ROOT, capture_output=True,
                             check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def run_worker(src: Path, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src))
    proc = subprocess.run([sys.executable, __file__, "--worker", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"worker {args} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker")
    parser.add_argument("--baseline", default="6a76242", help="the commit to compare with")
    parser.add_argument("--probes", nargs="*", default=list(PROBES), choices=list(PROBES))
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads for every run (fixed, so that the two trees compare)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the epochs (a smoke test)")
    parser.add_argument("--no-doc", action="store_true", help="print only; write no files")
    args = parser.parse_args()
    if args.worker == "flush_cost":
        print(json.dumps(worker_flush_cost()))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, args.threads, args.quick)))
        return

    results: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "cpu": cpu_model(), "python": platform.python_version(),
                     "baseline": args.baseline, "threads": args.threads, "quick": args.quick,
                     "probes": {}}
    here = ROOT / "src"
    with tempfile.TemporaryDirectory() as tmp:
        base = extract(args.baseline, Path(tmp))
        for name in args.probes:
            extra = [name, "--threads", str(args.threads)] + (["--quick"] if args.quick else [])
            print(f"probe {name} ...", flush=True)
            results["probes"][name] = {"now": run_worker(here, *extra),
                                       "baseline": run_worker(base, *extra)}
            print(json.dumps(summarize(name, results["probes"][name])), flush=True)
    results["flush_cost"] = run_worker(here, "flush_cost")
    print(json.dumps(results["flush_cost"]))
    if args.no_doc:
        return
    out = ROOT / "benchmarks" / "results" / "subnormals.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(lean(results), indent=2))
    write_doc(ROOT / "docs" / "performance.md", results)


def lean(results: dict) -> dict:
    """The results without each epoch's counts (kept: epoch times, steps, the last counts)."""
    kept = json.loads(json.dumps(results))
    for pair in kept["probes"].values():
        for run in pair.values():
            epochs = run.pop("epochs")
            run.update(epoch_seconds=[e["seconds"] for e in epochs], steps=epochs[-1]["steps"],
                       final_counts=epochs[-1]["counts"])
    return kept


def summarize(name: str, pair: dict) -> dict:
    """The probe's worst step of each tree and its results, for the console."""
    return {"probe": name, **{which: {"worst_step": r["worst"], "test_accuracy": r["test_accuracy"],
                                      "test_loss": r["test_loss"], "final_train_loss": r["final_train_loss"]}
                              for which, r in pair.items()}}


def _worst(r: dict) -> str:
    """Where the run held subnormals at its worst step: 'kind n (share %)', or 'none'."""
    parts = []
    for kind, n in r["worst"].items():
        if n:
            size = r["sizes"].get(kind)
            share = f" ({100 * n / size:.1f} %)" if size else ""
            parts.append(f"{kind} {n:,}{share}")
    return ", ".join(parts) or "none"


def _relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def _median_epoch(r: dict) -> float:
    seconds = sorted(e["seconds"] for e in r["epochs"])
    return seconds[len(seconds) // 2]


def write_doc(path: Path, results: dict) -> None:
    """The generated block of docs/performance.md: where, what changed, what it costs."""
    base = results["baseline"]
    lines = [
        f"Measured {results['date']} on {results['cpu']} (Python {results['python']}, "
        f"{results['threads']} BLAS thread{'s' if results['threads'] > 1 else ''}); "
        f"baseline: commit {base}{' (--quick: a tenth of the epochs)' if results['quick'] else ''}. "
        "Subnormal entries at the worst optimizer step of each run (every step counted; the "
        "share is of the parameters):",
        "",
        "| probe | steps | subnormals, baseline | subnormals, now |",
        "|---|---:|---|---|",
    ]
    for name, pair in results["probes"].items():
        steps = pair["now"]["epochs"][-1]["steps"]
        lines.append(f"| `{name}`: {PROBES[name][0]} | {steps:,} | {_worst(pair['baseline'])} | "
                     f"{_worst(pair['now'])} |")
    lines += [
        "",
        "The same runs' results (each recipe's test split; the subsets are of the training images) "
        "and their median epoch, baseline against now:",
        "",
        "| probe | test accuracy | test loss | final training loss | largest relative difference "
        "| median epoch (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, pair in results["probes"].items():
        b, n = pair["baseline"], pair["now"]
        keys = ("test_accuracy", "test_loss", "final_train_loss", "weights_digest")
        worst = max(_relative(b[k], n[k]) for k in keys)
        lines.append(
            f"| `{name}` | {100 * b['test_accuracy']:.2f} / {100 * n['test_accuracy']:.2f} % | "
            f"{b['test_loss']:.6g} / {n['test_loss']:.6g} | "
            f"{b['final_train_loss']:.6g} / {n['final_train_loss']:.6g} | {worst:.1e} | "
            f"{_median_epoch(b):.3f} / {_median_epoch(n):.3f} |")
    cost = results["flush_cost"]
    amortized = cost["flush_us"] * (1 / cost["period_beta1"] + 1 / cost["period_beta2"])
    update = cost["momentum_update_us"]
    lines += [
        "",
        "(The largest relative difference is over the two runs' test accuracy, test loss, final "
        "training loss and the sum of |w| over every weight.)",
        "",
        f"Cost of the schedule, 784-192-10 ({cost['params']:,} parameters): one flush of a moment "
        f"takes {cost['flush_us']:.0f} us against {cost['adam_step_us']:.0f} us for a whole Adam "
        f"step; Adam flushes u every {cost['period_beta1']} steps and s every "
        f"{cost['period_beta2']:,}, so {amortized:.2f} us per step on average "
        f"({100 * amortized / cost['adam_step_us']:.2f} % of the step). On this CPU, "
        "`m *= 0.9; m += g` over those parameters takes "
        + ", ".join(f"{us:.0f} us with {100 * float(share):.0f} % of m subnormal"
                    for share, us in update.items()) + ".",
    ]
    write_block(path, "subnormals", "benchmarks/subnormals.py", lines)


if __name__ == "__main__":
    main()

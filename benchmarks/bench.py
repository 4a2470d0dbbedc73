"""barenet against its peers, measured in one run on this machine.

    pip install -e ".[bench]" && python benchmarks/bench.py [--epochs 4] [--rounds 2] [--train-runs 3]

Every measurement runs in its own Python process (so peak resident memory is that of one
contender alone), one after another, and the results are compared as ratios within this run.
The contenders' epochs are measured in interleaved rounds (barenet, PyTorch, scikit-learn,
then again), so that a slow spell of this shared machine does not fall on one of them alone:

* seconds per epoch for 784-256-10 (ReLU, softmax + cross-entropy, Adam lr 1e-3, batch 128,
  float32, full MNIST) in barenet, PyTorch (CPU, same batches) and scikit-learn's MLPClassifier;
* the machine's float32 matrix-multiply rate (one large ``a @ b``, measured in every round; the
  best counts) and the FLOP lower bound of an epoch from it;
* time to 98.0 % test accuracy of the whole ``barenet train`` process (default recipe; run
  ``--train-runs`` times, the median run counts, and every run must reach 98 %) and of a
  PyTorch script running the same recipe;
* inference time for the 10000 test images.

It prints a table and writes benchmarks/results/bench.json and docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from doc_block import write_block

ROOT = Path(__file__).resolve().parent.parent
HIDDEN, BATCH, LR = 256, 128, 1e-3


# ----------------------------------------------------------------------------- workers
def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _mnist():
    from barenet.datasets import load_mnist

    ds = load_mnist()
    return (ds.x_train.reshape(len(ds.x_train), -1), ds.y_train.astype("int64"),
            ds.x_test.reshape(len(ds.x_test), -1), ds.y_test.astype("int64"))


def worker_matmul(args) -> dict:
    import numpy as np

    n = 2048
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(7))
    return {"gflops": 2 * n**3 / best / 1e9}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def worker_barenet(args) -> dict:
    import numpy as np

    import barenet as bn
    from barenet.preprocess import Normalizer
    from barenet.training import Trainer, evaluate, predict_proba_batched

    x, y, xt, yt = _mnist()
    norm = Normalizer("255").fit(x)
    model = bn.MLP([784, HIDDEN, 10], hidden="relu", output="softmax", seed=0)
    trainer = Trainer(model, "cross_entropy", bn.Adam(LR), batch_size=BATCH, epochs=args.epochs,
                      normalizer=norm, seed=0, track_norms=not args.no_norms)
    trainer.fit(x, y)
    seconds = trainer.history["seconds"]
    predict = min(_timed(lambda: predict_proba_batched(model, xt, norm, 10000)) for _ in range(7))
    accuracy = evaluate(model, xt, yt, "cross_entropy", norm)[1]
    return {"epoch_seconds": seconds, "predict_seconds": predict, "test_accuracy": accuracy,
            "peak_mb": _peak_mb(), "params": model.n_params(), "numpy": np.__version__}


def worker_profile(args) -> dict:
    """cProfile of two barenet epochs after a warm-up epoch: where the time goes."""
    import cProfile
    import pstats

    import barenet as bn
    from barenet.preprocess import Normalizer
    from barenet.training import Trainer

    x, y, _, _ = _mnist()
    norm = Normalizer("255").fit(x)
    model = bn.MLP([784, HIDDEN, 10], seed=0)
    trainer = Trainer(model, "cross_entropy", bn.Adam(LR), batch_size=BATCH, epochs=1,
                      normalizer=norm, seed=0)
    trainer.fit(x, y)
    trainer.epochs = 3
    profiler = cProfile.Profile()
    profiler.runcall(trainer.fit, x, y)
    stats = pstats.Stats(profiler)
    total = sum(entry[2] for entry in stats.stats.values())  # total internal time
    rows = []
    for (filename, line, name), (_, calls, tottime, _, _) in stats.stats.items():
        where = f"{Path(filename).name}:{line}({name})" if line else name
        rows.append({"function": where, "calls": calls, "seconds_per_epoch": tottime / 2,
                     "share": tottime / total})
    rows.sort(key=lambda r: -r["seconds_per_epoch"])
    return {"rows": rows[:12], "epoch_seconds": total / 2}


def worker_torch(args) -> dict:
    import numpy as np
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    x, y, xt, yt = _mnist()
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    net = torch.nn.Sequential(torch.nn.Linear(784, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 10))
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    seconds = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        order = torch.from_numpy(rng.permutation(len(x)))
        for s in range(0, len(x), BATCH):
            idx = order[s:s + BATCH]
            xb = X[idx].float().div_(255)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xb), Y[idx])
            loss.backward()
            opt.step()
        seconds.append(time.perf_counter() - start)
    Xt = torch.from_numpy(xt)

    def predict():
        with torch.no_grad():
            return net(Xt.float().div_(255))

    predict_s = min(_timed(predict) for _ in range(7))
    with torch.no_grad():
        accuracy = float((net(Xt.float() / 255).argmax(1).numpy() == yt).mean())
    return {"epoch_seconds": seconds, "predict_seconds": predict_s, "test_accuracy": accuracy,
            "peak_mb": _peak_mb(), "torch": torch.__version__}


def worker_sklearn(args) -> dict:
    import warnings

    import numpy as np
    import sklearn
    from sklearn.neural_network import MLPClassifier

    x, y, xt, yt = _mnist()
    x = (x / 255).astype(np.float32)
    clf = MLPClassifier(hidden_layer_sizes=(HIDDEN,), solver="adam", batch_size=BATCH,
                        learning_rate_init=LR, max_iter=args.sklearn_epochs, shuffle=True,
                        random_state=0, tol=0.0, n_iter_no_change=10**6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        clf.fit(x, y)
        total = time.perf_counter() - start
    accuracy = float((clf.predict((xt / 255).astype(np.float32)) == yt).mean())
    per_epoch = total / clf.n_iter_
    return {"epoch_seconds": [per_epoch] * clf.n_iter_, "test_accuracy": accuracy,
            "peak_mb": _peak_mb(), "sklearn": sklearn.__version__}


def worker_torch_recipe(args) -> dict:
    """barenet's default recipe (see barenet.config.TrainConfig) written in PyTorch: the
    whole process, from start-up and data loading to the final test evaluation."""
    import math

    import numpy as np
    import torch

    from barenet.config import TrainConfig
    from barenet.preprocess import stratified_split

    c = TrainConfig()
    torch.manual_seed(c.seed)
    torch.set_num_threads(os.cpu_count() or 1)
    x, y, xt, yt = _mnist()
    x, y, _, _ = stratified_split(x, y, c.val_fraction, c.seed)
    X, Y = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)
    layers, n_in = [], 784
    for width in c.layers:
        layers += [torch.nn.Linear(n_in, width), torch.nn.ReLU()]
        n_in = width
    net = torch.nn.Sequential(*layers, torch.nn.Linear(n_in, 10))
    opt = torch.optim.Adam(net.parameters(), lr=c.lr)
    steps_per_epoch = math.ceil(len(x) / c.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1 + math.cos(math.pi * step / (steps_per_epoch * c.epochs))))
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(c.seed)
    for _ in range(c.epochs):
        order = torch.from_numpy(rng.permutation(len(x)))
        for s in range(0, len(x), c.batch_size):
            idx = order[s:s + c.batch_size]
            opt.zero_grad(set_to_none=True)
            loss_fn(net(X[idx].float().div_(255)), Y[idx]).backward()
            opt.step()
            sched.step()
    with torch.no_grad():
        accuracy = float((net(torch.from_numpy(xt).float() / 255).argmax(1).numpy() == yt).mean())
    return {"test_accuracy": accuracy, "peak_mb": _peak_mb()}




# ----------------------------------------------------------------------------- driver
CONTENDERS = ("barenet", "torch", "sklearn")


def run_worker(name: str, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", name, "--epochs", str(args.epochs),
           "--sklearn-epochs", str(args.sklearn_epochs)] + (["--no-norms"] if args.no_norms else [])
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - start
    return result


def worker_barenet_train(args) -> dict:
    """The whole `barenet train` process with the default recipe, timed from outside; this
    worker's only child is that process, so RUSAGE_CHILDREN is its peak memory."""
    import resource

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "barenet", "train", "--json", "--no-report",
                               "--out", tmp], capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result = json.loads(proc.stdout)
    return {"wall_seconds": wall, "test_accuracy": result["test"]["accuracy"], "peak_mb": peak,
            "timings": result["timings"]}


WORKERS = {"matmul": worker_matmul, "barenet": worker_barenet, "torch": worker_torch,
           "sklearn": worker_sklearn, "torch_recipe": worker_torch_recipe,
           "barenet_train": worker_barenet_train, "profile": worker_profile}


def run_torch_recipe(args) -> dict:
    result = run_worker("torch_recipe", args)
    result["wall_seconds"] = result.pop("process_seconds")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=sorted(WORKERS))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--sklearn-epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2,
                        help="interleaved rounds of the barenet, PyTorch and scikit-learn epochs")
    parser.add_argument("--train-runs", type=int, default=3,
                        help="times to run the whole `barenet train` process (the median counts)")
    parser.add_argument("--no-norms", action="store_true", help="barenet without per-layer norm tracking")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench.json"))
    parser.add_argument("--doc", default=str(ROOT / "docs" / "performance.md"))
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console()
    results: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or ''}",
                     "python": platform.python_version(), "epochs": args.epochs,
                     "rounds": args.rounds}
    rounds: dict[str, list[dict]] = {name: [] for name in ("matmul",) + CONTENDERS}
    for r in range(args.rounds):
        for name in ("matmul",) + CONTENDERS:  # interleaved: a slow spell hits every one
            console.print(f"measuring {name} (round {r + 1} of {args.rounds}) ...")
            rounds[name].append(run_worker(name, args))
    # the machine's rate is the best one seen: a lower bound must not loosen in a slow spell
    rates = [run["gflops"] for run in rounds.pop("matmul")]
    results["matmul"] = {"gflops": max(rates), "rounds": rates}
    for name, runs in rounds.items():
        results[name] = dict(runs[0], rounds=runs, peak_mb=max(run["peak_mb"] for run in runs))
        if "predict_seconds" in runs[0]:
            results[name]["predict_seconds"] = min(run["predict_seconds"] for run in runs)
    console.print("measuring profile ...")
    results["profile"] = run_worker("profile", args)
    console.print("timing the whole `barenet train` process and the same recipe in PyTorch ...")
    runs = [run_worker("barenet_train", args) for _ in range(args.train_runs)]
    middle = sorted(runs, key=lambda run: run["wall_seconds"])[len(runs) // 2]
    results["barenet_train"] = dict(middle, runs=runs,
                                    reached_98=all(run["test_accuracy"] >= 0.98 for run in runs))
    results["torch_recipe"] = run_torch_recipe(args)

    gflops = results["matmul"]["gflops"]
    params = results["barenet"]["params"]
    n = 60000
    flops_6np = 6 * n * params
    # exact: forward 2*N*(784*H + H*10), weight gradients the same, input gradient of layer 2
    # only (layer 1's is never needed): 2*N*H*10
    flops_exact = 2 * n * (784 * HIDDEN + HIDDEN * 10) * 2 + 2 * n * HIDDEN * 10
    results["flop_bound"] = {"flops_6NP": flops_6np, "seconds_6NP": flops_6np / (gflops * 1e9),
                             "flops_exact": flops_exact, "seconds_exact": flops_exact / (gflops * 1e9)}
    # the first epoch of a process includes warm-up (buffer allocation, BLAS thread start):
    # the median of the other epochs of every round
    per_epoch = {k: statistics.median([sec for run in results[k]["rounds"]
                            for sec in (run["epoch_seconds"][1:] or run["epoch_seconds"])])
                 for k in CONTENDERS}
    results["per_epoch_median"] = per_epoch
    bound = results["flop_bound"]["seconds_6NP"]
    targets = [
        ("barenet s/epoch <= 0.8 x PyTorch", per_epoch["barenet"] / per_epoch["torch"], 0.8),
        ("barenet s/epoch <= 1.25 x FLOP bound (6NP)", per_epoch["barenet"] / bound, 1.25),
        ("`barenet train` to >= 98 % test in <= 5 s (median run)",
         results["barenet_train"]["wall_seconds"] if results["barenet_train"]["reached_98"]
         else float("inf"), 5.0),
        ("peak memory of those runs <= 300 MB",
         max(run["peak_mb"] for run in results["barenet_train"]["runs"]), 300),
        ("predict 10000 test images <= 50 ms", results["barenet"]["predict_seconds"] * 1000, 50),
    ]
    results["targets"] = [{"target": t, "value": v, "limit": lim, "met": v <= lim}
                          for t, v, lim in targets]

    table = Table(title=f"784-{HIDDEN}-10, Adam, batch {BATCH}, float32, full MNIST", title_justify="left")
    for col in ("", "s/epoch", "vs barenet", "test acc.", "peak MB", "predict 10k"):
        table.add_column(col, justify="right")
    for k in ("barenet", "torch", "sklearn"):
        r = results[k]
        table.add_row(k, f"{per_epoch[k]:.3f}", f"{per_epoch[k] / per_epoch['barenet']:.2f}x",
                      f"{100 * r['test_accuracy']:.2f} %", f"{r['peak_mb']:.0f}",
                      f"{1000 * r['predict_seconds']:.1f} ms" if "predict_seconds" in r else "-")
    console.print(table)
    console.print(f"matmul rate {gflops:.1f} GFLOP/s; FLOP bound of an epoch: "
                  f"{bound:.3f} s (6NP), {results['flop_bound']['seconds_exact']:.3f} s (exact count)")
    for t in results["targets"]:
        verdict = "met " if t["met"] else "MISS"
        console.print(f"{verdict}  {t['target']}: {t['value']:.3f} (limit {t['limit']})")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    history = out.with_name("bench_history.jsonl")
    with history.open("a") as handle:
        handle.write(json.dumps(summary(results)) + "\n")
    write_doc(Path(args.doc), results)
    write_history_doc(Path(args.doc), history)
    console.print(f"wrote {out}, {history} and {args.doc}")


def summary(r: dict) -> dict:
    """One line of bench_history.jsonl: what a run measured against each target."""
    pe, train = r["per_epoch_median"], r["barenet_train"]
    return {"date": r["date"], "barenet_epoch": pe["barenet"], "torch_epoch": pe["torch"],
            "gflops": r["matmul"]["gflops"], "flop_bound_6NP": r["flop_bound"]["seconds_6NP"],
            "train_walls": [run["wall_seconds"] for run in train["runs"]],
            "train_accuracies": [run["test_accuracy"] for run in train["runs"]],
            "met": [t["met"] for t in r["targets"]]}


def write_history_doc(path: Path, history: Path) -> None:
    """Every run recorded in bench_history.jsonl, one row each: the machine's swings in view."""
    rows = [json.loads(line) for line in history.read_text().splitlines() if line.strip()]
    lines = ["| run | barenet s/epoch | / PyTorch | / FLOP bound | `barenet train` runs (s) | "
             "median | targets met |", "|---|---:|---:|---:|---|---:|---:|"]
    for h in rows:
        walls = sorted(h["train_walls"])
        lines.append(
            f"| {h['date'][:16].replace('T', ' ')} | {h['barenet_epoch']:.3f} | "
            f"{h['barenet_epoch'] / h['torch_epoch']:.2f} | "
            f"{h['barenet_epoch'] / h['flop_bound_6NP']:.2f} | "
            f"{', '.join(f'{w:.2f}' for w in h['train_walls'])} | {walls[len(walls) // 2]:.2f} | "
            f"{sum(h['met'])} of {len(h['met'])} |")
    write_block(path, "bench history", "benchmarks/bench.py", lines)


def write_doc(path: Path, r: dict) -> None:
    """The measured part of docs/performance.md, between markers; the rest is hand-written."""
    pe = r["per_epoch_median"]
    lines = [
        f"Measured {r['date']} on {r['machine']} (Python {r['python']}), "
        f"{r['rounds']} interleaved rounds of {r['epochs']} epochs each, median of the epochs "
        "after each round's first (peak memory: the larger round; predict: the faster round):",
        "",
        "| | s/epoch | ratio to barenet | test accuracy | peak RSS (MB) | predict 10000 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for k, label in (("barenet", "barenet"), ("torch", f"PyTorch {r['torch'].get('torch', '')}"),
                     ("sklearn", f"scikit-learn {r['sklearn'].get('sklearn', '')}")):
        v = r[k]
        predict = f"{1000 * v['predict_seconds']:.1f} ms" if "predict_seconds" in v else "-"
        lines.append(f"| {label} | {pe[k]:.3f} | {pe[k] / pe['barenet']:.2f}x | "
                     f"{100 * v['test_accuracy']:.2f} % | {v['peak_mb']:.0f} | {predict} |")
    fb = r["flop_bound"]
    train = r["barenet_train"]
    parts = train["timings"]
    walls = ", ".join(f"{run['wall_seconds']:.2f} s" for run in train["runs"])
    accuracies = ", ".join(f"{100 * run['test_accuracy']:.2f} %" for run in train["runs"])
    lines += [
        "",
        f"Matrix-multiply rate (2048 x 2048 float32 `a @ b`, the best of the rounds: "
        f"{', '.join(f'{g:.0f}' for g in r['matmul']['rounds'])}): "
        f"{r['matmul']['gflops']:.1f} GFLOP/s. "
        f"FLOP lower bound of one epoch: {fb['seconds_6NP']:.3f} s for 6 N P = "
        f"{fb['flops_6NP'] / 1e9:.1f} GFLOP; {fb['seconds_exact']:.3f} s for the exact count "
        f"({fb['flops_exact'] / 1e9:.1f} GFLOP: no input gradient for the first layer).",
        "",
        f"Whole `barenet train` process (default recipe), {len(train['runs'])} runs: {walls}; "
        f"test accuracy {accuracies}; the median run: {train['wall_seconds']:.2f} s, peak RSS "
        f"{train['peak_mb']:.0f} MB; of its wall time, loading and splitting the data took "
        f"{parts['data_seconds']:.2f} s, choosing the thread count and training "
        f"{parts['train_seconds']:.2f} s (with a validation pass per epoch), the final "
        f"evaluation {parts['evaluate_seconds']:.2f} s and the rest (start-up, imports, writing "
        f"the run) "
        f"{train['wall_seconds'] - sum(parts.values()):.2f} s. "
        f"The same recipe in PyTorch: "
        f"{r['torch_recipe']['wall_seconds']:.2f} s, {100 * r['torch_recipe']['test_accuracy']:.2f} %, "
        f"peak RSS {r['torch_recipe']['peak_mb']:.0f} MB.",
        "",
        "| target | measured | limit | met |",
        "|---|---:|---:|:---:|",
    ]
    for t in r["targets"]:
        met = "yes" if t["met"] else "no"
        lines.append(f"| {t['target']} | {t['value']:.3f} | {t['limit']} | {met} |")
    lines += ["", "Where one barenet epoch goes (cProfile, internal time per function, two epochs "
              "after a warm-up; the profiler adds its own overhead):", "",
              "| function | calls per epoch | s per epoch | share |", "|---|---:|---:|---:|"]
    for row in r["profile"]["rows"]:
        lines.append(f"| `{row['function']}` | {row['calls'] // 2} | {row['seconds_per_epoch']:.3f} | "
                     f"{100 * row['share']:.1f} % |")
    write_block(path, "measured", "benchmarks/bench.py", lines)


if __name__ == "__main__":
    main()

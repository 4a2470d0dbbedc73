"""barenet against its peers, measured in one run on this machine, as ratios.

    pip install -e ".[bench]" && python benchmarks/bench.py [--epochs 4] [--rounds 2] [--train-runs 3]
    python benchmarks/bench.py --quick      # a smoke test: 1 round of 2 epochs; writes bench-quick.json only

Every measurement runs in its own Python process (so peak resident memory is that of one
contender alone), and the results are compared as ratios within this run, since absolute
times do not carry from one machine to the next (issue 16). The targets:

* the whole ``barenet train`` process (default recipe; run ``--train-runs`` times, the median
  run counts, and every run must reach 98.0 % test) against the fastest whole PyTorch process
  to 98.0 % test among ``TORCH_RECIPES`` (784-W-10, Adam, batch 128, each stopping at the
  first epoch that reaches 98 %): <= 0.4 x;
* seconds per epoch of 784-256-10 (ReLU, softmax + cross-entropy, Adam lr 1e-3, batch 128,
  float32, full MNIST), barenet against PyTorch (CPU, same batches), measured in interleaved
  rounds (barenet, PyTorch, scikit-learn, then again) so that a slow spell of a shared machine
  does not fall on one of them alone: <= 0.6 x;
* no barenet epoch more than 1.15 x its recipe's fastest, in units of the machine's speed
  during each epoch (:class:`MachineSpeed`), each epoch at its fastest of the rounds
  (:func:`epoch_spread`; the benchmark network's rounds and the default recipe's; the first
  epoch of each process, which starts the BLAS threads and allocates the buffers, is left out);
* peak memory of the ``barenet train`` run against the fastest PyTorch run to 98 %: <= 0.5 x.

For information: the FLOP lower bound of an epoch (from the machine's float32 matrix-multiply
rate, one 2048 x 2048 ``a @ b`` per round, the best counting), scikit-learn's MLPClassifier per
epoch, inference time for the 10000 test images, and a cProfile of barenet's epoch. Every run
records the machine (CPU model, BLAS library and kernel from threadpoolctl, matrix-multiply
rate), writes benchmarks/results/bench.json, appends a line to
benchmarks/results/bench_history.jsonl and updates docs/performance.md.
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
TORCH_RECIPES = ((192, 2e-3), (256, 1e-3), (256, 2e-3), (384, 1e-3), (512, 1e-3))  # (width, Adam lr)
TARGET_ACCURACY = 0.98


# ----------------------------------------------------------------------------- workers
def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _mnist():
    from barenet.data.mnist import load_mnist

    ds = load_mnist()
    return (ds.x_train.reshape(len(ds.x_train), -1), ds.y_train.astype("int64"),
            ds.x_test.reshape(len(ds.x_test), -1), ds.y_test.astype("int64"))


def worker_matmul(args) -> dict:
    """The float32 matrix-multiply rate, and the BLAS library NumPy uses (threadpoolctl)."""
    import numpy as np
    from threadpoolctl import threadpool_info

    n = 2048
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(7))
    blas = [f"{lib.get('internal_api')} {lib.get('version')} ({lib.get('architecture') or '?'} kernel, "
            f"{lib.get('num_threads')} threads)"
            for lib in threadpool_info() if lib.get("user_api") == "blas"]
    return {"gflops": 2 * n**3 / best / 1e9, "blas": "; ".join(blas) or "unknown"}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class MachineSpeed:
    """The machine's speed during each epoch, sampled in the training process with its BLAS
    threads: every :attr:`EVERY` batches, a fixed control workload is timed.

    The workload is one training step's mix on arrays that never change (never subnormal): the
    forward and weight-gradient products of a 784-256 layer at batch 128 and one Adam-like pass
    over 203,530 floats. An epoch's time, less the time its samples took, over the median sample
    is its length in units of the machine's speed of that epoch: a slower host (another
    machine's load, a busy sibling core) lengthens both, a slowdown of barenet's own work
    (subnormal floats, a growing buffer, a projection that copies) only the epoch. The samples
    add about 2 % to an epoch.

    The median, not the mean: one sample caught by a stall of the host of some 40 ms (seen
    2026-12-07: one epoch's mean sample 2.42 ms against 0.8 ms in the others, the epoch itself
    barely longer) would otherwise make its epoch look three times faster than it was, and that
    epoch, the fastest of its rounds, would set the spread."""

    EVERY = 20

    def __init__(self) -> None:
        import numpy as np

        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((BATCH, 784), dtype=np.float32)
        self.w = rng.standard_normal((784, HIDDEN), dtype=np.float32)
        self.g = rng.standard_normal((BATCH, HIDDEN), dtype=np.float32)
        self.out = np.empty((BATCH, HIDDEN), dtype=np.float32)
        self.dw = np.empty((784, HIDDEN), dtype=np.float32)
        self.v = rng.standard_normal(203_530, dtype=np.float32)
        self.u = np.zeros_like(self.v)
        self.samples: list[float] = []
        self.control_seconds: list[float] = []  # per epoch: the median sample
        self.spent_seconds: list[float] = []  # per epoch: the time the samples took

    def sample(self) -> None:
        import numpy as np

        start = time.perf_counter()
        np.matmul(self.x, self.w, out=self.out)
        np.matmul(self.x.T, self.g, out=self.dw)
        self.u *= 0.9
        self.u += self.v  # settles at 10 v: nothing decays toward zero
        self.samples.append(time.perf_counter() - start)

    def on_batch_end(self, trainer, batch, n_batches, loss) -> None:
        if batch % self.EVERY == 0:
            self.sample()

    def on_epoch_end(self, trainer, record) -> None:
        if not self.samples:
            self.sample()
        self.control_seconds.append(statistics.median(self.samples))
        self.spent_seconds.append(sum(self.samples))
        self.samples = []

    def result(self) -> dict:
        return {"control_seconds": self.control_seconds, "control_spent_seconds": self.spent_seconds}


def own_epochs(run: dict) -> list[float]:
    """A worker's epoch times, less the time :class:`MachineSpeed` samples took in them."""
    spent = run.get("control_spent_seconds") or [0.0] * len(run["epoch_seconds"])
    return [sec - cost for sec, cost in zip(run["epoch_seconds"], spent, strict=True)]


def normalized_epochs(run: dict) -> list[float]:
    """Each epoch, less its samples' time, over its median :class:`MachineSpeed` sample."""
    return [sec / control for sec, control in zip(own_epochs(run), run["control_seconds"], strict=True)]


def worker_barenet(args) -> dict:
    import numpy as np

    import barenet as bn
    from barenet.data.preprocess import Normalizer
    from barenet.train.trainer import Trainer, evaluate, predict_proba_batched

    x, y, xt, yt = _mnist()
    norm = Normalizer("255").fit(x)
    model = bn.MLP([784, HIDDEN, 10], hidden="relu", output="softmax", seed=0)
    speed = MachineSpeed()
    trainer = Trainer(model, "cross_entropy", bn.Adam(LR), batch_size=BATCH, epochs=args.epochs,
                      normalizer=norm, seed=0, track_norms=not args.no_norms, callbacks=[speed])
    trainer.fit(x, y)
    seconds = trainer.history["seconds"]
    cpu_seconds = trainer.history["cpu_seconds"]
    predict = min(_timed(lambda: predict_proba_batched(model, xt, norm, 10000)) for _ in range(7))
    accuracy = evaluate(model, xt, yt, "cross_entropy", norm)[1]
    return {"epoch_seconds": seconds, "epoch_cpu_seconds": cpu_seconds, "predict_seconds": predict,
            **speed.result(), "test_accuracy": accuracy, "peak_mb": _peak_mb(),
            "params": model.n_params(), "numpy": np.__version__}


def worker_default_epochs(args) -> dict:
    """The default recipe's epochs, trained in this process as ``barenet train`` trains them
    (:func:`barenet.run.runner.train_run`, ``--threads auto``), with the machine's speed
    sampled inside each epoch."""
    from barenet.config import make_config
    from barenet.run.runner import train_run

    speed = MachineSpeed()
    result = train_run(make_config(), write=False, callbacks=[speed])
    return {"epoch_seconds": result.history["seconds"], "epoch_cpu_seconds": result.history["cpu_seconds"],
            **speed.result(), "peak_mb": _peak_mb(),
            "test_accuracy": result.metrics["test"]["accuracy"]}


def worker_profile(args) -> dict:
    """cProfile of two barenet epochs after a warm-up epoch: where the time goes."""
    import cProfile
    import pstats

    import barenet as bn
    from barenet.data.preprocess import Normalizer
    from barenet.train.trainer import Trainer

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


def worker_floor(args) -> dict:
    """The part of barenet's epoch that no rewrite in NumPy can remove: the first layer's two
    matrix products (``x @ W1`` and ``x.T @ g``, one BLAS call each) and the Adam update of
    all 203,530 parameters (barenet's own, ten in-place passes), each timed alone on a batch of
    the benchmark network (the best of many repeats, the machine's BLAS threads), times the
    steps of an epoch. Everything else (the output layer, activations, loss, gather, Python)
    is left out, so the real epoch can only be slower."""
    import timeit

    import numpy as np

    import barenet as bn

    rng = np.random.default_rng(0)
    model = bn.MLP([784, HIDDEN, 10], seed=0)
    x = rng.random((BATCH, 784), dtype=np.float32)
    labels = rng.integers(0, 10, BATCH)
    model.loss_and_gradients(x, labels, "cross_entropy")
    first = model.dense_layers[0]
    g = rng.standard_normal((BATCH, HIDDEN), dtype=np.float32)
    z = np.empty((BATCH, HIDDEN), dtype=np.float32)
    optimizer, params = bn.Adam(LR), model.params()
    parts = {"forward product": lambda: np.matmul(x, first.W, out=z),
             "weight-gradient product": lambda: np.matmul(x.T, g, out=first.dW),
             "Adam update": lambda: optimizer.step(params)}
    seconds = {name: min(timeit.repeat(fn, number=50, repeat=9)) / 50 for name, fn in parts.items()}
    steps = -(-60000 // BATCH)
    return {"step_parts_seconds": seconds, "epoch_seconds": steps * sum(seconds.values())}


def worker_bare_step(args) -> dict:
    """The benchmark network's training step written out inline in NumPy, with nothing around it:
    no layer objects, no loss object, no callbacks, no checks, no history, no subnormal flush;
    what any NumPy implementation of this step must still do, as few calls as it can be done in.

    The same work as barenet's step: a uint8 gather and ``x / 255`` into a float32 buffer, the
    three products of the forward pass and weight gradients plus layer 2's input gradient,
    bias, ReLU, a stable softmax, the loss value and the count of correct predictions (which the
    trainer reports), the fused gradient ``(p - y) / N``, the two weight-gradient norms the
    trainer tracks, and Adam's ten passes over the packed parameters. Its epoch over PyTorch's
    shows how near NumPy code comes to the epoch target on the machine (information beside it)."""
    import math

    import numpy as np

    x, y, _, _ = _mnist()
    rng = np.random.default_rng(0)
    n_in, n_hidden, n_out = 784, HIDDEN, 10
    sizes = (n_in * n_hidden, n_hidden, n_hidden * n_out, n_out)
    offsets = np.cumsum((0,) + sizes)

    def views(vector):  # W1, b1, W2, b2 as views of one packed vector, as barenet stores them
        shapes = ((n_in, n_hidden), (n_hidden,), (n_hidden, n_out), (n_out,))
        bounds = zip(offsets[:-1], offsets[1:], shapes, strict=True)
        return [vector[a:b].reshape(shape) for a, b, shape in bounds]

    params, grads = np.zeros(offsets[-1], np.float32), np.zeros(offsets[-1], np.float32)
    u, s, tmp = np.zeros_like(params), np.zeros_like(params), np.empty_like(params)
    w1, b1, w2, b2 = views(params)
    dw1, db1, dw2, db2 = views(grads)
    w1[...] = rng.standard_normal((n_in, n_hidden)) * math.sqrt(2 / n_in)
    w2[...] = rng.standard_normal((n_hidden, n_out)) * math.sqrt(2 / n_hidden)
    raw, xb = np.empty((BATCH, n_in), np.uint8), np.empty((BATCH, n_in), np.float32)
    z1, z2 = np.empty((BATCH, n_hidden), np.float32), np.empty((BATCH, n_out), np.float32)
    dz1, relu_mask = np.empty_like(z1), np.empty_like(z1)
    inverse_255, rows = np.float32(1 / 255), np.arange(BATCH)
    beta1, beta2, t, seconds = 0.9, 0.999, 0, []
    for _ in range(args.epochs):
        start = time.perf_counter()
        order, loss_sum, correct = rng.permutation(len(x)), 0.0, 0
        for first in range(0, len(x), BATCH):
            idx = order[first:first + BATCH]
            m = len(idx)
            a, h, o, d, mask, r = xb[:m], z1[:m], z2[:m], dz1[:m], relu_mask[:m], rows[:m]
            np.multiply(np.take(x, idx, axis=0, out=raw[:m]), inverse_255, out=a)
            labels = y[idx]
            np.matmul(a, w1, out=h)
            h += b1
            np.maximum(h, 0, out=h)
            np.matmul(h, w2, out=o)
            o += b2
            o -= o.max(axis=1, keepdims=True)
            np.exp(o, out=o)
            o /= o.sum(axis=1, keepdims=True)
            loss_sum -= float(np.log(np.maximum(o[r, labels], 1e-7)).sum())
            correct += int(np.count_nonzero(o.argmax(axis=1) == labels))
            o[r, labels] -= 1
            o *= np.float32(1 / m)
            np.matmul(h.T, o, out=dw2)
            np.sum(o, axis=0, out=db2)
            np.matmul(o, w2.T, out=d)
            np.greater(h, 0, out=mask)
            d *= mask
            np.matmul(a.T, d, out=dw1)
            np.sum(d, axis=0, out=db1)
            norms = [math.sqrt(float(np.dot(g.reshape(-1), g.reshape(-1)))) for g in (dw1, dw2)]
            t += 1
            root_c2 = math.sqrt((1 - beta2) / (1 - beta2 ** t))
            step, eps = LR * (1 - beta1) / (1 - beta1 ** t) / root_c2, 1e-8 / root_c2
            u *= beta1
            u += grads
            s *= beta2
            np.multiply(grads, grads, out=tmp)
            s += tmp
            np.sqrt(s, out=tmp)
            tmp += eps
            np.divide(u, tmp, out=tmp)
            tmp *= step
            params -= tmp
        seconds.append(time.perf_counter() - start)
    return {"epoch_seconds": seconds, "train_accuracy": correct / len(x), "last_norms": norms,
            "peak_mb": _peak_mb()}


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


def worker_torch_to_98(args) -> dict:
    """784-W-10 in PyTorch (Adam ``--torch-lr``, batch 128, full training set), the whole
    process: from start-up to the first epoch whose test accuracy reaches 98 % (at most
    ``--torch-max-epochs``), with the test evaluation after every epoch counted."""
    import numpy as np
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    x, y, xt, yt = _mnist()
    X, Y, Xt = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(xt)
    width = args.torch_width
    net = torch.nn.Sequential(torch.nn.Linear(784, width), torch.nn.ReLU(), torch.nn.Linear(width, 10))
    opt = torch.optim.Adam(net.parameters(), lr=args.torch_lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    accuracies, seconds = [], []
    for _ in range(args.torch_max_epochs):
        start = time.perf_counter()
        order = torch.from_numpy(rng.permutation(len(x)))
        for s in range(0, len(x), BATCH):
            idx = order[s:s + BATCH]
            opt.zero_grad(set_to_none=True)
            loss_fn(net(X[idx].float().div_(255)), Y[idx]).backward()
            opt.step()
        seconds.append(time.perf_counter() - start)
        with torch.no_grad():
            accuracies.append(float((net(Xt.float().div_(255)).argmax(1).numpy() == yt).mean()))
        if accuracies[-1] >= TARGET_ACCURACY:
            break
    return {"width": width, "lr": args.torch_lr, "accuracies": accuracies, "epoch_seconds": seconds,
            "test_accuracy": accuracies[-1], "reached_98": accuracies[-1] >= TARGET_ACCURACY,
            "peak_mb": _peak_mb()}


# ----------------------------------------------------------------------------- driver
CONTENDERS = ("barenet", "torch", "sklearn")


def run_worker(name: str, args, *extra: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", name, "--epochs", str(args.epochs),
           "--sklearn-epochs", str(args.sklearn_epochs), *extra] + (["--no-norms"] if args.no_norms else [])
    start, ticks = time.perf_counter(), cpu_ticks()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - start
    result["machine_busy"] = busy_shares(ticks, cpu_ticks())
    return result


def cpu_ticks() -> dict[str, int]:
    """The machine's CPU time so far by kind, summed over its cores (Linux /proc/stat; empty
    elsewhere): ``steal`` is time the hypervisor gave to other machines."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return {}
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    return dict(zip(names, map(int, fields), strict=False))


def busy_shares(before: dict[str, int], after: dict[str, int]) -> dict[str, float]:
    """Shares of the machine's CPU time between two :func:`cpu_ticks`: how much the hypervisor
    took (``steal``) and how much sat idle."""
    total = sum(after.values()) - sum(before.values())
    if not before or total <= 0:
        return {}
    return {kind: (after[kind] - before[kind]) / total for kind in ("steal", "idle") if kind in after}


def worker_barenet_train(args) -> dict:
    """The whole `barenet train` process with the default recipe, timed from outside; this
    worker's only child is that process, so RUSAGE_CHILDREN is its peak memory."""
    import resource

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "barenet", "train", "--json", "--no-report",
                               "--out", tmp], capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
        history = json.loads((Path(tmp) / "history.json").read_text())
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result = json.loads(proc.stdout)
    return {"wall_seconds": wall, "test_accuracy": result["test"]["accuracy"], "peak_mb": peak,
            "timings": result["timings"], "epoch_seconds": [e["seconds"] for e in history["epochs"]],
            "epoch_cpu_seconds": [e["cpu_seconds"] for e in history["epochs"]]}


WORKERS = {"matmul": worker_matmul, "barenet": worker_barenet, "torch": worker_torch,
           "sklearn": worker_sklearn, "torch_to_98": worker_torch_to_98,
           "barenet_train": worker_barenet_train, "profile": worker_profile, "floor": worker_floor,
           "default_epochs": worker_default_epochs, "bare_step": worker_bare_step}


def run_torch_to_98(args, width: int, lr: float) -> dict:
    result = run_worker("torch_to_98", args, "--torch-width", str(width), "--torch-lr", str(lr),
                        "--torch-max-epochs", str(args.torch_max_epochs))
    result["wall_seconds"] = result.pop("process_seconds")
    return result


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo; elsewhere what platform knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def epoch_spread(runs: list[list[float]]) -> float:
    """Slowest over fastest epoch of one recipe, each epoch at its fastest over the runs (each
    run a process training the same recipe), leaving out the first epoch of each process.

    The target is about barenet's own work slowing down as a run goes on (subnormal floats, a
    buffer that grows, a step that does more work late in a run): such a slowdown comes back in
    every run at the same epochs and survives the minimum over runs, while a slow spell of the
    shared host falls on one run's epochs and not on another's. It is judged on epochs in units
    of the machine's speed during each one (:func:`normalized_epochs`); :func:`pooled_spread`
    (every epoch of every run, the earlier estimator) and the wall and CPU-time spreads are
    reported beside it."""
    steady = [run[1:] or run for run in runs]
    fastest = [min(epochs) for epochs in zip(*steady, strict=False)]
    return max(fastest) / min(fastest)


def pooled_spread(runs: list[list[float]]) -> float:
    """Slowest over fastest of every epoch of every run (first epochs left out): information,
    since one slow spell of the host on one run's epoch sets it."""
    epochs = [sec for run in runs for sec in (run[1:] or run)]
    return max(epochs) / min(epochs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=sorted(WORKERS))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--sklearn-epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds of the barenet, PyTorch and scikit-learn epochs")
    parser.add_argument("--train-runs", type=int, default=3,
                        help="times to run the whole `barenet train` process (the median counts)")
    parser.add_argument("--torch-max-epochs", type=int, default=15,
                        help="epochs after which a PyTorch recipe that has not reached 98 %% gives up")
    parser.add_argument("--torch-width", type=int, default=256, help=argparse.SUPPRESS)
    parser.add_argument("--torch-lr", type=float, default=1e-3, help=argparse.SUPPRESS)
    parser.add_argument("--no-norms", action="store_true", help="barenet without per-layer norm tracking")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 1 round of 2 epochs, 1 train run, one PyTorch recipe of at "
                             "most 2 epochs; writes benchmarks/results/bench-quick.json only")
    parser.add_argument("--out", default=None, help="results file (default benchmarks/results/bench.json)")
    parser.add_argument("--doc", default=str(ROOT / "docs" / "performance.md"))
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return
    torch_recipes = TORCH_RECIPES
    if args.quick:
        args.epochs, args.rounds, args.train_runs, args.sklearn_epochs = 2, 1, 1, 1
        args.torch_max_epochs, torch_recipes = 2, TORCH_RECIPES[:1]
    results_dir = ROOT / "benchmarks" / "results"
    out = Path(args.out) if args.out else results_dir / ("bench-quick.json" if args.quick else "bench.json")

    from rich.console import Console

    console = Console()
    results = measure(args, torch_recipes, console)
    evaluate_targets(results)
    print_summary(results, console)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    if args.quick:
        console.print(f"wrote {out} (--quick: no history line, docs untouched)")
        return
    history = results_dir / "bench_history.jsonl"
    with history.open("a") as handle:
        handle.write(json.dumps(summary(results)) + "\n")
    write_doc(Path(args.doc), results)
    write_history_doc(Path(args.doc), history)
    console.print(f"wrote {out}, {history} and {args.doc}")


def measure(args, torch_recipes, console) -> dict:
    """Every measurement of one run, each in its own process."""
    results: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "cpu": cpu_model(), "cores": os.cpu_count(), "machine": platform.machine(),
                     "python": platform.python_version(), "epochs": args.epochs,
                     "rounds": args.rounds, "quick": args.quick}
    rounds: dict[str, list[dict]] = {name: [] for name in
                                     ("matmul",) + CONTENDERS + ("bare_step", "default_epochs")}
    for r in range(args.rounds):
        for name in rounds:  # interleaved: a slow spell hits every one
            console.print(f"measuring {name} (round {r + 1} of {args.rounds}) ...")
            rounds[name].append(run_worker(name, args))
    # the machine's rate is the best one seen: a lower bound must not loosen in a slow spell
    matmul = rounds.pop("matmul")
    results["matmul"] = {"gflops": max(run["gflops"] for run in matmul),
                         "rounds": [run["gflops"] for run in matmul]}
    results["blas"] = matmul[0]["blas"]
    for name, runs in rounds.items():
        results[name] = dict(runs[0], rounds=runs, peak_mb=max(run["peak_mb"] for run in runs))
        if "predict_seconds" in runs[0]:
            results[name]["predict_seconds"] = min(run["predict_seconds"] for run in runs)
    console.print("measuring profile ...")
    results["profile"] = run_worker("profile", args)
    console.print("measuring the floor of barenet's epoch ...")
    results["floor"] = run_worker("floor", args)
    # whole processes, barenet's and PyTorch's taking turns, so that a slow spell of the
    # machine falls on both (the first version ran all of barenet's, then all of PyTorch's)
    runs, torch_runs = [], []
    for turn in range(max(args.train_runs, len(torch_recipes))):
        if turn < args.train_runs:
            console.print(f"timing the whole `barenet train` process (run {turn + 1}) ...")
            runs.append(run_worker("barenet_train", args))
        if turn < len(torch_recipes):
            width, lr = torch_recipes[turn]
            console.print(f"timing PyTorch 784-{width}-10, Adam lr {lr:g}, to 98 % test ...")
            torch_runs.append(run_torch_to_98(args, width, lr))
    middle = sorted(runs, key=lambda run: run["wall_seconds"])[len(runs) // 2]
    results["barenet_train"] = dict(middle, runs=runs,
                                    reached_98=all(run["test_accuracy"] >= TARGET_ACCURACY for run in runs))
    reached = [run for run in torch_runs if run["reached_98"]]
    fastest = min(reached, key=lambda run: run["wall_seconds"]) if reached else None
    results["torch_to_98"] = {"runs": torch_runs, "fastest": fastest}

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
    # barenet's epochs without the time its MachineSpeed samples took
    results["per_epoch_median"] = {
        k: statistics.median([sec for run in results[k]["rounds"]
                              for sec in (own_epochs(run)[1:] or own_epochs(run))])
        for k in CONTENDERS + ("bare_step",)}
    network, default = f"784-{HIDDEN}-10, Adam lr {LR:g} (the rounds)", "the default recipe (each run)"
    bench_rounds, default_rounds = results["barenet"]["rounds"], results["default_epochs"]["rounds"]
    results["epoch_spread"] = {  # the target: in units of the machine's speed during each epoch
        network: epoch_spread([normalized_epochs(run) for run in bench_rounds]),
        default: epoch_spread([normalized_epochs(run) for run in default_rounds])}
    train_runs = results["barenet_train"]["runs"]
    for times, runs_of, key in ((normalized_epochs, default_rounds, "epoch_spread_pooled"),
                                (own_epochs, default_rounds + train_runs, "epoch_spread_wall"),
                                (lambda run: run["epoch_cpu_seconds"], default_rounds + train_runs,
                                 "epoch_spread_cpu")):
        results[key] = {  # information: every epoch of every run
            network: pooled_spread([times(run) for run in bench_rounds]),
            default: pooled_spread([times(run) for run in runs_of])}
    return results


def evaluate_targets(r: dict) -> None:
    """The targets of issue 16, as ratios within this run: value, limit, met (in place)."""
    pe, train, fastest = r["per_epoch_median"], r["barenet_train"], r["torch_to_98"]["fastest"]
    inf = float("inf")
    train_ratio = (train["wall_seconds"] / fastest["wall_seconds"]
                   if train["reached_98"] and fastest else inf)
    memory_ratio = max(run["peak_mb"] for run in train["runs"]) / fastest["peak_mb"] if fastest else inf
    targets = [
        ("`barenet train` to 98 % test / fastest PyTorch process to 98 %", train_ratio, 0.4),
        (f"barenet s/epoch / PyTorch s/epoch (784-{HIDDEN}-10)", pe["barenet"] / pe["torch"], 0.6),
        ("slowest / fastest barenet epoch of any recipe, in units of the machine's speed",
         max(r["epoch_spread"].values()), 1.15),
        ("peak memory of `barenet train` / the fastest PyTorch run's", memory_ratio, 0.5),
    ]
    r["targets"] = [{"target": t, "value": v, "limit": lim, "met": v <= lim} for t, v, lim in targets]
    r["information"] = {"flop_bound_ratio": pe["barenet"] / r["flop_bound"]["seconds_6NP"],
                        "floor_over_torch_epoch": r["floor"]["epoch_seconds"] / pe["torch"],
                        "bare_step_over_torch_epoch": pe["bare_step"] / pe["torch"],
                        "predict_ms": r["barenet"]["predict_seconds"] * 1000}


def print_summary(r: dict, console) -> None:
    from rich.table import Table

    pe = r["per_epoch_median"]
    table = Table(title=f"784-{HIDDEN}-10, Adam, batch {BATCH}, float32, full MNIST", title_justify="left")
    for col in ("", "s/epoch", "vs barenet", "test acc.", "peak MB", "predict 10k"):
        table.add_column(col, justify="right")
    for k in CONTENDERS:
        v = r[k]
        table.add_row(k, f"{pe[k]:.3f}", f"{pe[k] / pe['barenet']:.2f}x",
                      f"{100 * v['test_accuracy']:.2f} %", f"{v['peak_mb']:.0f}",
                      f"{1000 * v['predict_seconds']:.1f} ms" if "predict_seconds" in v else "-")
    console.print(table)
    console.print(f"{r['cpu']}, {r['cores']} cores; BLAS {r['blas']}; matmul {r['matmul']['gflops']:.1f} "
                  f"GFLOP/s; FLOP bound of an epoch {r['flop_bound']['seconds_6NP']:.3f} s (6NP), "
                  f"barenet at {r['information']['flop_bound_ratio']:.2f}x it (information)")
    for t in r["targets"]:
        verdict = "met " if t["met"] else "MISS"
        console.print(f"{verdict}  {t['target']}: {t['value']:.3f} (limit {t['limit']})")
    console.print(f"      the bare NumPy step (information): {pe['bare_step']:.3f} s/epoch, "
                  f"{r['information']['bare_step_over_torch_epoch']:.3f} x PyTorch's epoch")


def summary(r: dict) -> dict:
    """One line of bench_history.jsonl: the machine and what the run measured against each target."""
    pe, train = r["per_epoch_median"], r["barenet_train"]
    fastest = r["torch_to_98"]["fastest"]
    return {"date": r["date"], "cpu": r["cpu"], "cores": r["cores"], "blas": r["blas"],
            "barenet_epoch": pe["barenet"], "torch_epoch": pe["torch"], "bare_step_epoch": pe["bare_step"],
            "gflops": r["matmul"]["gflops"], "flop_bound_6NP": r["flop_bound"]["seconds_6NP"],
            "train_walls": [run["wall_seconds"] for run in train["runs"]],
            "train_accuracies": [run["test_accuracy"] for run in train["runs"]],
            "torch_to_98_seconds": fastest["wall_seconds"] if fastest else None,
            "targets": {t["target"]: t["value"] for t in r["targets"]},
            "epoch_spread_wall": max(r["epoch_spread_wall"].values()),
            "epoch_spread_pooled": max(r["epoch_spread_pooled"].values()),
            "epoch_spread_cpu": max(r["epoch_spread_cpu"].values()),
            "spread_unit": "speed, fastest of runs",
            "met": [t["met"] for t in r["targets"]]}


def write_history_doc(path: Path, history: Path) -> None:
    """Every run recorded in bench_history.jsonl, one row each: the machines and their swings in
    view. Runs from before the targets became ratios (2026-11) lack some columns; each row
    names the unit its spread was judged in (wall clock, CPU time, then the machine's speed)."""
    rows = [json.loads(line) for line in history.read_text().splitlines() if line.strip()]
    lines = ["| run | CPU, BLAS | GFLOP/s | s/epoch / PyTorch | bare NumPy step / PyTorch "
             "| / FLOP bound | `barenet train` runs (s) | / PyTorch to 98 % | epoch spread "
             "| memory / PyTorch | targets met |",
             "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    for h in rows:
        values = list(h.get("targets", {}).values())
        ratio = f"{values[0]:.2f}" if values else "-"
        # the spread was judged on wall time until 2026-12-03, then in one run on CPU time,
        # then in units of the machine's speed (the wall-clock spread in brackets)
        spread = f"{values[2]:.2f}" if values else "-"
        if values:
            spread += {"speed": " (speed units)", "speed, fastest of runs": " (speed units, each "
                       "epoch at its fastest of the runs)",
                       None: " (CPU time)" if "epoch_spread_wall" in h else " (wall)"}[h.get("spread_unit")]
        if "epoch_spread_pooled" in h:
            spread += f", pooled {h['epoch_spread_pooled']:.2f}"
        if "epoch_spread_wall" in h:
            spread += f", wall {h['epoch_spread_wall']:.2f}"
        memory = f"{values[3]:.2f}" if values else "-"
        bare = f"{h['bare_step_epoch'] / h['torch_epoch']:.2f}" if "bare_step_epoch" in h else "-"
        machine = f"{h['cpu']}, {h['blas']}" if "cpu" in h else "(not recorded)"
        lines.append(
            f"| {h['date'][:16].replace('T', ' ')} | {machine} | {h['gflops']:.0f} | "
            f"{h['barenet_epoch'] / h['torch_epoch']:.2f} | {bare} | "
            f"{h['barenet_epoch'] / h['flop_bound_6NP']:.2f} | "
            f"{', '.join(f'{w:.2f}' for w in h['train_walls'])} | {ratio} | {spread} | {memory} | "
            f"{sum(h['met'])} of {len(h['met'])}{'' if values else ' (old targets)'} |")
    write_block(path, "bench history", "benchmarks/bench.py", lines)


def write_doc(path: Path, r: dict) -> None:
    """The measured part of docs/performance.md, between markers; the rest is hand-written."""
    pe = r["per_epoch_median"]
    lines = [
        f"Measured {r['date']} on {r['cpu']} ({r['cores']} cores, {r['machine']}; BLAS {r['blas']}; "
        f"Python {r['python']}), {r['rounds']} interleaved rounds of {r['epochs']} epochs each, median "
        "of the epochs after each round's first (peak memory: the larger round; predict: the faster "
        "round):",
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
    epochs = ", ".join(f"{sec:.2f}" for sec in train["epoch_seconds"])
    lines += [
        "",
        f"Matrix-multiply rate (2048 x 2048 float32 `a @ b`, the best of the rounds: "
        f"{', '.join(f'{g:.0f}' for g in r['matmul']['rounds'])}): "
        f"{r['matmul']['gflops']:.1f} GFLOP/s. "
        f"FLOP lower bound of one epoch: {fb['seconds_6NP']:.3f} s for 6 N P = "
        f"{fb['flops_6NP'] / 1e9:.1f} GFLOP; {fb['seconds_exact']:.3f} s for the exact count "
        f"({fb['flops_exact'] / 1e9:.1f} GFLOP: no input gradient for the first layer); barenet's "
        f"epoch is {r['information']['flop_bound_ratio']:.2f}x the 6 N P bound (information only).",
        "",
        f"Whole `barenet train` process (default recipe), {len(train['runs'])} runs: {walls}; "
        f"test accuracy {accuracies}; the median run: {train['wall_seconds']:.2f} s, peak RSS "
        f"{train['peak_mb']:.0f} MB, epochs {epochs} s; of its wall time, loading and splitting the "
        f"data took {parts['data_seconds']:.2f} s, choosing the thread count and training "
        f"{parts['train_seconds']:.2f} s (with a validation pass per epoch), the final "
        f"evaluation {parts['evaluate_seconds']:.2f} s and the rest (start-up, imports, writing "
        f"the run) {train['wall_seconds'] - sum(parts.values()):.2f} s.",
        "",
        "PyTorch to 98 % test (whole process, test evaluated after every epoch, stopping at the "
        "first that reaches 98 %):",
        "",
        "| recipe | epochs | test accuracy | whole process (s) | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|",
    ]
    fastest = r["torch_to_98"]["fastest"]
    for run in r["torch_to_98"]["runs"]:
        mark = " (fastest)" if run == fastest else ""
        reached = "" if run["reached_98"] else " (not reached)"
        lines.append(f"| 784-{run['width']}-10, Adam lr {run['lr']:g}{mark} | {len(run['accuracies'])} | "
                     f"{100 * run['test_accuracy']:.2f} %{reached} | {run['wall_seconds']:.2f} | "
                     f"{run['peak_mb']:.0f} |")
    spread = "; ".join(f"{name}: {value:.2f}x" for name, value in r["epoch_spread"].items())
    pooled = "; ".join(f"{value:.2f}x" for value in r["epoch_spread_pooled"].values())
    wall = "; ".join(f"{value:.2f}x" for value in r["epoch_spread_wall"].values())
    cpu = "; ".join(f"{value:.2f}x" for value in r["epoch_spread_cpu"].values())
    controls = [c for run in r["barenet"]["rounds"] + r["default_epochs"]["rounds"]
                for c in run["control_seconds"][1:]]
    steal = max(run["machine_busy"].get("steal", 0.0) for run in
                r["barenet"]["rounds"] + r["default_epochs"]["rounds"] + r["barenet_train"]["runs"])
    lines += ["", f"Slowest over fastest epoch, first epoch of each process left out, in units of "
              f"the machine's speed during each epoch, each epoch at its fastest of the "
              f"{r['rounds']} rounds (the target): {spread}; every epoch of every round pooled, "
              f"in the same units: {pooled}; by the wall clock, pooled: "
              f"{wall}; in CPU time, pooled: {cpu} (the default recipe's wall and CPU figures include the "
              f"whole `barenet train` runs). The control workload's median sample per epoch ranged "
              f"over {1000 * min(controls):.2f}-{1000 * max(controls):.2f} ms "
              f"({max(controls) / min(controls):.2f}x: the machine's own swing); the hypervisor "
              f"took at most {100 * steal:.1f} % of the machine's CPU time during a barenet "
              f"process (steal, /proc/stat).", "",
              "| target | measured | limit | met |", "|---|---:|---:|:---:|"]
    for t in r["targets"]:
        met = "yes" if t["met"] else "no"
        lines.append(f"| {t['target']} | {t['value']:.3f} | {t['limit']} | {met} |")
    floor = r["floor"]
    parts = ", ".join(f"{name} {1e6 * sec:.0f} us" for name, sec in floor["step_parts_seconds"].items())
    lines += ["", f"The floor of barenet's epoch (information): the first layer's two matrix products "
              f"and the Adam update, each timed alone ({parts} per step), take "
              f"{floor['epoch_seconds']:.3f} s per epoch, "
              f"{r['information']['floor_over_torch_epoch']:.2f} x PyTorch's epoch; the epoch target "
              f"(0.6 x) leaves {0.6 * pe['torch']:.3f} s for them and everything else.",
              "", f"The bare NumPy step (information; `worker_bare_step`: the same step written out "
              f"inline, with no library around it, in the same rounds): {pe['bare_step']:.3f} s per "
              f"epoch, {r['information']['bare_step_over_torch_epoch']:.2f} x PyTorch's epoch and "
              f"{pe['bare_step'] / pe['barenet']:.2f} x barenet's. Above 0.6 x, the epoch target was out of "
              f"reach of NumPy code in this run."]
    lines += ["", "Where one barenet epoch goes (cProfile, internal time per function, two epochs "
              "after a warm-up; the profiler adds its own overhead):", "",
              "| function | calls per epoch | s per epoch | share |", "|---|---:|---:|---:|"]
    for row in r["profile"]["rows"]:
        lines.append(f"| `{row['function']}` | {row['calls'] // 2} | {row['seconds_per_epoch']:.3f} | "
                     f"{100 * row['share']:.1f} % |")
    write_block(path, "measured", "benchmarks/bench.py", lines)


if __name__ == "__main__":
    main()

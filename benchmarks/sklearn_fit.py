"""Fit time: barenet.sklearn.MLPClassifier against sklearn.neural_network.MLPClassifier.

    pip install -e ".[bench]" && python benchmarks/sklearn_fit.py [--n-train 10000] [--epochs 10]

Both estimators get the same MNIST subset (the first ``--n-train`` training images, pixels / 255,
scored on the 10000 test images) and the same settings: sklearn's defaults (one hidden layer of
100 ReLU units, Adam with learning rate 1e-3, batches of 200, alpha 1e-4) for exactly
``--epochs`` epochs (``tol=0``, so neither stops early), ``random_state=0``.

Contenders, each in float64 and in float32 (sklearn trains in the dtype of its input; barenet's
``dtype`` parameter picks it):

* ``sklearn``: ``sklearn.neural_network.MLPClassifier``;
* ``barenet``: ``barenet.sklearn.MLPClassifier`` (in float64 the fit is sklearn's, to rounding:
  same initial weights, shuffles and updates).

Every fit is repeated ``--repeats`` times, the contenders interleaved round by round so that a
busy machine slows them alike. The table reports the best (least disturbed) and the median
time; the ratio to sklearn is of the best times. Each measurement is taken with the BLAS
limited to one thread and with its default thread count (``--threads 1 0``; 0 is the default):
on a small shared machine, multithreaded BLAS slows down by up to 10x whenever another process
holds a core, so the one-thread figures are the reproducible ones. It prints a table and writes
benchmarks/results/sklearn_fit.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def load(n_train: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from barenet.datasets import load_mnist

    ds = load_mnist()
    x = ds.x_train[:n_train].reshape(n_train, -1) / 255.0
    xt = ds.x_test.reshape(len(ds.x_test), -1) / 255.0
    return x, ds.y_train[:n_train].astype(np.int64), xt, ds.y_test.astype(np.int64)


def contenders(epochs: int, hidden: tuple[int, ...]) -> dict:
    from sklearn.neural_network import MLPClassifier as SkMLP

    from barenet.sklearn import MLPClassifier

    common = dict(hidden_layer_sizes=hidden, solver="adam", learning_rate_init=1e-3, batch_size=200,
                  alpha=1e-4, max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 1, random_state=0)
    return {
        ("sklearn", "float64"): lambda: SkMLP(**common),
        ("barenet", "float64"): lambda: MLPClassifier(**common),
        ("sklearn", "float32"): lambda: SkMLP(**common),
        ("barenet", "float32"): lambda: MLPClassifier(**common, dtype="float32"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hidden", type=int, nargs="+", default=[100])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 0],
                        help="BLAS thread counts to measure with (0: the library's default)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sklearn_fit.json"))
    args = parser.parse_args()

    import sklearn
    from threadpoolctl import threadpool_info, threadpool_limits

    x, y, xt, yt = load(args.n_train)
    data = {"float64": (x, xt), "float32": (x.astype(np.float32), xt.astype(np.float32))}
    makers = contenders(args.epochs, tuple(args.hidden))
    default_threads = max((i["num_threads"] for i in threadpool_info()), default=1)
    seconds: dict = {(t, *key): [] for t in args.threads for key in makers}
    accuracy: dict = {}
    warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter is the point here
    for _ in range(args.repeats):
        for threads in args.threads:
            with threadpool_limits(limits=threads or None):
                for key, make in makers.items():
                    x_fit, x_test = data[key[1]]
                    est = make()
                    start = time.perf_counter()
                    est.fit(x_fit, y)
                    seconds[(threads, *key)].append(time.perf_counter() - start)
                    assert est.n_iter_ == args.epochs, (key, est.n_iter_)
                    accuracy[key] = float(est.score(x_test, yt))

    rows = []
    for (threads, name, dtype), times in seconds.items():
        best, median = min(times), statistics.median(times)
        base = min(seconds[(threads, "sklearn", dtype)])
        rows.append({"blas_threads": threads or default_threads, "estimator": name, "dtype": dtype,
                     "best_fit_seconds": best,
                     "median_fit_seconds": median, "best_seconds_per_epoch": best / args.epochs,
                     "all_fit_seconds": times, "test_accuracy": accuracy[(name, dtype)],
                     "speedup_vs_sklearn": base / best})
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(), "numpy": np.__version__,
        "scikit_learn": sklearn.__version__,
        "settings": {"n_train": args.n_train, "n_test": len(yt), "epochs": args.epochs,
                     "hidden_layer_sizes": args.hidden, "solver": "adam", "learning_rate_init": 1e-3,
                     "batch_size": 200, "alpha": 1e-4, "repeats": args.repeats,
                     "default_blas_threads": default_threads},
        "rows": rows,
    }
    print(f"MLPClassifier.fit, MNIST first {args.n_train} images, {args.epochs} epochs, "
          f"hidden {args.hidden}, Adam, batch 200; {args.repeats} fits each")
    print(f"{'threads':>7} {'estimator':<10} {'dtype':<8} {'best s':>8} {'median s':>9} {'s/epoch':>8} "
          f"{'test acc':>9} {'vs sklearn':>11}")
    for r in rows:
        print(f"{r['blas_threads']:>7} {r['estimator']:<10} {r['dtype']:<8} {r['best_fit_seconds']:>8.2f} "
              f"{r['median_fit_seconds']:>9.2f} {r['best_seconds_per_epoch']:>8.3f} "
              f"{100 * r['test_accuracy']:>8.2f}% {r['speedup_vs_sklearn']:>10.2f}x")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

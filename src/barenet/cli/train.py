"""``barenet train``: the options of a run, the progress display, and the signals.

SIGTERM behaves like Ctrl-C: the last completed epoch is checkpointed and the run can be
resumed with ``--resume``.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from ..errors import BarenetError
from .common import add_output_flags, console_for, print_json


def add_parser(sub: Any) -> None:
    train = sub.add_parser("train", help="train a network (default: 10-class MNIST, strong recipe)")
    train.add_argument("--config", help="read options from a TOML file (flags override it)")
    train.add_argument("--out", help="run directory (default: runs/<timestamp>)")
    train.add_argument("--no-report", action="store_true",
                       help="skip the figures and report.html (saves a few seconds)")
    train.add_argument("--resume", metavar="RUN",
                       help="continue an interrupted run from RUN/checkpoint.npz, bit for bit")
    add_train_options(train)
    add_output_flags(train)
    train.set_defaults(handler=cmd_train)


def add_train_options(p: argparse.ArgumentParser) -> None:
    d = p.add_argument_group("data")
    d.add_argument("--dataset", help="mnist (default), fashion-mnist, kmnist or digits8")
    d.add_argument("--data", help="a directory of MNIST-format files or an .npz file")
    d.add_argument("--digits", type=int, nargs=2, metavar=("D1", "D2"),
                   help="train on a digit pair, e.g. --digits 1 5 (D1 -> 0, D2 -> 1)")
    d.add_argument("--per-class", type=int, metavar="K", help="the first K training samples of each class")
    d.add_argument("--normalize",
                   help="255 (default: x/255), max (each image by its own max), standardize, none")
    d.add_argument("--val-fraction", type=float, help="validation split from the training data (default 0.1)")
    d.add_argument("--shift", type=int, metavar="N",
                   help="augmentation: random translation of each training image by up to N pixels "
                        "per epoch (default 0 = off)")
    m = p.add_argument_group("model")
    m.add_argument("--layers", type=int, nargs="+", metavar="N", help="hidden layer sizes (default: 192)")
    m.add_argument("--hidden", help="hidden activation: relu (default), sigmoid, tanh, leaky_relu, identity")
    m.add_argument("--output", help="output activation: auto (default), softmax, sigmoid, identity, tanh")
    m.add_argument("--loss", help="auto (default), cross_entropy, binary_cross_entropy, squared_error")
    m.add_argument("--reduction", help="mean (default) or sum over the batch")
    m.add_argument("--init", help='auto, "uniform(-1,1)", "normal(0.01)", max_fan_normal, xavier_uniform, '
                                  "xavier_normal, he_uniform, he_normal")
    m.add_argument("--bias-init", help='initial biases: a number (default 0) or a spec like "uniform(-1,1)"')
    m.add_argument("--dropout", type=float, help="drop probability after each hidden layer")
    m.add_argument("--dtype", help="float32 (default) or float64")
    o = p.add_argument_group("optimization")
    o.add_argument("--optimizer", help="sgd, adam (default) or adamw")
    o.add_argument("--lr", type=float, help="learning rate (default 0.005)")
    o.add_argument("--momentum", type=float, help="SGD momentum")
    o.add_argument("--nesterov", action="store_true", default=None, help="Nesterov momentum (SGD)")
    o.add_argument("--weight-decay", type=float, help="L2 (sgd, adam) or decoupled (adamw) weight decay")
    o.add_argument("--schedule",
                   help='cosine (default), constant, "step(10,0.5)", "exponential(0.95)", "warmup(1)+cosine"')
    o.add_argument("--batch-size", help="samples per step: 1 (per-sample SGD), N, or full")
    o.add_argument("--drop-last", action="store_true", default=None, help="drop the last, smaller batch")
    o.add_argument("--no-shuffle", dest="shuffle", action="store_false", default=None,
                   help="walk the samples in their stored order every epoch")
    o.add_argument("--epochs", type=int, help="passes over the training data (default 6)")
    o.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without validation improvement; keep the best weights")
    o.add_argument("--early-stopping-metric", help="val_loss (default) or val_accuracy")
    o.add_argument("--checkpoint-every", type=int, metavar="N", help="save a checkpoint every N epochs")
    o.add_argument("--seed", type=int, help="seed for initialization, shuffling, dropout and splits")
    o.add_argument("--threads", help="BLAS threads for the matrix products: auto (default: the fastest "
                                     "count, measured at start) or a number; the run's config.toml "
                                     "records the count used")


TRAIN_FIELDS = ("dataset", "data", "digits", "per_class", "normalize", "val_fraction", "shift", "layers",
                "hidden", "output", "loss", "reduction", "init", "bias_init", "dropout", "dtype",
                "optimizer", "lr", "momentum", "nesterov", "weight_decay", "schedule", "batch_size",
                "drop_last", "shuffle", "epochs", "early_stopping", "early_stopping_metric",
                "checkpoint_every", "seed", "threads")


def cmd_train(args: argparse.Namespace) -> int:
    from ..run.config import make_config, read_toml
    from ..run.runner import default_run_dir, train_run
    from ..train.progress import ProgressBar, results_table

    overrides = {name: getattr(args, name) for name in TRAIN_FIELDS}
    if args.resume:
        given = [f"--{k.replace('_', '-')}" for k, v in overrides.items() if v is not None]
        if given or args.config or args.out:
            raise BarenetError("--resume continues a run exactly as it was configured; "
                               f"drop {', '.join(given) or '--config/--out'}")
        out = Path(args.resume)
        config = make_config(read_toml(out / "config.toml"))
    else:
        file_options = read_toml(args.config) if args.config else {}
        config = make_config(file_options, **overrides)
        out = Path(args.out) if args.out else default_run_dir()
    console = console_for(args)
    callbacks: list[Any] = []
    if not (args.quiet or args.json):
        from ..inspect.diagnose import LiveDiagnosis

        callbacks = [ProgressBar(), LiveDiagnosis(lambda text: console.print(text, markup=False))]
    console.print(("resuming" if args.resume else "training") + f" on {config.dataset}"
                  + (f" digits {config.digits[0]} vs {config.digits[1]}" if config.digits else "")
                  + f" -> {out}")
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        try:
            result = train_run(config, out=out, callbacks=callbacks, resume=bool(args.resume))
        except BaseException:
            _stop_progress(callbacks)  # first: a live bar would swallow and re-wrap the message
            raise
    except KeyboardInterrupt:
        checkpoint = out / "checkpoint.npz"
        if checkpoint.exists():
            print(f"barenet: interrupted; the last completed epoch is saved in {checkpoint}. "
                  f"Resume with: barenet train --resume {out}", file=sys.stderr)
        else:
            print("barenet: interrupted before the first epoch finished; nothing to resume",
                  file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not args.no_report:
        from ..run.report import write_figures_and_report

        write_figures_and_report(result.run_dir, result)
    if args.json:
        print_json({"run_dir": str(result.run_dir), **_short_metrics(result.metrics)})
        return 0
    console.print(results_table(result.metrics))
    saved = "model, config, history, metrics" + ("" if args.no_report else ", figures and report.html")
    console.print(f"saved {saved} in {result.run_dir}")
    return 0


def _stop_progress(callbacks: list[Any]) -> None:
    """Stop live progress bars that training left running (it stopped by an exception: a
    divergence, a full disk, Ctrl-C), so the terminal gets its cursor back."""
    for callback in callbacks:
        progress = getattr(callback, "progress", None)
        if progress is not None:
            progress.stop()


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM behaves like Ctrl-C: checkpoint the last completed epoch and stop."""
    raise KeyboardInterrupt


def _short_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    short: dict[str, Any] = {}
    for split in ("train", "validation", "test"):
        if split in metrics:
            short[split] = {"loss": metrics[split]["loss"], "accuracy": metrics[split]["accuracy"]}
    short["timings"] = metrics.get("timings")
    return short



"""The ``barenet`` command line: argument parsing and printing only.

Every user mistake ends with one line ``barenet: error: ...`` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import BarenetError, DivergenceError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors in barenet's one-line style (exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise BarenetError(f"{message} (see `{self.prog} --help`)")


def _add_train_options(p: argparse.ArgumentParser) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="barenet", description="Multilayer perceptrons from scratch in NumPy.")
    parser.add_argument("--version", action="version", version=f"barenet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    train = sub.add_parser("train", help="train a network (default: 10-class MNIST, strong recipe)")
    train.add_argument("--config", help="read options from a TOML file (flags override it)")
    train.add_argument("--out", help="run directory (default: runs/<timestamp>)")
    train.add_argument("--no-report", action="store_true",
                       help="skip the figures and report.html (saves a few seconds)")
    train.add_argument("--resume", metavar="RUN",
                       help="continue an interrupted run from RUN/checkpoint.npz, bit for bit")
    _add_train_options(train)
    _add_output_flags(train)

    ev = sub.add_parser("evaluate", help="accuracy, confusion matrix and per-class table of a model")
    ev.add_argument("model", help="a model.npz file or a run directory")
    ev.add_argument("--data",
                    help="a directory of MNIST-format files or an .npz (default: the model's test set)")
    ev.add_argument("--dataset", help="evaluate on this built-in data set instead")
    ev.add_argument("--split", choices=("test", "train"), default="test")
    _add_output_flags(ev)

    pr = sub.add_parser("predict", help="label images (PNG/JPEG, .npy arrays, IDX files)")
    pr.add_argument("model", help="a model.npz file or a run directory")
    pr.add_argument("files", nargs="+", help="images, .npy or IDX files")
    pr.add_argument("--top", type=int, default=1, help="show the K most likely classes")
    _add_output_flags(pr)

    info = sub.add_parser("info", help="a model's summary and training configuration")
    info.add_argument("model", help="a model.npz file or a run directory")
    _add_output_flags(info)

    gc = sub.add_parser("gradcheck", help="verify every gradient numerically (exit 1 on failure)")
    gc.add_argument("--layers", type=int, nargs="+", default=[5, 4], metavar="N",
                    help="hidden sizes of the checked networks (default: 5 4)")
    gc.add_argument("--tolerance", type=float, default=1e-6, help="largest relative error allowed")
    gc.add_argument("--seed", type=int, default=0)
    _add_output_flags(gc)

    from .cli_extra import add_parsers

    add_parsers(sub)
    return parser


def _add_output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true", help="print only errors")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")


def _console(args: argparse.Namespace) -> Any:
    from rich.console import Console

    return Console(stderr=False, quiet=bool(args.quiet or args.json), highlight=False)


def _print_json(data: Any) -> None:
    from .history import _finite

    print(json.dumps(_finite(data), indent=2))


# ----------------------------------------------------------------------------- commands
def cmd_train(args: argparse.Namespace) -> int:
    from .config import make_config, read_toml
    from .progress import ProgressBar, results_table
    from .runner import default_run_dir, train_run

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
    console = _console(args)
    callbacks: list[Any] = []
    if not (args.quiet or args.json):
        from .diagnose import LiveDiagnosis

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
        from .report import write_figures_and_report

        write_figures_and_report(result.run_dir, result)
    if args.json:
        _print_json({"run_dir": str(result.run_dir), **_short_metrics(result.metrics)})
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


def _model_path(path: str) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / "model.npz"
    if not p.exists():
        raise BarenetError(f"model file {p} not found; give a model.npz file or a run directory")
    return p


def _load_for_inference(path: str) -> tuple[Any, dict[str, Any], Any, list[str]]:
    """(model, metadata, input normalizer, class names) of a saved model.

    A model saved from Python without barenet's training metadata has no recorded input
    scaling: that is a user error (one line), not a crash.
    """
    from .io import load_model
    from .preprocess import Normalizer

    model_file = _model_path(path)
    model, meta = load_model(model_file)
    scaling = (meta.get("preprocessing") or {}).get("normalizer")
    if not isinstance(scaling, dict):
        raise BarenetError(f"{model_file} does not record how its inputs were scaled; save it with "
                           "metadata={'preprocessing': {'normalizer': Normalizer(...).to_dict()}} "
                           "or train it with barenet train")
    classes = meta.get("classes") or [str(i) for i in range(max(2, model.n_outputs))]
    return model, meta, Normalizer.from_dict(scaling), classes


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .config import DATASETS
    from .datasets import load_dataset
    from .losses import Loss
    from .metrics import classification_report
    from .preprocess import flatten, select_digits
    from .training import evaluate, predicted_labels

    model, meta, normalizer, classes = _load_for_inference(args.model)
    dataset_name = args.dataset or meta.get("dataset") or "mnist"
    if args.data is None and dataset_name not in DATASETS:
        raise BarenetError(f"the model was trained on {dataset_name}; give its data with --data")
    ds = load_dataset(dataset_name, data=args.data)
    x, y = (ds.x_train, ds.y_train) if args.split == "train" else (ds.x_test, ds.y_test)
    if x is None or y is None:
        x, y = ds.x_train, ds.y_train
    digits = meta.get("digits")
    if digits:
        x, y = select_digits(x, y, digits[0], digits[1])
    x = flatten(x)
    if x.shape[1] != model.n_inputs:
        raise BarenetError(f"the data have {x.shape[1]} features per sample but the model expects "
                           f"{model.n_inputs}; evaluate it on data like its training data")
    loss = Loss(**meta.get("loss", {"name": "cross_entropy", "reduction": "mean"}))
    value, accuracy, proba = evaluate(model, x, y, loss, normalizer, return_proba=True)
    predicted = predicted_labels(proba)
    report = classification_report(y, predicted, classes)
    if args.json:
        _print_json({"loss": value, "accuracy": accuracy, "samples": int(len(y)), "report": report})
        return 0
    console = _console(args)
    console.print(f"{len(y)} samples   loss {value:.4f}   accuracy {100 * accuracy:.2f} %")
    console.print(_confusion_table(report, classes))
    console.print(_per_class_table(report))
    return 0


def _confusion_table(report: dict[str, Any], classes: Sequence[str]) -> Any:
    from rich.table import Table

    table = Table(title="confusion matrix (rows: true, columns: predicted)", title_justify="left")
    table.add_column("")
    for name in classes:
        table.add_column(str(name), justify="right")
    for name, row in zip(classes, report["confusion_matrix"], strict=True):
        table.add_row(str(name), *[str(v) for v in row])
    return table


def _per_class_table(report: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(title="per class", title_justify="left")
    for col in ("class", "precision", "recall", "f1", "support"):
        table.add_column(col, justify="right")
    for row in report["classes"]:
        table.add_row(str(row["name"]), f"{row['precision']:.4f}", f"{row['recall']:.4f}",
                      f"{row['f1']:.4f}", str(row["support"]))
    table.add_row("macro", f"{report['macro_precision']:.4f}", f"{report['macro_recall']:.4f}",
                  f"{report['macro_f1']:.4f}", str(report["n_samples"]))
    return table


def cmd_predict(args: argparse.Namespace) -> int:
    from .images import load_inputs
    from .preprocess import flatten
    from .training import predict_proba_batched

    model, _, normalizer, classes = _load_for_inference(args.model)
    images, names = load_inputs(args.files)
    x = flatten(images)
    if x.shape[1] != model.n_inputs:
        raise BarenetError(f"the inputs have {x.shape[1]} pixels but the model expects {model.n_inputs}")
    proba = predict_proba_batched(model, x, normalizer)
    if proba.shape[1] == 1:
        proba = np.hstack([1 - proba, proba])
    top = max(1, min(args.top, proba.shape[1]))
    order = np.argsort(-proba, axis=1)[:, :top]
    rows = []
    for i, name in enumerate(names):
        ranked = [{"label": classes[k], "probability": float(proba[i, k])} for k in order[i]]
        rows.append({"file": name, "label": ranked[0]["label"],
                     "probability": ranked[0]["probability"], "top": ranked})
    if args.json:
        _print_json(rows)
        return 0
    console = _console(args)
    for row in rows:
        extra = ""
        if top > 1:
            extra = "   (" + ", ".join(f"{r['label']}: {r['probability']:.3f}" for r in row["top"][1:]) + ")"
        console.print(f"{row['file']}: {row['label']}  p={row['probability']:.4f}{extra}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .io import load_model

    path = _model_path(args.model)
    model, meta = load_model(path)
    if args.json:
        _print_json({"file": str(path), "model": model.config(), "parameters": model.n_params(),
                     "metadata": meta})
        return 0
    console = _console(args)
    console.print(f"[bold]{path}[/bold]")
    console.print(model.summary(), markup=False)
    console.print(f"classes: {', '.join(map(str, meta.get('classes') or []))}")
    loss = meta.get("loss") or {}
    console.print(f"loss: {loss.get('name')} ({loss.get('reduction')})")
    training = meta.get("training") or {}
    if training:
        console.print("training configuration:")
        for key, value in training.items():
            if value is not None and value != "":
                console.print(f"  {key} = {value}", markup=False)
    return 0


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from rich.table import Table

    from .gradcheck import gradcheck_matrix

    rows = gradcheck_matrix(hidden_sizes=args.layers, seed=args.seed)
    worst = max(r["max_error"] for r in rows)
    failed = [r for r in rows if r["max_error"] > args.tolerance]
    if args.json:
        _print_json({"tolerance": args.tolerance, "max_error": worst, "passed": not failed, "rows": rows})
    else:
        console = _console(args)
        table = Table(title=f"gradient check, float64 (tolerance {args.tolerance:g})", title_justify="left")
        for col in ("hidden", "output", "loss", "reduction", "dropout", "max rel. error", ""):
            table.add_column(col)
        for r in rows:
            ok = r["max_error"] <= args.tolerance
            table.add_row(r["hidden"], r["output"], r["loss"], r["reduction"], r["dropout"],
                          f"{r['max_error']:.2e}", "ok" if ok else "[red]FAIL[/red]")
        console.print(table)
        console.print(f"{len(rows)} networks checked, {len(failed)} failed; largest error {worst:.2e}")
    return 1 if failed else 0


def _commands() -> dict[str, Any]:
    from .cli_extra import COMMANDS as EXTRA

    return {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict,
            "info": cmd_info, "gradcheck": cmd_gradcheck, **EXTRA}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return EXIT_USAGE
        return _commands()[args.command](args)
    except DivergenceError as exc:
        print(f"barenet: {exc}", file=sys.stderr)
        return 1
    except BarenetError as exc:
        print(f"barenet: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("barenet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

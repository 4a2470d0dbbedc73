"""``barenet evaluate``, ``predict`` and ``info``: what a saved model does on data."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import BarenetError
from ..run.outdir import model_file
from .common import add_command, console_for, positive_int, print_json


def add_parsers(sub: Any) -> None:
    ev = add_command(sub, "evaluate", cmd_evaluate,
                     help="accuracy, confusion matrix and per-class table of a model")
    ev.add_argument("model", help="a model.npz file or a run directory")
    ev.add_argument("--data",
                    help="a directory of MNIST-format files or an .npz (default: the model's test set)")
    ev.add_argument("--dataset", help="evaluate on this built-in data set instead")
    ev.add_argument("--split", choices=("test", "train"), default="test")

    pr = add_command(sub, "predict", cmd_predict,
                     help="label images (PNG/JPEG, .npy arrays, IDX files)")
    pr.add_argument("model", help="a model.npz file or a run directory")
    pr.add_argument("files", nargs="+", help="images, .npy or IDX files")
    pr.add_argument("--top", type=positive_int, default=1, metavar="K",
                    help="show the K most likely classes (default 1)")

    info = add_command(sub, "info", cmd_info,
                       help="a model's summary and training configuration")
    info.add_argument("model", help="a model.npz file or a run directory")


def load_for_inference(path: str) -> tuple[Any, dict[str, Any], Any, list[str]]:
    """(model, metadata, input normalizer, class names) of a saved model (see
    :func:`barenet.run.exports.inference_parts`)."""
    from ..run.exports import inference_parts

    return inference_parts(path)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..inspect.metrics import classification_report
    from ..nn.losses import Loss
    from ..train.trainer import evaluate, predicted_labels

    model, meta, normalizer, classes = load_for_inference(args.model)
    x, y, source = evaluation_data(args, meta, model)
    check_labels_fit(y, source, classes, meta.get("train_labels"))
    loss = Loss(**meta.get("loss", {"name": "cross_entropy", "reduction": "mean"}))
    value, accuracy, proba = evaluate(model, x, y, loss, normalizer, return_proba=True)
    predicted = predicted_labels(proba)
    report = classification_report(y, predicted, classes)
    if args.json:
        print_json({"loss": value, "accuracy": accuracy, "samples": int(len(y)), "data": source,
                    "report": report})
        return 0
    console = console_for(args)
    console.print(f"{source}: {len(y)} samples   loss {value:.4f}   accuracy {100 * accuracy:.2f} %")
    console.print(_confusion_table(report, classes))
    console.print(_per_class_table(report))
    return 0


def evaluation_data(args: argparse.Namespace, meta: dict[str, Any], model: Any) -> tuple[Any, Any, str]:
    """(flat x, y, a name for them) that ``evaluate`` scores: ``--data``/``--dataset`` when
    given, else the data the model was trained on (its recorded ``--data`` path, or its
    built-in data set), with the model's digit pair selected."""
    from ..data import load_dataset
    from ..data.preprocess import flatten, select_digits
    from ..run.config import DATASETS

    training = meta.get("training") if isinstance(meta.get("training"), dict) else {}
    recorded = training.get("dataset") or meta.get("dataset") or "mnist"
    if args.data is None and args.dataset is None and training.get("data"):
        name, data, source = recorded, training["data"], str(training["data"])
        try:
            ds = load_dataset(name if name in DATASETS else "mnist", data=data)
        except BarenetError as exc:
            raise BarenetError(f"the model was trained on {data}, which cannot be read now ({exc}); "
                               "give its data with --data") from None
    else:
        if args.dataset is None and args.data is None and recorded not in DATASETS:
            raise BarenetError(f"the model was trained on {recorded}; give its data with --data")
        name = args.dataset or (recorded if recorded in DATASETS else "mnist")
        ds = load_dataset(name, data=args.data)
        source = str(args.data) if args.data is not None else name
    x, y = (ds.x_train, ds.y_train) if args.split == "train" else (ds.x_test, ds.y_test)
    if x is None or y is None:  # a file holding one set of samples (an .npz of x and y): all of it
        x, y = ds.x_train, ds.y_train
    digits = meta.get("digits")
    if digits:
        x, y = select_digits(x, y, digits[0], digits[1])
    x = flatten(x)
    if x.shape[1] != model.n_inputs:
        raise BarenetError(f"the data have {x.shape[1]} features per sample but the model expects "
                           f"{model.n_inputs}; evaluate it on data like its training data")
    return x, y, source


def check_labels_fit(y: Any, source: str, classes: Sequence[str], train_labels: Any) -> None:
    """Refuse labels the model cannot score: beyond its classes, or (when the model records
    the labels it was trained on) labels it never saw, which it could only get wrong."""
    if len(y) == 0:
        return
    lo, hi = int(np.min(y)), int(np.max(y))
    if hi >= len(classes):
        raise BarenetError(f"labels must lie in 0..{len(classes) - 1} for this {len(classes)}-class "
                           f"model, but {source} has labels {lo}..{hi}; evaluate it on data "
                           "labelled like its training data")
    if isinstance(train_labels, list) and train_labels:
        unseen = sorted(set(np.unique(y).tolist()) - set(train_labels))
        if unseen:
            shown = ", ".join(map(str, unseen[:8])) + (", ..." if len(unseen) > 8 else "")
            raise BarenetError(f"{source} holds labels the model never saw in training ({shown}; "
                               f"it was trained on {_label_range(train_labels)}); evaluate it on "
                               "data labelled like its training data")


def _label_range(labels: list[int]) -> str:
    lo, hi = min(labels), max(labels)
    return f"labels {lo}..{hi}" if len(labels) == hi - lo + 1 else f"{len(labels)} labels in {lo}..{hi}"


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
    from ..data.images import load_inputs
    from ..data.preprocess import flatten
    from ..train.trainer import predict_proba_batched

    model, meta, normalizer, classes = load_for_inference(args.model)
    # the grid and pixel scale of the training data (28 x 28 and 255 for MNIST, 8 x 8 and 16
    # for the 8 x 8 digits): image files are moved onto it, arrays must be on it
    shape = tuple((meta.get("preprocessing") or {}).get("input_shape") or (28, 28))
    images, names = load_inputs(args.files, warn=lambda text: print(f"barenet: warning: {text}",
                                                                    file=sys.stderr),
                                shape=shape, pixel_max=normalizer.pixel_max)
    x = flatten(images)
    if x.shape[1] != model.n_inputs:
        raise BarenetError(f"the inputs have {x.shape[1]} pixels but the model expects {model.n_inputs}")
    proba = predict_proba_batched(model, x, normalizer)
    if proba.shape[1] == 1:
        proba = np.hstack([1 - proba, proba])
    top = min(args.top, proba.shape[1])
    order = np.argsort(-proba, axis=1)[:, :top]
    rows = []
    for i, name in enumerate(names):
        ranked = [{"label": classes[k], "probability": float(proba[i, k])} for k in order[i]]
        rows.append({"file": name, "label": ranked[0]["label"],
                     "probability": ranked[0]["probability"], "top": ranked})
    if args.json:
        print_json(rows)
        return 0
    console = console_for(args)
    for row in rows:
        extra = ""
        if top > 1:
            extra = "   (" + ", ".join(f"{r['label']}: {r['probability']:.3f}" for r in row["top"][1:]) + ")"
        console.print(f"{row['file']}: {row['label']}  p={row['probability']:.4f}{extra}")
    return 0


#: The metadata sections ``info`` prints, and the JSON type each must have.
_INFO_SECTIONS = {"classes": (list, "a list"), "loss": (dict, "an object"),
                  "training": (dict, "an object")}


def _check_info_sections(path: Any, meta: dict[str, Any]) -> None:
    """Refuse (one line) a header whose printed sections have the wrong JSON type."""
    for key, (kind, what) in _INFO_SECTIONS.items():
        value = meta.get(key)
        if value is not None and not isinstance(value, kind):
            raise BarenetError(f"{path}: the header's metadata {key!r} is a {type(value).__name__}, "
                               f"not {what}; the file was edited or not written by barenet")


def cmd_info(args: argparse.Namespace) -> int:
    from ..export.native import load_model

    path = model_file(args.model)
    model, meta = load_model(path)
    _check_info_sections(path, meta)
    if args.json:
        print_json({"file": str(path), "model": model.config(), "parameters": model.n_params(),
                     "metadata": meta})
        return 0
    console = console_for(args)
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



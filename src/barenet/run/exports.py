"""``barenet export``: a trained run's model as ONNX, as the playground page, or as the native .npz.

=======  ======================  ==========================================================
format   default file            what it holds
=======  ======================  ==========================================================
onnx     RUN/model.onnx          the graph of :func:`barenet.export.onnx.to_onnx`
                                 (normalizer, Dense layers, probabilities and labels)
html     RUN/playground.html     :func:`barenet.export.playground.playground_html`, with the
                                 first test image of each class as samples
npz      (``-o`` is required)    a byte-for-byte copy of RUN/model.npz (the native format)
=======  ======================  ==========================================================

Everything is checked (the model loads, the output's folder exists, the suffix fits the format)
before anything is written, and every file is written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data.preprocess import Normalizer, select_digits
from ..errors import BarenetError
from ..export.native import load_model
from ..files.atomic import write_bytes, write_text
from .outdir import MODEL_NAME, ONNX_NAME, PLAYGROUND_NAME, model_file

FORMATS = {"onnx": ".onnx", "html": ".html", "npz": ".npz"}
DEFAULT_NAMES = {"onnx": ONNX_NAME, "html": PLAYGROUND_NAME}


def inference_parts(path: str | os.PathLike) -> tuple[Any, dict[str, Any], Normalizer, list[str]]:
    """(model, metadata, input normalizer, class names) of a saved model.

    A model saved from Python without barenet's training metadata has no recorded input
    scaling: that is a user error (one line), not a crash.
    """
    path = model_file(path)
    model, meta = load_model(path)
    scaling = (meta.get("preprocessing") or {}).get("normalizer")
    if not isinstance(scaling, dict):
        raise BarenetError(f"{path} does not record how its inputs were scaled; save it with "
                           "metadata={'preprocessing': {'normalizer': Normalizer(...).to_dict()}} "
                           "or train it with barenet train")
    classes = meta.get("classes") or [str(i) for i in range(max(2, model.n_outputs))]
    return model, meta, Normalizer.from_dict(scaling), classes


def sample_digits(meta: dict[str, Any], per_class: int = 1) -> tuple[np.ndarray, list[str]]:
    """The first ``per_class`` test images of each class of the model's built-in data set
    (uint8 (K, 28, 28)) and their class names; none when the data set is not at hand."""
    from ..data import load_dataset
    from .config import DATASETS

    empty = (np.zeros((0, 28, 28), np.uint8), [])
    name = meta.get("dataset") or "mnist"
    if name not in DATASETS:
        return empty
    try:
        ds = load_dataset(name, download=False, progress=False)
    except BarenetError:
        return empty
    x, y = (ds.x_test, ds.y_test) if ds.x_test is not None else (ds.x_train, ds.y_train)
    digits = meta.get("digits")
    if digits:
        x, y = select_digits(x, y, digits[0], digits[1])
    if x.shape[1:] != (28, 28):
        return empty
    classes = meta.get("classes") or [str(c) for c in range(int(y.max()) + 1)]
    keep = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in np.unique(y)])
    keep.sort()
    return np.ascontiguousarray(x[keep], dtype=np.uint8), [str(classes[int(c)]) for c in y[keep]]


def output_path(source: Path, fmt: str, out: str | os.PathLike | None) -> Path:
    """Where ``fmt`` goes: ``out``, or the default file next to the model."""
    if fmt not in FORMATS:
        raise BarenetError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if out is None:
        if fmt == "npz":
            raise BarenetError(f"{source} is already the native format; give -o FILE to copy it")
        return source.parent / DEFAULT_NAMES[fmt]
    path = Path(out)
    others = {s for f, s in FORMATS.items() if f != fmt}
    if path.suffix.lower() in others:
        raise BarenetError(f"-o {path} has the suffix of another format; --format {fmt} writes "
                           f"a {FORMATS[fmt]} file")
    if path.is_dir():
        raise BarenetError(f"-o {path} is a directory; give a file name such as "
                           f"{path / (DEFAULT_NAMES.get(fmt) or 'model.npz')}")
    if not path.parent.is_dir():
        raise BarenetError(f"the folder {path.parent} does not exist; create it first")
    if path.resolve() == source.resolve():
        raise BarenetError(f"-o {path} is the model file itself; give another file name")
    return path


def export_run(source: str | os.PathLike, fmt: str, out: str | os.PathLike | None = None, *,
               input_dtype: str = "float", input_shape: str = "flat") -> Path:
    """Write ``source`` (a run directory or model file) in ``fmt``; returns the file written."""
    model_path = model_file(source)
    path = output_path(model_path, fmt, out)
    if fmt == "npz":
        load_model(model_path)  # only a valid model is copied
        write_bytes(path, model_path.read_bytes())
        return path
    model, meta, normalizer, classes = inference_parts(model_path)
    if fmt == "onnx":
        from ..export.onnx import save_onnx, to_onnx

        proto = to_onnx(model, normalizer, classes, input_dtype=input_dtype,
                        input_shape=input_shape, digits=meta.get("digits"))
        return save_onnx(path, proto)
    from ..export.playground import playground_html

    samples, labels = sample_digits(meta)
    title = model_path.parent.name if model_path.name == MODEL_NAME else model_path.stem
    write_text(path, playground_html(model, normalizer, classes, samples, labels, title=title))
    return path


def write_playground(run_dir: str | os.PathLike) -> Path | None:
    """RUN/playground.html for the run's report; None when the model cannot have one (it does
    not take 28 x 28 digits, or records no input scaling)."""
    try:
        return export_run(run_dir, "html")
    except BarenetError:
        return None

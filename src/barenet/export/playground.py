"""The playground: one self-contained HTML page where anyone draws a digit and watches the net.

:func:`playground_html` fills the page template (``playground/page.html``, ``page.css`` and
``page.js``, package data) with the model, inlined: no network, no CDN, opened by double-click.
The model travels as one JSON document inside ``<script type="application/json"
id="barenet-model">``::

    {"title": str, "classes": [str, ...], "one_unit": bool,
     "normalizer": {"method": "255" | "max" | "standardize" | "none", "pixel_max": int,
                    "mean": b64 float32 (784,), "inv_std": b64 float32 (784,)},   # standardize
     "layers": [{"n_in": int, "n_out": int, "activation": str,
                 "W": b64 float32 (n_in, n_out) row-major, "b": b64 float32 (n_out,)}, ...],
     "samples": [{"label": str, "pixels": b64 uint8 (28, 28)}, ...]}

(``b64`` = base64 of the little-endian bytes.) The page's JavaScript (``page.js``) turns the
drawing into the 28 x 28 input with a line-by-line port of :func:`barenet.data.images.mnist_style`
(the same steps ``barenet predict`` applies to a PNG, Pillow's bilinear resize included) and runs
the forward pass in plain JavaScript: docs/export.md sets the two side by side.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BarenetError
from ..nn.model import MLP

if TYPE_CHECKING:  # export sits beside data: only the type, no import at run time
    from ..data.preprocess import Normalizer

SIDE = 28
MAX_SAMPLES = 20


def _b64(array: np.ndarray, dtype: Any) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<"))
                            .tobytes()).decode("ascii")


def _normalizer_json(normalizer: Normalizer | None) -> dict[str, Any]:
    if normalizer is None:
        return {"method": "none", "pixel_max": 255}
    out: dict[str, Any] = {"method": normalizer.method, "pixel_max": normalizer.pixel_max}
    if normalizer.method == "standardize":
        if normalizer.mean is None or normalizer.std is None:
            raise BarenetError("the standardize normalizer is not fitted; fit it first")
        out["mean"] = _b64(normalizer.mean.astype(np.float32), np.float32)
        out["inv_std"] = _b64((1.0 / normalizer.std).astype(np.float32), np.float32)
    return out


def model_json(model: MLP, normalizer: Normalizer | None, classes: Sequence[Any],
               samples: np.ndarray | None = None, sample_labels: Sequence[Any] = (),
               title: str = "barenet") -> dict[str, Any]:
    """The JSON document the page reads (see the module docstring)."""
    if model.n_inputs != SIDE * SIDE:
        raise BarenetError(f"the playground draws 28 x 28 digits; this model takes {model.n_inputs} "
                           "inputs")
    n_columns = 2 if model.n_outputs == 1 else model.n_outputs
    if len(classes) != n_columns:
        raise BarenetError(f"the model has {n_columns} output columns but {len(classes)} class "
                           "names were given")
    images = np.zeros((0, SIDE, SIDE), np.uint8) if samples is None else np.asarray(samples)
    if images.dtype != np.uint8 or images.shape[1:] != (SIDE, SIDE) or len(images) != len(sample_labels):
        raise BarenetError("samples must be uint8 (K, 28, 28) with one label each")
    activations = [*model.hidden, model.output]
    layers = [{"n_in": w.shape[0], "n_out": w.shape[1], "activation": act,
               "W": _b64(w, np.float32), "b": _b64(b, np.float32)}  # batch norm folded in
              for (w, b), act in zip(model.inference_affines(), activations, strict=True)]
    return {"title": str(title), "classes": [str(c) for c in classes],
            "one_unit": model.n_outputs == 1, "normalizer": _normalizer_json(normalizer),
            "layers": layers,
            "samples": [{"label": str(lab), "pixels": _b64(img, np.uint8)}
                        for img, lab in zip(images[:MAX_SAMPLES], sample_labels, strict=False)]}


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("playground", name).read_text(encoding="utf-8")


def _inline_json(data: dict[str, Any]) -> str:
    """JSON safe inside a <script> element: no "</" can close it early."""
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


def playground_html(model: MLP, normalizer: Normalizer | None, classes: Sequence[Any],
                    samples: np.ndarray | None = None, sample_labels: Sequence[Any] = (),
                    title: str = "barenet") -> str:
    """The complete page, as text: template + CSS + JavaScript + the model's JSON."""
    data = model_json(model, normalizer, classes, samples, sample_labels, title)
    page = _asset("page.html")
    for marker, text in (("BARENET_TITLE", html.escape(str(title))),
                         ("/*BARENET_CSS*/", _asset("page.css")),
                         ("/*BARENET_JS*/", _asset("page.js")),
                         ("BARENET_MODEL_JSON", _inline_json(data))):
        if marker not in page:
            raise BarenetError(f"the playground template lacks {marker}; reinstall barenet")
        page = page.replace(marker, text, 1)
    return page

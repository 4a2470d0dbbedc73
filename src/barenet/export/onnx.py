"""Export a trained network to ONNX: one graph, input preprocessing included.

The graph (opset :data:`OPSET`, IR version :data:`IR_VERSION`) computes exactly what
``barenet predict`` computes for prepared 28 x 28 digits::

    pixels (N, 784) or (N, 28, 28), uint8 or float (raw pixel values, 0..pixel_max)
      -> Flatten(axis=1) for (N, 28, 28) -> Cast to the model's dtype T (float32 or float64)
      -> the run's normalizer     255:          x / pixel_max
                                  max:          x / max_j x_j   (1 for an all-zero image)
                                  standardize:  (x - mean) * (1 / std)   (stored statistics)
                                  none:         x
      -> for each Dense layer k:  h = act_k(h @ W_k + b_k)    (MatMul, Add, activation)
      -> probabilities (N, C)     one sigmoid unit p becomes the two columns [1 - p, p]
      -> label (N,)               Gather(class values, ArgMax(probabilities, axis=1))

Activations map to ONNX operators: relu -> Relu, leaky_relu -> LeakyRelu(alpha=0.01, barenet's
slope), sigmoid -> Sigmoid, tanh -> Tanh, identity -> Identity, softmax -> Softmax(axis=-1).

``label`` is int64 when every class name is a whole number (MNIST's digits; a digit pair maps
back to its two digits, e.g. 3 and 8), otherwise a string tensor of the class names. The
model's ``metadata_props`` hold ``classes`` (JSON list), ``normalizer`` (JSON, as
:meth:`Normalizer.to_dict` minus the statistics), ``input``, ``digits`` and
``barenet_version``.

One graph has one input signature: ``input_shape="flat"`` (the default) declares ``pixels`` as
(N, 784), ``"image"`` as (N, 28, 28) (Flatten makes it (N, 784) in the graph);
``input_dtype="float"`` (the default: the model's dtype) or ``"uint8"`` (cast in the graph).
Float input holds raw pixel values on the training scale (0..255 for MNIST), as
:meth:`Normalizer.transform` takes them, not values already divided by 255.

Needs the optional ``onnx`` package (``pip install "barenet[onnx]"``); ``import barenet`` never
imports it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BarenetError
from ..files.atomic import write_bytes
from ..nn.activations import LEAKY_SLOPE
from ..nn.model import MLP

if TYPE_CHECKING:  # export sits beside data: only the type, no import at run time
    from ..data.preprocess import Normalizer

OPSET = 17  #: the default ONNX operator set (onnxruntime >= 1.12 and most runtimes read it)
IR_VERSION = 8  #: the ONNX IR version that goes with opset 17
INPUT_DTYPES = ("float", "uint8")
IMAGE_SIDE = 28
INSTALL_HINT = 'ONNX export needs the onnx package: pip install "barenet[onnx]"'

_ACTIVATION_OPS = {"relu": "Relu", "leaky_relu": "LeakyRelu", "sigmoid": "Sigmoid", "tanh": "Tanh",
                   "identity": "Identity", "softmax": "Softmax"}


def require_onnx() -> Any:
    """The ``onnx`` module, or one line saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise BarenetError(INSTALL_HINT) from None
    return onnx


def _integer_labels(classes: Sequence[Any]) -> np.ndarray | None:
    """The class names as int64 when every one is a whole number (``"3"``, 3), else None."""
    values = []
    for name in classes:
        if isinstance(name, (bool, np.bool_)):
            return None
        if isinstance(name, (int, np.integer)):
            values.append(int(name))
            continue
        text = str(name).strip()
        if not text.lstrip("-").isdigit():
            return None
        values.append(int(text))
    return np.array(values, dtype=np.int64)


def _from_estimator(estimator: Any) -> tuple[MLP, None, list[Any]]:
    """(model, no normalizer, classes) of a fitted :class:`barenet.sklearn.MLPClassifier`."""
    model = getattr(estimator, "model_", None)
    if not isinstance(model, MLP):
        raise BarenetError(f"{type(estimator).__name__} is not fitted (it has no model_); "
                           "call fit first")
    if model.n_outputs > 1 and model.output != "softmax":
        raise BarenetError("a multilabel estimator has no single label per sample; ONNX export "
                           "supports binary and multiclass estimators")
    return model, None, list(estimator.classes_)


INPUT_SHAPES = ("flat", "image")


def _input_shape(model: MLP, input_shape: str) -> tuple[int, ...]:
    """The per-sample shape of the graph input: (D,) for "flat", (28, 28) for "image"."""
    if input_shape not in INPUT_SHAPES:
        raise BarenetError(f"input_shape must be one of {', '.join(INPUT_SHAPES)}; got {input_shape!r}")
    if input_shape == "flat":
        return (model.n_inputs,)
    if model.n_inputs != IMAGE_SIDE * IMAGE_SIDE:
        raise BarenetError(f"the model takes {model.n_inputs} features, not 28 x 28 images; "
                           "export it with input_shape='flat'")
    return (IMAGE_SIDE, IMAGE_SIDE)


def _check_args(model: MLP, classes: Sequence[Any], input_dtype: str) -> None:
    if input_dtype not in INPUT_DTYPES:
        raise BarenetError(f"input_dtype must be one of {', '.join(INPUT_DTYPES)}; got {input_dtype!r}")
    n_columns = 2 if model.n_outputs == 1 else model.n_outputs
    if len(classes) != n_columns:
        raise BarenetError(f"the model has {n_columns} output columns but {len(classes)} class "
                           "names were given")


def to_onnx(model: Any, normalizer: Normalizer | None = None, classes: Sequence[Any] | None = None,
            *, input_dtype: str = "float", input_shape: str = "flat",
            digits: Sequence[int] | None = None, opset: int = OPSET) -> Any:
    """An ``onnx.ModelProto`` computing ``model``'s probabilities and labels (see module doc).

    ``model`` is a :class:`barenet.MLP` or a fitted :class:`barenet.sklearn.MLPClassifier`
    (then its ``model_`` and ``classes_`` are used and the input is taken as the estimator
    takes it: features, no scaling). ``normalizer`` is the one the model was trained with
    (None: the raw values); ``classes`` names the output columns (default "0", "1", ...);
    ``input_dtype`` is ``"float"`` (the model's dtype) or ``"uint8"``; ``input_shape`` is
    ``"flat"`` (N, D) or ``"image"`` (N, 28, 28). ``digits`` (a trained digit pair) is recorded
    in the metadata. The result passes ``onnx.checker.check_model(full_check=True)``.
    """
    onnx = require_onnx()
    if not isinstance(model, MLP):
        model, normalizer, classes = _from_estimator(model)
    if classes is None:
        classes = [str(i) for i in range(max(2, model.n_outputs))]
    _check_args(model, classes, input_dtype)
    shape = _input_shape(model, input_shape)
    builder = _GraphBuilder(onnx, model.dtype)
    x = builder.input_pixels(input_dtype, shape)
    if normalizer is not None:
        x = builder.normalize(x, normalizer, model.n_inputs)
    # batch normalization folded into the Dense layers: the graph is Gemm + activation only
    for (w, b), act in zip(model.inference_affines(), [*model.hidden, model.output], strict=True):
        x = builder.dense(x, w, b, act)
    probabilities = builder.probabilities(x, model.n_outputs == 1)
    builder.labels(probabilities, classes)
    meta = {"classes": json.dumps([str(c) for c in classes]),
            "normalizer": json.dumps(_normalizer_summary(normalizer)),
            "input": f"pixels: {input_dtype} (N, {', '.join(map(str, shape))}), raw pixel values",
            "digits": json.dumps(list(digits) if digits else None),
            "barenet_version": _version()}
    proto = builder.finish(opset, meta)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _version() -> str:
    from .. import __version__  # late: barenet/__init__ may import this package

    return __version__


def _normalizer_summary(normalizer: Normalizer | None) -> dict[str, Any]:
    if normalizer is None:
        return {"method": "none"}
    return {"method": normalizer.method, "pixel_max": normalizer.pixel_max}


def save_onnx(path: str | os.PathLike, proto: Any) -> Path:
    """Write an ONNX model atomically; returns the path."""
    path = Path(path)
    write_bytes(path, proto.SerializeToString())
    return path


class _GraphBuilder:
    """Collects nodes and constants of one graph; each method returns its output's name."""

    def __init__(self, onnx: Any, dtype: np.dtype) -> None:
        self.onnx, self.dtype = onnx, np.dtype(dtype)
        self.elem = onnx.helper.np_dtype_to_tensor_dtype(self.dtype)
        self.nodes: list[Any] = []
        self.constants: list[Any] = []
        self.inputs: list[Any] = []
        self.outputs: list[Any] = []
        self._count = 0

    def _name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def const(self, stem: str, value: Any, dtype: Any = None) -> str:
        name = self._name(stem)
        array = np.asarray(value, dtype=dtype or self.dtype)
        self.constants.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], stem: str | None = None, **attrs: Any) -> str:
        out = stem if stem in ("probabilities", "label") else self._name(stem or op_type.lower())
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def input_pixels(self, input_dtype: str, shape: tuple[int, ...]) -> str:
        """The graph input ``pixels`` (N, *shape) -> one (N, D) batch in the compute dtype."""
        elem = self.onnx.TensorProto.UINT8 if input_dtype == "uint8" else self.elem
        self.inputs.append(self.onnx.helper.make_tensor_value_info("pixels", elem, ["N", *shape]))
        flat = self.op("Flatten", ["pixels"], "flat", axis=1) if len(shape) > 1 else "pixels"
        return self.op("Cast", [flat], "x", to=self.elem) if input_dtype == "uint8" else flat

    def normalize(self, x: str, normalizer: Normalizer, n_inputs: int) -> str:
        method = normalizer.method
        if method == "255":
            return self.op("Div", [x, self.const("pixel_max", normalizer.pixel_max)], "scaled")
        if method == "max":
            peak = self.op("ReduceMax", [x], "peak", axes=[1], keepdims=1)
            positive = self.op("Greater", [peak, self.const("zero", 0)], "has_ink")
            denom = self.op("Where", [positive, peak, self.const("one", 1)], "denom")
            return self.op("Div", [x, denom], "scaled")
        if method == "standardize":
            if normalizer.mean is None or normalizer.std is None:
                raise BarenetError("the standardize normalizer is not fitted; fit it first")
            if normalizer.mean.shape != (n_inputs,):
                raise BarenetError(f"the normalizer was fitted on {normalizer.mean.shape[0]} "
                                   f"features but the model takes {n_inputs}")
            mean = normalizer.mean.astype(self.dtype)
            inv_std = (1.0 / normalizer.std).astype(self.dtype)
            centred = self.op("Sub", [x, self.const("mean", mean)], "centred")
            return self.op("Mul", [centred, self.const("inv_std", inv_std)], "scaled")
        return x

    def dense(self, x: str, W: np.ndarray, b: np.ndarray, activation: str) -> str:
        z = self.op("Add", [self.op("MatMul", [x, self.const("W", W)]), self.const("b", b)], "z")
        op_type = _ACTIVATION_OPS[activation]
        attrs: dict[str, Any] = {"alpha": LEAKY_SLOPE} if activation == "leaky_relu" else {}
        if activation == "softmax":
            attrs["axis"] = -1
        return self.op(op_type, [z], activation, **attrs)

    def probabilities(self, out: str, one_unit: bool) -> str:
        if one_unit:
            other = self.op("Sub", [self.const("one", 1), out], "p_first")
            return self.op("Concat", [other, out], "probabilities", axis=1)
        return self.op("Identity", [out], "probabilities")

    def labels(self, probabilities: str, classes: Sequence[Any]) -> None:
        index = self.op("ArgMax", [probabilities], "index", axis=1, keepdims=0)
        integers = _integer_labels(classes)
        if integers is not None:
            values, elem = self.const("classes", integers, np.int64), self.onnx.TensorProto.INT64
        else:
            values = self.const("classes", np.array([str(c) for c in classes], dtype=object), object)
            elem = self.onnx.TensorProto.STRING
        self.op("Gather", [values, index], "label", axis=0)
        self.outputs = [
            self.onnx.helper.make_tensor_value_info("probabilities", self.elem, ["N", len(classes)]),
            self.onnx.helper.make_tensor_value_info("label", elem, ["N"]),
        ]

    def finish(self, opset: int, metadata: dict[str, str]) -> Any:
        helper = self.onnx.helper
        graph = helper.make_graph(self.nodes, "barenet_mlp", self.inputs, self.outputs,
                                  self.constants)
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  producer_name="barenet", producer_version=_version())
        proto.ir_version = IR_VERSION
        proto.doc_string = ("barenet MLP: pixels -> the training normalizer -> Dense layers -> "
                            "probabilities (N, C) and label (N,)")
        helper.set_model_props(proto, metadata)
        return proto

"""Save and load trained models: one ``.npz`` archive, a JSON header, never pickle.

File format (``format_version`` 1)
----------------------------------
An uncompressed NumPy ``.npz`` (a zip of ``.npy`` arrays) holding:

* ``layer1.W``, ``layer1.b``, ``layer2.W``, ... : the parameters, named as in
  :meth:`barenet.MLP.params`; ``layerK.W`` is (n_in, n_out) and ``layerK.b`` is (n_out,), in
  the model's dtype (float32 or float64). With batch normalization each hidden layer K also
  has ``layerK.gamma``, ``layerK.beta``, ``layerK.running_mean`` and ``layerK.running_var``,
  each (n_out,) (:meth:`barenet.MLP.statistics` names the last two).
* ``header`` : a 1-D uint8 array holding UTF-8 JSON::

      {"format": "barenet-model", "format_version": 1, "barenet_version": "0.1.0",
       "model": MLP.config(),           # sizes, activations, init, dropout, dtype, seed
       "metadata": {...},               # the caller's dict: loss, preprocessing, classes, ...
       "rng_state": {...}}              # the model's Generator state (dropout continues exactly)

Loading never executes code: arrays are read with ``np.load(..., allow_pickle=False)``, and an
archive member holding Python objects is refused. Before anything is allocated, every member's
``.npy`` header is checked against the size the zip records for it and against the size of the
file itself, so a crafted file cannot make barenet allocate more than the input allows; the
model is built (with zero initialization) only after every array matches the header's
architecture. Any malformed file raises :class:`barenet.errors.ModelFileError` with one line
naming the file and the fix.

Saving is atomic (:func:`barenet.fileio.atomic_write`): a crash or a full disk part-way leaves
the previous file intact and no temporary file behind. A path without a suffix gets ``.npz``
(``runs/a/model`` -> ``runs/a/model.npz``); any other suffix is kept as given.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BarenetError, DivergenceError, ModelFileError
from ..files.atomic import atomic_write
from ..files.safe_read import file_kind, read_checked_npz, summary
from ..nn.init import get_initializer
from ..nn.layers import ActivationLayer, Dense, Dropout, GaussianNoise
from ..nn.model import DTYPES, MLP
from ..nn.normalization import BatchNorm

FORMAT = "barenet-model"
FORMAT_VERSION = 1
HEADER_KEY = "header"


def _barenet_version() -> str:
    from .. import __version__  # late: barenet/__init__ may import this module

    return __version__


# ============================================================================ saving
def _jsonable(value: Any, where: str) -> Any:
    """A JSON-ready copy of ``value``: numpy scalars/arrays become Python numbers/lists,
    tuples lists, paths strings. Non-finite floats, non-string keys and other objects raise."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(float(value)):
            raise BarenetError(f"{where} is {float(value)}; JSON cannot hold NaN or inf, "
                               "store it as a string or None")
        return float(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise BarenetError(f"{where} is an array of dtype {value.dtype}; only numeric "
                               "arrays can go in the header")
        return _jsonable(value.tolist(), where)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise BarenetError(f"{where} has the key {k!r}; header keys must be strings")
            out[k] = _jsonable(v, f"{where}[{k!r}]")
        return out
    raise BarenetError(f"{where} is a {type(value).__name__}, which JSON cannot hold; "
                       "give numbers, strings, lists or dicts")


def _header_bytes(model: MLP, metadata: Mapping | None) -> bytes:
    if metadata is not None and not isinstance(metadata, Mapping):
        raise BarenetError(f"metadata must be a dict; got {type(metadata).__name__}")
    header = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "barenet_version": _barenet_version(), "model": model.config(),
        "metadata": _jsonable(dict(metadata or {}), "metadata"),
        "rng_state": _jsonable(model.rng.bit_generator.state, "rng_state"),
    }
    return json.dumps(header, allow_nan=False, indent=1).encode("utf-8")


def save_model(path: str | os.PathLike, model: MLP, metadata: Mapping | None = None) -> Path:
    """Write ``model`` (and the JSON-serializable ``metadata``) atomically; return the path.

    ``metadata`` is free-form (loss, preprocessing, class labels, input shape, training
    config); numpy scalars and arrays in it are converted to Python numbers and lists. A model
    with NaN/inf parameters is refused (:class:`DivergenceError`), as the loader would refuse it.
    """
    if not isinstance(model, MLP):
        raise BarenetError(f"save_model(path, model) takes the path first, then the MLP; got "
                           f"{type(path).__name__} and {type(model).__name__}")
    path = Path(path)
    if path.suffix == "":
        path = path.with_name(path.name + ".npz")
    arrays = {p.name: p.value for p in model.params()} | model.statistics()
    for name, value in arrays.items():
        if not np.all(np.isfinite(value)):
            raise DivergenceError(f"{name} holds NaN or inf; not saving a diverged model "
                                  "(lower the learning rate, or keep the last good model)")
    header = np.frombuffer(_header_bytes(model, metadata), dtype=np.uint8)
    with atomic_write(path, "wb") as handle:
        np.savez(handle, **{HEADER_KEY: header}, **arrays)
    return path


# ============================================================================ loading
def _fail(path: Path, problem: str, fix: str) -> ModelFileError:
    return ModelFileError(f"{path}: {problem}; {fix}")


_RESAVE = "use an intact copy of the model file or train the model again"


def _resolve(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists() and path.suffix == "" and path.with_name(path.name + ".npz").exists():
        path = path.with_name(path.name + ".npz")
    if not path.exists():
        raise _fail(path, "no such model file",
                    "check the path (barenet train writes RUN/model.npz)")
    if path.is_dir():
        raise _fail(path, "is a directory, not a model file", f"give {path / 'model.npz'}")
    return path


def _sniff(path: Path) -> None:
    """Refuse anything that is not a zip archive before numpy parses it."""
    try:
        kind = file_kind(path)
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc.strerror or exc})",
                    "check its permissions") from None
    if kind == "npy":
        raise _fail(path, "is a single .npy array, not a barenet model (.npz)",
                    "give the .npz written by barenet.save_model")
    if kind != "zip":
        raise _fail(path, "is not a barenet model file (not an .npz archive)",
                    "give the .npz written by barenet.save_model")


#: The fix each kind of member problem calls for, in a model file.
_MODEL_FIXES = {"corrupt": _RESAVE, "pickled": "use a model file written by barenet.save_model",
                "compression": "save with numpy.savez or numpy.savez_compressed"}


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of the archive, each member checked first
    (:func:`barenet.files.safe_read.check_npz_member`); problems raise :class:`ModelFileError`."""
    _sniff(path)
    return read_checked_npz(path, lambda problem, kind: _fail(path, problem, _MODEL_FIXES[kind]))


def _parse_header(path: Path, arrays: dict[str, np.ndarray]) -> dict:
    raw = arrays.pop(HEADER_KEY, None)
    if raw is None:
        raise _fail(path, "has no 'header' array: it is an .npz but not a barenet model",
                    "give the .npz written by barenet.save_model")
    if raw.ndim != 1 or raw.dtype != np.uint8:
        raise _fail(path, "has a malformed header (expected 1-D uint8 JSON bytes)", _RESAVE)
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise _fail(path, "has a header that is not valid UTF-8", _RESAVE) from None
    except (ValueError, RecursionError) as exc:
        raise _fail(path, f"has a header that is not valid JSON ({summary(exc, 80)})",
                    _RESAVE) from None
    if not isinstance(header, dict):
        raise _fail(path, "has a header that is not a JSON object", _RESAVE)
    if header.get("format") != FORMAT:
        raise _fail(path, f"is not a barenet model (header format {header.get('format')!r}, "
                    f"expected {FORMAT!r})", "give the .npz written by barenet.save_model")
    version = header.get("format_version")
    if type(version) is not int or version < 1:
        raise _fail(path, f"has an invalid format_version {version!r}", _RESAVE)
    if version > FORMAT_VERSION:
        raise _fail(path, f"was saved by a newer barenet (format {version}; this barenet "
                    f"reads format {FORMAT_VERSION})", "upgrade barenet (pip install -U barenet)")
    if not isinstance(header.get("model"), dict):
        raise _fail(path, "has no 'model' section in its header", _RESAVE)
    if not isinstance(header.setdefault("metadata", {}), dict):
        raise _fail(path, "has a 'metadata' header entry that is not a JSON object", _RESAVE)
    return header


def _is_int(x: object) -> bool:
    return type(x) is int


def _is_number(x: object) -> bool:
    return type(x) in (int, float) and math.isfinite(x)


def _str_list(x: object, n: int) -> bool:
    return isinstance(x, list) and len(x) == n and all(isinstance(s, str) for s in x)


def _check_config(path: Path, cfg: dict) -> dict:
    """Type-check the header's model config; returns MLP keyword arguments (init excluded)."""
    sizes = cfg.get("sizes")
    if not (isinstance(sizes, list) and len(sizes) >= 2
            and all(_is_int(s) and s >= 1 for s in sizes)):
        raise _fail(path, f"has invalid layer sizes {str(sizes)[:80]} in its header", _RESAVE)
    n_dense = len(sizes) - 1
    checks = [
        ("hidden", _str_list(cfg.get("hidden"), n_dense - 1)),
        ("output", isinstance(cfg.get("output"), str)),
        ("init", _str_list(cfg.get("init"), n_dense)),
        ("bias_init", _is_number(cfg.get("bias_init", 0.0)) or isinstance(cfg.get("bias_init"), str)),
        ("dropout", isinstance(cfg.get("dropout"), list) and len(cfg["dropout"]) == n_dense - 1
         and all(_is_number(d) for d in cfg["dropout"])),
        ("input_dropout", _is_number(cfg.get("input_dropout", 0.0))
         and 0 <= cfg.get("input_dropout", 0.0) < 1),
        ("batch_norm", isinstance(cfg.get("batch_norm", False), bool)),
        ("noise", _is_number(cfg.get("noise", 0.0)) and cfg.get("noise", 0.0) >= 0),
        ("input_noise", _is_number(cfg.get("input_noise", 0.0)) and cfg.get("input_noise", 0.0) >= 0),
        ("dtype", cfg.get("dtype") in DTYPES),
        ("seed", cfg.get("seed") is None or _is_int(cfg.get("seed"))),
    ]
    for key, ok in checks:
        if not ok:
            raise _fail(path, f"has an invalid model {key!r} in its header "
                        f"({str(cfg.get(key))[:80]})", _RESAVE)
    for spec in cfg["init"]:
        try:
            get_initializer(spec)
        except BarenetError:
            raise _fail(path, f"has an unknown initializer {spec!r} in its header",
                        _RESAVE) from None
    return {"sizes": sizes, "hidden": cfg["hidden"], "output": cfg["output"],
            "dropout": cfg["dropout"], "input_dropout": float(cfg.get("input_dropout", 0.0)),
            "batch_norm": cfg.get("batch_norm", False), "noise": float(cfg.get("noise", 0.0)),
            "input_noise": float(cfg.get("input_noise", 0.0)),
            "dtype": cfg["dtype"], "seed": cfg.get("seed")}


def _check_weights(path: Path, kwargs: dict, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays by name, parameters in MLP.params() order and then the running statistics,
    each checked against the architecture."""
    sizes, dtype = kwargs["sizes"], np.dtype(kwargs["dtype"])
    expected: dict[str, tuple[int, ...]] = {}
    statistics: dict[str, tuple[int, ...]] = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
        expected[f"layer{i}.W"] = (n_in, n_out)
        expected[f"layer{i}.b"] = (n_out,)
        if kwargs["batch_norm"] and i < len(sizes) - 1:
            expected[f"layer{i}.gamma"] = expected[f"layer{i}.beta"] = (n_out,)
            statistics[f"layer{i}.running_mean"] = statistics[f"layer{i}.running_var"] = (n_out,)
    expected |= statistics
    missing = [k for k in expected if k not in arrays]
    extra = sorted(k for k in arrays if k not in expected)
    if missing:
        raise _fail(path, f"lacks the arrays {', '.join(missing[:6])} that its header's "
                    f"architecture {sizes} needs", _RESAVE)
    if extra:
        raise _fail(path, f"holds arrays its header does not describe: {', '.join(extra[:6])}",
                    _RESAVE)
    for name, shape in expected.items():
        a = arrays[name]
        if a.shape != shape:
            raise _fail(path, f"array {name} has shape {a.shape} but the header's sizes "
                        f"{sizes} need {shape}", _RESAVE)
        if a.dtype != dtype:
            raise _fail(path, f"array {name} has dtype {a.dtype} but the header says "
                        f"{dtype.name}", _RESAVE)
        if not np.all(np.isfinite(a)):
            raise _fail(path, f"array {name} holds NaN or inf (the model diverged before it "
                        "was saved)", "retrain with a lower learning rate")
    return {name: arrays[name] for name in expected}


def _build(path: Path, header: dict, arrays: dict[str, np.ndarray]) -> MLP:
    cfg = header["model"]
    kwargs = _check_config(path, cfg)
    weights = _check_weights(path, kwargs, arrays)
    try:
        model = MLP(init=["zeros"] * (len(kwargs["sizes"]) - 1), **kwargs)
    except BarenetError as exc:
        raise _fail(path, f"describes a model barenet cannot build ({exc})", _RESAVE) from None
    model.inits, model.bias_init = list(cfg["init"]), cfg.get("bias_init", 0.0)
    model.set_weights([weights[p.name] for p in model.params()])
    for name, array in model.statistics().items():
        array[...] = weights[name]
    state = header.get("rng_state")
    if state is not None:
        try:
            model.rng.bit_generator.state = state
        except (TypeError, ValueError, KeyError, OverflowError):
            raise _fail(path, "has an invalid rng_state in its header", _RESAVE) from None
    return model


def _check_metadata(path: Path, model: MLP, metadata: dict) -> None:
    """The header's metadata must describe this network: as many class names as it has
    classes (one output unit means two classes), an ``input_shape`` whose product is its
    number of inputs."""
    classes = metadata.get("classes")
    n_classes = max(2, model.n_outputs)
    if classes is not None and not isinstance(classes, list):
        raise _fail(path, f"has the header metadata 'classes' as a {type(classes).__name__}, not a "
                    "list of class names (tampered or not written by barenet)", _RESAVE)
    if classes is not None and not (len(classes) == n_classes
                                    and all(isinstance(c, (str, int)) for c in classes)):
        raise _fail(path, f"has {len(classes)} class names in its header but the network has "
                    f"{model.n_outputs} output unit(s), i.e. {n_classes} classes (tampered or "
                    "mismatched header)", _RESAVE)
    preprocessing = metadata.get("preprocessing", {})
    if not isinstance(preprocessing, dict):
        raise _fail(path, "has a 'preprocessing' header entry that is not a JSON object", _RESAVE)
    shape = preprocessing.get("input_shape")
    if shape is None:
        return
    if not (isinstance(shape, list) and shape and all(_is_int(s) and s >= 1 for s in shape)):
        raise _fail(path, f"has an invalid input_shape {str(shape)[:40]} in its header", _RESAVE)
    if math.prod(shape) != model.n_inputs:
        raise _fail(path, f"has the input_shape {shape} ({math.prod(shape)} values) in its header "
                    f"but the network takes {model.n_inputs} inputs (tampered or mismatched "
                    "header)", _RESAVE)


def read_header(path: str | os.PathLike) -> dict:
    """The validated JSON header of a model file (format, versions, model config, metadata)."""
    path = _resolve(path)
    return _parse_header(path, read_arrays(path))


def load_model(path: str | os.PathLike) -> tuple[MLP, dict]:
    """Rebuild the saved model; returns ``(model, metadata)``.

    The model has the saved dtype, architecture and parameters (it predicts bit-identically to
    the saved one) and the saved random-generator state. ``path`` without a suffix also finds
    ``path.npz``. Raises :class:`ModelFileError` for any missing, corrupt, foreign or newer file.
    """
    path = _resolve(path)
    arrays = read_arrays(path)
    header = _parse_header(path, arrays)
    model = _build(path, header, arrays)
    _check_metadata(path, model, header["metadata"])
    return model, header["metadata"]


def model_summary_dict(model: MLP) -> dict:
    """A JSON-ready description: config, parameter count and one entry per layer."""
    layers: list[dict] = []
    for layer in model.layers:
        if isinstance(layer, Dense):
            layers.append({"type": "Dense", "in": layer.n_in, "out": layer.n_out,
                           "params": int(layer.W.size + layer.b.size)})
        elif isinstance(layer, ActivationLayer):
            layers.append({"type": "Activation", "name": layer.name})
        elif isinstance(layer, Dropout):
            layers.append({"type": "Dropout", "rate": layer.rate})
        elif isinstance(layer, BatchNorm):
            layers.append({"type": "BatchNorm", "units": layer.n, "params": 2 * layer.n})
        elif isinstance(layer, GaussianNoise):
            layers.append({"type": "GaussianNoise", "sigma": layer.sigma})
    return {"config": model.config(), "n_params": int(model.n_params()),
            "dtype": model.dtype.name, "layers": layers}

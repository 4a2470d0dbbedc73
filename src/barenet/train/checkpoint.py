"""Checkpoints: everything needed to continue a training run exactly where it stopped.

A checkpoint is one ``.npz`` archive (never pickle), written atomically (temporary file,
fsync, rename) by :func:`save_checkpoint`:

* ``model.layer1.W``, ``model.layer1.b``, ... : the parameters, and the running statistics of
  batch normalization (``model.layer1.running_mean``, ...);
* ``optim.<key>`` : the optimizer's state arrays (moments, momentum buffers, step count);
* ``callback<i>.<key>`` : arrays of callbacks that keep state (early stopping's best weights);
* ``header`` : UTF-8 JSON bytes: the epoch reached, the shuffling and dropout Generator
  states, the History so far, the JSON state of stateful callbacks, and (from
  ``barenet train``) ``"run"``: the run's resolved configuration and the options it was
  started with, so that ``--resume`` can refuse an edited config.toml.

Resuming restores all of it, so a resumed run finishes bit-identical to one that was never
interrupted (same seed, same machine).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelFileError
from ..files.atomic import atomic_write
from ..files.safe_read import file_kind, read_checked_npz
from .history import History

FORMAT = "barenet-checkpoint"
FORMAT_VERSION = 1


def trainer_state(trainer: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(JSON state, arrays) of a :class:`~barenet.training.Trainer` between epochs."""
    arrays: dict[str, np.ndarray] = {}
    for p in trainer.model.params():
        arrays[f"model.{p.name}"] = p.value
    for name, array in trainer.model.statistics().items():
        arrays[f"model.{name}"] = array
    for key, value in trainer.optimizer.state_dict().items():
        arrays[f"optim.{key}"] = np.asarray(value)
    callbacks: list[Any] = []
    for i, callback in enumerate(trainer.callbacks):
        getter = getattr(callback, "state_dict", None)
        if getter is None:
            callbacks.append(None)
            continue
        state, callback_arrays = getter()
        callbacks.append(state)
        arrays.update({f"callback{i}.{k}": v for k, v in callback_arrays.items()})
    state = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "epoch": trainer.epoch,
        "shuffle_rng": trainer.rng.bit_generator.state,
        "model_rng": trainer.model.rng.bit_generator.state,
        "history": trainer.history.to_dict(),
        "callbacks": callbacks,
    }
    return state, arrays


def load_trainer_state(trainer: Any, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Put a state from :func:`trainer_state` back into ``trainer`` (built with the same config)."""
    params = trainer.model.params()
    targets = {p.name: p.value for p in params} | trainer.model.statistics()
    for name, target in targets.items():
        key = f"model.{name}"
        if key not in arrays or arrays[key].shape != target.shape:
            raise ModelFileError(f"the checkpoint does not match this model ({key}); "
                                 "resume with the run's own config.toml")
        target[...] = arrays[key]
    optimizer_state = {k[len("optim."):]: v for k, v in arrays.items() if k.startswith("optim.")}
    for key, value in optimizer_state.items():
        # per-parameter state is named like "u0", "s1", "buffer2": it must match parameter i
        index = key.lstrip("abcdefghijklmnopqrstuvwxyz")
        if index.isdigit() and (int(index) >= len(params) or value.shape != params[int(index)].value.shape):
            raise ModelFileError(f"the checkpoint's optimizer state {key} does not match this model; "
                                 "resume with the run's own config.toml")
    trainer.optimizer.load_state_dict(optimizer_state)
    trainer.epoch = int(state["epoch"])
    trainer.rng.bit_generator.state = state["shuffle_rng"]
    trainer.model.rng.bit_generator.state = state["model_rng"]
    trainer.history = History.from_dict(state["history"])
    for i, (callback, saved) in enumerate(zip(trainer.callbacks, state["callbacks"], strict=False)):
        setter = getattr(callback, "load_state_dict", None)
        if setter is not None and saved is not None:
            prefix = f"callback{i}."
            setter(saved, {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any],
                    arrays: dict[str, np.ndarray]) -> Path:
    """Write a checkpoint atomically; the previous checkpoint survives any failure part-way."""
    path = Path(path)
    header = np.frombuffer(json.dumps(state).encode("utf-8"), dtype=np.uint8)
    with atomic_write(path, "wb") as handle:
        np.savez(handle, header=header, **arrays)
    return path


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(JSON state, arrays) of a checkpoint file, read without pickle and size-checked."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"no checkpoint at {path}; train with --checkpoint-every N "
                             "(or interrupt a run with Ctrl-C) to write one")
    not_ours = ModelFileError(f"{path} is not a barenet checkpoint; resume from a run directory "
                              "written by barenet train")
    try:
        kind = file_kind(path)
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read the checkpoint ({exc.strerror or exc})") from None
    if kind != "zip":
        raise not_ours
    arrays = read_checked_npz(path, lambda problem, _kind: ModelFileError(
        f"{path}: the checkpoint {problem}; train the run again without --resume"))
    raw = arrays.pop("header", None)
    try:
        state = json.loads(bytes(raw).decode("utf-8")) if raw is not None else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        state = None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise not_ours
    if int(state.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelFileError(f"{path} was written by a newer barenet; upgrade barenet to resume it")
    return state, arrays

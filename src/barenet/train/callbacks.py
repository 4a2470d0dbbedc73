"""Training callbacks: the hooks :class:`~barenet.train.trainer.Trainer` calls, early
stopping and checkpoints.

A callback is any object with some of the methods of :class:`Callback`; each receives the
trainer, whose ``model``, ``optimizer``, ``history``, ``epoch``, ``epochs`` and
``stop_training`` it may read (and ``stop_training`` set to stop after the epoch).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..errors import BarenetError

if TYPE_CHECKING:
    from .trainer import Trainer

Array = np.ndarray


class Callback(Protocol):
    """Hooks called by :class:`Trainer`; every method is optional."""

    def on_train_begin(self, trainer: Trainer) -> None: ...
    def on_batch_end(self, trainer: Trainer, batch: int, n_batches: int, loss: float) -> None: ...
    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None: ...
    def on_train_end(self, trainer: Trainer) -> None: ...
    def on_interrupt(self, trainer: Trainer) -> None: ...


def call_hooks(callbacks: Sequence[Any], hook: str, *args: Any) -> None:
    """Call ``hook(*args)`` on every callback that has it."""
    for callback in callbacks:
        method = getattr(callback, hook, None)
        if method is not None:
            method(*args)


@dataclass
class EarlyStopping:
    """Stop when ``monitor`` (``val_loss`` or ``val_accuracy``) has not improved by more than
    ``min_delta`` for ``patience`` epochs; with ``restore_best`` put the best weights back (and
    the running statistics of batch normalization that went with them)."""

    patience: int = 5
    monitor: str = "val_loss"
    min_delta: float = 0.0
    restore_best: bool = True

    def on_train_begin(self, trainer: Trainer) -> None:
        if self.monitor not in ("val_loss", "val_accuracy"):
            raise BarenetError(f"early stopping monitors val_loss or val_accuracy, not {self.monitor!r}")
        if getattr(self, "_resumed", False):  # state restored from a checkpoint: keep it
            return
        self.best = math.inf if self.monitor == "val_loss" else -math.inf
        self.best_epoch = 0
        self.best_weights: list[Array] | None = None
        self.waited = 0
        self.stopped_epoch: int | None = None

    def _improved(self, value: float) -> bool:
        if self.monitor == "val_loss":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        value = record.get(self.monitor)
        if value is None:
            raise BarenetError("early stopping needs a validation set (pass validation data)")
        if self._improved(value):
            self.best, self.best_epoch, self.waited = value, record["epoch"], 0
            if self.restore_best:
                self.best_weights = trainer.model.get_state()  # with batch norm's statistics
            return
        self.waited += 1
        if self.waited >= self.patience:
            self.stopped_epoch = record["epoch"]
            trainer.stop_training = True

    def on_train_end(self, trainer: Trainer) -> None:
        if self.restore_best and self.best_weights is not None:
            trainer.model.set_state(self.best_weights)
            trainer.restored_epoch = self.best_epoch

    def state_dict(self) -> tuple[dict[str, Any], dict[str, Array]]:
        """(JSON state, arrays) for checkpoints."""
        state = {"best": self.best, "best_epoch": self.best_epoch, "waited": self.waited,
                 "stopped_epoch": self.stopped_epoch}
        arrays = {f"w{i}": w for i, w in enumerate(self.best_weights or [])}
        return state, arrays

    def load_state_dict(self, state: dict[str, Any], arrays: dict[str, Array]) -> None:
        self.best, self.best_epoch = float(state["best"]), int(state["best_epoch"])
        self.waited, self.stopped_epoch = int(state["waited"]), state["stopped_epoch"]
        self.best_weights = [arrays[f"w{i}"] for i in range(len(arrays))] or None
        self._resumed = True


class Checkpoint:
    """Write a resumable checkpoint (see :mod:`barenet.checkpoint`) every ``every`` epochs,
    at the end of training, and when training is interrupted. ``every=None``: only the last
    two. Put it last in the callback list so it saves the other callbacks' updated state.
    ``run`` (JSON, e.g. the run's resolved configuration) goes into the header's ``"run"``."""

    def __init__(self, path: str | Any, every: int | None = None,
                 run: dict[str, Any] | None = None) -> None:
        self.path = path
        self.every = every
        self.run = run

    def _save(self, trainer: Trainer) -> None:
        from .checkpoint import save_checkpoint, trainer_state

        state, arrays = trainer_state(trainer)
        if self.run is not None:
            state["run"] = self.run
        save_checkpoint(self.path, state, arrays)

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        final = trainer.epoch >= trainer.epochs or trainer.stop_training
        if final or (self.every and trainer.epoch % self.every == 0):
            self._save(trainer)

    def on_interrupt(self, trainer: Trainer) -> None:
        self._save(trainer)

"""The training loop: epochs of minibatches, with shuffling, validation, history and callbacks.

One epoch, written out::

    for x_batch, y_batch in iterate_minibatches(x, y, batch_size, rng=rng, normalizer=...):
        optimizer.lr = schedule(base_lr, t, epochs)       # t: epochs done, fractional
        p = model.forward(x_batch, training=True)          # (B, C)
        batch_loss = loss.value(p, y_batch)
        model.backward(p, y_batch, loss)                   # every dW, db
        optimizer.step(model.params())                     # W -= ... in place

Batching modes: ``batch_size=1`` is per-sample SGD, an integer is minibatch (the last, smaller
batch kept, or dropped with ``drop_last``), ``"full"`` is full-batch gradient descent.
Shuffling draws one permutation per epoch from a Generator seeded by ``seed``: the same seed
gives bit-identical runs on the same machine with the same BLAS thread count (see
:mod:`barenet.threads`). Optional data augmentation (``augment``, e.g.
:class:`barenet.augment.RandomShift`) changes each raw training batch before normalization,
drawing from the same Generator.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..data.preprocess import Augment, Normalizer, iterate_minibatches
from ..errors import BarenetError, DivergenceError
from ..nn.losses import Loss, check_pairing, get_loss
from ..nn.model import MLP
from ..nn.optim import Adam, Optimizer, make_optimizer
from ..nn.schedules import Schedule, get_schedule
from .history import History

Array = np.ndarray


class Callback(Protocol):
    """Hooks called by :class:`Trainer`; every method is optional."""

    def on_train_begin(self, trainer: Trainer) -> None: ...
    def on_batch_end(self, trainer: Trainer, batch: int, n_batches: int, loss: float) -> None: ...
    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None: ...
    def on_train_end(self, trainer: Trainer) -> None: ...
    def on_interrupt(self, trainer: Trainer) -> None: ...


def _call(callbacks: Sequence[Any], hook: str, *args: Any) -> None:
    for callback in callbacks:
        method = getattr(callback, hook, None)
        if method is not None:
            method(*args)


def count_correct(p: Array, y: Array, threshold: float = 0.5) -> int:
    """How many rows of p (N, C) predict their label y (N,) (or dense targets (N, C))."""
    y = np.asarray(y)
    if p.shape[1] == 1:
        truth = y.reshape(-1) > 0.5
        return int(np.count_nonzero((p[:, 0] > threshold) == truth))
    labels = y if y.ndim == 1 else np.argmax(y, axis=1)
    return int(np.count_nonzero(np.argmax(p, axis=1) == labels))


def predict_proba_batched(model: MLP, x: Array, normalizer: Normalizer | None = None,
                          batch_size: int = 4096) -> Array:
    """Output probabilities (N, C) for raw or float inputs, normalized one batch at a time
    (never a float copy of the whole data set)."""
    n = len(x)
    x2 = np.asarray(x).reshape(n, -1)
    proba = np.empty((n, model.n_outputs), dtype=model.dtype)
    for start in range(0, n, batch_size):
        xb = x2[start:start + batch_size]
        if normalizer is not None:
            xb = normalizer.transform(xb, dtype=model.dtype)
        proba[start:start + batch_size] = model.forward(xb, training=False, copy=False)
    return proba


def predicted_labels(proba: Array, threshold: float = 0.5) -> Array:
    """Class indices (N,) from probabilities: argmax, or ``p > threshold`` for one unit."""
    if proba.shape[1] == 1:
        return (proba[:, 0] > threshold).astype(np.int64)
    return np.argmax(proba, axis=1)


def evaluate(model: MLP, x: Array, y: Array, loss: Loss | str = "cross_entropy",
             normalizer: Normalizer | None = None, batch_size: int = 4096,
             return_proba: bool = False) -> Any:
    """(loss, accuracy) of ``model`` on (x, y) in inference mode, in batches.

    ``x`` may be raw uint8 images when a ``normalizer`` is given. The loss uses the loss's own
    reduction (the sum reduction sums over all N samples). With ``return_proba`` the
    probabilities (N, C) come back as a third element.
    """
    loss = get_loss(loss)
    if len(x) == 0:
        raise BarenetError("cannot evaluate on an empty data set")
    proba = predict_proba_batched(model, x, normalizer, batch_size)
    total = float(np.sum(loss.per_sample(proba, np.asarray(y)), dtype=np.float64))
    value = total / len(x) if loss.reduction == "mean" else total
    accuracy = count_correct(proba, y) / len(x)
    return (value, accuracy, proba) if return_proba else (value, accuracy)


@dataclass
class EarlyStopping:
    """Stop when ``monitor`` (``val_loss`` or ``val_accuracy``) has not improved by more than
    ``min_delta`` for ``patience`` epochs; with ``restore_best`` put the best weights back."""

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
                self.best_weights = trainer.model.get_weights()
            return
        self.waited += 1
        if self.waited >= self.patience:
            self.stopped_epoch = record["epoch"]
            trainer.stop_training = True

    def on_train_end(self, trainer: Trainer) -> None:
        if self.restore_best and self.best_weights is not None:
            trainer.model.set_weights(self.best_weights)
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
    two. Put it last in the callback list so it saves the other callbacks' updated state."""

    def __init__(self, path: str | Any, every: int | None = None) -> None:
        self.path = path
        self.every = every

    def _save(self, trainer: Trainer) -> None:
        from .checkpoint import save_checkpoint, trainer_state

        save_checkpoint(self.path, *trainer_state(trainer))

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        final = trainer.epoch >= trainer.epochs or trainer.stop_training
        if final or (self.every and trainer.epoch % self.every == 0):
            self._save(trainer)

    def on_interrupt(self, trainer: Trainer) -> None:
        self._save(trainer)


class Trainer:
    """Trains an :class:`MLP` on (x, y) and records a :class:`History`.

    ``x`` is (N, features) or (N, H, W): raw uint8 images with a ``normalizer`` (converted to
    float one batch at a time, so the data stay uint8 in memory), or float features without.
    ``y`` is (N,) integer labels, or dense targets (N, C).

    ``augment`` (e.g. :class:`barenet.augment.RandomShift`) changes each raw training batch
    before normalization, drawing from the trainer's Generator (so checkpoints resume
    bit-identically); validation and evaluation data are never augmented.
    """

    def __init__(
        self, model: MLP, loss: Loss | str = "cross_entropy", optimizer: Optimizer | str | None = None,
        *, lr: float | None = None, batch_size: int | str = 128, epochs: int = 10,
        schedule: Schedule | str | None = None, shuffle: bool = True, drop_last: bool = False,
        seed: int | None = None, normalizer: Normalizer | None = None,
        callbacks: Sequence[Any] = (), track_norms: bool = True, augment: Augment | None = None,
    ) -> None:
        self.model = model
        self.loss = get_loss(loss)
        check_pairing(model.output, self.loss.name, model.n_outputs)
        if optimizer is None:
            optimizer = Adam(lr if lr is not None else 0.001)
        elif isinstance(optimizer, str):
            optimizer = make_optimizer(optimizer, lr if lr is not None else 0.01)
        elif lr is not None:
            optimizer.lr = float(lr)
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.batch_size = batch_size
        self.epochs = int(epochs)
        self.schedule = schedule if isinstance(schedule, Schedule) else get_schedule(schedule)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = model.seed if seed is None else seed
        self.rng = np.random.default_rng(self.seed)
        self.normalizer = normalizer
        self.augment = augment
        self.callbacks = list(callbacks)
        self.track_norms = track_norms
        self.history = History()
        self.epoch = 0
        self.stop_training = False
        self.interrupted = False
        self.restored_epoch: int | None = None
        self._last_snapshot: dict[str, Any] | None = None

    def _batch_size_for(self, n: int) -> int:
        if self.batch_size == "full":
            return n
        size = int(self.batch_size)
        if size < 1:
            raise BarenetError(f"batch size must be a positive integer or 'full'; got {size}")
        if size > n:
            raise BarenetError(f"batch size {size} is larger than the {n} training samples; "
                               "use a smaller --batch-size or --batch-size full")
        return size

    def fit(self, x: Array, y: Array, validation: tuple[Array, Array] | None = None) -> History:
        """Train for the remaining epochs; returns the History (also ``self.history``)."""
        x = np.asarray(x)
        y = np.asarray(y)
        n = len(x)
        if n == 0:
            raise BarenetError("the training set is empty; check the data selection options")
        if len(y) != n:
            raise BarenetError(f"{n} training samples but {len(y)} labels")
        x = x.reshape(n, -1)
        if x.shape[1] != self.model.n_inputs:
            raise BarenetError(f"the data have {x.shape[1]} features per sample but the model "
                               f"expects {self.model.n_inputs}")
        image_shape = getattr(self.augment, "image_shape", None)
        if image_shape is not None and math.prod(image_shape) != x.shape[1]:
            raise BarenetError(f"the augmentation moves {image_shape[0]}x{image_shape[1]} images but "
                               f"the data have {x.shape[1]} features per sample")
        batch = self._batch_size_for(n)
        n_batches = n // batch if self.drop_last else math.ceil(n / batch)
        params = self.model.params()
        dense = self.model.dense_layers
        batch_hooks = [c for c in self.callbacks if hasattr(c, "on_batch_end")]
        _call(self.callbacks, "on_train_begin", self)
        try:
            # Overflow and NaN are caught by the finiteness checks of _run_epochs, which raise a
            # DivergenceError that says what to change; NumPy's own warnings would only precede it.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                self._run_epochs(x, y, validation, batch, n_batches, params, dense, batch_hooks)
        except KeyboardInterrupt:
            # Ctrl-C (or SIGTERM) mid-epoch: go back to the last completed epoch, exactly.
            if self._last_snapshot is not None:
                self._restore(self._last_snapshot)
            self.interrupted = True
            _call(self.callbacks, "on_interrupt", self)
            raise
        _call(self.callbacks, "on_train_end", self)
        return self.history

    def _snapshot(self) -> dict[str, Any]:
        """Copies of all state that changes during an epoch (weights, optimizer, Generators)."""
        return {"epoch": self.epoch, "weights": self.model.get_weights(),
                "optimizer": {k: np.array(v, copy=True)
                              for k, v in self.optimizer.state_dict().items()},
                "rng": copy.deepcopy(self.rng.bit_generator.state),
                "model_rng": copy.deepcopy(self.model.rng.bit_generator.state),
                "n_epochs": len(self.history.epochs), "n_batches": len(self.history.batch_loss)}

    def _restore(self, snapshot: dict[str, Any]) -> None:
        self.epoch = snapshot["epoch"]
        self.model.set_weights(snapshot["weights"])
        self.optimizer.load_state_dict(snapshot["optimizer"])
        self.rng.bit_generator.state = snapshot["rng"]
        self.model.rng.bit_generator.state = snapshot["model_rng"]
        del self.history.epochs[snapshot["n_epochs"]:]
        del self.history.batch_loss[snapshot["n_batches"]:]

    def _run_epochs(self, x: Array, y: Array, validation: tuple[Array, Array] | None, batch: int,
                    n_batches: int, params: list, dense: list, batch_hooks: list) -> None:
        while self.epoch < self.epochs and not self.stop_training:
            started = time.perf_counter()
            self._last_snapshot = start = self._snapshot()
            grad_sq = np.zeros(len(dense))
            loss_sum, correct, seen = 0.0, 0, 0
            batches = iterate_minibatches(x, y, batch, rng=self.rng, shuffle=self.shuffle,
                                          drop_last=self.drop_last, normalizer=self.normalizer,
                                          dtype=self.model.dtype, augment=self.augment)
            for b, (xb, yb) in enumerate(batches):
                t = self.epoch + b / n_batches
                self.optimizer.lr = self.schedule(self.base_lr, t, self.epochs)
                p = self.model.forward(xb, training=True, copy=False)
                value = self.loss.value(p, yb)
                if not math.isfinite(value):
                    self._diverged(start, f"the loss became {value} at epoch {self.epoch + 1}, "
                                   f"batch {b + 1}")
                correct += count_correct(p, yb)
                self.model.backward(p, yb, self.loss)
                if self.track_norms:
                    for i, layer in enumerate(dense):
                        g = layer.dW.reshape(-1)
                        grad_sq[i] += math.sqrt(float(np.dot(g, g)))
                self.optimizer.step(params)
                size = len(yb)
                per_sample = value if self.loss.reduction == "sum" else value * size
                loss_sum += per_sample
                seen += size
                self.history.batch_loss.append(value)
                if batch_hooks:
                    _call(batch_hooks, "on_batch_end", self, b + 1, n_batches, value)
            self.epoch += 1
            record: dict[str, Any] = {
                "epoch": self.epoch,
                "train_loss": loss_sum / seen if self.loss.reduction == "mean" else loss_sum,
                "train_accuracy": correct / seen,
                "val_loss": None, "val_accuracy": None,
                "lr": self.optimizer.lr,
                "samples": seen,
            }
            if validation is not None and len(validation[0]):
                record["val_loss"], record["val_accuracy"] = evaluate(
                    self.model, validation[0], validation[1], self.loss, self.normalizer)
            if not all(np.isfinite(p.value).all() for p in params):
                self._diverged(start, f"the weights became non-finite in epoch {self.epoch}")
            if self.track_norms:
                record["weight_change"] = [float(np.linalg.norm(layer.W - w0)) for layer, w0
                                           in zip(dense, start["weights"][0::2], strict=True)]
                record["grad_norm"] = [float(v / max(n_batches, 1)) for v in grad_sq]
            record["seconds"] = time.perf_counter() - started
            self.history.epochs.append(record)
            _call(self.callbacks, "on_epoch_end", self, record)

    def _diverged(self, start: dict[str, Any], what: str) -> None:
        """Put back the state from the start of the epoch and stop with a plain explanation."""
        self._restore(start)
        raise DivergenceError(
            f"training diverged: {what}. The learning rate ({self.optimizer.lr:g}) is probably too "
            "large for this loss and reduction; try a 10x smaller --lr, --reduction mean, or "
            "input scaled with --normalize 255")


def fit(model: MLP, x: Array, y: Array, *, loss: Loss | str = "cross_entropy",
        optimizer: Optimizer | str | None = None, lr: float | None = None,
        batch_size: int | str = 128, epochs: int = 10, schedule: Schedule | str | None = None,
        shuffle: bool = True, drop_last: bool = False, seed: int | None = None,
        normalizer: Normalizer | None = None, validation: tuple[Array, Array] | None = None,
        callbacks: Sequence[Any] = (), track_norms: bool = True,
        augment: Augment | None = None) -> History:
    """Train ``model`` on (x, y); see :class:`Trainer`. Returns the :class:`History`."""
    trainer = Trainer(model, loss, optimizer, lr=lr, batch_size=batch_size, epochs=epochs,
                      schedule=schedule, shuffle=shuffle, drop_last=drop_last, seed=seed,
                      normalizer=normalizer, callbacks=callbacks, track_norms=track_norms,
                      augment=augment)
    return trainer.fit(x, y, validation)

"""The training loop: epochs of minibatches, with shuffling, validation, history and callbacks.

One epoch, written out::

    for x_batch, y_batch in iterate_minibatches(x, y, batch_size, rng=rng, normalizer=...):
        optimizer.lr = schedule(base_lr, t, epochs)       # t: epochs done, fractional
        p = model.forward(x_batch, training=True, copy=False)  # (B, C), the model's buffer
        batch_loss = loss.value(p, y_batch)
        correct += count_correct(p, y_batch)
        model.backward(p, y_batch, loss, overwrite_p=True)  # every dW, db; p now holds dL/dz
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
import numbers
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data.preprocess import Augment, Normalizer, iterate_minibatches
from ..errors import BarenetError, DivergenceError
from ..nn.constraints import max_norm_
from ..nn.losses import Loss, check_pairing, get_loss
from ..nn.model import MLP
from ..nn.optim import Optimizer, check_learning_rate, make_optimizer
from ..nn.schedules import Schedule, get_schedule
from .callbacks import Callback, Checkpoint, EarlyStopping, call_hooks
from .evaluation import count_correct, evaluate, predict_proba_batched, predicted_labels
from .history import History

# barenet.training (this module's old name) keeps exporting what it held before the split
__all__ = ["Callback", "Checkpoint", "EarlyStopping", "Trainer", "count_correct", "evaluate",
           "fit", "predict_proba_batched", "predicted_labels"]

Array = np.ndarray


class Trainer:
    """Trains an :class:`MLP` on (x, y) and records a :class:`History`.

    ``x`` is (N, features) or (N, H, W): raw uint8 images with a ``normalizer`` (converted to
    float one batch at a time, so the data stay uint8 in memory), or float features without.
    ``y`` is (N,) integer labels, or dense targets (N, C) (one-hot rows, or probabilities for
    the cross-entropies); labels and their one-hot rows train bit-identically.

    ``optimizer`` is an :class:`Optimizer`, or its name (default ``"adam"``) built with
    ``lr`` (default: that optimizer's own default learning rate, e.g. 0.001 for Adam).

    ``augment`` (e.g. :class:`barenet.augment.RandomShift`) changes each raw training batch
    before normalization, drawing from the trainer's Generator (so checkpoints resume
    bit-identically); validation and evaluation data are never augmented. ``max_norm`` c
    (None: off) projects each unit's incoming weights to norm <= c after every step
    (:func:`barenet.nn.constraints.max_norm_`).
    """

    def __init__(
        self, model: MLP, loss: Loss | str = "cross_entropy", optimizer: Optimizer | str | None = None,
        *, lr: float | None = None, batch_size: int | str = 128, epochs: int = 10,
        schedule: Schedule | str | None = None, shuffle: bool = True, drop_last: bool = False,
        seed: int | None = None, normalizer: Normalizer | None = None,
        callbacks: Sequence[Any] = (), track_norms: bool = True, augment: Augment | None = None,
        max_norm: float | None = None,
    ) -> None:
        self.model = model
        self.loss = get_loss(loss)
        check_pairing(model.output, self.loss.name, model.n_outputs)
        if optimizer is None or isinstance(optimizer, str):
            optimizer = make_optimizer(optimizer or "adam", lr)
        elif lr is not None:
            optimizer.lr = check_learning_rate(lr)
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.batch_size = batch_size
        if isinstance(epochs, bool) or not (isinstance(epochs, numbers.Real)
                                            and float(epochs).is_integer() and epochs >= 0):
            raise BarenetError(f"epochs must be a whole number >= 0; got {epochs!r}")
        self.epochs = int(epochs)
        self.schedule = schedule if isinstance(schedule, Schedule) else get_schedule(schedule)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = model.seed if seed is None else seed
        self.rng = np.random.default_rng(self.seed)
        self.normalizer = normalizer
        self.augment = augment
        self.max_norm = max_norm
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
                               "use a smaller batch_size, or batch_size='full'")
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
        if y.ndim > 1 and y.shape[1:] != (self.model.n_outputs,):
            raise BarenetError(f"targets must be labels (N,) or dense (N, {self.model.n_outputs}) "
                               f"for this model; got shape {y.shape}")
        x = x.reshape(n, -1)
        if x.shape[1] != self.model.n_inputs:
            raise BarenetError(f"the data have {x.shape[1]} features per sample but the model "
                               f"expects {self.model.n_inputs}")
        image_shape = getattr(self.augment, "image_shape", None)
        if image_shape is not None and math.prod(image_shape) != x.shape[1]:
            raise BarenetError(f"the augmentation moves {image_shape[0]}x{image_shape[1]} images but "
                               f"the data have {x.shape[1]} features per sample")
        batch = self._batch_size_for(n)
        self.schedule.check(self.base_lr, self.epochs)
        n_batches = n // batch if self.drop_last else math.ceil(n / batch)
        params = self.model.params()
        dense = self.model.dense_layers
        batch_hooks = [c for c in self.callbacks if hasattr(c, "on_batch_end")]
        call_hooks(self.callbacks, "on_train_begin", self)
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
            call_hooks(self.callbacks, "on_interrupt", self)
            raise
        call_hooks(self.callbacks, "on_train_end", self)
        return self.history

    def _snapshot(self) -> dict[str, Any]:
        """Copies of all state that changes during an epoch (weights, optimizer, Generators)."""
        return {"epoch": self.epoch, "state": self.model.get_state(),
                "optimizer": {k: np.array(v, copy=True)
                              for k, v in self.optimizer.state_dict().items()},
                "rng": copy.deepcopy(self.rng.bit_generator.state),
                "model_rng": copy.deepcopy(self.model.rng.bit_generator.state),
                "n_epochs": len(self.history.epochs), "n_batches": len(self.history.batch_loss)}

    def _restore(self, snapshot: dict[str, Any]) -> None:
        self.epoch = snapshot["epoch"]
        self.model.set_state(snapshot["state"])
        self.optimizer.load_state_dict(snapshot["optimizer"])
        self.rng.bit_generator.state = snapshot["rng"]
        self.model.rng.bit_generator.state = snapshot["model_rng"]
        del self.history.epochs[snapshot["n_epochs"]:]
        del self.history.batch_loss[snapshot["n_batches"]:]

    def _run_epochs(self, x: Array, y: Array, validation: tuple[Array, Array] | None, batch: int,
                    n_batches: int, params: list, dense: list, batch_hooks: list) -> None:
        while self.epoch < self.epochs and not self.stop_training:
            started, cpu_started = time.perf_counter(), time.process_time()
            self._last_snapshot = start = self._snapshot()
            start_w = [w for p, w in zip(params, start["state"], strict=False)
                       if p.name.endswith(".W")]
            grad_norm_sum = np.zeros(len(dense))  # per layer: the sum over batches of ||dW||
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
                correct += count_correct(p, yb)  # before backward, which overwrites p
                self.model.backward(p, yb, self.loss, overwrite_p=True)
                if self.track_norms:
                    for i, layer in enumerate(dense):
                        g = layer.dW.reshape(-1)
                        grad_norm_sum[i] += math.sqrt(float(np.dot(g, g)))
                self.optimizer.step(params)
                if self.max_norm is not None:
                    for layer in dense:
                        max_norm_(layer.W, self.max_norm)
                size = len(yb)
                per_sample = value if self.loss.reduction == "sum" else value * size
                loss_sum += per_sample
                seen += size
                self.history.batch_loss.append(value)
                if batch_hooks:
                    call_hooks(batch_hooks, "on_batch_end", self, b + 1, n_batches, value)
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
                                           in zip(dense, start_w, strict=True)]
                record["grad_norm"] = [float(v / max(n_batches, 1)) for v in grad_norm_sum]
            record["seconds"] = time.perf_counter() - started
            record["cpu_seconds"] = time.process_time() - cpu_started
            self.history.epochs.append(record)
            call_hooks(self.callbacks, "on_epoch_end", self, record)

    def _diverged(self, start: dict[str, Any], what: str) -> None:
        """Put back the state from the start of the epoch and stop with a plain explanation."""
        self._restore(start)
        raise DivergenceError(
            f"training diverged: {what}. The learning rate ({self.optimizer.lr:g}) is probably too "
            "large for this loss and reduction; try a 10x smaller lr, reduction='mean', or "
            "inputs scaled to [0, 1] (normalizer=Normalizer('255'))")


def fit(model: MLP, x: Array, y: Array, *, loss: Loss | str = "cross_entropy",
        optimizer: Optimizer | str | None = None, lr: float | None = None,
        batch_size: int | str = 128, epochs: int = 10, schedule: Schedule | str | None = None,
        shuffle: bool = True, drop_last: bool = False, seed: int | None = None,
        normalizer: Normalizer | None = None, validation: tuple[Array, Array] | None = None,
        callbacks: Sequence[Any] = (), track_norms: bool = True,
        augment: Augment | None = None, max_norm: float | None = None) -> History:
    """Train ``model`` on (x, y); see :class:`Trainer`. Returns the :class:`History`."""
    trainer = Trainer(model, loss, optimizer, lr=lr, batch_size=batch_size, epochs=epochs,
                      schedule=schedule, shuffle=shuffle, drop_last=drop_last, seed=seed,
                      normalizer=normalizer, callbacks=callbacks, track_norms=track_norms,
                      augment=augment, max_norm=max_norm)
    return trainer.fit(x, y, validation)

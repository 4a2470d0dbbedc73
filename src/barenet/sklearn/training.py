"""scikit-learn's stochastic training loop (``_fit_stochastic``) on barenet's core.

Per minibatch of B samples with weights s_i (1 without ``sample_weight``), S = sum_i s_i::

    p = model.forward(x, training=True)                 # barenet's layers
    L = loss.value(p, y, sample_weight=s) + alpha / (2 S) * sum_layers ||W||^2
    model.backward(p, y, loss, sample_weight=s)         # dL/dz_out row i = s_i / S (p_i - y_i)
    optimizer.weight_decay = alpha / S                  # the L2 term's gradient, alpha / S * W
    optimizer.step(params)                              # barenet's SGD or Adam(epsilon_on="v")

which is sklearn's objective and update, exactly. What stays here is sklearn's bookkeeping:
its shuffles (from the estimator's ``RandomState``), its stopping rules and its learning-rate
schedules, and the estimator's callbacks.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score
from sklearn.utils import gen_batches
from sklearn.utils import shuffle as sk_shuffle

from ..errors import DivergenceError
from ..nn.layers import release_buffers
from ..nn.losses import Loss
from ..nn.model import MLP
from ..nn.optim import SGD, Adam, Optimizer
from ..train.callbacks import call_hooks
from ..train.evaluation import count_correct
from ..train.history import History

Array = np.ndarray
INFERENCE_BATCH = 4096  # rows densified at a time for sparse input


@dataclass
class TrainingRun:
    """What the estimator's callbacks receive as ``trainer``: the attributes of a
    :class:`barenet.train.trainer.Trainer` that callbacks use, plus the estimator."""

    model: MLP
    optimizer: Optimizer
    history: History
    epoch: int
    epochs: int
    estimator: Any
    stop_training: bool = False
    restored_epoch: int | None = field(default=None)


def rows_in_batches(X: Any, fn: Any) -> Array:
    """``fn`` on dense row batches of X (dense X: one call), stacked."""
    if not sp.issparse(X):
        return fn(X)
    return np.concatenate([fn(X[rows].toarray()) for rows in gen_batches(X.shape[0], INFERENCE_BATCH)])


def _count_right(p: Array, target: Array, multiclass: bool) -> int:
    """Samples predicted right (every label right, for a multilabel target)."""
    if multiclass or p.shape[1] == 1:
        return count_correct(p, target)
    return int(np.count_nonzero(np.all((p > 0.5) == (target > 0.5), axis=1)))


class StochasticTraining:
    """The estimator's training loop; mixed into :class:`~barenet.sklearn.MLPClassifier`."""

    def _make_optimizer(self) -> Optimizer:
        if self.solver == "sgd":
            momentum = float(self.momentum)
            return SGD(float(self.learning_rate_init), momentum,
                       nesterov=bool(self.nesterovs_momentum) and momentum > 0)
        return Adam(float(self.learning_rate_init), float(self.beta_1), float(self.beta_2),
                    float(self.epsilon), epsilon_on="v")

    def _batch_size(self, n: int) -> int:
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size == "full":
            return n
        if self.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going "
                          "to be clipped", stacklevel=3)
        return int(np.clip(self.batch_size, 1, n))

    def _barenet_loss(self) -> Loss:
        if self.loss == "squared_error":
            return Loss("squared_error")
        return Loss("cross_entropy" if self.out_activation_ == "softmax" else "binary_cross_entropy")

    def _run_epochs(self, callbacks: list, model: MLP, X: Any, targets: Array, sw: Array | None,
                    X_val: Any, y_val: Array | None, sw_val: Array | None,
                    rs: np.random.RandomState, incremental: bool) -> None:
        """sklearn's ``_fit_stochastic`` loop, on barenet's model and optimizers."""
        loss = self._barenet_loss()
        optimizer = self._optimizer
        n = X.shape[0]
        batch = self._batch_size(n)
        n_batches = math.ceil(n / batch)
        params = model.params()
        multiclass = self.out_activation_ == "softmax"
        sparse = sp.issparse(X)
        buffer = None if sparse or not self.shuffle else np.empty((batch, X.shape[1]), dtype=model.dtype)
        sample_idx = np.arange(n)
        has_validation = X_val is not None
        if has_validation:
            T_val = self._label_binarizer.transform(y_val)
            val_target = np.argmax(T_val, axis=1) if multiclass else T_val.astype(model.dtype)
            if self.validation_scores_ is None:
                self.validation_scores_ = []
            if self.validation_loss_curve_ is None:
                self.validation_loss_curve_ = []
        if self.early_stopping:
            if self.best_validation_score_ is None:
                self.best_validation_score_ = -np.inf
            if self._best_weights is None:
                self._best_weights = model.get_weights()
        elif self.best_loss_ is None:
            self.best_loss_ = np.inf

        plain_verbose = int(self.verbose) == 1  # sklearn's lines; 2 and up: a progress bar
        if int(self.verbose) >= 2:
            from ..train.progress import ProgressBar

            callbacks = [*callbacks, ProgressBar()]
        done = len(self.history_)
        run = TrainingRun(model, optimizer, self.history_, done,
                          done + (1 if incremental else int(self.max_iter)), self)
        batch_hooks = [c for c in callbacks if hasattr(c, "on_batch_end")]
        call_hooks(callbacks, "on_train_begin", run)
        diverged = False
        try:
            self.n_iter_ = 0
            for _ in range(int(self.max_iter)):
                started, cpu_started = time.perf_counter(), time.process_time()
                if self.shuffle:
                    sample_idx = sk_shuffle(sample_idx, random_state=rs)
                accumulated, correct = 0.0, 0
                for b, batch_slice in enumerate(gen_batches(n, batch)):
                    m = batch_slice.stop - batch_slice.start
                    idx = sample_idx[batch_slice] if self.shuffle else batch_slice
                    if sparse:
                        xb = X[idx].toarray()
                    elif buffer is not None:
                        xb = np.take(X, idx, axis=0, out=buffer[:m], mode="clip")  # unbuffered
                    else:
                        xb = X[idx]
                    value, right = self._train_step(model, loss, params, multiclass, xb,
                                                    targets[idx], None if sw is None else sw[idx])
                    if not math.isfinite(value):
                        diverged = True
                        break
                    accumulated += value * m
                    correct += right
                    call_hooks(batch_hooks, "on_batch_end", run, b + 1, n_batches, value)
                if diverged:
                    break
                self.n_iter_ += 1
                self.loss_ = accumulated / n
                self.t_ += n
                self.loss_curve_.append(self.loss_)
                if plain_verbose:
                    print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
                if not math.isfinite(self.loss_):
                    diverged = True
                    break
                record: dict[str, Any] = {"epoch": len(self.history_) + 1, "train_loss": self.loss_,
                                          "train_accuracy": correct / n, "val_loss": None,
                                          "val_accuracy": None, "lr": optimizer.lr}
                if has_validation:
                    score, val_loss = self._validation_scores(X_val, y_val, val_target, sw_val, loss)
                    self.validation_scores_.append(score)  # type: ignore[union-attr]
                    self.validation_loss_curve_.append(val_loss)  # type: ignore[union-attr]
                    record["val_loss"], record["val_accuracy"] = val_loss, score
                    if plain_verbose:
                        print(f"Validation score: {score:f}")
                self._update_no_improvement_count(model)
                if self.solver == "sgd" and self.learning_rate == "invscaling":
                    self._set_lr(float(self.learning_rate_init) / (self.t_ + 1) ** self.power_t)
                record["seconds"] = time.perf_counter() - started
                record["cpu_seconds"] = time.process_time() - cpu_started
                self.history_.epochs.append(record)
                run.epoch += 1
                call_hooks(callbacks, "on_epoch_end", run, record)
                if self._no_improvement_count > self.n_iter_no_change:
                    subject = "Validation score" if self.early_stopping else "Training loss"
                    msg = (f"{subject} did not improve more than tol={self.tol:f} for "
                           f"{self.n_iter_no_change} consecutive epochs.")
                    if self._trigger_stopping(msg):
                        break
                    self._no_improvement_count = 0
                if run.stop_training or incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                                  "reached and the optimization hasn't converged yet.",
                                  ConvergenceWarning, stacklevel=4)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=4)
        finally:
            release_buffers(model.layers)  # a fitted estimator pickles small, without batches

        if self.early_stopping and self._best_weights is not None:
            model.set_weights(self._best_weights)
        call_hooks(callbacks, "on_train_end", run)
        if diverged or not all(np.isfinite(p.value).all() for p in params):
            raise DivergenceError(
                "MLPClassifier: training diverged (the loss or the weights became non-finite). "
                f"The learning rate ({self.learning_rate_init:g}) is probably too large for "
                "these inputs; try a 10x smaller learning_rate_init, or scale the features "
                "first (e.g. StandardScaler or MinMaxScaler in a Pipeline)")

    def _train_step(self, model: MLP, loss: Loss, params: list, multiclass: bool, xb: Array,
                    tb: Array, wb: Array | None) -> tuple[float, int]:
        """One minibatch (module docstring). Returns (the batch's loss with sklearn's L2 term,
        how many samples it predicted right before the update)."""
        p = model.forward(xb, training=True, copy=False)
        total = float(len(tb)) if wb is None else float(wb.sum())
        if total <= 0:  # every sample of this batch weighs 0: nothing to learn from it
            return 0.0, 0
        value = loss.value(p, tb, sample_weight=wb)
        alpha = float(self.alpha)
        if alpha:
            flat = [d.W.reshape(-1) for d in model.dense_layers]  # views: W is contiguous
            value += 0.5 * alpha * sum(float(np.dot(w, w)) for w in flat) / total
        right = _count_right(p, tb, multiclass)
        model.backward(p, tb, loss, sample_weight=wb, overwrite_p=True)
        self._optimizer.weight_decay = alpha / total
        self._optimizer.step(params)
        return value, right

    def _validation_scores(self, X_val: Any, y_val: Array, target: Array, sw_val: Array | None,
                           loss: Loss) -> tuple[float, float]:
        """(accuracy, loss) on the validation data, in inference mode."""
        p = rows_in_batches(X_val, self.model_.forward)
        if not np.isfinite(p).all():
            return float("nan"), float("nan")
        val_loss = float(np.average(loss.per_sample(p, target), weights=sw_val))
        decided = p[:, 0] if self.n_outputs_ == 1 else p
        y_pred = self._label_binarizer.inverse_transform(decided)
        return float(accuracy_score(y_val, y_pred, sample_weight=sw_val)), val_loss

    def _update_no_improvement_count(self, model: MLP) -> None:
        """sklearn's rule: count epochs that fail to improve by ``tol`` (validation score with
        early stopping, else the training loss); keep the best weights with early stopping."""
        if self.early_stopping:
            score = self.validation_scores_[-1]  # type: ignore[index]
            if score < self.best_validation_score_ + self.tol:  # type: ignore[operator]
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:  # type: ignore[operator]
                self.best_validation_score_ = score
                self._best_weights = model.get_weights()
        else:
            last = self.loss_curve_[-1]
            if last > self.best_loss_ - self.tol:  # type: ignore[operator]
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if last < self.best_loss_:  # type: ignore[operator]
                self.best_loss_ = last

    def _set_lr(self, lr: float) -> None:
        """Change the learning rate between epochs. sklearn's SGD keeps its velocity in units
        of lr * gradient (v = mu v - lr g) where barenet's keeps gradients (b = mu b + g,
        step lr b): rescaling b by old/new lr keeps the two the same update, exactly."""
        optimizer = self._optimizer
        if isinstance(optimizer, SGD) and optimizer.buffers and lr > 0:
            for buffer in optimizer.buffers:
                buffer *= optimizer.lr / lr
        optimizer.lr = lr

    def _trigger_stopping(self, msg: str) -> bool:
        """sklearn's optimizers' rule: stop, or (sgd with learning_rate='adaptive') divide the
        learning rate by 5 until it falls to 1e-6."""
        verbose = bool(self.verbose)
        if self.solver != "sgd" or self.learning_rate != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self._optimizer.lr <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self._set_lr(self._optimizer.lr / 5.0)
        if verbose:
            print(msg + f" Setting learning rate to {self._optimizer.lr:f}")
        return False

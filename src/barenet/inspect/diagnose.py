"""Why does my network not learn? Plain-words diagnosis of a training run.

:func:`assess` reads a :class:`~barenet.train.history.History` (and, when given, the model, a
sample of its inputs and the run's resolved :class:`~barenet.inspect.signals.Recipe`) and
returns a :class:`Diagnosis`: the :class:`Finding` list (what went wrong, the measured signals
behind it, and a fix computed from the run's own settings) and the health :class:`Check` list.
:func:`diagnose` returns the findings alone. A run is called healthy only when every check has
positive evidence: the loss fell below the uniform guess, accuracy is well above chance, the
gradients are neither vanished nor exploded, the weights move, the hidden units are alive and
the inputs are scaled. The modes, signals and thresholds are in :mod:`barenet.inspect.signals`
(:data:`~barenet.inspect.signals.MODES`, :data:`~barenet.inspect.signals.LIMITS`).

:class:`LiveDiagnosis` is a training callback that runs the same checks after every epoch and
prints each new warning once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..nn.losses import get_loss
from ..nn.model import MLP
from ..train.history import History
from . import fixes
from .checks import RunSignals, final_accuracy, health_checks, per_sample_grads, per_sample_losses, run_checks
from .findings import Check, Diagnosis, Finding, activation_stats, hidden_activations
from .signals import LIMITS, Recipe, baselines, relative_updates

__all__ = ["Finding", "Check", "Diagnosis", "assess", "diagnose", "LiveDiagnosis", "activation_stats",
           "hidden_activations", "Recipe", "LIMITS"]

Array = np.ndarray

#: Kept for old imports: the thresholds now live in :data:`barenet.inspect.signals.LIMITS`.
UNSCALED_MAX = LIMITS.unscaled_max
TINY_GRAD = LIMITS.tiny_grad


# ----------------------------------------------------------------------------- entry points
def _predicted_share(p: Array, y: Array | None) -> tuple[int, float, float | None]:
    """(most predicted class, its share of the predictions ``p`` (N, C), its true share)."""
    counts = np.bincount(_labels(p), minlength=max(2, p.shape[1]))
    k = int(np.argmax(counts))
    true_share = float(np.mean(y == k)) if y is not None else None
    return k, float(counts[k] / len(p)), true_share


def _labels(p: Array) -> Array:
    return (p[:, 0] > 0.5).astype(np.int64) if p.shape[1] == 1 else np.argmax(p, axis=1)


def _clean_measures(p: Array, y: Array | None, loss: str | None) -> tuple[float | None, float | None]:
    """(accuracy, mean loss per sample) of the trained model on the labelled sample, in
    inference mode: what the history's training-mode figures cannot show when dropout, noise
    or augmentation raise them (input dropout 0.95 trained a model that scores 68 % to a
    history of 30 % accuracy and a loss at the prior)."""
    if y is None or not np.issubdtype(y.dtype, np.integer):
        return None, None
    accuracy = float(np.mean(_labels(p) == y))
    if loss is None or (y.size and (y.min() < 0 or y.max() >= max(2, p.shape[1]))):
        return accuracy, None
    return accuracy, get_loss(loss).value(p, y)


def assess(history: History | dict[str, Any], model: MLP | None = None, x_sample: Array | None = None,
           *, y_sample: Array | None = None, normalizer: Any = None, n_classes: int | None = None,
           reduction: str | None = None, n_train: int | None = None, error: str | None = None,
           recipe: Recipe | None = None, loss: str | None = None, y_train: Array | None = None,
           final: bool = True, max_samples: int = 1000) -> Diagnosis:
    """The :class:`Diagnosis` of a training run.

    ``history``: a History (or its ``to_dict()``). ``model`` and ``x_sample`` (inputs as the
    network sees them, or raw inputs plus their ``normalizer``; ``y_sample`` their labels)
    enable the unit, input and prediction checks; ``model`` alone the weight-update check.
    ``n_classes`` defaults to the model's outputs (2 for one sigmoid unit). ``recipe``: the
    run's resolved settings, which the fixes name (``reduction`` and ``loss`` override its
    fields). With ``reduction="sum"`` the epoch losses are totals over the epoch's samples.
    ``y_train``: the training labels, for the prior loss and chance accuracy. ``error``: the
    message of a :class:`~barenet.errors.DivergenceError` (or metrics.json's ``divergence``).
    ``final=False`` (during training) skips the checks that need the whole run.
    """
    history = History.from_dict(history) if isinstance(history, dict) else history
    recipe = recipe or Recipe()
    if reduction is not None:
        recipe.reduction = reduction
    if loss is not None:
        recipe.loss = loss
    if n_classes is None:
        n_classes = max(2, model.n_outputs) if model is not None else 10
    one_unit = model.n_outputs == 1 if model is not None else None
    base = baselines(n_classes, y_train, recipe.loss or "cross_entropy", one_unit)
    usable = model is not None and model.dense_layers and all(
        np.isfinite(p.value).all() for p in model.params())
    x = None
    if x_sample is not None and len(x_sample):
        x = np.asarray(x_sample)[:max_samples]
        x = x.reshape(len(x), -1)
        if normalizer is not None:
            x = normalizer.transform(x, dtype=np.float64)
    updates = stats = share = std = None
    sample_accuracy = sample_loss = None
    labels = None  # class indices of the sample (one-hot rows give none)
    if y_sample is not None and x is not None and np.ndim(y_sample) == 1:
        labels = np.asarray(y_sample)[: len(x)]
    if usable:
        assert model is not None
        norms = [float(np.linalg.norm(layer.W)) for layer in model.dense_layers]
        std = [float(np.std(layer.W)) for layer in model.dense_layers]
        if history.epochs and history.last.get("weight_change"):
            updates = relative_updates(history.epochs, norms)
        if x is not None:
            stats = activation_stats(model, x)
            p = model.forward(x.astype(model.dtype), training=False)
            share = _predicted_share(p, labels)
            sample_accuracy, sample_loss = _clean_measures(p, labels, recipe.loss)
    accuracies = [a for a in (final_accuracy(history), sample_accuracy) if a is not None]
    run = RunSignals(history, recipe, base, per_sample_losses(history, recipe.reduction, n_train),
                     max(accuracies, default=None), per_sample_grads(history, recipe, n_train), updates,
                     stats, x, share, std, error, final, sample_loss)
    findings = run_checks(run)
    return Diagnosis(findings, health_checks(run, findings))


def diagnose(history: History | dict[str, Any], model: MLP | None = None, x_sample: Array | None = None,
             **options: Any) -> list[Finding]:
    """What went wrong in a training run: the findings of :func:`assess` (``[]`` when none)."""
    return assess(history, model, x_sample, **options).findings


class LiveDiagnosis:
    """A training callback: after each epoch, run :func:`assess` and report every new finding
    once through ``print_fn`` (default: ``print``). It keeps a sample of the first training
    batch (as the network sees it) for the unit checks. ``findings`` holds everything
    reported; the final diagnosis of the same run reads the same signals."""

    def __init__(self, print_fn: Callable[[str], Any] | None = None, *, x_sample: Array | None = None,
                 n_classes: int | None = None, sample_size: int = 256) -> None:
        self.print_fn = print_fn or print
        self.x_sample = x_sample
        self.y_sample: Array | None = None
        self.n_classes = n_classes
        self.sample_size = sample_size
        self.findings: list[Finding] = []
        self._codes: set[str] = set()
        self._samples = 0

    def _report(self, findings: Sequence[Finding], epoch: int | None) -> None:
        for finding in findings:
            if finding.code in self._codes:
                continue
            self._codes.add(finding.code)
            if finding.epoch is None:
                finding.epoch = epoch
            self.findings.append(finding)
            self.print_fn(f"warning: {finding}")

    def on_train_begin(self, trainer: Any) -> None:
        self._samples = 0
        normalizer = getattr(trainer, "normalizer", None)
        recipe = Recipe.from_trainer(trainer)
        if normalizer is not None and getattr(normalizer, "method", None) == "none" \
                and getattr(normalizer, "pixel_max", 0) > LIMITS.unscaled_max:
            self._report([Finding(
                "unscaled_input", "Unscaled input",
                "--normalize none feeds raw pixel values to the network. Large inputs make the "
                "first layer's sums huge: sigmoids saturate, ReLUs explode, and the loss can jump "
                "or overflow.", fixes.scale_input(recipe), None, {"pixel_max": normalizer.pixel_max},
                measured=f"pixel values up to {normalizer.pixel_max}")], None)

    def on_batch_end(self, trainer: Any, batch: int, n_batches: int, loss: float) -> None:
        if self.x_sample is None:  # keep a copy of the first batch the network sees
            x = getattr(trainer.model.dense_layers[0], "_x", None)
            if x is not None:
                self.x_sample = np.array(x[: self.sample_size])

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        self._samples = record.get("samples") or self._samples
        final = trainer.epoch >= trainer.epochs or trainer.stop_training
        found = assess(trainer.history, trainer.model, self.x_sample, n_classes=self.n_classes,
                       recipe=Recipe.from_trainer(trainer), n_train=self._samples or None, final=final)
        self._report(found.findings, record["epoch"])

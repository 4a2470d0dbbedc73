"""Why does my network not learn? Plain-words diagnosis of a training run.

:func:`diagnose` reads a :class:`~barenet.history.History` (and, when given, the model and a
sample of its inputs) and returns a list of :class:`Finding`: what went wrong, the evidence,
and the fix. It recognizes

``dead_relu``          ReLU units that never fire, or activations that are all near zero
                       (a tiny initialization such as ``normal(0.0001)``); the gradients
                       vanish and nothing learns;
``vanishing_gradients`` gradient norms that are (almost) zero while accuracy is at chance;
``saturated_sigmoid``  sigmoid (or tanh) units stuck at their limits 0 / 1, where the slope is
                       zero (a learning rate too large, or unscaled inputs);
``lr_too_large``       a loss that rises, oscillates, jumps far above ``log(C)`` or becomes
                       NaN / inf;
``stuck_at_prior``     a loss stuck at ``log(C)``: the network predicts the class prior and
                       ignores its input;
``unscaled_input``     inputs far outside [0, 1] (raw 0-255 pixels with ``--normalize none``).

:class:`LiveDiagnosis` is a training callback that runs the same checks after every epoch and
prints each new warning once, through a function of your choice (``print``,
``console.print``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..nn.layers import ActivationLayer, Dense
from ..nn.model import MLP
from ..train.history import History

Array = np.ndarray

#: Inputs whose largest absolute value exceeds this are called unscaled.
UNSCALED_MAX = 10.0
#: A gradient norm below this (per Dense layer, mean over an epoch's batches) is "vanished".
TINY_GRAD = 1e-3
#: Hidden activations whose root-mean-square is below this are "near zero".
TINY_ACTIVATION = 1e-2
#: Fraction of units that must be dead / saturated before a layer is flagged.
DEAD_FRACTION = 0.5
SATURATED_FRACTION = 0.5


@dataclass
class Finding:
    """One diagnosed problem: ``code`` (stable identifier), ``title``, ``explanation`` (what
    happens, in plain words), ``fix`` (what to change), ``epoch`` (first epoch it showed, when
    known) and ``evidence`` (the numbers behind it)."""

    code: str
    title: str
    explanation: str
    fix: str
    epoch: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    severity: str = "warning"

    def __str__(self) -> str:
        when = f" (epoch {self.epoch})" if self.epoch else ""
        return f"{self.title}{when}: {self.explanation} Fix: {self.fix}"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "title": self.title,
                "explanation": self.explanation, "fix": self.fix, "epoch": self.epoch,
                "evidence": self.evidence}


# ----------------------------------------------------------------------------- activations
def hidden_activations(model: MLP, x: Array) -> list[tuple[str, Array]]:
    """(activation name, outputs (N, units)) of every hidden activation layer for inputs ``x``
    (already normalized, as the network sees them), in inference mode."""
    out = np.asarray(x).reshape(len(x), -1).astype(model.dtype)
    acts: list[tuple[str, Array]] = []
    n_dense = len(model.dense_layers)
    seen_dense = 0
    for layer in model.layers:
        out = layer.forward(out, False)
        if isinstance(layer, Dense):
            seen_dense += 1
        elif isinstance(layer, ActivationLayer) and seen_dense < n_dense:
            acts.append((layer.name, out.copy()))
    return acts


def activation_stats(model: MLP, x: Array) -> list[dict[str, Any]]:
    """Per hidden layer: name, units, dead fraction (units that are <= 0 for every sample),
    saturated fraction (sigmoid / tanh outputs within 0.01 of their limits), rms and max."""
    stats = []
    for i, (name, a) in enumerate(hidden_activations(model, x), start=1):
        dead = float(np.mean(np.all(a <= 0, axis=0))) if name in ("relu", "leaky_relu") else 0.0
        if name == "sigmoid":
            saturated = float(np.mean((a < 0.01) | (a > 0.99)))
        elif name == "tanh":
            saturated = float(np.mean(np.abs(a) > 0.98))
        else:
            saturated = 0.0
        stats.append({"layer": i, "activation": name, "units": int(a.shape[1]), "dead_fraction": dead,
                      "saturated_fraction": saturated, "rms": float(np.sqrt(np.mean(np.square(a,
                      dtype=np.float64)))), "max": float(np.max(np.abs(a))) if a.size else 0.0})
    return stats


# ----------------------------------------------------------------------------- helpers
def _finite(v: Any) -> bool:
    return v is not None and isinstance(v, int | float) and math.isfinite(v)


def _per_sample(losses: list[Any], reduction: str, n: int | None) -> list[float | None]:
    """Mean per-sample losses: the sum reduction's epoch totals divided by the sample count."""
    if reduction != "sum":
        return [float(v) if _finite(v) else None for v in losses]
    if not n:
        return [None for _ in losses]
    return [float(v) / n if _finite(v) else None for v in losses]


def _first_epoch(history: History, predicate: Callable[[dict[str, Any]], bool]) -> int | None:
    for record in history.epochs:
        if predicate(record):
            return int(record["epoch"])
    return None


def _near_chance(accuracy: float | None, n_classes: int) -> bool:
    return accuracy is not None and accuracy < 1.0 / n_classes + 0.1


def _best_accuracy(record: dict[str, Any]) -> float | None:
    values = [record.get(k) for k in ("train_accuracy", "val_accuracy") if _finite(record.get(k))]
    return max(values) if values else None


# ----------------------------------------------------------------------------- checks
def _check_input(x: Array | None) -> list[Finding]:
    if x is None or not np.size(x):
        return []
    peak = float(np.max(np.abs(x)))
    if peak <= UNSCALED_MAX:
        return []
    return [Finding(
        "unscaled_input", "Unscaled input",
        f"the network sees input values up to {peak:g} (raw pixels 0-255?). Large inputs make "
        "the first layer's sums huge: sigmoids saturate, ReLUs explode, and a learning rate that "
        "suits inputs in [0, 1] makes the loss jump or overflow.",
        "scale the pixels to [0, 1] with --normalize 255 (the default) or use --normalize "
        "standardize.", None, {"max_input": peak})]


def _check_divergence(history: History, error: str | None) -> list[Finding]:
    bad = _first_epoch(history, lambda r: not _finite(r.get("train_loss"))
                       or (r.get("val_loss") is not None and not _finite(r.get("val_loss"))))
    if bad is None and not error:
        return []
    what = error or f"the loss became NaN or infinite at epoch {bad}"
    return [Finding(
        "lr_too_large", "Learning rate too large (divergence)",
        f"{what}. Each step overshoots so far that the numbers overflow.",
        "use a 10x smaller --lr, --reduction mean instead of sum (sum multiplies the step by "
        "the batch size), and inputs scaled with --normalize 255.", bad, {"error": error})]


def _check_lr(losses: list[float | None], history: History, n_classes: int | None) -> list[Finding]:
    vals = [v for v in losses if v is not None]
    if len(vals) < 2:
        return []
    first, last = vals[0], vals[-1]
    evidence: dict[str, Any] = {"first_loss": first, "last_loss": last}
    reasons = []
    if len(vals) >= 3 and last > 1.2 * min(vals) and last > first:
        reasons.append(f"the loss rose from {min(vals):.4g} to {last:.4g}")
    diffs = np.diff(vals)
    if len(vals) >= 4:
        flips = int(np.sum(np.sign(diffs[1:]) != np.sign(diffs[:-1])))
        swing = float(np.max(np.abs(diffs))) / max(abs(np.mean(vals)), 1e-12)
        evidence.update(sign_changes=flips, relative_swing=swing)
        if flips >= 0.6 * (len(diffs) - 1) and swing > 0.25 and last > 0.8 * first:
            reasons.append("the loss oscillates up and down instead of decreasing")
    if n_classes and first > 2.0 * math.log(n_classes) + 1.0:
        accuracy = _best_accuracy(history.epochs[-1])
        if _near_chance(accuracy, n_classes):
            reasons.append(f"the first epoch's loss per sample ({first:.3g}) is far above "
                           f"log({n_classes}) = {math.log(n_classes):.3g}, the loss of a uniform "
                           "guess, and accuracy stays at chance")
    if not reasons:
        return []
    return [Finding(
        "lr_too_large", "Learning rate too large",
        "; ".join(reasons) + ". Steps that are too big jump over the minimum and can push units "
        "into saturation where they stop learning.",
        "try a 10x smaller --lr (or --reduction mean if you use sum), or a decaying --schedule.",
        None, evidence)]


def _check_stuck(losses: list[float | None], history: History, n_classes: int | None) -> list[Finding]:
    if not n_classes or n_classes < 2 or not losses or losses[-1] is None:
        return []
    log_c = math.log(n_classes)
    last = losses[-1]
    accuracy = _best_accuracy(history.epochs[-1])
    if abs(last - log_c) > 0.05 * log_c or not _near_chance(accuracy, n_classes):
        return []
    first = _first_epoch(history, lambda r: True)
    return [Finding(
        "stuck_at_prior", f"Loss stuck at log(C) = {log_c:.3f}",
        f"the loss per sample is {last:.4f}, the value of predicting the same probability "
        f"1/{n_classes} for every class whatever the image: the network outputs the class prior "
        "and ignores its input, so accuracy stays at chance.",
        "this follows from a signal that dies on the way through the network (see the other "
        "findings): use the default initialization (--init auto: He for ReLU, Xavier for "
        "sigmoid), scaled inputs, and a learning rate that neither vanishes nor explodes.",
        first, {"loss_per_sample": last, "log_C": log_c, "accuracy": accuracy})]


def _check_gradients(history: History, n_classes: int | None) -> list[Finding]:
    if not history.epochs or "grad_norm" not in history.epochs[-1]:
        return []
    last = history.epochs[-1]
    grads = last.get("grad_norm") or []
    if not grads or not all(_finite(g) for g in grads):
        return []
    hidden = grads[:-1] or grads
    if max(hidden) >= TINY_GRAD:
        return []
    accuracy = _best_accuracy(last)
    if n_classes and not _near_chance(accuracy, n_classes):
        return []
    zero = all(g == 0 for g in grads)
    first = _first_epoch(history, lambda r: bool(r.get("grad_norm"))
                         and max(r["grad_norm"][:-1] or r["grad_norm"]) < TINY_GRAD)
    return [Finding(
        "vanishing_gradients", "Vanishing gradients",
        ("every gradient is exactly zero, so no weight changes any more" if zero else
         f"the hidden layers' gradient norms are tiny ({', '.join(f'{g:.2g}' for g in hidden)}), "
         "so the weights barely move") + " and accuracy stays at chance.",
        "start from a sensible initialization (--init auto, he_normal for ReLU, xavier for "
        "sigmoid), keep inputs scaled to [0, 1], and avoid a learning rate so large that it "
        "kills or saturates the units.", first, {"grad_norm": grads, "accuracy": accuracy})]


def _check_activations(model: MLP, x: Array) -> list[Finding]:
    findings = []
    stats = activation_stats(model, x)
    w_std = [float(np.std(layer.W)) for layer in model.dense_layers]
    tiny_init = min(w_std) < 1e-3
    dead_layers = [s for s in stats if s["activation"] in ("relu", "leaky_relu")
                   and (s["dead_fraction"] > DEAD_FRACTION or s["rms"] < TINY_ACTIVATION)]
    if dead_layers:
        parts = [f"hidden layer {s['layer']}: {100 * s['dead_fraction']:.0f} % of units never fire, "
                 f"activation rms {s['rms']:.2g}" for s in dead_layers]
        cause = (f" The weights are tiny (std {min(w_std):.2g}): each layer shrinks the signal "
                 "further, so the deeper activations and the gradients flowing back are near zero."
                 if tiny_init else " A large update pushed their inputs below zero for every "
                 "image; a dead ReLU has zero gradient and never recovers.")
        findings.append(Finding(
            "dead_relu", "Dead or near-zero ReLU activations",
            "; ".join(parts) + "." + cause,
            "initialize with --init he_normal (or auto, which picks He for ReLU) instead of a tiny "
            "normal(0.0001); keep the learning rate moderate (e.g. --lr 0.001 with adam, or "
            "--reduction mean with sgd).", None,
            {"layers": dead_layers, "weight_std": w_std}))
    saturated = [s for s in stats if s["saturated_fraction"] > SATURATED_FRACTION]
    if saturated:
        parts = [f"hidden layer {s['layer']} ({s['activation']}): {100 * s['saturated_fraction']:.0f} % "
                 "of activations at their limits" for s in saturated]
        findings.append(Finding(
            "saturated_sigmoid", "Saturated sigmoid units",
            "; ".join(parts) + ". A sigmoid at 0 or 1 is flat: its slope, and so every gradient "
            "through it, is zero, and the layer stops learning. Huge weight updates (a learning "
            "rate too large, summed rather than averaged losses) or unscaled inputs push the units "
            "there.",
            "lower the learning rate (10x), use --reduction mean, scale the inputs "
            "(--normalize 255), or use ReLU hidden layers with --init auto.", None,
            {"layers": saturated}))
    return findings


# ----------------------------------------------------------------------------- entry points
def diagnose(history: History | dict[str, Any], model: MLP | None = None, x_sample: Array | None = None,
             *, normalizer: Any = None, n_classes: int | None = None, reduction: str = "mean",
             n_train: int | None = None, error: str | None = None, max_samples: int = 1000) -> list[Finding]:
    """What went wrong in a training run, in plain words with the fix; ``[]`` for a healthy run.

    ``history``: a History (or its ``to_dict()``). ``model`` and ``x_sample`` (inputs as the
    network sees them, or raw inputs plus their ``normalizer``) enable the activation checks
    (dead ReLUs, saturated sigmoids, unscaled input). ``n_classes`` defaults to the model's
    outputs (2 for a one-unit sigmoid). With ``reduction="sum"`` the epoch losses are totals:
    give ``n_train`` (training samples) to compare them with ``log(C)``. ``error``: the message
    of a :class:`~barenet.errors.DivergenceError`, if training stopped with one.
    """
    if isinstance(history, dict):
        history = History.from_dict(history)
    if n_classes is None and model is not None:
        n_classes = max(2, model.n_outputs)
    x = None
    if x_sample is not None:
        x = np.asarray(x_sample)[:max_samples]
        x = x.reshape(len(x), -1)
        if normalizer is not None:
            x = normalizer.transform(x, dtype=np.float64)
    findings: list[Finding] = []
    findings += _check_input(x)
    findings += _check_divergence(history, error)
    losses = _per_sample(history.column("train_loss"), reduction, n_train)
    if not any(f.code == "lr_too_large" for f in findings):
        findings += _check_lr(losses, history, n_classes)
    findings += _check_stuck(losses, history, n_classes)
    findings += _check_gradients(history, n_classes)
    if model is not None and x is not None and len(x) and model.dense_layers:
        if all(np.isfinite(p.value).all() for p in model.params()):
            findings += _check_activations(model, x)
    return findings


class LiveDiagnosis:
    """A training callback: after each epoch, run :func:`diagnose` and report every new
    finding once through ``print_fn`` (default: ``print``). It keeps a sample of the first
    training batch (as the network sees it) for the activation checks. ``findings`` holds
    everything reported."""

    def __init__(self, print_fn: Callable[[str], Any] | None = None, *, x_sample: Array | None = None,
                 n_classes: int | None = None, sample_size: int = 256) -> None:
        self.print_fn = print_fn or print
        self.x_sample = x_sample
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
        if normalizer is not None and getattr(normalizer, "method", None) == "none" \
                and getattr(normalizer, "pixel_max", 0) > UNSCALED_MAX:
            self._report([Finding(
                "unscaled_input", "Unscaled input",
                f"--normalize none feeds raw pixel values up to {normalizer.pixel_max} to the network. "
                "Large inputs make the first layer's sums huge: sigmoids saturate, ReLUs explode, "
                "and the loss can jump or overflow.",
                "use --normalize 255 (the default) or --normalize standardize.", None,
                {"pixel_max": normalizer.pixel_max})], None)
        elif self.x_sample is not None:
            self._report(_check_input(np.asarray(self.x_sample)), None)

    def on_batch_end(self, trainer: Any, batch: int, n_batches: int, loss: float) -> None:
        if self.x_sample is None:  # keep a copy of the first batch the network sees
            x = getattr(trainer.model.dense_layers[0], "_x", None)
            if x is not None:
                self.x_sample = np.array(x[: self.sample_size])

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        self._samples = record.get("samples") or self._samples
        findings = diagnose(trainer.history, trainer.model, self.x_sample, n_classes=self.n_classes,
                            reduction=trainer.loss.reduction, n_train=self._samples or None)
        self._report(findings, record["epoch"])

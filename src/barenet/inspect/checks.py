"""The checks of the diagnosis: each reads the measured signals of a run (:class:`RunSignals`)
and returns the :class:`~barenet.inspect.findings.Finding` it supports, with the signals it
printed and a fix from :mod:`barenet.inspect.fixes`. The thresholds are
:data:`barenet.inspect.signals.LIMITS`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..train.history import History
from . import fixes
from .findings import Check, Finding
from .signals import LIMITS, Baselines, Recipe

Array = np.ndarray


def finite(v: Any) -> bool:
    return v is not None and isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def fmt(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.2g}" for v in values)


@dataclass
class RunSignals:
    """The signals of one run, measured once and shared by the checks."""

    history: History
    recipe: Recipe
    base: Baselines
    losses: list[float | None]      # per-sample epoch losses
    accuracy: float | None          # best of the final epoch's train / validation and the sample's
    grads: list[float] | None       # last epoch, per Dense layer, per sample
    updates: list[float] | None     # per Dense layer, largest epoch change / ||W||
    stats: list[dict[str, Any]] | None
    x: Array | None
    predicted_share: tuple[int, float, float | None] | None  # class, predicted share, true share
    weight_std: list[float] | None
    error: str | None
    final: bool
    sample_loss: float | None = None  # the trained model on the sample, in inference mode

    @property
    def well_learned(self) -> bool:
        return self.base.well_above_chance(self.accuracy)

    def acc_text(self) -> str:
        acc = "not recorded" if self.accuracy is None else f"{100 * self.accuracy:.1f} %"
        return f"accuracy {acc} (chance {100 * self.base.chance_accuracy:.1f} %)"


def per_sample_losses(history: History, reduction: str, n_train: int | None) -> list[float | None]:
    out: list[float | None] = []
    for r in history.epochs:
        v = r.get("train_loss")
        n = r.get("samples") or n_train
        if not finite(v):
            out.append(None)
        elif reduction == "sum":
            out.append(float(v) / n if n else None)
        else:
            out.append(float(v))
    return out


def per_sample_grads(history: History, recipe: Recipe, n_train: int | None) -> list[float] | None:
    grads = history.last.get("grad_norm") if history.epochs else None
    if not grads or not all(finite(g) for g in grads):
        return None
    if recipe.reduction != "sum":
        return [float(g) for g in grads]
    size = recipe.batch_size if isinstance(recipe.batch_size, int) else n_train
    return [float(g) / size for g in grads] if size else None


def final_accuracy(history: History) -> float | None:
    record = history.last
    values = [record.get(k) for k in ("train_accuracy", "val_accuracy") if finite(record.get(k))]
    return max(values) if values else None


# ----------------------------------------------------------------------------- checks
def check_diverged(run: RunSignals) -> list[Finding]:
    bad = next((int(r["epoch"]) for r in run.history.epochs if not finite(r.get("train_loss"))
                or (r.get("val_loss") is not None and not finite(r.get("val_loss")))), None)
    if bad is None and not run.error:
        return []
    what = run.error or f"the loss became NaN or infinite at epoch {bad}"
    done = len(run.history)
    return [Finding(
        "diverged", f"Training diverged (stopped after {done} good epoch{'s' * (done != 1)})",
        f"{what.rstrip('.')}. Each step overshoots so far that the numbers overflow.",
        fixes.lower_lr(run.recipe), bad, {"error": run.error, "epochs_completed": done},
        "error", f"{done} epoch(s) completed before the overflow")]


def check_lr_large(run: RunSignals) -> list[Finding]:
    reasons, measured = [], []
    batch = [v for v in run.history.batch_loss if finite(v)]
    if len(batch) >= 2 and batch[0] > 0:
        peak = max(batch[1:])
        at = batch.index(peak) + 1
        if peak > LIMITS.loss_spike * batch[0]:
            reasons.append(f"a batch loss spiked to {peak / batch[0]:.3g} times the first batch's")
            measured.append(f"batch {at} loss {peak:.4g} vs first batch {batch[0]:.4g}")
    vals = [v for v in run.losses if v is not None]
    uniform = run.base.uniform_loss
    size = run.recipe.batch_size if isinstance(run.recipe.batch_size, int) else None
    first = (batch[0] / size if run.recipe.reduction == "sum" and size else
             None if run.recipe.reduction == "sum" else batch[0]) if batch else None
    started_sane = first is None or first <= LIMITS.loss_above_uniform * uniform  # else: the init
    if vals and vals[0] > LIMITS.loss_above_uniform * uniform and started_sane:
        reasons.append("the first epoch's loss is far above the loss of a uniform guess, which an "
                       "untrained network starts at")
        measured.append(f"epoch-1 loss {vals[0]:.4g} vs uniform guess {uniform:.4g}")
    if len(vals) >= 3 and vals[-1] > LIMITS.loss_rise * min(vals) and vals[-1] > vals[0]:
        reasons.append("the loss rises")
        measured.append(f"lowest epoch loss {min(vals):.4g}, last {vals[-1]:.4g}")
    if len(vals) >= 4:
        diffs = np.diff(vals)
        flips = int(np.sum(np.sign(diffs[1:]) != np.sign(diffs[:-1])))
        swing = float(np.max(np.abs(diffs))) / max(abs(float(np.mean(vals))), 1e-12)
        if flips >= 0.6 * (len(diffs) - 1) and swing > 0.25 and vals[-1] > 0.8 * vals[0]:
            reasons.append("the loss oscillates instead of decreasing")
            measured.append(f"{flips} changes of direction, swing {swing:.2g} of the mean")
    if not reasons:
        return []
    changes = run.history.epochs[0].get("weight_change") if run.history.epochs else None
    if changes:
        measured.append(f"epoch-1 weight change per layer ||ΔW|| {fmt(changes)}")
    return [Finding(
        "lr_too_large", "Learning rate too large",
        "; ".join(reasons) + ". Steps that are too big jump over the minimum and can push units "
        "into saturation or death, where they stop learning.",
        fixes.lower_lr(run.recipe), 1, {"first_batch_loss": batch[0] if batch else None,
                                        "epoch_losses": vals}, measured="; ".join(measured))]


def check_lr_small(run: RunSignals) -> list[Finding]:
    if not run.updates or not run.grads or any(not math.isfinite(u) for u in run.updates):
        return []
    hidden = run.grads[:-1] or run.grads
    if max(run.updates) >= LIMITS.tiny_update or max(hidden) < LIMITS.tiny_grad:
        return []
    return [Finding(
        "lr_too_small", "Learning rate too small",
        "the gradients are healthy but the weights barely move: each epoch changes them by a "
        "tiny fraction of their size, so the loss cannot go down in any reasonable time.",
        fixes.raise_lr(run.recipe), 1, {"relative_update": run.updates, "grad_norm": run.grads},
        measured=f"largest ||ΔW|| / ||W|| per epoch {fmt(run.updates)} (threshold "
                 f"{LIMITS.tiny_update:g}) with gradient norms {fmt(run.grads)}; {run.acc_text()}")]


def check_gradients(run: RunSignals) -> list[Finding]:
    if not run.grads:
        return []
    hidden = run.grads[:-1] or run.grads
    found = []
    if max(run.grads) > LIMITS.exploding_grad:
        std = run.weight_std
        large = std and max(std) > 0.3 and not fixes.init_suits(run.recipe)
        cause = fixes.better_init(run.recipe, max(std)) + "; " if large else ""
        found.append(Finding(
            "exploding_gradients", "Exploding gradients",
            "the gradients are huge: each layer multiplies the backward signal, so a step moves "
            "the weights far and the loss jumps.", cause + fixes.lower_lr(run.recipe), None,
            {"grad_norm": run.grads},
            measured=f"mean ||dW|| per sample per layer {fmt(run.grads)} (threshold "
                     f"{LIMITS.exploding_grad:g})"))
    if max(hidden) < LIMITS.tiny_grad and not run.well_learned:
        zero = all(g == 0 for g in run.grads)
        std = run.weight_std
        if std and min(std) < LIMITS.tiny_init_std:
            fix = fixes.better_init(run.recipe, min(std))
        elif run.recipe.hidden in ("sigmoid", "tanh"):
            fix = fixes.lower_lr(run.recipe) + "; " + fixes.other_activation(run.recipe)
        else:
            fix = fixes.revive_relu(run.recipe)
        found.append(Finding(
            "vanishing_gradients", "Vanishing gradients",
            ("every gradient is exactly zero, so no weight changes any more" if zero else
             "the hidden layers' gradients are tiny, so their weights barely move")
            + " and accuracy stays near chance.", fix, None, {"grad_norm": run.grads},
            measured=f"hidden-layer mean ||dW|| {fmt(hidden)} (threshold {LIMITS.tiny_grad:g}); "
                     + run.acc_text()))
    return found


def check_input(run: RunSignals) -> list[Finding]:
    if run.x is None or not np.size(run.x):
        return []
    peak = float(np.max(np.abs(run.x)))
    if peak <= LIMITS.unscaled_max:
        return []
    return [Finding(
        "unscaled_input", "Unscaled input",
        "the network sees large input values (raw pixels 0-255?). Large inputs make the first "
        "layer's sums huge: sigmoids and tanh saturate, ReLUs explode, and a learning rate that "
        "suits inputs in [0, 1] makes the loss jump or overflow.",
        fixes.scale_input(run.recipe), None, {"max_input": peak},
        measured=f"largest |input| {peak:g} (threshold {LIMITS.unscaled_max:g})")]


def check_units(run: RunSignals) -> list[Finding]:
    if not run.stats:
        return []
    found = []
    std = run.weight_std or [1.0]
    dead = [s for s in run.stats if s["activation"] in ("relu", "leaky_relu")
            and (s["dead_fraction"] > LIMITS.dead_fraction or s["rms"] < LIMITS.tiny_activation)]
    if dead:
        tiny = min(std) < LIMITS.tiny_init_std
        cause = (" The weights are tiny: each layer shrinks the signal further, so the deeper "
                 "activations and the gradients flowing back are near zero." if tiny else
                 " A large update pushed their inputs below zero for every sample; a dead ReLU "
                 "has zero gradient and never recovers.")
        fix = fixes.better_init(run.recipe, min(std)) if tiny else fixes.revive_relu(run.recipe)
        found.append(Finding(
            "dead_relu", "Dead or near-zero ReLU units", "ReLU units output zero." + cause, fix, None,
            {"layers": dead, "weight_std": std},
            measured="; ".join(f"hidden layer {s['layer']} ({s['activation']}): "
                               f"{100 * s['dead_fraction']:.0f} % of units dead, rms {s['rms']:.2g}"
                               for s in dead) + f"; weight std per layer {fmt(std)}"))
    saturated = [s for s in run.stats if s["saturated_fraction"] > LIMITS.saturated_fraction]
    if saturated:
        kinds = sorted({s["activation"] for s in saturated})
        if run.x is not None and float(np.max(np.abs(run.x))) > LIMITS.unscaled_max:
            fix = fixes.scale_input(run.recipe)
        else:
            fix = fixes.lower_lr(run.recipe)
        fix = "; ".join(p for p in (fix, fixes.other_activation(run.recipe)) if p)
        found.append(Finding(
            "saturated_units", f"Saturated {' and '.join(kinds)} units",
            f"a {' or '.join(kinds)} unit at its limits is flat: its slope, and every gradient "
            "through it, is zero, and the layer stops learning. Huge updates (a learning rate too "
            "large, summed losses) or unscaled inputs push the units there.", fix, None,
            {"layers": saturated},
            measured="; ".join(f"hidden layer {s['layer']} ({s['activation']}): "
                               f"{100 * s['saturated_fraction']:.0f} % of outputs at the limits"
                               for s in saturated)))
    return found


def check_loss_level(run: RunSignals, others: list[Finding]) -> list[Finding]:
    vals = [v for v in run.losses if v is not None]
    if not vals or run.well_learned:
        return []
    last, base = vals[-1], run.base
    if last < LIMITS.loss_floor * base.uniform_loss:
        return [Finding(
            "loss_output_mismatch", "Loss near zero (or negative) while accuracy is low",
            "a loss this low should mean nearly every sample is right, but accuracy is near "
            "chance: the loss does not measure what the output predicts.",
            fixes.matching_head(run.recipe, base.n_classes), None, {"loss": last, "accuracy": run.accuracy},
            measured=f"loss per sample {last:.4g} vs uniform guess {base.uniform_loss:.4g}; "
                     + run.acc_text())]
    if abs(last - base.prior_loss) <= LIMITS.prior_band * base.prior_loss and run.final:
        causes = [f.code for f in others]
        why = (f"this follows from the findings above ({', '.join(causes)})" if causes else
               "nothing else was flagged, so the network has simply not learned yet")
        fix = ("fix the problems above first" if causes else fixes.train_longer(run.recipe))
        return [Finding(
            "stuck_at_prior", "Loss stuck at the prior",
            "the network predicts the class frequencies whatever the input, so accuracy stays at "
            f"chance; {why}.", fix, 1, {"loss": last, "prior_loss": base.prior_loss},
            measured=f"loss per sample {last:.4g} vs prior loss {base.prior_loss:.4g} "
                     f"(uniform guess {base.uniform_loss:.4g}); " + run.acc_text())]
    return []


def check_overfitting(run: RunSignals) -> list[Finding]:
    val = run.history.column("val_loss")
    train = run.losses
    pairs = [(i, v) for i, v in enumerate(val) if finite(v)]
    if len(pairs) < 3 or any(t is None for t in train):
        return []
    best_i, best = min(pairs, key=lambda p: p[1])
    last_i, last = pairs[-1]
    if last <= (1 + LIMITS.overfit_rise) * best or not train[last_i] < train[best_i]:
        return []
    epoch = int(run.history.epochs[best_i]["epoch"])
    return [Finding(
        "overfitting", "Overfitting",
        "the validation loss rises while the training loss keeps falling: the network memorizes "
        "the training samples instead of learning what generalizes.",
        fixes.regularize(run.recipe, epoch), epoch + 1, {"best_val_epoch": epoch},
        measured=f"validation loss {best:.4g} at epoch {epoch} -> {last:.4g} at epoch "
                 f"{run.history.epochs[last_i]['epoch']}; training loss {train[best_i]:.4g} -> "
                 f"{train[last_i]:.4g}")]


def check_one_class(run: RunSignals, others: list[Finding]) -> list[Finding]:
    if run.predicted_share is None or not run.final:  # early in training a model may still lean
        return []
    k, share, true_share = run.predicted_share
    if share <= LIMITS.one_class_share or (true_share is not None and true_share >= share):
        return []
    truth = f" (its true share is {100 * true_share:.0f} %)" if true_share is not None else ""
    causes = [f.code for f in others if f.code in ("dead_relu", "saturated_units", "vanishing_gradients",
                                                   "exploding_gradients", "lr_too_large", "diverged")]
    fix = (f"fix the findings above first ({', '.join(causes)})" if causes else fixes.lower_lr(run.recipe))
    return [Finding(
        "one_class", f"The model predicts one class ({k})",
        "almost every sample gets the same answer, whatever it shows: the output ignores the "
        "input (dead or saturated hidden units, or a learning rate that pushed the output bias "
        "to one class).", fix, None, {"class": k, "share": share},
        measured=f"{100 * share:.0f} % of the sample is predicted as class {k}{truth}")]


def check_accuracy(run: RunSignals, others: list[Finding]) -> list[Finding]:
    if others or run.well_learned or run.accuracy is None or not run.final:
        return []
    return [Finding(
        "low_accuracy", "Accuracy not well above chance",
        "no other check explains it, but the network has not learned enough to call the run "
        "healthy.", fixes.train_longer(run.recipe), None, {"accuracy": run.accuracy},
        measured=run.acc_text() + f"; healthy needs at least {100 * run.base.healthy_accuracy:.1f} %")]


def health_checks(run: RunSignals, findings: list[Finding]) -> list[Check]:
    codes = {f.code for f in findings}
    vals = [v for v in run.losses if v is not None]

    def check(name: str, bad: set[str], measured: bool, signal: str, positive: bool = True) -> Check:
        ok = (positive and not codes & bad) if measured else None
        return Check(name, ok, signal if measured else "not measured")

    grads, share = run.grads, run.predicted_share
    peak = float(np.max(np.abs(run.x))) if run.x is not None and run.x.size else 0.0
    # Better than a uniform guess? The validation loss, or the model on the sample, says so in
    # inference mode, without the dropout, noise or augmentation that raise the training loss
    # (input dropout 0.95 put it above the guess while the network scored 63 %).
    val = [v for v in run.history.column("val_loss") if finite(v)]
    if val:
        clean, where = val[-1], "validation"
    elif finite(run.sample_loss):
        clean, where = run.sample_loss, "sample"
    else:
        clean, where = (vals[-1] if vals else None), ""
    loss_signal = (f"last loss {vals[-1]:.4g}" + (f" ({where} {clean:.4g})" if where else "")
                   + f", uniform guess {run.base.uniform_loss:.4g}") if vals else ""
    return [
        check("loss", {"diverged", "lr_too_large", "stuck_at_prior", "loss_output_mismatch", "overfitting"},
              bool(vals), loss_signal, clean is not None and clean < run.base.uniform_loss),
        check("accuracy", {"low_accuracy"}, run.accuracy is not None, run.acc_text(), run.well_learned),
        check("gradients", {"vanishing_gradients", "exploding_gradients"}, bool(grads),
              f"mean ||dW|| per layer {fmt(grads or [])}"),
        check("updates", {"lr_too_small"}, bool(run.updates),
              f"largest ||ΔW|| / ||W|| per layer {fmt(run.updates or [])}"),
        check("units", {"dead_relu", "saturated_units"}, run.stats is not None,
              "no hidden layer" if not run.stats else "; ".join(
                  f"layer {s['layer']} {s['activation']}: {100 * s['dead_fraction']:.0f} % dead, "
                  f"{100 * s['saturated_fraction']:.0f} % saturated" for s in run.stats)),
        check("input", {"unscaled_input"}, run.x is not None, f"largest |input| {peak:g}"),
        check("predictions", {"one_class"}, share is not None,
              f"most predicted class {share[0]}: {100 * share[1]:.0f} % of the sample" if share else ""),
    ]


def run_checks(run: RunSignals) -> list[Finding]:
    """Every check in order; the loss-level and accuracy checks see the findings before them."""
    findings = check_diverged(run)
    for check in (check_input, check_lr_large, check_lr_small, check_gradients, check_units,
                  check_overfitting):
        findings += check(run)
    findings += check_one_class(run, findings)
    findings += check_loss_level(run, findings)
    findings += check_accuracy(run, findings)
    return findings

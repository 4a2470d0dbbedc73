"""Figures of the training itself: loss and accuracy per epoch against the baselines of a
model that learned nothing, the loss of every batch, the learning rate, and the per-layer
weight changes and gradient norms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..train.history import History
from .figure_tools import PathLike, as_history, epoch_axis, finish, min_yrange, plain_numbers
from .signals import Baselines

#: The smallest y-range of the loss axis, as a share of the uniform-guess loss (or of the
#: largest loss), and of the accuracy axis in percentage points.
MIN_LOSS_SPAN = 0.1
MIN_ACCURACY_SPAN = 20.0


def _values(h: History, key: str, scale: float = 1.0) -> list[float]:
    return [np.nan if v is None else scale * v for v in h.column(key)]


def per_sample_losses(h: History, reduction: str, val_samples: int | None) -> dict[str, list[float]]:
    """Train and validation loss per sample: the sum reduction's epoch totals divided by the
    epoch's training samples (``samples``) and by ``val_samples``."""
    train, val = _values(h, "train_loss"), _values(h, "val_loss")
    if reduction != "sum":
        return {"train_loss": train, "val_loss": val}
    counts = [r.get("samples") or np.nan for r in h.epochs]
    return {"train_loss": [t / n for t, n in zip(train, counts, strict=True)],
            "val_loss": [v / val_samples for v in val] if val_samples else [np.nan] * len(val)}


def plot_curves(history: History | dict[str, Any], path: PathLike = None, *,
                baselines: Baselines | None = None, reduction: str = "mean",
                val_samples: int | None = None) -> Figure:
    """Loss and accuracy per epoch (train and validation splits), with the reference lines of
    a model that learned nothing (``baselines``): the uniform guess (log C for cross-entropy)
    and the class prior on the loss, chance (always the majority class) on the accuracy. With
    ``reduction="sum"`` the losses are divided by the sample counts (``val_samples``: the
    validation split's), so that they compare with the baselines."""
    h = as_history(history)
    losses = per_sample_losses(h, reduction, val_samples)
    epochs = h.column("epoch")
    fig = Figure(figsize=(10, 4))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for key, label, style in (("train_loss", "train", "-o"), ("val_loss", "validation", "-s")):
        values = losses[key]
        if np.isfinite(values).any():
            ax_loss.plot(epochs, values, style, ms=3, label=label)
    for key, label, style in (("train_accuracy", "train", "-o"), ("val_accuracy", "validation", "-s")):
        values = _values(h, key, 100.0)
        if np.isfinite(values).any():
            ax_acc.plot(epochs, values, style, ms=3, label=label)
    finite = [v for line in ax_loss.lines for v in line.get_ydata() if np.isfinite(v)]
    span = max(abs(v) for v in finite) if finite else 1.0
    if baselines is not None:
        ax_loss.axhline(baselines.uniform_loss, color="gray", ls="--", lw=1,
                        label=f"uniform guess {baselines.uniform_loss:.3f}")
        if abs(baselines.prior_loss - baselines.uniform_loss) > 1e-3:
            ax_loss.axhline(baselines.prior_loss, color="gray", ls=":", lw=1,
                            label=f"class prior {baselines.prior_loss:.3f}")
        ax_acc.axhline(100 * baselines.chance_accuracy, color="gray", ls="--", lw=1,
                       label=f"chance (majority class) {100 * baselines.chance_accuracy:.1f} %")
        span = baselines.uniform_loss
    ax_loss.set(title="loss per epoch (train and validation splits)", xlabel="epoch",
                ylabel="loss per sample" if h.epochs else "loss")
    ax_acc.set(title="accuracy per epoch (train and validation splits)", xlabel="epoch",
               ylabel="accuracy (%)")
    positive = [v for v in finite if v > 0]
    if positive and len(positive) == len(finite) and max(positive) / min(positive) > 1000:
        ax_loss.set_yscale("log")  # a blow-up: a linear axis would flatten everything else
    for ax, minimum in ((ax_loss, MIN_LOSS_SPAN * span), (ax_acc, MIN_ACCURACY_SPAN)):
        epoch_axis(ax, epochs)
        if ax.get_yscale() == "linear":
            min_yrange(ax, minimum)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return finish(fig, path)


def plot_batch_loss(history: History | dict[str, Any], path: PathLike = None, *,
                    baselines: Baselines | None = None, reduction: str = "mean") -> Figure:
    """The loss of every training batch (train split), with the epoch boundaries: a blow-up
    inside the first epoch, invisible in the per-epoch curve, shows here."""
    h = as_history(history)
    losses = np.asarray([np.nan if v is None else v for v in h.batch_loss], dtype=np.float64)
    fig = Figure(figsize=(10, 3.4))
    ax = fig.add_subplot()
    if losses.size:
        ax.plot(np.arange(1, losses.size + 1), losses, lw=0.8, color="tab:blue", label="batch loss")
        per_epoch = losses.size / max(len(h), 1)
        for e in range(1, len(h)):
            ax.axvline(e * per_epoch + 0.5, color="lightgray", lw=0.8)
        finite = losses[np.isfinite(losses)]
        if finite.size and finite.min() > 0 and finite.max() / finite.min() > 100:
            ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
    if baselines is not None and reduction == "mean":
        ax.axhline(baselines.uniform_loss, color="gray", ls="--", lw=1,
                   label=f"uniform guess {baselines.uniform_loss:.3f}")
    what = "sum over the batch" if reduction == "sum" else "mean over the batch"
    ax.set(title="loss of every training batch (train split; grey lines: epoch ends)",
           xlabel="batch", ylabel=f"loss ({what})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    plain_numbers(ax)
    if ax.get_yscale() == "linear" and losses.size:
        min_yrange(ax, MIN_LOSS_SPAN * (baselines.uniform_loss if baselines else np.nanmax(np.abs(losses))))
    if ax.lines:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return finish(fig, path)


def plot_learning_rate(history: History | dict[str, Any], path: PathLike = None) -> Figure:
    """The learning rate at the end of each epoch (the schedule as it ran on the train split)."""
    h = as_history(history)
    fig = Figure(figsize=(6, 3.2))
    ax = fig.add_subplot()
    lrs = _values(h, "lr")
    if np.isfinite(lrs).any():
        ax.plot(h.column("epoch"), lrs, "-o", ms=3)
        positive = [v for v in lrs if np.isfinite(v) and v > 0]
        if positive and max(positive) / min(positive) > 100:
            ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
    ax.set(title="learning rate at each epoch's end (train split)", xlabel="epoch", ylabel="learning rate")
    epoch_axis(ax, h.column("epoch"))
    fig.tight_layout()
    return finish(fig, path)


def plot_norms(history: History | dict[str, Any], path: PathLike = None, *,
               layer_names: Sequence[str] | None = None) -> Figure:
    """Per Dense layer and epoch (train split): ``||W_end - W_start||`` and the mean gradient
    norm, log scale. The last layer is named the output layer; a zero (which a log axis
    cannot show) is written out under the plot with what it means."""
    h = as_history(history)
    epochs = h.column("epoch")
    fig = Figure(figsize=(10, 4.4))
    axes = fig.subplots(1, 2)
    zeros: dict[tuple[str, tuple[int, ...]], list[str]] = {}
    panels = ((axes[0], "weight_change", "weight change per epoch", "‖W_end − W_start‖ (log scale)"),
              (axes[1], "grad_norm", "mean gradient norm per epoch",
               "mean ‖dW‖ (log scale)"))
    for ax, key, title, ylabel in panels:
        rows = [r if r else [] for r in h.column(key)]
        n_layers = max((len(r) for r in rows), default=0)
        for i in range(n_layers):
            name = (layer_names[i] if layer_names and i < len(layer_names)
                    else f"layer {i + 1}" + (" (output)" if i == n_layers - 1 else ""))
            values = np.array([r[i] if i < len(r) and r[i] is not None else np.nan for r in rows], float)
            ax.plot(epochs, np.where(values > 0, values, np.nan), "-o", ms=3, label=name)
            zero = tuple(e for e, v in zip(epochs, values, strict=True) if v == 0)
            if zero:
                zeros.setdefault((key, zero), []).append(name)
        if any(np.isfinite(line.get_ydata()).any() for line in ax.lines):
            ax.set_yscale("log")
        ax.set(title=f"{title} (train split)", xlabel="epoch", ylabel=ylabel)
        epoch_axis(ax, epochs)
        if n_layers:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
    notes = []
    for (key, zero), names in zeros.items():
        what = "‖W_end − W_start‖" if key == "weight_change" else "mean ‖dW‖"
        meaning = ("the weights did not move at all" if key == "weight_change"
                   else "no gradient reached the layer (dead or saturated units before it)")
        notes.append(f"{', '.join(names)}: {what} = 0 in epoch(s) {', '.join(map(str, zero))} "
                     f"(not drawn on the log scale): {meaning}")
    if notes:
        fig.text(0.01, 0.01, "\n".join(notes), fontsize=8, color="firebrick", va="bottom")
        fig.tight_layout(rect=(0, 0.04 * len(notes) + 0.02, 1, 1))
    else:
        fig.tight_layout()
    return finish(fig, path)

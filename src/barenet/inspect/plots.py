"""Figures of a training run, for the report and for notebooks.

Every function returns a :class:`matplotlib.figure.Figure` (Jupyter shows it inline) and, given
``path``, also saves it as a PNG, atomically (a crash never leaves half a file). The figures are
built without ``pyplot``, so they need no display, leave no global state behind, and work in
scripts, tests and servers alike.

Images are passed as they are stored: raw (N, 784) or (N, 28, 28) pixels (uint8 for MNIST);
``input_shape`` (default 28 x 28) reshapes flat rows for display.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..files.atomic import atomic_write
from ..nn.model import MLP
from ..train.history import History

Array = np.ndarray
PathLike = str | os.PathLike | None

__all__ = ["save_figure", "figure_png", "plot_curves", "plot_norms", "plot_confusion", "plot_samples",
           "plot_class_grid", "plot_binary_outcomes", "plot_worst", "plot_first_layer_weights",
           "plot_activation_histograms"]


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 100) -> None:
    """Save ``fig`` as a PNG at ``path``, atomically (temporary file, then rename)."""
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=dpi)


def figure_png(fig: Figure, dpi: int = 80) -> bytes:
    """``fig`` as PNG bytes (what a notebook displays inline)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _done(fig: Figure, path: PathLike) -> Figure:
    if path is not None:
        save_figure(fig, path)
    return fig


def _history(history: History | dict[str, Any]) -> History:
    return History.from_dict(history) if isinstance(history, dict) else history


def _image(row: Array, input_shape: Sequence[int]) -> Array:
    shape = tuple(input_shape) if input_shape else (28, 28)
    row = np.asarray(row)
    if row.ndim == 1 and int(np.prod(shape)) == row.size:
        return row.reshape(shape)
    if row.ndim == 1:  # not an image: show it as a square-ish strip
        side = int(np.ceil(np.sqrt(row.size)))
        padded = np.zeros(side * side, dtype=np.float64)
        padded[: row.size] = row
        return padded.reshape(side, side)
    return row


def _show(ax: Any, row: Array, input_shape: Sequence[int], title: str = "", color: str = "black") -> None:
    ax.imshow(_image(row, input_shape), cmap="gray_r", interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8, color=color)


def _empty(message: str, path: PathLike) -> Figure:
    fig = Figure(figsize=(4, 1.2))
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=10)
    return _done(fig, path)


def _name(class_names: Sequence[str] | None, k: int) -> str:
    return str(class_names[k]) if class_names is not None and k < len(class_names) else str(k)


def _mosaic(fig: Figure, tiles: list[Array | None], titles: list[str], colors: list[str], ncols: int,
            *, row_labels: Sequence[str] | None = None, cmap: str = "gray_r",
            vmin: float | None = None, vmax: float | None = None) -> Any:
    """Draw many small images as one picture on one Axes (fast: one ``imshow``), each tile
    with a title above it. ``None`` tiles stay blank. Returns the Axes."""
    shapes = [t.shape for t in tiles if t is not None]
    h, w = shapes[0] if shapes else (28, 28)
    gap, head = max(2, w // 10), (max(8, h // 3) if any(titles) else 0)
    nrows = max(1, int(np.ceil(len(tiles) / ncols)))
    canvas = np.full((nrows * (h + gap + head), ncols * (w + gap)), np.nan)
    ax = fig.add_subplot()
    for k, tile in enumerate(tiles):
        r, c = divmod(k, ncols)
        top, left = r * (h + gap + head) + head, c * (w + gap)
        if tile is not None:
            canvas[top:top + h, left:left + w] = tile
        if titles[k]:
            ax.text(left + w / 2, top - 1, titles[k], ha="center", va="bottom", fontsize=7,
                    color=colors[k])
    image = np.ma.masked_invalid(canvas)
    colormap = matplotlib.colormaps[cmap].with_extremes(bad="white")
    ax.imshow(image, cmap=colormap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if row_labels is not None:
        ax.set_yticks([r * (h + gap + head) + head + h / 2 for r in range(len(row_labels))], row_labels,
                      fontsize=8)
        ax.tick_params(axis="y", length=0)
    return ax


# ----------------------------------------------------------------------------- curves
def plot_curves(history: History | dict[str, Any], path: PathLike = None) -> Figure:
    """Loss and accuracy per epoch, training and validation."""
    h = _history(history)
    epochs = h.column("epoch")
    fig = Figure(figsize=(10, 4))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for key, label, style in (("train_loss", "train", "-o"), ("val_loss", "validation", "-s")):
        values = [np.nan if v is None else v for v in h.column(key)]
        if any(np.isfinite(values)):
            ax_loss.plot(epochs, values, style, ms=3, label=label)
    for key, label, style in (("train_accuracy", "train", "-o"), ("val_accuracy", "validation", "-s")):
        values = [np.nan if v is None else 100 * v for v in h.column(key)]
        if any(np.isfinite(values)):
            ax_acc.plot(epochs, values, style, ms=3, label=label)
    ax_loss.set(title="loss", xlabel="epoch", ylabel="loss")
    ax_acc.set(title="accuracy", xlabel="epoch", ylabel="accuracy (%)")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    fig.tight_layout()
    return _done(fig, path)


def plot_norms(history: History | dict[str, Any], path: PathLike = None) -> Figure:
    """Per Dense layer and epoch: ``||W_end - W_start||`` and the mean gradient norm (log scale)."""
    h = _history(history)
    epochs = h.column("epoch")
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    for ax, key, title in ((axes[0], "weight_change", "weight change per epoch ||ΔW||"),
                           (axes[1], "grad_norm", "gradient norm ||dW|| (mean over batches)")):
        rows = [r if r else [] for r in h.column(key)]
        n_layers = max((len(r) for r in rows), default=0)
        for i in range(n_layers):
            values = np.array([r[i] if i < len(r) and r[i] is not None else np.nan for r in rows], float)
            positive = np.where(values > 0, values, np.nan)
            ax.plot(epochs, positive, "-o", ms=3, label=f"layer {i + 1}")
            zero = [e for e, v in zip(epochs, values, strict=True) if v == 0]
            if zero:
                ax.plot(zero, [1e-12] * len(zero), "x", color=ax.lines[-1].get_color())
        if any(np.isfinite(line.get_ydata()).any() for line in ax.lines):
            ax.set_yscale("log")
        ax.set(title=title, xlabel="epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if n_layers:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return _done(fig, path)


# ----------------------------------------------------------------------------- confusion
def plot_confusion(cm: Array | Sequence[Sequence[int]], class_names: Sequence[str] | None = None,
                   path: PathLike = None, title: str = "confusion matrix") -> Figure:
    """Heat map of a confusion matrix (rows: true class, columns: predicted) with the counts."""
    m = np.asarray(cm, dtype=np.int64)
    c = m.shape[0]
    names = [_name(class_names, k) for k in range(c)]
    size = max(4.0, 0.55 * c + 2)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.add_subplot()
    image = ax.imshow(m, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    threshold = m.max() / 2 if m.size else 0
    for i in range(c):
        for j in range(c):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=8 if c > 10 else 9,
                    color="white" if m[i, j] > threshold else "black")
    ax.set_xticks(range(c), names, rotation=45 if max(map(len, names)) > 3 else 0)
    ax.set_yticks(range(c), names)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.tight_layout()
    return _done(fig, path)


# ----------------------------------------------------------------------------- image grids
def plot_samples(x: Array, y: Array, class_names: Sequence[str] | None = None, n: int = 25,
                 seed: int = 0, input_shape: Sequence[int] = (28, 28), path: PathLike = None) -> Figure:
    """A grid of ``n`` random samples with their labels."""
    x = np.asarray(x)
    y = np.asarray(y)
    if len(x) == 0:
        return _empty("no samples", path)
    pick = np.random.default_rng(seed).choice(len(x), size=min(n, len(x)), replace=False)
    cols = int(np.ceil(np.sqrt(len(pick))))
    rows = int(np.ceil(len(pick) / cols))
    fig = Figure(figsize=(1.1 * cols, 1.25 * rows + 0.4))
    tiles = [_image(np.asarray(x[i]).reshape(-1), input_shape).astype(np.float64) for i in pick]
    _mosaic(fig, tiles, [f"label {_name(class_names, int(y[i]))}" for i in pick], ["black"] * len(pick), cols)
    fig.suptitle("random samples")
    fig.tight_layout()
    return _done(fig, path)


def _confidence(proba: Array) -> Array:
    """(N, C) probabilities with a sigmoid column p turned into [1 - p, p]."""
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 1:
        p = p[:, None]
    if p.shape[1] == 1:
        p = np.hstack([1 - p, p])
    return p


def plot_class_grid(x: Array, y_true: Array, y_pred: Array, proba: Array,
                    class_names: Sequence[str] | None = None, *, correct: bool = True,
                    per_class: int = 8, input_shape: Sequence[int] = (28, 28),
                    path: PathLike = None) -> Figure:
    """One row per class: up to ``per_class`` correctly (or, with ``correct=False``,
    incorrectly) classified images, titled true -> predicted and the confidence."""
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    p = _confidence(proba)
    n_classes = p.shape[1]
    tiles: list[Array | None] = []
    titles: list[str] = []
    for k in range(n_classes):
        mask = (y_true == k) & ((y_pred == y_true) if correct else (y_pred != y_true))
        idx = np.flatnonzero(mask)[:per_class]
        for j in range(per_class):
            if j < len(idx):
                i = idx[j]
                tiles.append(_image(np.asarray(x[i]).reshape(-1), input_shape).astype(np.float64))
                titles.append(f"{_name(class_names, k)}→{_name(class_names, int(y_pred[i]))} "
                              f"{100 * p[i, y_pred[i]]:.0f}%")
            else:
                tiles.append(None)
                titles.append("none" if j == 0 else "")
    fig = Figure(figsize=(1.1 * per_class + 0.8, 1.25 * n_classes + 0.5))
    _mosaic(fig, tiles, titles, ["darkgreen" if correct else "firebrick"] * len(tiles), per_class,
            row_labels=[f"true {_name(class_names, k)}" for k in range(n_classes)])
    fig.suptitle(("correctly" if correct else "incorrectly")
                 + " classified, per class (true→predicted, confidence)", fontsize=10)
    fig.tight_layout()
    return _done(fig, path)


def plot_binary_outcomes(x: Array, y_true01: Array, y_pred01: Array, proba: Array,
                         digits: Sequence[int], *, per_outcome: int = 8,
                         input_shape: Sequence[int] = (28, 28), path: PathLike = None) -> Figure:
    """A digit-pair task: rows of true positives, false positives, true negatives and false
    negatives, described in the original digits (label 1 = ``digits[1]``, the positive)."""
    from .metrics import binary_outcome_indices

    neg, pos = (int(d) for d in digits)
    outcomes = binary_outcome_indices(y_true01, y_pred01)
    p = _confidence(proba)
    y_pred01 = np.asarray(y_pred01).reshape(-1)
    meaning = {"TP": f"TP: true {pos}, predicted {pos}", "FP": f"FP: true {neg}, predicted {pos}",
               "TN": f"TN: true {neg}, predicted {neg}", "FN": f"FN: true {pos}, predicted {neg}"}
    tiles: list[Array | None] = []
    titles: list[str] = []
    colors: list[str] = []
    for key in ("TP", "FP", "TN", "FN"):
        idx = outcomes[key][:per_outcome]
        for j in range(per_outcome):
            colors.append("darkgreen" if key in ("TP", "TN") else "firebrick")
            if j < len(idx):
                i = idx[j]
                shown = pos if y_pred01[i] == 1 else neg
                tiles.append(_image(np.asarray(x[i]).reshape(-1), input_shape).astype(np.float64))
                titles.append(f"→{shown} {100 * p[i, y_pred01[i]]:.0f}%")
            else:
                tiles.append(None)
                titles.append("none" if j == 0 else "")
    fig = Figure(figsize=(1.1 * per_outcome + 2.8, 1.3 * 4 + 0.5))
    _mosaic(fig, tiles, titles, colors, per_outcome,
            row_labels=[f"{meaning[k]} ({len(outcomes[k])})" for k in ("TP", "FP", "TN", "FN")])
    fig.suptitle(f"digits {neg} (negative) vs {pos} (positive)", fontsize=10)
    fig.tight_layout()
    return _done(fig, path)


def plot_worst(x: Array, proba: Array, y_true: Array, class_names: Sequence[str] | None = None,
               k: int = 8, input_shape: Sequence[int] = (28, 28), path: PathLike = None) -> Figure:
    """The ``k`` samples with the highest loss: each image beside its probability bars (the
    true class in green, the prediction in red)."""
    from .metrics import worst_predictions

    worst = worst_predictions(proba, y_true, k)
    if not worst:
        return _empty("no samples", path)
    fig = Figure(figsize=(8, 1.6 * len(worst)))
    axes = np.asarray(fig.subplots(len(worst), 2, squeeze=False, gridspec_kw={"width_ratios": [1, 3]}))
    for r, w in enumerate(worst):
        i = w["index"]
        _show(axes[r, 0], np.asarray(x[i]).reshape(-1), input_shape,
              f"#{i} true {_name(class_names, w['true'])}")
        probs = np.asarray(w["proba"])
        colors = ["tab:gray"] * len(probs)
        colors[w["predicted"]] = "firebrick"
        colors[w["true"]] = "darkgreen"
        ax = axes[r, 1]
        ax.bar(range(len(probs)), probs, color=colors)
        ax.set_ylim(0, 1)
        ax.set_xticks(range(len(probs)), [_name(class_names, c) for c in range(len(probs))], fontsize=8)
        ax.set_title(f"predicted {_name(class_names, w['predicted'])} "
                     f"(p={probs[w['predicted']]:.2f}), true class p={w['true_proba']:.3f}, "
                     f"loss {w['loss']:.2f}", fontsize=8)
    fig.suptitle("worst predictions (highest loss)")
    fig.tight_layout()
    return _done(fig, path)


# ----------------------------------------------------------------------------- inside the model
def plot_first_layer_weights(model: MLP, input_shape: Sequence[int] = (28, 28), n: int = 64,
                             path: PathLike = None) -> Figure:
    """The first layer's weights into each of up to ``n`` hidden units, as images (red positive,
    blue negative, a symmetric color scale per unit)."""
    w = model.dense_layers[0].W
    n = min(n, w.shape[1])
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    tiles: list[Array | None] = []
    for j in range(n):
        column = w[:, j].astype(np.float64)
        limit = float(np.max(np.abs(column))) or 1.0
        tiles.append(_image(column / limit, input_shape))
    fig = Figure(figsize=(0.9 * cols + 0.3, 0.9 * rows + 0.5))
    _mosaic(fig, tiles, [""] * n, ["black"] * n, cols, cmap="RdBu_r", vmin=-1.0, vmax=1.0)
    fig.suptitle(f"first-layer weights ({n} of {w.shape[1]} units; red +, blue -)", fontsize=10)
    fig.tight_layout()
    return _done(fig, path)


def plot_activation_histograms(model: MLP, x: Array, path: PathLike = None, bins: int = 50) -> Figure:
    """Histogram of each hidden layer's activations on inputs ``x`` (normalized, as the network
    sees them), titled with the fraction of dead units (zero for every sample)."""
    from .diagnose import activation_stats, hidden_activations

    acts = hidden_activations(model, x)
    if not acts:
        return _empty("the model has no hidden layers", path)
    stats = activation_stats(model, x)
    fig = Figure(figsize=(4.2 * len(acts), 3.4))
    axes = np.atleast_1d(fig.subplots(1, len(acts))).reshape(-1)
    for ax, (name, a), s in zip(axes, acts, stats, strict=True):
        values = a.reshape(-1).astype(np.float64)
        values = values[np.isfinite(values)]
        ax.hist(values, bins=bins, color="tab:blue", log=True)
        extra = f", {100 * s['saturated_fraction']:.0f}% saturated" if name in ("sigmoid", "tanh") else ""
        ax.set_title(f"layer {s['layer']} ({name}): {100 * s['dead_fraction']:.0f}% dead units{extra}",
                     fontsize=9)
        ax.set(xlabel="activation", ylabel="count (log)")
    fig.tight_layout()
    return _done(fig, path)

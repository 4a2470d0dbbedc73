"""Figures of the inside of a model: the first layer's weights as images, and the histograms
of the hidden activations."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from ..nn.model import MLP
from .figure_tools import PathLike, empty_figure, finish, image_of, mosaic, plain_numbers
from .findings import activation_stats, hidden_activations

Array = np.ndarray


def plot_first_layer_weights(model: MLP, input_shape: Sequence[int] = (28, 28), n: int = 64,
                             path: PathLike = None, *, shared_scale: bool = False,
                             x: Array | None = None) -> Figure:
    """The first layer's weights into each of up to ``n`` hidden units, as images (red
    positive, blue negative) with a colour bar. Each unit has its own symmetric scale (its
    largest |w| = 1), or with ``shared_scale`` one scale for all, so that their sizes compare.
    Given inputs ``x`` (as the network sees them), units that are zero for every sample are
    marked "dead"."""
    w = model.dense_layers[0].W.astype(np.float64)
    n = min(n, w.shape[1])
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    dead = np.zeros(w.shape[1], dtype=bool)
    if x is not None and len(x) and model.hidden and model.hidden[0] in ("relu", "leaky_relu"):
        first = hidden_activations(model, x)[0][1]
        dead = np.all(first <= 0, axis=0)
    limit_all = float(np.max(np.abs(w[:, :n]))) or 1.0
    tiles: list[Array | None] = []
    for j in range(n):
        limit = limit_all if shared_scale else (float(np.max(np.abs(w[:, j]))) or 1.0)
        tiles.append(image_of(w[:, j] / limit * (limit_all if shared_scale else 1.0), input_shape))
    titles = ["dead" if dead[j] else "" for j in range(n)]
    fig = Figure(figsize=(0.9 * cols + 1.4, 0.95 * rows + 0.7))
    vmax = limit_all if shared_scale else 1.0
    ax, image = mosaic(fig, tiles, titles, ["firebrick"] * n, cols, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label("weight" if shared_scale else "weight / the unit's largest |weight|", fontsize=8)
    scale = "one scale for all units" if shared_scale else "each unit on its own scale"
    n_dead = int(dead[:n].sum())
    marked = f"; {n_dead} dead units marked" if x is not None and model.hidden and \
        model.hidden[0] in ("relu", "leaky_relu") else ""
    fig.suptitle(f"first-layer weights ({n} of {w.shape[1]} units; {scale}{marked})", fontsize=10)
    fig.tight_layout()
    return finish(fig, path)


def plot_activation_histograms(model: MLP, x: Array, path: PathLike = None, bins: int = 50,
                               split: str = "train") -> Figure:
    """Histogram of each hidden layer's activations on inputs ``x`` (normalized, as the network
    sees them), titled with the fraction of dead units (zero for every sample)."""
    acts = hidden_activations(model, x)
    if not acts:
        return empty_figure("the model has no hidden layers", path)
    stats = activation_stats(model, x)
    fig = Figure(figsize=(4.2 * len(acts), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(acts))).reshape(-1)
    for ax, (name, a), s in zip(axes, acts, stats, strict=True):
        values = a.reshape(-1).astype(np.float64)
        values = values[np.isfinite(values)]
        ax.hist(values, bins=bins, color="tab:blue", log=True)
        extra = f", {100 * s['saturated_fraction']:.0f}% saturated" if name in ("sigmoid", "tanh") else ""
        ax.set_title(f"layer {s['layer']} ({name}, {split} split): {100 * s['dead_fraction']:.0f}% "
                     f"dead units{extra}", fontsize=9)
        ax.set(xlabel="activation", ylabel="count (log)")
        plain_numbers(ax)
    fig.tight_layout()
    return finish(fig, path)

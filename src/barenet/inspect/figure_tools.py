"""What every figure shares: atomic PNG saving, the history argument, image tiles, the mosaic
of many small images, and honest axes (no offset notation, a minimum y-range)."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, ScalarFormatter

from ..files.atomic import atomic_write
from ..train.history import History

Array = np.ndarray
PathLike = str | os.PathLike | None


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 100) -> None:
    """Save ``fig`` as a PNG at ``path``, atomically (temporary file, then rename)."""
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=dpi)


def figure_png(fig: Figure, dpi: int = 80) -> bytes:
    """``fig`` as PNG bytes (what a notebook displays inline)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def finish(fig: Figure, path: PathLike) -> Figure:
    """Save ``fig`` when a path is given; return it."""
    if path is not None:
        save_figure(fig, path)
    return fig


def as_history(history: History | dict[str, Any]) -> History:
    return History.from_dict(history) if isinstance(history, dict) else history


def class_name(class_names: Sequence[str] | None, k: int) -> str:
    return str(class_names[k]) if class_names is not None and k < len(class_names) else str(k)


def image_of(row: Array, input_shape: Sequence[int]) -> Array:
    """A flat row as an image of ``input_shape`` (or a square-ish strip when it is not one)."""
    shape = tuple(input_shape) if input_shape else (28, 28)
    row = np.asarray(row)
    if row.ndim == 1 and int(np.prod(shape)) == row.size:
        return row.reshape(shape)
    if row.ndim == 1:
        side = int(np.ceil(np.sqrt(row.size)))
        padded = np.zeros(side * side, dtype=np.float64)
        padded[: row.size] = row
        return padded.reshape(side, side)
    return row


def show_image(ax: Any, row: Array, input_shape: Sequence[int], title: str = "",
               color: str = "black") -> None:
    ax.imshow(image_of(row, input_shape), cmap="gray_r", interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8, color=color)


def empty_figure(message: str, path: PathLike) -> Figure:
    fig = Figure(figsize=(4, 1.2))
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=10)
    return finish(fig, path)


def plain_numbers(ax: Any) -> None:
    """No offset notation on either axis ("+2.302" above ticks 0.0006-0.0007 makes a flat
    line look like a steep drop): ticks show the values themselves."""
    for axis in (ax.xaxis, ax.yaxis):
        formatter = axis.get_major_formatter()
        if isinstance(formatter, ScalarFormatter):
            formatter.set_useOffset(False)


def min_yrange(ax: Any, span: float) -> None:
    """Widen the y-range to at least ``span`` around its centre, so a flat line looks flat."""
    low, high = ax.get_ylim()
    if high - low < span:
        mid = (low + high) / 2
        ax.set_ylim(mid - span / 2, mid + span / 2)


def epoch_axis(ax: Any, epochs: Sequence[int] = ()) -> None:
    """Whole epochs on the x-axis (a single epoch centred, not at a fractional tick)."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(epochs):
        pad = 1.0 if len(epochs) == 1 else 0.3
        ax.set_xlim(min(epochs) - pad, max(epochs) + pad)
    ax.grid(alpha=0.3)
    plain_numbers(ax)


def mosaic(fig: Figure, tiles: list[Array | None], titles: list[str], colors: list[str], ncols: int,
           *, row_labels: Sequence[str] | None = None, cmap: str = "gray_r",
           vmin: float | None = None, vmax: float | None = None) -> tuple[Any, Any]:
    """Draw many small images as one picture on one Axes (fast: one ``imshow``), each tile
    with a title above it. ``None`` tiles stay blank. Returns (Axes, AxesImage)."""
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
    colormap = matplotlib.colormaps[cmap].with_extremes(bad="white")
    image = ax.imshow(np.ma.masked_invalid(canvas), cmap=colormap, vmin=vmin, vmax=vmax,
                      interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if row_labels is not None:
        ax.set_yticks([r * (h + gap + head) + head + h / 2 for r in range(len(row_labels))], row_labels,
                      fontsize=8)
        ax.tick_params(axis="y", length=0)
    return ax, image

"""Figures of what a model predicts on one split: the confusion matrix (row-normalised, so
the errors show), image grids, the worst predictions and, for a digit pair, ROC and
precision-recall curves and the histogram of predicted probabilities. Every title names the
split it shows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .figure_tools import (
    PathLike,
    class_name,
    empty_figure,
    finish,
    image_of,
    mosaic,
    plain_numbers,
    show_image,
)
from .metrics import binary_outcome_indices, worst_predictions
from .ranking import average_precision, precision_recall_curve, roc_auc, roc_curve

Array = np.ndarray

#: plot_worst draws at most this many rows and says so when more were asked for.
MAX_WORST_ROWS = 16


def plot_confusion(cm: Array | Sequence[Sequence[int]], class_names: Sequence[str] | None = None,
                   path: PathLike = None, title: str | None = None, split: str = "test") -> Figure:
    """The confusion matrix normalised by row (share of each true class predicted as each
    class), diagonal masked in the colours so that the errors stand out; each cell shows its
    share and count."""
    m = np.asarray(cm, dtype=np.int64)
    c = m.shape[0]
    names = [class_name(class_names, k) for k in range(c)]
    support = np.maximum(m.sum(axis=1, keepdims=True), 1)
    share = m / support
    errors = np.ma.masked_array(share, mask=np.eye(c, dtype=bool))
    size = max(4.5, 0.65 * c + 2)
    fig = Figure(figsize=(size + 1.2, size))
    ax = fig.add_subplot()
    top = float(errors.max()) if errors.count() and errors.max() > 0 else 1.0
    image = ax.imshow(errors, cmap="Reds", vmin=0, vmax=top)
    ax.imshow(np.ma.masked_array(np.ones_like(share), mask=~np.eye(c, dtype=bool)), cmap="Greys",
              vmin=0, vmax=5)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class (errors)")
    for i in range(c):
        for j in range(c):
            if m[i, j] or i == j:
                ax.text(j, i, f"{100 * share[i, j]:.0f}%\n{m[i, j]}", ha="center", va="center",
                        fontsize=6 if c > 10 else 8,
                        color="white" if i != j and share[i, j] > top / 2 else "black")
    ax.set_xticks(range(c), names, rotation=45 if max(map(len, names)) > 3 else 0)
    ax.set_yticks(range(c), names)
    ax.set(xlabel="predicted", ylabel="true",
           title=title or f"confusion matrix ({split} split; rows sum to 100 %, off-diagonal = errors)")
    ax.title.set_fontsize(9)
    fig.tight_layout()
    return finish(fig, path)


def plot_samples(x: Array, y: Array, class_names: Sequence[str] | None = None, n: int = 25,
                 seed: int = 0, input_shape: Sequence[int] = (28, 28), path: PathLike = None,
                 split: str = "train") -> Figure:
    """A grid of ``n`` random samples with their labels."""
    x, y = np.asarray(x), np.asarray(y)
    if len(x) == 0:
        return empty_figure("no samples", path)
    pick = np.random.default_rng(seed).choice(len(x), size=min(n, len(x)), replace=False)
    cols = int(np.ceil(np.sqrt(len(pick))))
    rows = int(np.ceil(len(pick) / cols))
    fig = Figure(figsize=(1.1 * cols, 1.25 * rows + 0.5))
    tiles = [image_of(np.asarray(x[i]).reshape(-1), input_shape).astype(np.float64) for i in pick]
    mosaic(fig, tiles, [f"label {class_name(class_names, int(y[i]))}" for i in pick], ["black"] * len(pick),
           cols)
    fig.suptitle(f"random samples ({split} split)")
    fig.tight_layout()
    return finish(fig, path)


def plot_augmented(x: Array, augment: Any, n: int = 8, copies: int = 3, seed: int = 0,
                   input_shape: Sequence[int] = (28, 28), path: PathLike = None,
                   spec: str = "") -> Figure:
    """The first ``n`` training images (top row) and ``copies`` rows of what ``augment`` (a
    callable ``augment(batch, rng) -> batch`` of raw pixels, e.g. the run's ``--augment``) makes
    of them, with a Generator seeded by ``seed``: the kind of images the network trained on."""
    x = np.asarray(x)[:n]
    if len(x) == 0:
        return empty_figure("no samples", path)
    rng = np.random.default_rng(seed)
    rows = [x.astype(np.float64)] + [np.asarray(augment(x, rng), dtype=np.float64) for _ in range(copies)]
    tiles = [image_of(row.reshape(-1), input_shape) for batch in rows for row in batch]
    fig = Figure(figsize=(0.95 * len(x) + 1.2, 1.0 * len(rows) + 0.6))
    vmax = float(max(rows[0].max(), 1.0))
    mosaic(fig, tiles, [""] * len(tiles), ["black"] * len(tiles), len(x),
           row_labels=["original"] + [f"copy {k + 1}" for k in range(copies)], vmin=0.0, vmax=vmax)
    fig.suptitle(f"augmented training samples: {spec}" if spec else "augmented training samples",
                 fontsize=9)
    fig.tight_layout()
    return finish(fig, path)


def confidence(proba: Array) -> Array:
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
                    path: PathLike = None, split: str = "test") -> Figure:
    """One row per class: up to ``per_class`` correctly (or, with ``correct=False``,
    incorrectly) classified images, titled true -> predicted and the confidence."""
    y_true, y_pred = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    p = confidence(proba)
    tiles: list[Array | None] = []
    titles: list[str] = []
    for k in range(p.shape[1]):
        idx = np.flatnonzero((y_true == k) & ((y_pred == y_true) if correct else (y_pred != y_true)))
        for j in range(per_class):
            if j < len(idx):
                i = idx[j]
                tiles.append(image_of(np.asarray(x[i]).reshape(-1), input_shape).astype(np.float64))
                titles.append(f"{class_name(class_names, k)}→{class_name(class_names, int(y_pred[i]))} "
                              f"{100 * p[i, y_pred[i]]:.0f}%")
            else:
                tiles.append(None)
                titles.append("none" if j == 0 else "")
    fig = Figure(figsize=(1.1 * per_class + 0.8, 1.25 * p.shape[1] + 0.6))
    mosaic(fig, tiles, titles, ["darkgreen" if correct else "firebrick"] * len(tiles), per_class,
           row_labels=[f"true {class_name(class_names, k)}" for k in range(p.shape[1])])
    fig.suptitle(("correctly" if correct else "incorrectly")
                 + f" classified, per class ({split} split; true→predicted, confidence)", fontsize=10)
    fig.tight_layout()
    return finish(fig, path)


def plot_binary_outcomes(x: Array, y_true01: Array, y_pred01: Array, proba: Array,
                         digits: Sequence[int], *, per_outcome: int = 8,
                         input_shape: Sequence[int] = (28, 28), path: PathLike = None,
                         split: str = "test") -> Figure:
    """A digit-pair task: rows of true positives, false positives, true negatives and false
    negatives, described in the original digits (label 1 = ``digits[1]``, the positive)."""
    neg, pos = (int(d) for d in digits)
    outcomes = binary_outcome_indices(y_true01, y_pred01)
    p = confidence(proba)
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
                tiles.append(image_of(np.asarray(x[i]).reshape(-1), input_shape).astype(np.float64))
                titles.append(f"→{pos if y_pred01[i] == 1 else neg} {100 * p[i, y_pred01[i]]:.0f}%")
            else:
                tiles.append(None)
                titles.append("none" if j == 0 else "")
    fig = Figure(figsize=(1.1 * per_outcome + 2.8, 1.3 * 4 + 0.6))
    mosaic(fig, tiles, titles, colors, per_outcome,
           row_labels=[f"{meaning[k]} ({len(outcomes[k])})" for k in ("TP", "FP", "TN", "FN")])
    fig.suptitle(f"digits {neg} (negative) vs {pos} (positive), {split} split", fontsize=10)
    fig.tight_layout()
    return finish(fig, path)


def plot_worst(x: Array, proba: Array, y_true: Array, class_names: Sequence[str] | None = None,
               k: int = 8, input_shape: Sequence[int] = (28, 28), path: PathLike = None,
               split: str = "test") -> Figure:
    """The ``k`` samples with the highest loss (at most :data:`MAX_WORST_ROWS` drawn; the
    title says how many): each image beside its probability bars, the true class in green
    and outlined (also when it is the prediction), a wrong prediction in red."""
    p = confidence(proba)
    if p.size and (not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1):
        return empty_figure(f"no worst predictions ({split} split): the outputs are not probabilities\n"
                            "(an identity output gives raw scores)", path)
    worst = worst_predictions(p, y_true, min(k, MAX_WORST_ROWS))
    if not worst:
        return empty_figure("no samples", path)
    shown = f"the {len(worst)} highest-loss predictions"
    if k > len(worst):
        shown += f" of the {k} asked for"
    fig = Figure(figsize=(8, 1.6 * len(worst) + 0.6), layout="constrained")
    axes = np.asarray(fig.subplots(len(worst), 2, squeeze=False, gridspec_kw={"width_ratios": [1, 3]}))
    for r, w in enumerate(worst):
        show_image(axes[r, 0], np.asarray(x[w["index"]]).reshape(-1), input_shape,
                   f"#{w['index']} true {class_name(class_names, w['true'])}")
        probs = np.asarray(w["proba"])
        colors = ["tab:gray"] * len(probs)
        colors[w["predicted"]] = "firebrick"
        colors[w["true"]] = "darkgreen"
        edges = ["black" if c == w["true"] else "none" for c in range(len(probs))]
        ax = axes[r, 1]
        ax.bar(range(len(probs)), probs, color=colors, edgecolor=edges, linewidth=1.5)
        ax.set_ylim(0, 1)
        ax.set_xticks(range(len(probs)), [class_name(class_names, c) for c in range(len(probs))], fontsize=8)
        ax.set_title(f"true {class_name(class_names, w['true'])} (green, p={w['true_proba']:.3f}), "
                     f"predicted {class_name(class_names, w['predicted'])} "
                     f"(p={probs[w['predicted']]:.2f}), loss {w['loss']:.2f}", fontsize=8)
    fig.suptitle(f"{shown} ({split} split)", fontsize=10)
    return finish(fig, path)


def plot_roc_pr(y01: Array, score: Array, digits: Sequence[int], path: PathLike = None,
                split: str = "test") -> Figure:
    """ROC and precision-recall curves of a digit pair's P(positive) scores."""
    neg, pos = (int(d) for d in digits)
    y = np.asarray(y01).reshape(-1)
    s = confidence(score)[:, 1]
    fig = Figure(figsize=(10, 4.2))
    ax_roc, ax_pr = fig.subplots(1, 2)
    fpr, tpr, _ = roc_curve(y, s)
    ax_roc.plot(fpr, tpr, lw=1.5, label=f"AUC {roc_auc(y, s):.4f}")
    ax_roc.plot([0, 1], [0, 1], "--", color="gray", lw=1, label="chance")
    ax_roc.set(title=f"ROC, {pos} positive vs {neg} ({split} split)", xlabel="false positive rate",
               ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
    precision, recall, _ = precision_recall_curve(y, s)
    ax_pr.step(np.r_[0.0, recall], np.r_[precision[0], precision], where="pre", lw=1.5,
               label=f"average precision {average_precision(y, s):.4f}")
    base = float(np.mean(y)) if y.size else 0.0
    ax_pr.axhline(base, ls="--", color="gray", lw=1, label=f"chance (share of {pos}) {base:.2f}")
    ax_pr.set(title=f"precision-recall, positive {pos} ({split} split)", xlabel="recall",
              ylabel="precision", xlim=(0, 1), ylim=(0, 1.01))
    for ax in (ax_roc, ax_pr):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right" if ax is ax_roc else "lower left")
        plain_numbers(ax)
    fig.tight_layout()
    return finish(fig, path)


def plot_probability_histogram(y01: Array, score: Array, digits: Sequence[int], path: PathLike = None,
                               split: str = "test", threshold: float = 0.5) -> Figure:
    """Histograms of P(positive) for the samples of each true digit, with the threshold."""
    neg, pos = (int(d) for d in digits)
    y = np.asarray(y01).reshape(-1)
    s = confidence(score)[:, 1]
    fig = Figure(figsize=(7, 3.6))
    ax = fig.add_subplot()
    bins = np.linspace(0, 1, 41)
    ax.hist(s[y == 0], bins=bins, alpha=0.6, label=f"true {neg} ({int(np.sum(y == 0))})", color="tab:blue")
    ax.hist(s[y == 1], bins=bins, alpha=0.6, label=f"true {pos} ({int(np.sum(y == 1))})", color="tab:orange")
    ax.axvline(threshold, color="black", ls="--", lw=1, label=f"threshold {threshold:g}")
    ax.set_yscale("log")
    ax.set(title=f"predicted P({pos}) by true digit ({split} split)", xlabel=f"P({pos})",
           ylabel="samples (log scale)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return finish(fig, path)

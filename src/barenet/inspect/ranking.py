"""Threshold-free metrics of a two-class score, in NumPy: ROC and precision-recall curves, the
areas under them, and the most-confused class pairs of a confusion matrix.

For scores ``s`` (N,) (P(positive)) and labels ``y`` in {0, 1}, sort by decreasing score; at
each distinct score t (predict positive when ``s >= t``)::

    TP(t) = #{y = 1, s >= t}    FP(t) = #{y = 0, s >= t}
    TPR = TP / P    FPR = FP / N    precision = TP / (TP + FP)    recall = TPR

ROC AUC is the trapezoid area under (FPR, TPR) from (0, 0) to (1, 1); average precision is
``sum_k (R_k - R_{k-1}) P_k`` over the thresholds (the step-wise area, as scikit-learn).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Array = np.ndarray


def _counts(y01: Array, score: Array) -> tuple[Array, Array, Array]:
    """(thresholds, TP, FP) at each distinct score, highest first."""
    y = np.asarray(y01).reshape(-1).astype(np.int64)
    s = np.asarray(score, dtype=np.float64).reshape(-1)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each distinct score
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    return s[last], tp.astype(np.float64), fp.astype(np.float64)


def roc_curve(y01: Array, score: Array) -> tuple[Array, Array, Array]:
    """(FPR, TPR, thresholds), starting at (0, 0) with threshold +inf."""
    thresholds, tp, fp = _counts(y01, score)
    pos, neg = tp[-1], fp[-1]
    tpr = np.r_[0.0, tp / pos if pos else np.zeros_like(tp)]
    fpr = np.r_[0.0, fp / neg if neg else np.zeros_like(fp)]
    return fpr, tpr, np.r_[np.inf, thresholds]


def roc_auc(y01: Array, score: Array) -> float:
    fpr, tpr, _ = roc_curve(y01, score)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def precision_recall_curve(y01: Array, score: Array) -> tuple[Array, Array, Array]:
    """(precision, recall, thresholds) in order of decreasing threshold."""
    thresholds, tp, fp = _counts(y01, score)
    pos = tp[-1]
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / pos if pos else np.zeros_like(tp)
    return precision, recall, thresholds


def average_precision(y01: Array, score: Array) -> float:
    precision, recall, _ = precision_recall_curve(y01, score)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def most_confused(cm: Array | Sequence[Sequence[int]], class_names: Sequence[str] | None = None,
                  k: int = 5) -> list[dict]:
    """The ``k`` largest off-diagonal cells: ``{"true", "predicted", "count", "share"}``
    (share: of the true class's samples), largest count first; empty cells are left out."""
    m = np.asarray(cm, dtype=np.int64)
    off = m.copy()
    np.fill_diagonal(off, 0)
    flat = np.argsort(-off, axis=None, kind="mergesort")[:k]
    support = m.sum(axis=1)
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(m))]
    out = []
    for idx in flat:
        i, j = divmod(int(idx), m.shape[1])
        if off[i, j] == 0:
            break
        out.append({"true": names[i], "predicted": names[j], "count": int(off[i, j]),
                    "share": float(off[i, j] / support[i]) if support[i] else 0.0})
    return out

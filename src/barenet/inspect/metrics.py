"""Classification metrics, vectorized with NumPy: accuracy, confusion matrix, precision /
recall / F1, log loss, the worst predictions, and binary digit-pair outcomes.

Conventions. Labels are integer class indices ``0 .. C-1`` in a 1-D array (N,) (a (N, 1)
column is accepted and flattened). Probabilities are the network's output: (N, C) softmax
rows, or a (N, 1) (or (N,)) column holding P(class 1) for a one-unit sigmoid network.

Confusion matrix ``M`` (C, C): ``M[i, j]`` = number of samples of true class i predicted as j
(rows = truth, columns = prediction). From it, per class k:

    TP_k = M[k, k]        predicted_k = sum_i M[i, k]        support_k = sum_j M[k, j]
    precision_k = TP_k / predicted_k
    recall_k    = TP_k / support_k
    F1_k        = 2 P R / (P + R) = 2 TP_k / (predicted_k + support_k)

A ratio whose denominator is 0 is defined as 0 (no warning). Macro averages are the plain means
over all C classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import DataError

Array = np.ndarray

#: A sanity bound on the number of classes a confusion matrix may have (C^2 int64 cells).
MAX_CLASSES = 4096


# ----------------------------------------------------------------------------- validation
def _labels(y: object, name: str) -> Array:
    """``y`` as a 1-D int64 array of non-negative class indices, or a DataError."""
    a = np.asarray(y)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise DataError(
            f"{name} must be a 1-D array of class labels; got shape {a.shape} "
            "(for one-hot rows or probabilities pass labels, e.g. argmax(axis=1))"
        )
    if a.dtype == bool:
        return a.astype(np.int64)
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise DataError(f"{name} must hold integer class labels; got dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise DataError(f"{name} must hold whole-number class labels; got non-integer values")
    if a.size and a.min() < 0:
        raise DataError(f"{name} holds a negative label ({a.min()}); labels are 0 .. C-1")
    return a.astype(np.int64)


def _pair(y_true: object, y_pred: object) -> tuple[Array, Array]:
    t = _labels(y_true, "y_true")
    p = _labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise DataError(f"y_true has {t.shape[0]} labels but y_pred has {p.shape[0]}")
    if t.size == 0:
        raise DataError("no samples: y_true and y_pred are empty")
    return t, p


def _proba(proba: object, n: int) -> Array:
    """Probabilities as a float64 (N, C) array with C >= 2 (a sigmoid column p -> [1-p, p])."""
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 1:
        p = p[:, None]
    if p.ndim != 2 or p.shape[0] != n:
        raise DataError(f"proba must be (N, C) or (N, 1) with N = {n} rows; got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise DataError("proba holds NaN or inf; the model diverged or the input is corrupt")
    if p.size and (p.min() < -1e-6 or p.max() > 1 + 1e-6):
        raise DataError("proba must hold probabilities in [0, 1]; got raw scores? "
                        "pass model.predict_proba(x)")
    if p.shape[1] == 1:
        p = np.concatenate([1.0 - p, p], axis=1)
    return p


# ----------------------------------------------------------------------------- basics
def accuracy(y_true: object, y_pred: object) -> float:
    """Fraction of samples whose predicted label equals the true label: (1/N) sum_i 1[t_i = p_i]."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(t == p))


def confusion_matrix(y_true: object, y_pred: object, n_classes: int | None = None) -> Array:
    """Counts M (C, C), int64, ``M[i, j]`` = #samples with true class i predicted as j.

    Computed with one ``bincount`` over the flat cell index ``i * C + j``. ``C`` is
    ``n_classes`` when given, else ``max(label) + 1`` over both arrays.
    """
    t, p = _pair(y_true, y_pred)
    top = int(max(t.max(), p.max()))
    c = top + 1 if n_classes is None else int(n_classes)
    if c < 1 or c > MAX_CLASSES:
        raise DataError(f"number of classes must be in 1 .. {MAX_CLASSES}; got {c}")
    if top >= c:
        raise DataError(f"a label ({top}) is outside 0 .. {c - 1} for n_classes={c}")
    return np.bincount(t * c + p, minlength=c * c).reshape(c, c).astype(np.int64)


def _safe_ratio(num: Array, den: Array) -> Array:
    """num / den elementwise, 0 where den == 0 (no warning)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def precision_recall_f1(cm: object) -> dict:
    """Per-class precision, recall, F1 and support from a confusion matrix (C, C).

    Returns ``precision``, ``recall``, ``f1`` (float64 arrays (C,)), ``support`` (int64 (C,),
    the true count per class) and ``macro_precision``, ``macro_recall``, ``macro_f1`` (floats,
    means over the C classes). See the module docstring for the formulas; 0/0 is 0.
    """
    m = np.asarray(cm)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise DataError(f"a confusion matrix must be square (C, C); got shape {m.shape}")
    if not np.issubdtype(m.dtype, np.integer) or (m.size and m.min() < 0):
        raise DataError("a confusion matrix must hold non-negative integer counts")
    tp = np.diag(m)
    predicted = m.sum(axis=0)
    support = m.sum(axis=1).astype(np.int64)
    precision = _safe_ratio(tp, predicted)
    recall = _safe_ratio(tp, support)
    f1 = _safe_ratio(2 * tp, predicted + support)
    return {
        "precision": precision, "recall": recall, "f1": f1, "support": support,
        "macro_precision": float(precision.mean()), "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
    }


# ----------------------------------------------------------------------------- losses
def _eps(dtype: np.dtype) -> float:
    """The clipping margin of :mod:`barenet.losses`: 1e-7 for float32, 1e-15 otherwise."""
    return 1e-7 if np.dtype(dtype) == np.float32 else 1e-15


def per_sample_log_loss(proba: object, y_true: object, eps: float | None = None) -> Array:
    """Negative log-likelihood of the true class per sample, (N,) float64.

    ``l_i = -log(clip(p_i,t_i, eps, 1))``, where a sigmoid column p gives
    ``p_i,1 = p`` and ``p_i,0 = 1 - p`` (so ``l_i = -[t log p + (1 - t) log(1 - p)]``).
    ``eps`` defaults to the margin the training losses use for ``proba``'s dtype.
    """
    t = _labels(y_true, "y_true")
    margin = _eps(np.asarray(proba).dtype) if eps is None else float(eps)
    p = _proba(proba, t.shape[0])
    if t.size and t.max() >= p.shape[1]:
        raise DataError(f"a label ({t.max()}) is outside 0 .. {p.shape[1] - 1} for "
                        f"{p.shape[1]} probability columns")
    picked = p[np.arange(t.shape[0]), t]
    return -np.log(np.clip(picked, margin, 1.0))


def log_loss(proba: object, y_true: object, eps: float | None = None) -> float:
    """Mean negative log-likelihood ``(1/N) sum_i l_i`` (see :func:`per_sample_log_loss`)."""
    losses = per_sample_log_loss(proba, y_true, eps)
    if losses.size == 0:
        raise DataError("no samples: proba and y_true are empty")
    return float(losses.mean())


def worst_predictions(proba: object, y_true: object, k: int = 10) -> list[dict]:
    """The k samples with the highest loss, highest first (ties: lower index first).

    Each entry (JSON-ready): ``index`` (row in the data), ``true`` and ``predicted`` labels,
    ``loss`` (the per-sample NLL), ``true_proba`` (probability given to the true class) and
    ``proba`` (the probability of every class; a sigmoid column p is shown as [1 - p, p]).
    The predicted label is the argmax (for a sigmoid unit: p > 0.5, as ``MLP.predict``).
    """
    if int(k) < 0:
        raise DataError(f"k must be >= 0; got {k}")
    t = _labels(y_true, "y_true")
    losses = per_sample_log_loss(proba, t)
    p = _proba(proba, t.shape[0])
    order = np.argsort(-losses, kind="stable")[: int(k)]
    rows = p[order]
    predicted = np.argmax(rows, axis=1)
    return [
        {"index": int(i), "true": int(t[i]), "predicted": int(pred), "loss": float(losses[i]),
         "true_proba": float(row[t[i]]), "proba": row.tolist()}
        for i, pred, row in zip(order, predicted, rows, strict=True)
    ]


# ----------------------------------------------------------------------------- binary pairs
def _binary(y_true01: object, y_pred01: object) -> tuple[Array, Array]:
    t, p = _pair(y_true01, y_pred01)
    if t.max() > 1 or p.max() > 1:
        raise DataError("binary outcomes need 0/1 labels (0 = first digit, 1 = second digit)")
    return t.astype(bool), p.astype(bool)


def binary_outcome_indices(y_true01: object, y_pred01: object) -> dict[str, Array]:
    """Sample indices (int64 arrays, ascending) of each outcome; the positive class is label 1.

    ``TP``: t=1, p=1; ``FP``: t=0, p=1; ``TN``: t=0, p=0; ``FN``: t=1, p=0.
    """
    t, p = _binary(y_true01, y_pred01)
    return {"TP": np.flatnonzero(t & p), "FP": np.flatnonzero(~t & p),
            "TN": np.flatnonzero(~t & ~p), "FN": np.flatnonzero(t & ~p)}


def binary_outcomes(
    y_true01: object, y_pred01: object, digits: Sequence[int] = (0, 1)
) -> dict:
    """TP / FP / TN / FN counts of a digit-pair task, described in the original digits.

    ``digits = (d1, d2)``: label 0 is d1 (negative), label 1 is d2 (positive). Returns
    ``positive_digit``, ``negative_digit``, the four counts and ``meaning``, e.g. for (1, 5):
    ``{"TP": "true 5 predicted 5", "FP": "true 1 predicted 5", "TN": "true 1 predicted 1",
    "FN": "true 5 predicted 1"}``.
    """
    if len(digits) != 2:
        raise DataError(f"digits must be a pair (d1, d2); got {tuple(digits)}")
    neg, pos = (int(d) for d in digits)
    t, p = _binary(y_true01, y_pred01)
    counts = np.bincount(t * 2 + p, minlength=4)  # index = 2 * true + pred
    return {
        "positive_digit": pos, "negative_digit": neg,
        "TP": int(counts[3]), "FP": int(counts[1]), "TN": int(counts[0]), "FN": int(counts[2]),
        "meaning": {"TP": f"true {pos} predicted {pos}", "FP": f"true {neg} predicted {pos}",
                    "TN": f"true {neg} predicted {neg}", "FN": f"true {pos} predicted {neg}"},
    }


# ----------------------------------------------------------------------------- report
def classification_report(
    y_true: object, y_pred: object, class_names: Sequence[object] | None = None
) -> dict:
    """A JSON-serializable summary: accuracy, confusion matrix, per-class rows, macro averages.

    ``class_names`` (one per class, e.g. ``["1", "5"]`` for a digit pair) fixes C; without it
    C = max(label) + 1 and the names are "0", "1", ... Keys: ``n_samples``, ``accuracy``,
    ``confusion_matrix`` (nested lists, rows = true class), ``classes`` (a list of
    ``{"name", "precision", "recall", "f1", "support"}``), ``macro_precision``,
    ``macro_recall``, ``macro_f1``.
    """
    t, p = _pair(y_true, y_pred)
    n_classes = None if class_names is None else len(class_names)
    cm = confusion_matrix(t, p, n_classes)
    names = [str(c) for c in class_names] if class_names is not None else [
        str(i) for i in range(cm.shape[0])]
    scores = precision_recall_f1(cm)
    classes = [
        {"name": name, "precision": float(pr), "recall": float(rc), "f1": float(f),
         "support": int(s)}
        for name, pr, rc, f, s in zip(names, scores["precision"], scores["recall"],
                                      scores["f1"], scores["support"], strict=True)
    ]
    return {
        "n_samples": int(t.shape[0]), "accuracy": float(np.mean(t == p)),
        "confusion_matrix": cm.tolist(), "classes": classes,
        "macro_precision": scores["macro_precision"], "macro_recall": scores["macro_recall"],
        "macro_f1": scores["macro_f1"],
    }

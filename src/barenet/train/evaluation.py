"""Evaluation in inference mode, in batches: probabilities, predicted labels, loss and
accuracy.

Targets ``y`` are integer labels (N,) or dense targets (N, C) (one-hot rows, or the 0/1 column
of a one-unit binary network) throughout.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.preprocess import Normalizer
from ..errors import BarenetError
from ..nn.losses import Loss, get_loss
from ..nn.model import MLP

Array = np.ndarray


def count_correct(p: Array, y: Array, threshold: float = 0.5) -> int:
    """How many rows of p (N, C) predict their label y (N,) (or dense targets (N, C))."""
    y = np.asarray(y)
    if p.shape[1] == 1:
        truth = y.reshape(-1) > 0.5
        return int(np.count_nonzero((p[:, 0] > threshold) == truth))
    labels = y if y.ndim == 1 else np.argmax(y, axis=1)
    return int(np.count_nonzero(np.argmax(p, axis=1) == labels))


def predict_proba_batched(model: MLP, x: Array, normalizer: Normalizer | None = None,
                          batch_size: int = 4096) -> Array:
    """Output probabilities (N, C) for raw or float inputs, normalized one batch at a time
    (never a float copy of the whole data set)."""
    n = len(x)
    x2 = np.asarray(x).reshape(n, -1)
    proba = np.empty((n, model.n_outputs), dtype=model.dtype)
    for start in range(0, n, batch_size):
        xb = x2[start:start + batch_size]
        if normalizer is not None:
            xb = normalizer.transform(xb, dtype=model.dtype)
        proba[start:start + batch_size] = model.forward(xb, training=False, copy=False)
    return proba


def predicted_labels(proba: Array, threshold: float = 0.5) -> Array:
    """Class indices (N,) from probabilities: argmax, or ``p > threshold`` for one unit."""
    if proba.shape[1] == 1:
        return (proba[:, 0] > threshold).astype(np.int64)
    return np.argmax(proba, axis=1)


def evaluate(model: MLP, x: Array, y: Array, loss: Loss | str = "cross_entropy",
             normalizer: Normalizer | None = None, batch_size: int = 4096,
             return_proba: bool = False) -> Any:
    """(loss, accuracy) of ``model`` on (x, y) in inference mode, in batches.

    ``x`` may be raw uint8 images when a ``normalizer`` is given. The loss uses the loss's own
    reduction (the sum reduction sums over all N samples). With ``return_proba`` the
    probabilities (N, C) come back as a third element.
    """
    loss = get_loss(loss)
    if len(x) == 0:
        raise BarenetError("cannot evaluate on an empty data set")
    proba = predict_proba_batched(model, x, normalizer, batch_size)
    total = float(np.sum(loss.per_sample(proba, np.asarray(y)), dtype=np.float64))
    value = total / len(x) if loss.reduction == "mean" else total
    accuracy = count_correct(proba, y) / len(x)
    return (value, accuracy, proba) if return_proba else (value, accuracy)

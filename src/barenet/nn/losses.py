"""Loss functions with ``mean`` or ``sum`` reduction, their gradients, and the fused gradients.

Shapes: the network output ``p`` is (N, C). The target ``y`` is either integer class labels
(N,) or an array shaped like ``p`` (one-hot rows, or the 0/1 column of a one-unit binary net).
:func:`as_target` turns labels into the dense form when a loss needs it.

Per-sample losses ``l_i`` (summed over the C outputs of sample i):

========================  =================================================  ===============
name                      l_i                                                dl_i/dp
========================  =================================================  ===============
``squared_error``         1/2 * sum_k (p_ik - y_ik)^2                        p - y
``binary_cross_entropy``  -sum_k [y log p + (1 - y) log(1 - p)]             (p - y)/(p(1-p))
``cross_entropy``         -sum_k y_ik log p_ik   (= -log p_i,label)          -y / p
========================  =================================================  ===============

Reduction: ``sum`` gives L = sum_i l_i; ``mean`` gives L = (1/N) sum_i l_i (the average over
samples, not over every element).

Sample weights s_i >= 0 (``sample_weight``, shape (N,); none means every s_i = 1) weight each
sample's loss: ``sum`` gives L = sum_i s_i l_i and ``mean`` the weighted average
L = sum_i s_i l_i / S with S = sum_i s_i (as scikit-learn and PyTorch's class weights do), so
row i of every gradient below is multiplied by s_i (sum) or s_i / S (mean) instead of 1 or
1/N. Probabilities are clipped to at least eps inside every log (and to at most 1 - eps
inside BCE's log(1 - p)), so there is no log(0) anywhere; eps is 1e-7 in float32
and 1e-15 in float64, which caps one sample's loss at about 16 or 35 per output.

Label smoothing (``label_smoothing`` e in [0, 1), cross-entropy only) trains on the target
y' = (1 - e) y + e / C instead of y (C classes), so l_i = -sum_k y'_ik log p_ik and the fused
gradient below becomes p - y'; e = 0 is the plain loss.

Fused gradients. For the canonical pairs the gradient with respect to the output layer's
*pre-activation* z collapses to ``p - y``:

* sigmoid output + binary cross-entropy:  dl/dz = p - y
* softmax output + cross-entropy:         dl/dz = p - y

(row i times s_i / S under ``mean``, 1/N without weights). :meth:`Loss.fused_gradient`
computes it in one pass and the model then skips the output activation's backward: faster,
and exact even when p saturates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import BarenetError

Array = np.ndarray

LOSS_NAMES = ("squared_error", "binary_cross_entropy", "cross_entropy")
REDUCTIONS = ("mean", "sum")

#: The output activations each loss can train. The cross-entropies read the outputs as
#: probabilities: categorical cross-entropy needs one distribution over the classes (softmax),
#: binary cross-entropy a probability in (0, 1) per unit (sigmoid). Anything else trains to a
#: wrong answer: a sigmoid with cross_entropy drives every unit to 1 ("loss 0.0000"), an
#: identity output makes -log p negative. Squared error compares any output with its 0/1
#: target (E1 trains sigmoid + squared error).
OUTPUTS_FOR_LOSS = {
    "cross_entropy": ("softmax",),
    "binary_cross_entropy": ("sigmoid",),
    "squared_error": ("identity", "sigmoid", "tanh", "softmax", "relu", "leaky_relu"),
}
#: The loss that belongs to an output activation (squared error for all the others).
LOSS_FOR_OUTPUT = {"softmax": "cross_entropy", "sigmoid": "binary_cross_entropy"}
FUSED_PAIRS = set(LOSS_FOR_OUTPUT.items())
_NEEDS = {"cross_entropy": "a softmax output (one probability distribution over the classes)",
          "binary_cross_entropy": "a sigmoid output (a probability in (0, 1) per unit)"}


def check_pairing(output: str, loss: str, n_outputs: int | None = None) -> None:
    """Refuse an output activation and loss that cannot train right (:data:`OUTPUTS_FOR_LOSS`),
    naming the pairing that is meant; ``n_outputs`` (when known) rules out a one-unit softmax."""
    if loss not in OUTPUTS_FOR_LOSS:
        raise BarenetError(f"unknown loss {loss!r}; choose one of: {', '.join(LOSS_NAMES)}")
    one_unit = "sigmoid + binary_cross_entropy"
    if output == "softmax" and n_outputs is not None and n_outputs < 2:
        raise BarenetError(f"a softmax output needs at least 2 units; use {one_unit} for one output unit")
    if output in OUTPUTS_FOR_LOSS[loss]:
        return
    fits_loss = OUTPUTS_FOR_LOSS[loss][0]
    meant = [one_unit if fits_loss == "softmax" and n_outputs == 1 else f"{fits_loss} + {loss}",
             f"{output} + {LOSS_FOR_OUTPUT.get(output, 'squared_error')}"]
    raise BarenetError(f"output {output} with loss {loss} cannot train right: {loss} needs "
                       f"{_NEEDS[loss]}; use {' or '.join(dict.fromkeys(meant))}")


def _eps(dtype: np.dtype) -> float:
    """Clipping margin for probabilities: tiny, but representable next to 1 in ``dtype``."""
    return 1e-7 if np.dtype(dtype) == np.float32 else 1e-15


def as_target(y: Array, n_outputs: int, dtype: np.dtype | type = np.float32) -> Array:
    """Dense (N, n_outputs) target from integer labels (N,) or an already dense array.

    Labels become one-hot rows when ``n_outputs > 1`` and a 0/1 column when ``n_outputs == 1``.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == n_outputs:
        return y.astype(dtype, copy=False)
    if y.ndim == 1:
        if n_outputs == 1:
            return y.astype(dtype).reshape(-1, 1)
        labels = _labels(y, n_outputs)
        dense = np.zeros((labels.shape[0], n_outputs), dtype=dtype)
        dense[np.arange(labels.shape[0]), labels] = 1
        return dense
    raise BarenetError(
        f"targets must be labels of shape (N,) or an array of shape (N, {n_outputs}); "
        f"got shape {y.shape}"
    )


def one_hot(labels: Array, n_classes: int, dtype: np.dtype | type = np.float32) -> Array:
    """(N,) integer labels -> (N, n_classes) one-hot rows."""
    return as_target(np.asarray(labels).reshape(-1), max(n_classes, 2), dtype)


def _check_shapes(p: Array, y: Array) -> None:
    if y.shape != p.shape:
        raise BarenetError(
            f"target shape {y.shape} does not match network output shape {p.shape}"
        )


@dataclass(frozen=True)
class Loss:
    """A loss by name and reduction: ``value(p, y)``, ``gradient(p, y)``, ``fused_gradient``."""

    name: str
    reduction: str = "mean"
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in LOSS_NAMES:
            raise BarenetError(
                f"unknown loss {self.name!r}; choose one of: {', '.join(LOSS_NAMES)}"
            )
        if self.reduction not in REDUCTIONS:
            raise BarenetError(
                f"unknown reduction {self.reduction!r}; choose one of: {', '.join(REDUCTIONS)}"
            )
        if not 0 <= self.label_smoothing < 1:
            raise BarenetError(f"label smoothing must be a number in [0, 1); got {self.label_smoothing!r}")
        if self.label_smoothing and self.name != "cross_entropy":
            raise BarenetError(f"label smoothing needs the cross_entropy loss (softmax output); "
                               f"this run uses {self.name}")

    def _scale(self, n: int, sample_weight: Array | None = None,
               dtype: np.dtype | type = np.float64) -> float | Array:
        """The factor of row i of dL/dp: 1/N or 1 (a float) without weights; with weights an
        (N, 1) column s_i / S or s_i in ``dtype``."""
        if sample_weight is None:
            return 1.0 / n if self.reduction == "mean" else 1.0
        w = check_sample_weight(sample_weight, n)
        if self.reduction == "mean":
            w = w / w.sum()
        return w.astype(dtype, copy=False).reshape(-1, 1)

    def per_sample(self, p: Array, y: Array) -> Array:
        """The (N,) vector of per-sample losses l_i. ``y``: labels (N,) or dense like ``p``."""
        p = np.asarray(p)
        if (self.name == "cross_entropy" and np.asarray(y).ndim == 1 and p.shape[1] > 1
                and not self.label_smoothing):
            labels = _labels_for(p, y)
            picked = p[np.arange(p.shape[0]), labels]
            return -np.log(np.clip(picked, _eps(p.dtype), None))
        t = self._target(p, y)
        if self.name == "squared_error":
            d = p - t
            return 0.5 * np.einsum("ij,ij->i", d, d)
        eps = _eps(p.dtype)
        if self.name == "binary_cross_entropy":
            q = np.clip(p, eps, 1 - eps)
            return -np.sum(t * np.log(q) + (1 - t) * np.log1p(-q), axis=1)
        # Only the lower clip: -log p needs no upper one, and this keeps one-hot targets and
        # integer labels bit-identical even where p rounds to exactly 1.
        return -np.sum(t * np.log(np.clip(p, eps, None)), axis=1)

    def _target(self, p: Array, y: Array) -> Array:
        """Dense target shaped like ``p``; probability targets (the cross-entropies) in [0, 1]."""
        t = as_target(y, p.shape[1], p.dtype)
        _check_shapes(p, t)
        if self.name != "squared_error" and t.size:
            low, high = t.min(), t.max()
            if not (low >= 0 and high <= 1):
                raise BarenetError(
                    f"targets for {self.name} must lie in [0, 1] (class labels 0/1 for one "
                    f"output unit); got values from {low:g} to {high:g}"
                )
        if self.label_smoothing:
            e = self.label_smoothing
            t = (1 - e) * t + e / t.shape[1]
        return t

    def value(self, p: Array, y: Array, sample_weight: Array | None = None) -> float:
        """The reduced loss L (a Python float); optionally sample-weighted (module docstring)."""
        losses = self.per_sample(p, y)
        if sample_weight is not None:
            w = check_sample_weight(sample_weight, losses.shape[0])
            total = float(np.dot(w, losses.astype(np.float64)))
            return total / float(w.sum()) if self.reduction == "mean" else total
        total = float(np.sum(losses, dtype=np.float64))
        return total * self._scale(losses.shape[0])

    def gradient(self, p: Array, y: Array, sample_weight: Array | None = None) -> Array:
        """dL/dp, shaped like ``p``, with the reduction's 1/N (or s_i / S, or s_i) folded in."""
        p = np.asarray(p)
        t = self._target(p, y)
        scale = self._scale(p.shape[0], sample_weight, p.dtype)
        if self.name == "squared_error":
            return (p - t) * scale
        eps = _eps(p.dtype)
        q = np.clip(p, eps, 1 - eps)
        if self.name == "binary_cross_entropy":
            return (q - t) / (q * (1 - q)) * scale
        return -t / q * scale

    def is_fused_with(self, output_activation: str) -> bool:
        """True when (output activation, this loss) has the fused gradient p - y."""
        return (output_activation, self.name) in FUSED_PAIRS

    def fused_gradient(self, p: Array, y: Array, out: Array | None = None,
                       sample_weight: Array | None = None) -> Array:
        """dL/dz = (p - y) * scale for sigmoid+BCE and softmax+CE, z the output pre-activation.

        ``scale`` is 1/N (mean), 1 (sum), or per row s_i / S or s_i with ``sample_weight``.
        Integer labels are subtracted in place (``out[i, label_i] -= 1``) without building a
        one-hot matrix. ``out`` may be ``p`` itself, to overwrite it.
        """
        p = np.asarray(p)
        y = np.asarray(y)
        scale = self._scale(p.shape[0], sample_weight, p.dtype)  # validates before writing
        if out is None:
            out = np.empty_like(p)
        if y.ndim == 1 and p.shape[1] > 1 and not self.label_smoothing:
            if out is not p:
                np.copyto(out, p)
            out[np.arange(p.shape[0]), _labels_for(p, y)] -= 1
        else:
            np.subtract(p, self._target(p, y), out=out)
        if not isinstance(scale, float) or scale != 1.0:
            out *= scale
        return out


def check_sample_weight(sample_weight: Array, n: int) -> Array:
    """``sample_weight`` as float64 (n,): finite, non-negative, not all zero."""
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n,):
        raise BarenetError(f"sample_weight must have shape ({n},), one weight per sample; "
                           f"got shape {w.shape}")
    if not (np.all(np.isfinite(w)) and np.all(w >= 0) and w.sum() > 0):
        raise BarenetError("sample weights must be finite and non-negative, and not all zero")
    return w


def _labels(y: Array, n_classes: int) -> Array:
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.integer):
        if y.size and not np.all(np.equal(np.mod(y, 1), 0)):
            raise BarenetError("class labels must be whole numbers; got fractional values")
        y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise BarenetError(
            f"labels must lie in 0..{n_classes - 1} for a {n_classes}-output network; "
            f"got {y.min()}..{y.max()}"
        )
    return y


def _labels_for(p: Array, y: Array) -> Array:
    """Integer labels for the rows of ``p``: one per sample, each in 0..C-1."""
    if np.shape(y)[0] != p.shape[0]:
        raise BarenetError(
            f"got {np.shape(y)[0]} labels for {p.shape[0]} network outputs; "
            "give one label per sample"
        )
    return _labels(y, p.shape[1])


def get_loss(name: str | Loss, reduction: str = "mean", label_smoothing: float = 0.0) -> Loss:
    """A :class:`Loss` from its name (or pass one through unchanged)."""
    if isinstance(name, Loss):
        return name
    return Loss(name, reduction, label_smoothing)

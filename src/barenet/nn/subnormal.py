"""Keep subnormal floats out of training: they slow every operation down on many x86 CPUs.

A float below ``tiny = np.finfo(dtype).tiny`` (1.2e-38 in float32, 2.2e-308 in float64) but
not zero is *subnormal*. Intel CPUs take a microcode assist on every operation that reads or
writes one: ``u *= beta1; u += g`` over 203,530 float32 ran in 95 us with none, 239 us with 8 %
subnormal, 650 us with 30 % (issue 16, an Intel Xeon; AMD Zen is much less affected).

Where they come from (``benchmarks/subnormals.py`` counts them at every step; docs/performance.md):

1. Optimizer state that *decays*. An entry whose gradient is exactly zero for a while (the
   weight of a pixel not inked in the recent batches, a dead ReLU unit) is only multiplied,
   ``u <- beta u`` (Adam's first moment with beta1, its second with beta2, SGD's momentum
   buffer with the momentum), so it shrinks geometrically from its last real value through
   the whole subnormal range (150 steps at beta = 0.9 in float32) before it reaches zero. The
   default recipe on full MNIST holds 7,700 (5 %) subnormal first moments after two epochs.
   :func:`flush_decayed` zeroes, every :func:`flush_period` steps, each entry below
   ``threshold = tiny * HEADROOM``. An entry left above the threshold needs more than
   ``flush_period`` steps of decay alone (``beta ** period >= 1 / HEADROOM``) to fall below
   ``tiny``, so a decaying entry is never subnormal. The flush is three passes over the state
   every period (131 steps for beta = 0.9, 13,856 for beta2 = 0.999): under 0.5 % of Adam's
   time, where flushing both moments at every step would add two thirds to it.
2. Saturated units. A sigmoid of z < -87 (float32; -708 in float64) or a softmax entry 87
   below its row's maximum is subnormal, and so are products such as ``(p - t) p (1 - p)``
   of a saturated sigmoid output under squared error, and then every gradient below it
   (E1's recipe, whose uniform(-1, 1) weights saturate the output). :func:`flush_tiny`
   zeroes, below the same threshold, the sigmoid's and softmax's outputs and each
   activation's backward result ``dL/dz`` (one pass over an (N, units) array, small next
   to the layer's matrix products); ReLU and identity create no new values.

Weights never went subnormal in the runs measured; gradients and layer buffers only through 2.

Why the flushes cannot change a result beyond float32 rounding (the threshold is 1.2e-32 in
float32; float64 is the same argument with its own ``tiny``):

* a flushed Adam moment or gradient ``|u| < threshold`` changes Adam's step
  ``lr c1 u / (sqrt(s) + eps')`` by at most ``lr * threshold / eps`` (c1 <= 1, eps' = eps /
  sqrt(c2) >= eps), 1.2e-27 for lr = 1e-3 and the default eps = 1e-8; a flushed ``s`` changes
  the denominator by at most ``sqrt(threshold)`` = 1.1e-16, 1e-8 of eps, below float32's 6e-8;
  SGD's step ``lr b`` changes by at most ``lr * threshold``;
* a weight ``w`` absorbs a change below ``|w| * 2**-24`` in rounding, so only weights below
  about 2e-20 can differ at all, and such a weight moves any output by less than 1e-19 of
  an input: far below float32's resolution of the outputs;
* a probability flushed from below 1.2e-32 to 0 changes no loss (the logs clip it at 1e-7,
  1e-15 in float64) and nothing it is added to.

benchmarks/subnormals.py checks it: the same runs with and without the flushes agree (docs).
"""

from __future__ import annotations

import math

import numpy as np

Array = np.ndarray

HEADROOM = 2.0 ** 20
"""How far above ``tiny`` the flush threshold sits. Decaying state in (tiny, tiny * HEADROOM]
survives a flush and lasts ``flush_period`` steps before it could become subnormal; a flushed
activation output or gradient leaves room for the small factors it meets next (a derivative,
the 1/N of a mean reduction) before their product could be subnormal."""


def flush_period(decay: float) -> int:
    """Steps between flushes of state decayed by ``decay`` per step (0 < decay < 1): the most
    steps ``k`` with ``decay ** k >= 1 / HEADROOM``. A decay of 0 (no memory) needs no flush:
    returns 0."""
    if not 0.0 < decay < 1.0:
        return 0
    return max(1, math.floor(math.log(HEADROOM) / -math.log(decay)))


def flush_tiny(x: Array, scratch: Array | None = None) -> Array:
    """Zero, in place, the entries of ``x`` below ``tiny * HEADROOM`` in magnitude; returns ``x``.

    With ``scratch`` (a float buffer shaped like ``x``, overwritten) nothing is allocated:
    ``scratch = |x| >= threshold`` (1 or 0), then ``x *= scratch``.
    """
    threshold = np.finfo(x.dtype).tiny * HEADROOM
    if scratch is None:
        np.copyto(x, 0, where=np.abs(x) < threshold)
        return x
    np.abs(x, out=scratch)
    np.greater_equal(scratch, threshold, out=scratch)
    x *= scratch
    return x


def flush_decayed(state: Array, decay: float, t: int, scratch: Array) -> bool:
    """At every :func:`flush_period`-th step ``t``, :func:`flush_tiny` the optimizer state
    ``state`` that decays by ``decay`` per step, using ``scratch``. Returns whether it flushed."""
    period = flush_period(decay)
    if not period or t % period:
        return False
    flush_tiny(state, scratch)
    return True


def count_subnormal(x: Array) -> int:
    """How many entries of ``x`` are subnormal: nonzero and below ``np.finfo(dtype).tiny`` in
    magnitude (0 for arrays that are not floating point)."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        return 0
    return int(np.count_nonzero((np.abs(x) < np.finfo(x.dtype).tiny) & (x != 0)))


def subnormal_counts(model, optimizer) -> dict[str, int]:
    """Subnormal entries of everything a training step reads and writes, by kind: each kind of
    optimizer state (``u``, ``s``: Adam's moments; ``buffers``: SGD's momentum), the weights,
    the gradients, the layers' buffers (inputs, outputs, input gradients, dropout masks, noise)
    and the running statistics of batch normalization."""
    counts = {f"state {kind}": sum(count_subnormal(a) for a in getattr(optimizer, kind))
              for kind in optimizer.state_names}
    params = model.params()
    counts["weights"] = sum(count_subnormal(p.value) for p in params)
    counts["gradients"] = sum(count_subnormal(p.grad) for p in params)
    counts["activations"] = sum(count_subnormal(a) for layer in model.layers for a in layer.buffers())
    counts["statistics"] = sum(count_subnormal(a) for a in model.statistics().values())
    return counts

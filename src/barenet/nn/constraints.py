"""The max-norm constraint on each unit's incoming weights (Srivastava et al. 2014).

For a Dense layer with weights W (n_in, n_out), column j holds the incoming weights of unit j.
After each optimizer step every column is projected onto the ball of radius c::

    W[:, j] <- W[:, j] * min(1, c / ||W[:, j]||_2)

A column already inside (||W[:, j]|| <= c) is left exactly as it was; one outside keeps its
direction and gets norm c. Biases are not constrained.
"""

from __future__ import annotations

import numpy as np

from ..errors import BarenetError

__all__ = ["max_norm_"]


def max_norm_(weights: np.ndarray, c: float) -> np.ndarray:
    """Project the columns of ``weights`` (n_in, n_out) in place to L2 norms <= ``c`` (> 0);
    returns ``weights``."""
    if not (np.isfinite(c) and c > 0):
        raise BarenetError(f"the max-norm bound must be a finite number > 0; got {c!r}")
    norms = np.sqrt(np.einsum("ij,ij->j", weights, weights))  # (n_out,)
    outside = norms > c
    if np.any(outside):
        # one contiguous pass scaling every column by min(1, c / norm): a column inside is
        # multiplied by exactly 1 (unchanged, bit for bit). Selecting the outside columns
        # instead (weights[:, outside] *= ...) gathers and scatters them through a copy, which
        # made a 1024-unit layer's projection 13x slower once most of its units had reached c.
        scale = np.ones_like(norms)
        np.divide(c, norms, out=scale, where=outside)  # no division by a zero column's norm
        weights *= scale
    return weights

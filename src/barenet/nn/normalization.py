"""Batch normalization (Ioffe & Szegedy 2015): each unit's pre-activation scaled to zero mean
and unit variance over the batch, then scaled and shifted by two learned vectors.

``MLP(..., batch_norm=True)`` puts one after each hidden Dense layer, before its activation:
``Dense -> BatchNorm -> activation``. The Dense layer's own bias is then left at zero (the
normalization subtracts any constant; ``beta`` is the layer's bias).

Training, for a batch z (N, n) of one layer's pre-activations::

    mu    = (1/N) sum_i z_i                      (n,)    the batch mean of each unit
    var   = (1/N) sum_i (z_i - mu)^2             (n,)    its (biased) batch variance
    xhat  = (z - mu) / sqrt(var + eps)           (N, n)
    y     = gamma * xhat + beta                  (N, n)  gamma, beta (n,) are learned

and the running statistics that inference uses move towards the batch's::

    running_mean <- (1 - m) running_mean + m mu
    running_var  <- (1 - m) running_var  + m var N / (N - 1)     (the unbiased variance)

Inference (no batch needed, one sample gives the same answer alone or in a batch)::

    y = gamma * (z - running_mean) / sqrt(running_var + eps) + beta

Backward, given g = dL/dy (N, n); every z_i reaches the loss through xhat_i, mu and var::

    dL/dgamma = sum_i g_i * xhat_i                                            (n,)
    dL/dbeta  = sum_i g_i                                                     (n,)
    dL/dz     = gamma / sqrt(var + eps) * (g - dL/dbeta / N - xhat * dL/dgamma / N)   (N, n)

The constants follow PyTorch's ``BatchNorm1d`` (eps 1e-5, momentum 0.1), against which the
tests check the forward pass, the gradients and the running statistics in float64.
"""

from __future__ import annotations

import numpy as np

from .layers import Param, backward_before_forward, reuse_buffer
from .subnormal import flush_tiny

Array = np.ndarray

#: Added to the variance before the square root: keeps a unit that is constant over the
#: batch (var = 0) finite.
EPS = 1e-5
#: Weight of the newest batch in the running statistics.
MOMENTUM = 0.1


class BatchNorm:
    """Batch normalization of ``n`` units (see the module docstring for the formulas).

    ``gamma`` starts at 1 and ``beta`` at 0, so a new layer is a pure normalization;
    ``running_mean`` starts at 0 and ``running_var`` at 1. A training batch of one sample has
    no variance to normalize by: its output is ``beta`` and the running statistics are left as
    they are (the run's configuration refuses batch_size 1 with batch normalization).
    """

    PARAMS = (("gamma", "dgamma"), ("beta", "dbeta"))
    STATISTICS = ("running_mean", "running_var")

    def __init__(self, n: int, dtype: np.dtype | type = np.float32) -> None:
        dtype = np.dtype(dtype)
        self.n = int(n)
        self.gamma = np.ones(self.n, dtype=dtype)
        self.beta = np.zeros(self.n, dtype=dtype)
        self.dgamma = np.zeros_like(self.gamma)
        self.dbeta = np.zeros_like(self.beta)
        self.running_mean = np.zeros(self.n, dtype=dtype)
        self.running_var = np.ones(self.n, dtype=dtype)
        self._xhat: Array | None = None
        self._scratch: Array | None = None
        self._inv_std = np.ones(self.n, dtype=dtype)

    def forward(self, z: Array, training: bool = False) -> Array:
        """y (N, n), written over ``z`` (the Dense layer's output buffer)."""
        if not training:
            return self.infer(z)
        n_samples = z.shape[0]
        mu = z.mean(axis=0)
        xhat = self._xhat = reuse_buffer(self._xhat, z.shape, z.dtype)
        np.subtract(z, mu, out=xhat)
        var = np.einsum("ij,ij->j", xhat, xhat) / n_samples
        np.sqrt(var + EPS, out=self._inv_std)
        np.reciprocal(self._inv_std, out=self._inv_std)
        xhat *= self._inv_std
        if n_samples > 1:
            self.running_mean *= 1 - MOMENTUM
            self.running_mean += MOMENTUM * mu
            self.running_var *= 1 - MOMENTUM
            self.running_var += (MOMENTUM * n_samples / (n_samples - 1)) * var
            for statistic in (self.running_mean, self.running_var):  # a constant unit's decays
                flush_tiny(statistic)  # to zero, not through the subnormal range (nn.subnormal)
        np.multiply(xhat, self.gamma, out=z)
        z += self.beta
        return z

    def infer(self, z: Array) -> Array:
        """Inference with the running statistics, written over ``z``."""
        scale, shift = self.affine()
        z *= scale
        z += shift
        return z

    def affine(self) -> tuple[Array, Array]:
        """Inference as ``y = z * scale + shift``: scale = gamma / sqrt(running_var + eps),
        shift = beta - running_mean * scale, each (n,). Folding ``scale`` into the columns of
        the Dense layer before it and ``shift`` into its bias gives one plain Dense layer
        (:meth:`barenet.MLP.inference_affines`, what ONNX and the playground export)."""
        scale = self.gamma / np.sqrt(self.running_var + EPS)
        return scale, self.beta - self.running_mean * scale

    def backward(self, g: Array, need_input_grad: bool = True) -> Array:
        """dL/dz (N, n), written over ``g``; fills ``dgamma`` and ``dbeta``."""
        xhat = self._xhat
        if xhat is None:
            raise backward_before_forward()
        n_samples = g.shape[0]
        np.einsum("ij,ij->j", g, xhat, out=self.dgamma)
        np.sum(g, axis=0, out=self.dbeta)
        scratch = self._scratch = reuse_buffer(self._scratch, g.shape, g.dtype)
        np.multiply(xhat, self.dgamma / n_samples, out=scratch)
        g -= self.dbeta / n_samples
        g -= scratch
        g *= self.gamma * self._inv_std
        return g

    def params(self) -> list[Param]:
        return [Param("gamma", self.gamma, self.dgamma, False),
                Param("beta", self.beta, self.dbeta, False)]

    def statistics(self) -> dict[str, Array]:
        """The running statistics inference uses: state that is not trained by gradients."""
        return {name: getattr(self, name) for name in self.STATISTICS}

    def buffers(self) -> list[Array]:
        """The normalized batch kept for backward, and the scratch buffer backward uses."""
        return [a for a in (self._xhat, self._scratch) if a is not None]

    def describe(self) -> str:
        return f"BatchNorm({self.n})"

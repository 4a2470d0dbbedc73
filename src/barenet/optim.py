"""Optimizers: SGD (momentum, Nesterov, L2 weight decay), Adam and AdamW.

``step(params)`` updates each :class:`~barenet.layers.Param` in place from its ``grad``. The
learning rate is the attribute ``lr``; a schedule (see :mod:`barenet.schedules`) sets it before
each step. Weight decay applies to weights, not biases (``Param.decay``).

Updates, for parameter w with gradient g (PyTorch's conventions, so results agree with it):

SGD:       g' = g + lambda w                     (L2 weight decay, coupled)
           b  = mu b + g'                        (momentum buffer; b = g' on the first step)
           d  = g' + mu b  if nesterov else b
           w -= lr d
Adam:      g' = g + lambda w
           m = beta1 m + (1 - beta1) g',   v = beta2 v + (1 - beta2) g'^2
           w -= lr * m_hat / (sqrt(v_hat) + eps)
           m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)
AdamW:     w -= lr lambda w  (decoupled), then the Adam step with g' = g.

Adam keeps its moments pre-scaled, ``u = m / (1 - beta1)`` and ``s = v / (1 - beta2)``, so each
update is ``u = beta1 u + g`` and ``s = beta2 s + g^2``: the (1 - beta) factors fold into one
scalar of the final step, which saves two passes over every parameter per step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .errors import BarenetError
from .layers import Param

Array = np.ndarray
OPTIMIZER_NAMES = ("sgd", "adam", "adamw")


class Optimizer:
    """Base class: holds ``lr`` and per-parameter state, preallocated on the first step."""

    name = "optimizer"

    def __init__(self, lr: float) -> None:
        if not lr > 0:
            raise BarenetError(f"learning rate must be positive; got {lr}")
        self.lr = float(lr)
        self.t = 0
        self._tmp: list[Array] = []

    def _scratch(self, params: Sequence[Param]) -> list[Array]:
        if len(self._tmp) != len(params):
            self._tmp = [np.empty_like(p.value) for p in params]
        return self._tmp

    def step(self, params: Sequence[Param]) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Array]:
        """Arrays of the optimizer state (for checkpoints); ``t`` as a 0-d array."""
        return {"t": np.array(self.t), "lr": np.array(self.lr)}

    def load_state_dict(self, state: dict[str, Array]) -> None:
        self.t = int(state["t"])
        self.lr = float(state["lr"])


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2 decay."""

    name = "sgd"

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(lr)
        if not 0.0 <= momentum < 1.0:
            raise BarenetError(f"momentum must be in [0, 1); got {momentum}")
        if nesterov and momentum == 0:
            raise BarenetError("nesterov needs a momentum > 0 (e.g. --momentum 0.9)")
        if weight_decay < 0:
            raise BarenetError(f"weight decay must be >= 0; got {weight_decay}")
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay
        self.buffers: list[Array] = []

    def step(self, params: Sequence[Param]) -> None:
        self.t += 1
        tmp = self._scratch(params)
        if self.momentum and not self.buffers:
            self.buffers = [np.zeros_like(p.value) for p in params]
        mu = self.momentum
        for i, p in enumerate(params):
            g = p.grad
            if self.weight_decay and p.decay:
                g = p.grad + self.weight_decay * p.value
            direction = g
            if mu:
                b = self.buffers[i]
                if self.t == 1:
                    np.copyto(b, g)
                else:
                    b *= mu
                    b += g
                direction = b
                if self.nesterov:
                    direction = np.multiply(b, mu, out=tmp[i])
                    direction += g
            np.multiply(direction, self.lr, out=tmp[i])
            p.value -= tmp[i]

    def state_dict(self) -> dict[str, Array]:
        state = super().state_dict()
        state.update({f"buffer{i}": b for i, b in enumerate(self.buffers)})
        return state

    def load_state_dict(self, state: dict[str, Array]) -> None:
        super().load_state_dict(state)
        n = sum(1 for k in state if k.startswith("buffer"))
        self.buffers = [np.array(state[f"buffer{i}"]) for i in range(n)]


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with L2 weight decay, or decoupled decay when ``decoupled``."""

    name = "adam"

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0, decoupled: bool = False) -> None:
        super().__init__(lr)
        for label, beta in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= beta < 1.0:
                raise BarenetError(f"{label} must be in [0, 1); got {beta}")
        if weight_decay < 0:
            raise BarenetError(f"weight decay must be >= 0; got {weight_decay}")
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.weight_decay, self.decoupled = weight_decay, decoupled
        self.u: list[Array] = []  # m / (1 - beta1)
        self.s: list[Array] = []  # v / (1 - beta2)

    def step(self, params: Sequence[Param]) -> None:
        if not self.u:
            self.u = [np.zeros_like(p.value) for p in params]
            self.s = [np.zeros_like(p.value) for p in params]
        tmp = self._scratch(params)
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        # update = lr * m_hat / (sqrt(v_hat) + eps) with m_hat = u c1, v_hat = s c2:
        #        = step * u / (sqrt(s) + eps'),  step = lr c1 / sqrt(c2),  eps' = eps / sqrt(c2)
        c1 = (1 - b1) / (1 - b1 ** self.t)
        root_c2 = math.sqrt((1 - b2) / (1 - b2 ** self.t))
        step, eps = self.lr * c1 / root_c2, self.eps / root_c2
        for i, p in enumerate(params):
            u, s, t, g = self.u[i], self.s[i], tmp[i], p.grad
            if self.weight_decay and p.decay:
                if self.decoupled:
                    p.value *= 1 - self.lr * self.weight_decay
                else:
                    g = p.grad + self.weight_decay * p.value
            u *= b1
            u += g
            s *= b2
            np.multiply(g, g, out=t)
            s += t
            np.sqrt(s, out=t)
            t += eps
            np.divide(u, t, out=t)
            t *= step
            p.value -= t

    def state_dict(self) -> dict[str, Array]:
        state = super().state_dict()
        state.update({f"u{i}": a for i, a in enumerate(self.u)})
        state.update({f"s{i}": a for i, a in enumerate(self.s)})
        return state

    def load_state_dict(self, state: dict[str, Array]) -> None:
        super().load_state_dict(state)
        n = sum(1 for k in state if k.startswith("u"))
        self.u = [np.array(state[f"u{i}"]) for i in range(n)]
        self.s = [np.array(state[f"s{i}"]) for i in range(n)]


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019); default decay 0.01."""

    name = "adamw"

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.01) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay, decoupled=True)


def make_optimizer(name: str, lr: float, momentum: float = 0.0, nesterov: bool = False,
                   weight_decay: float | None = None, beta1: float = 0.9, beta2: float = 0.999,
                   eps: float = 1e-8) -> Optimizer:
    """An optimizer from its name (``sgd``, ``adam``, ``adamw``) and options.

    ``weight_decay=None`` takes the optimizer's default: 0 for sgd and adam, 0.01 for adamw.
    """
    if weight_decay is None:
        weight_decay = 0.01 if name == "adamw" else 0.0
    if name == "sgd":
        return SGD(lr, momentum, nesterov, weight_decay)
    if momentum or nesterov:
        raise BarenetError(f"--momentum and --nesterov apply to sgd only, not {name}")
    if name == "adam":
        return Adam(lr, beta1, beta2, eps, weight_decay)
    if name == "adamw":
        return AdamW(lr, beta1, beta2, eps, weight_decay)
    raise BarenetError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZER_NAMES)}")

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
           (``epsilon_on="v"``: w -= lr * m_hat / (sqrt(v) / sqrt(1 - beta2^t) + eps), eps
           added to sqrt(v) as in Kingma & Ba's efficient form, scikit-learn and TensorFlow)
AdamW:     w -= lr lambda w  (decoupled), then the Adam step with g' = g.

Adam keeps its moments pre-scaled, ``u = m / (1 - beta1)`` and ``s = v / (1 - beta2)``, so each
update is ``u = beta1 u + g`` and ``s = beta2 s + g^2``: the (1 - beta) factors fold into one
scalar of the final step, which saves two passes over every parameter per step.

When the parameters and gradients are each stored as one vector (as :class:`~barenet.MLP`
stores them, see :func:`barenet.layers.pack`), every operation above is one NumPy call over all
parameters at once; otherwise one per parameter array. The state (moments, momentum buffers) is
packed into one vector per kind either way, with one view per parameter for checkpoints.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from ..errors import BarenetError
from .layers import Param, pack, packed_vector
from .subnormal import flush_decayed

Array = np.ndarray
OPTIMIZER_NAMES = ("sgd", "adam", "adamw")


def check_learning_rate(lr: float) -> float:
    """``lr`` as a float: a finite number > 0 (an infinite one turns every weight to NaN)."""
    if isinstance(lr, bool) or not (isinstance(lr, numbers.Real) and math.isfinite(lr) and lr > 0):
        raise BarenetError(f"learning rate must be a finite number > 0; got {lr!r}")
    return float(lr)


def _check_non_negative(label: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise BarenetError(f"{label} must be a finite number >= 0; got {value}")


class Optimizer:
    """Base class: holds ``lr``, the step count ``t`` and the per-parameter state.

    Subclasses name their state (``state_names``) and write ``step(params)``, which updates
    each group from :meth:`_groups` (one array, or the whole packed parameter vector) in place.
    """

    name = "optimizer"
    state_names: tuple[str, ...] = ()

    def __init__(self, lr: float) -> None:
        self.lr = check_learning_rate(lr)
        self.t = 0
        self._vectors: dict[str, Array] = {}  # state kind -> packed vector (views in attributes)
        self._tmp: tuple[Array, list[Array]] | None = None
        self._decayed: tuple[Array, list[Array]] | None = None  # scratch for grad + lambda w
        self._packed_for: tuple[list[Array], Array, Array] | None = None

    def __getstate__(self) -> dict:
        """For copy and pickle (the scikit-learn estimator): the state without the scratch
        buffer and the packing cache, and with each kind of state as plain arrays, packed
        again by ``__setstate__`` (a pickled view does not stay a view)."""
        state = self.__dict__.copy()
        state.update(_tmp=None, _decayed=None, _packed_for=None, _vectors={})
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        for kind in self.state_names:
            if getattr(self, kind):
                self._set_state(kind, getattr(self, kind))

    # ----------------------------------------------------------------- state storage
    def _ensure_state(self, params: Sequence[Param]) -> None:
        """Zero state (and scratch) shaped like ``params``, unless it is already there."""
        shapes = [p.value.shape for p in params]
        dtype = params[0].value.dtype
        for kind in self.state_names:
            views = getattr(self, kind)
            if [v.shape for v in views] != shapes:
                self._set_state(kind, [np.zeros(shape, dtype) for shape in shapes])
            elif views[0].dtype != dtype:
                self._set_state(kind, [v.astype(dtype) for v in views])
        if self._tmp is None or [v.shape for v in self._tmp[1]] != shapes or self._tmp[0].dtype != dtype:
            self._tmp = pack([np.empty(shape, dtype) for shape in shapes])

    def _set_state(self, kind: str, arrays: Sequence[Array]) -> None:
        vector, views = pack(arrays)
        self._vectors[kind] = vector
        setattr(self, kind, views)

    def _packed(self, params: Sequence[Param]) -> tuple[Array, Array] | None:
        """(value vector, gradient vector) when ``params`` are stored packed, else None."""
        values = [p.value for p in params]
        cached = self._packed_for
        if cached is not None and len(cached[0]) == len(values) and all(
                a is b for a, b in zip(cached[0], values, strict=True)):
            return cached[1], cached[2]
        value_vector = packed_vector(values)
        grad_vector = packed_vector([p.grad for p in params])
        if value_vector is None or grad_vector is None:
            return None
        self._packed_for = (values, value_vector, grad_vector)
        return value_vector, grad_vector

    def _groups(self, params: Sequence[Param], coupled_decay: float = 0.0) -> list[tuple[Array, ...]]:
        """(value, grad, tmp, *state) to update: one group for packed parameters, else one per
        parameter. With L2 (coupled) weight decay the gradient of a decayed parameter is
        ``grad + coupled_decay * value``, in a scratch vector for packed parameters (a new array
        otherwise), so ``Param.grad`` stays the loss gradient."""
        self._ensure_state(params)
        assert self._tmp is not None
        packed = self._packed(params)
        if packed is not None:
            grad = self._decayed_gradient(params, coupled_decay) if coupled_decay else packed[1]
            return [(packed[0], grad, self._tmp[0], *(self._vectors[k] for k in self.state_names))]
        groups = []
        for i, p in enumerate(params):
            grad = p.grad + coupled_decay * p.value if coupled_decay and p.decay else p.grad
            groups.append((p.value, grad, self._tmp[1][i], *(getattr(self, k)[i] for k in self.state_names)))
        return groups

    def _decayed_gradient(self, params: Sequence[Param], decay: float) -> Array:
        """``grad + decay * value`` (decayed parameters) or ``grad`` (the rest), packed into one
        reused scratch vector."""
        shapes = [p.value.shape for p in params]
        if (self._decayed is None or [v.shape for v in self._decayed[1]] != shapes
                or self._decayed[0].dtype != params[0].value.dtype):
            self._decayed = pack([np.empty(shape, params[0].value.dtype) for shape in shapes])
        vector, views = self._decayed
        for p, view in zip(params, views, strict=True):
            if p.decay:
                np.multiply(p.value, decay, out=view)
                view += p.grad
            else:
                np.copyto(view, p.grad)
        return vector

    # ----------------------------------------------------------------- interface
    def step(self, params: Sequence[Param]) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Array]:
        """Arrays of the optimizer state (for checkpoints): ``t`` and ``lr`` as 0-d arrays, and
        per-parameter state named kind + index (``u0``, ``s0``, ``buffers1``...)."""
        state = {"t": np.array(self.t), "lr": np.array(self.lr)}
        for kind in self.state_names:
            state.update({f"{self._prefix(kind)}{i}": a for i, a in enumerate(getattr(self, kind))})
        return state

    def load_state_dict(self, state: dict[str, Array]) -> None:
        self.t = int(state["t"])
        self.lr = float(state["lr"])
        for kind in self.state_names:
            prefix = self._prefix(kind)
            n = sum(1 for k in state if k.startswith(prefix) and k[len(prefix):].isdigit())
            arrays = [np.asarray(state[f"{prefix}{i}"]) for i in range(n)]
            if arrays:
                self._set_state(kind, arrays)
            else:
                self._vectors.pop(kind, None)
                setattr(self, kind, [])

    @staticmethod
    def _prefix(kind: str) -> str:
        return "buffer" if kind == "buffers" else kind


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2 decay."""

    name = "sgd"

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(lr)
        if not 0.0 <= momentum < 1.0:
            raise BarenetError(f"momentum must be in [0, 1); got {momentum}")
        if nesterov and momentum == 0:
            raise BarenetError("nesterov needs a momentum > 0 (e.g. momentum=0.9)")
        _check_non_negative("weight decay", weight_decay)
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay
        self.state_names = ("buffers",) if momentum else ()
        self.buffers: list[Array] = []

    def step(self, params: Sequence[Param]) -> None:
        self.t += 1
        mu, lr = self.momentum, self.lr
        for value, g, tmp, *state in self._groups(params, self.weight_decay):
            direction = g
            if mu:
                (b,) = state
                if self.t == 1:
                    np.copyto(b, g)
                else:
                    b *= mu
                    b += g
                direction = b
                if self.nesterov:
                    direction = np.multiply(b, mu, out=tmp)
                    direction += g
            np.multiply(direction, lr, out=tmp)
            value -= tmp
            if mu:
                flush_decayed(state[0], mu, self.t, tmp)  # no subnormals (barenet.nn.subnormal)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with L2 weight decay, or decoupled decay when ``decoupled``.

    ``epsilon_on``: ``"v_hat"`` (PyTorch's, the default) adds eps to sqrt(v_hat); ``"v"`` adds
    it to sqrt(v) before the bias correction (scikit-learn's and TensorFlow's).
    """

    name = "adam"
    state_names = ("u", "s")

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0, decoupled: bool = False,
                 epsilon_on: str = "v_hat") -> None:
        super().__init__(lr)
        if epsilon_on not in ("v_hat", "v"):
            raise BarenetError(f"epsilon_on must be 'v_hat' or 'v'; got {epsilon_on!r}")
        self.epsilon_on = epsilon_on
        for label, beta in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= beta < 1.0:
                raise BarenetError(f"{label} must be in [0, 1); got {beta}")
        _check_non_negative("weight decay", weight_decay)
        _check_non_negative("eps", eps)  # a negative one can zero the denominator
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.weight_decay, self.decoupled = weight_decay, decoupled
        self.u: list[Array] = []  # m / (1 - beta1), one per parameter
        self.s: list[Array] = []  # v / (1 - beta2)

    def step(self, params: Sequence[Param]) -> None:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        # update = lr * m_hat / (sqrt(v_hat) + eps) with m_hat = u c1, v_hat = s c2:
        #        = step * u / (sqrt(s) + eps'),  step = lr c1 / sqrt(c2),  eps' = eps / sqrt(c2)
        # (epsilon_on="v": eps + sqrt(v) = sqrt(1 - b2) (sqrt(s) + eps / sqrt(1 - b2)))
        c1 = (1 - b1) / (1 - b1 ** self.t)
        root_c2 = math.sqrt((1 - b2) / (1 - b2 ** self.t))
        eps_scale = root_c2 if getattr(self, "epsilon_on", "v_hat") == "v_hat" else math.sqrt(1 - b2)
        step, eps = self.lr * c1 / root_c2, self.eps / eps_scale
        if self.weight_decay and self.decoupled:
            for p in params:
                if p.decay:
                    p.value *= 1 - self.lr * self.weight_decay
        coupled = 0.0 if self.decoupled else self.weight_decay
        for value, g, t, u, s in self._groups(params, coupled):
            u *= b1
            u += g
            s *= b2
            np.multiply(g, g, out=t)
            s += t
            np.sqrt(s, out=t)
            t += eps
            np.divide(u, t, out=t)
            t *= step
            value -= t
            flush_decayed(u, b1, self.t, t)  # no subnormals (barenet.nn.subnormal)
            flush_decayed(s, b2, self.t, t)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019); default decay 0.01."""

    name = "adamw"

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.01) -> None:
        super().__init__(lr, beta1, beta2, eps, weight_decay, decoupled=True)


def make_optimizer(name: str, lr: float | None = None, momentum: float = 0.0,
                   nesterov: bool = False, weight_decay: float | None = None, beta1: float = 0.9,
                   beta2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    """An optimizer from its name (``sgd``, ``adam``, ``adamw``) and options.

    ``lr=None`` and ``weight_decay=None`` take the optimizer's own defaults (its constructor's:
    lr 0.01 for sgd and 0.001 for adam and adamw; decay 0 for sgd and adam, 0.01 for adamw).
    """
    options: dict = {} if lr is None else {"lr": lr}
    if weight_decay is not None:
        options["weight_decay"] = weight_decay
    if name == "sgd":
        return SGD(momentum=momentum, nesterov=nesterov, **options)
    if momentum or nesterov:
        raise BarenetError(f"momentum and nesterov apply to sgd only, not {name}")
    if name in ("adam", "adamw"):
        return (Adam if name == "adam" else AdamW)(beta1=beta1, beta2=beta2, eps=eps, **options)
    raise BarenetError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZER_NAMES)}")

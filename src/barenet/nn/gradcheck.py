"""Numerical gradient checking by central differences, in float64.

For every checked parameter entry w, the fourth-order central difference

    numeric  = (-L(w + 2h) + 8 L(w + h) - 8 L(w - h) + L(w - 2h)) / (12 h),   h = 1e-4

has truncation error O(h^4) ~ 1e-16 and round-off ~ eps |L| / h ~ 1e-12, so it resolves a
relative error of 1e-6 wherever the gradient is not tiny. The error reported per entry is

    relative = |numeric - analytic| / max(|numeric| + |analytic|, floor),   floor = 1e-4

so entries whose gradient is below ~1e-4 in size (where round-off would dominate a pure
relative error) are compared in absolute terms instead. ReLU-family units are not
differentiable at exactly z = 0: check them on data where no pre-activation sits within 2h of
0 (nonzero biases help: a sample whose inputs to a layer are all zero has z = b).

The model is copied to float64 first (the original is untouched), dropout masks are frozen
(and so is Gaussian noise) so that every evaluation of L sees the same network, and the loss is
evaluated in training mode (batch normalization with the batch's own statistics). The check
returns the largest relative error per parameter tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .layers import Dropout, StochasticLayer
from .losses import Loss, get_loss
from .model import MLP

Array = np.ndarray


@dataclass(frozen=True)
class GradcheckResult:
    """Largest relative error per parameter tensor, and how many entries were checked."""

    errors: dict[str, float]
    checked: dict[str, int]

    @property
    def max_error(self) -> float:
        return max(self.errors.values()) if self.errors else 0.0

    def passed(self, tolerance: float = 1e-6) -> bool:
        return self.max_error <= tolerance


def _relative_error(numeric: Array, analytic: Array, floor: float = 1e-4) -> Array:
    denominator = np.maximum(np.abs(numeric) + np.abs(analytic), floor)
    return np.abs(numeric - analytic) / denominator


def gradcheck(
    model: MLP, loss: Loss | str, x: Array, y: Array, *, h: float = 1e-4,
    max_entries: int | None = 200, seed: int = 0, dropout: bool = True,
) -> GradcheckResult:
    """Compare backprop's gradients with central differences for every parameter tensor.

    ``max_entries`` caps the entries checked per tensor (a seeded random sample; ``None``
    checks every entry). ``dropout=False`` checks the network with dropout switched off;
    ``True`` keeps dropout on with frozen masks, so backward through the masks is checked too.
    """
    loss = get_loss(loss)
    net = model.astype(np.float64)
    x = np.asarray(x, dtype=np.float64)
    for layer in net.layers:
        if isinstance(layer, StochasticLayer):
            layer.freeze(True)
        if isinstance(layer, Dropout) and not dropout:
            layer.rate = 0.0

    def loss_value() -> float:
        return loss.value(net.forward(x, training=True, copy=False), y)

    net.loss_and_gradients(x, y, loss)
    analytic = {p.name: p.grad.copy() for p in net.params()}
    rng = np.random.default_rng(seed)
    errors: dict[str, float] = {}
    checked: dict[str, int] = {}
    for p in net.params():
        flat = p.value.reshape(-1)
        n = flat.size
        idx = np.arange(n) if max_entries is None or n <= max_entries else rng.choice(
            n, size=max_entries, replace=False)
        numeric = np.empty(idx.size)
        for k, i in enumerate(idx):
            old = flat[i]
            values = []
            for step in (2 * h, h, -h, -2 * h):
                flat[i] = old + step
                values.append(loss_value())
            flat[i] = old
            numeric[k] = (-values[0] + 8 * values[1] - 8 * values[2] + values[3]) / (12 * h)
        errors[p.name] = float(_relative_error(numeric, analytic[p.name].reshape(-1)[idx]).max())
        checked[p.name] = int(idx.size)
    return GradcheckResult(errors, checked)


HIDDEN_ACTIVATIONS = ("sigmoid", "relu", "leaky_relu", "tanh", "identity")
OUTPUT_LOSS_PAIRS = (
    ("softmax", "cross_entropy"),
    ("sigmoid", "binary_cross_entropy"),
    ("sigmoid", "squared_error"),
    ("softmax", "squared_error"),
    ("identity", "squared_error"),
    ("tanh", "squared_error"),
)


def gradcheck_matrix(hidden_sizes: list[int] | tuple[int, ...] = (5, 4), n_inputs: int = 6,
                     n_outputs: int = 3, n_samples: int = 8, seed: int = 0) -> list[dict]:
    """Check every hidden activation x output/loss pair x reduction x dropout setting.

    Each network is small ([n_inputs, *hidden_sizes, n_outputs]) with biases 0.1, so no ReLU
    pre-activation sits at its kink; dropout 0.25 is checked with frozen masks ("on") and
    switched off at check time ("off"). Returns one dict per network with its max error.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_samples, n_inputs))
    labels = rng.integers(0, n_outputs, size=n_samples)
    rows = []
    for hidden in HIDDEN_ACTIVATIONS:
        for output, loss_name in OUTPUT_LOSS_PAIRS:
            for reduction in ("mean", "sum"):
                for dropout_at_check in (True, False):
                    model = MLP([n_inputs, *hidden_sizes, n_outputs], hidden=hidden, output=output,
                                init="xavier_normal", bias_init=0.1, dropout=0.25, dtype="float64",
                                seed=seed)
                    result = gradcheck(model, Loss(loss_name, reduction), x, labels,
                                       dropout=dropout_at_check, seed=seed)
                    rows.append({"hidden": hidden, "output": output, "loss": loss_name,
                                 "reduction": reduction,
                                 "dropout": "on (frozen)" if dropout_at_check else "off",
                                 "max_error": result.max_error, "errors": result.errors})
    return rows

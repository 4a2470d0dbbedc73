"""What the diagnosis measures: the thresholds (declared once), the baselines a loss and an
accuracy are compared with, the run's resolved recipe, and the table of failure modes.

Baselines for C classes with label frequencies ``f_k``:

* the *uniform guess* predicts ``1/C`` for every class: its cross-entropy is ``log C``
  (``log 2`` for a one-unit sigmoid), the loss of a freshly initialized network;
* the *prior* predicts the label frequencies ``f``: its cross-entropy is the entropy
  ``H(f) = -sum_k f_k log f_k`` (equal to ``log C`` for balanced classes), the best loss
  possible without looking at the input;
* *chance accuracy* is the share of the majority class, ``max_k f_k``: what always predicting
  that class scores.

The losses are computed with the run's own :class:`~barenet.nn.losses.Loss` on constant
predictions, so squared error gets its own baselines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ..nn.losses import Loss


@dataclass(frozen=True)
class Thresholds:
    """Every number the diagnosis compares a signal with (see docs/inspection.md)."""

    unscaled_max: float = 10.0          #: |input| above this: unscaled input
    tiny_grad: float = 1e-3             #: hidden-layer mean ||dW|| below this: vanished
    exploding_grad: float = 100.0       #: any layer's mean ||dW|| per sample above this: exploded
    dead_fraction: float = 0.5          #: share of ReLU units zero for every sample
    tiny_activation: float = 1e-2       #: rms of a ReLU layer's outputs below this: near zero
    saturated_fraction: float = 0.5     #: share of sigmoid/tanh outputs at their limits
    tiny_init_std: float = 1e-3         #: weight std below this: a tiny initialization
    loss_spike: float = 3.0             #: a batch loss this many times the first: a spike
    loss_above_uniform: float = 1.25    #: first-epoch loss this many times the uniform guess
    loss_rise: float = 1.2              #: last epoch's loss this many times the lowest: rising
    tiny_update: float = 1e-4           #: largest ||dW_epoch|| / ||W|| below this: lr too small
    loss_floor: float = 0.02            #: loss per sample below this share of the uniform guess
    overfit_rise: float = 0.10          #: val loss this share above its minimum, train falling
    one_class_share: float = 0.9        #: share of predictions in one class
    well_above_chance: float = 0.3      #: healthy: accuracy this share of the way chance -> 1
    prior_band: float = 0.05            #: loss within this share of the prior loss: stuck


LIMITS = Thresholds()


@dataclass(frozen=True)
class Mode:
    """One failure mode: its finding ``code``, the signal measured and the threshold."""

    code: str
    signal: str
    threshold: str


def _t(name: str) -> Any:
    return getattr(LIMITS, name)


MODES: tuple[Mode, ...] = (
    Mode("diverged", "non-finite loss or weights; metrics.json `\"diverged\": true`", "any NaN / inf"),
    Mode("lr_too_large", "per-batch loss against the first batch; first-epoch loss against the "
         "uniform guess; rising or oscillating epoch loss",
         f"batch loss > {_t('loss_spike'):g} x first; epoch-1 loss > {_t('loss_above_uniform'):g} x "
         f"uniform; last > {_t('loss_rise'):g} x lowest"),
    Mode("lr_too_small", "largest per-epoch ‖ΔW‖ / ‖W‖ with healthy gradients",
         f"< {_t('tiny_update'):g} while hidden ‖dW‖ >= {_t('tiny_grad'):g}"),
    Mode("vanishing_gradients", "hidden layers' mean ‖dW‖ (last epoch)",
         f"< {_t('tiny_grad'):g} with accuracy not well above chance"),
    Mode("exploding_gradients", "any layer's mean ‖dW‖ per sample",
         f"> {_t('exploding_grad'):g}"),
    Mode("dead_relu", "share of ReLU units zero for every sample; activation rms",
         f"> {_t('dead_fraction'):.0%} dead or rms < {_t('tiny_activation'):g}"),
    Mode("saturated_units", "share of sigmoid outputs within 0.01 of 0/1, tanh within 0.02 of ±1",
         f"> {_t('saturated_fraction'):.0%}"),
    Mode("unscaled_input", "largest absolute input value the network sees", f"> {_t('unscaled_max'):g}"),
    Mode("loss_output_mismatch", "loss per sample against the uniform guess, with accuracy",
         f"loss < {_t('loss_floor'):g} x uniform (or < 0) and accuracy not well above chance"),
    Mode("stuck_at_prior", "loss per sample against the prior loss H(f), with accuracy",
         f"within {_t('prior_band'):.0%} of H(f), accuracy not well above chance"),
    Mode("overfitting", "validation loss against its minimum while the training loss falls",
         f"val loss > (1 + {_t('overfit_rise'):g}) x its minimum"),
    Mode("one_class", "share of the sample's predictions in the most predicted class",
         f"> {_t('one_class_share'):.0%} (and above that class's true share)"),
    Mode("low_accuracy", "best accuracy against chance (majority-class share)",
         f"below chance + {_t('well_above_chance'):g} x (1 - chance)"),
)


def mode_table() -> str:
    """The Markdown table of :data:`MODES` (docs/inspection.md holds a copy; a test checks it)."""
    rows = ["| code | signal measured | threshold |", "|---|---|---|"]
    rows += [f"| `{m.code}` | {m.signal} | {m.threshold} |" for m in MODES]
    return "\n".join(rows)


def threshold_names() -> list[str]:
    return [f.name for f in fields(Thresholds)]


# ----------------------------------------------------------------------------- baselines
@dataclass(frozen=True)
class Baselines:
    """Losses and accuracy a model reaches without learning anything from the input."""

    n_classes: int
    uniform_loss: float    #: loss of predicting 1/C for every class (log C for cross-entropy)
    prior_loss: float      #: loss of predicting the label frequencies (entropy for CE)
    chance_accuracy: float  #: share of the majority class
    majority_class: int

    @property
    def healthy_accuracy(self) -> float:
        """The accuracy a healthy run must reach: chance + well_above_chance x (1 - chance)."""
        return self.chance_accuracy + LIMITS.well_above_chance * (1 - self.chance_accuracy)

    def well_above_chance(self, accuracy: float | None) -> bool:
        return accuracy is not None and accuracy >= self.healthy_accuracy


def baselines(n_classes: int, y: np.ndarray | None = None, loss: str = "cross_entropy",
              one_unit: bool | None = None) -> Baselines:
    """:class:`Baselines` for ``n_classes`` (labels ``y`` give the frequencies; balanced
    without). ``one_unit``: a sigmoid with one output for two classes (default: the loss is
    binary cross-entropy)."""
    c = max(2, int(n_classes))
    if y is not None and len(y):
        freq = np.bincount(np.asarray(y, dtype=np.int64).reshape(-1), minlength=c)[:c].astype(np.float64)
        freq /= freq.sum()
    else:
        freq = np.full(c, 1.0 / c)
    one_unit = (loss == "binary_cross_entropy" and c == 2) if one_unit is None else one_unit
    labels = np.arange(c)
    weights = freq

    def constant_loss(p_row: np.ndarray) -> float:
        p = np.repeat(p_row[None, :], c, axis=0)
        if one_unit:
            p = p[:, 1:2]
        per = Loss(loss, "mean").per_sample(p.astype(np.float64), labels)
        return float(np.dot(weights, per))

    uniform = constant_loss(np.full(c, 1.0 / c))
    prior = constant_loss(np.clip(freq, 1e-12, 1.0))
    return Baselines(c, uniform, prior, float(freq.max()), int(np.argmax(freq)))


# ----------------------------------------------------------------------------- recipe
def resolved_init(init: str, activation: str) -> str:
    """``auto`` as the initializer it stands for (He for ReLU-family layers, Xavier otherwise)."""
    if str(init).lower() != "auto":
        return str(init)
    return "he_normal" if activation in ("relu", "leaky_relu") else "xavier_uniform"


@dataclass
class Recipe:
    """The resolved settings of a run that a fix may refer to; None where unknown (a model
    trained from the library with no configuration at hand)."""

    optimizer: str | None = None
    lr: float | None = None
    reduction: str = "mean"
    batch_size: int | str | None = None
    hidden: str | None = None
    output: str | None = None
    loss: str | None = None
    init: str | None = None
    normalize: str | None = None
    epochs: int | None = None
    schedule: str | None = None
    dropout: float | None = None
    weight_decay: float | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any], model: Any = None, loss: str | None = None) -> Recipe:
        hidden = config.get("hidden") or (model.hidden[0] if model is not None and model.hidden else None)
        init = config.get("init")
        if init is not None and hidden:
            init = resolved_init(init, hidden)
        output = config.get("output")
        if model is not None and output in (None, "auto"):
            output = model.output
        loss = loss or (config.get("loss") if config.get("loss") != "auto" else None)
        return cls(config.get("optimizer"), config.get("lr"), config.get("reduction") or "mean",
                   config.get("batch_size"), hidden, output, loss, init, config.get("normalize"),
                   config.get("epochs"), config.get("schedule"), config.get("dropout"),
                   config.get("weight_decay"))

    @classmethod
    def from_trainer(cls, trainer: Any) -> Recipe:
        model = trainer.model
        hidden = model.hidden[0] if model.hidden else None
        init = resolved_init(model.inits[0], hidden or model.output)
        normalizer = getattr(trainer, "normalizer", None)
        return cls(getattr(trainer.optimizer, "name", None), float(trainer.base_lr), trainer.loss.reduction,
                   trainer.batch_size, hidden, model.output, trainer.loss.name, init,
                   getattr(normalizer, "method", None), trainer.epochs,
                   getattr(trainer.schedule, "spec", None))

    def flag(self, name: str) -> str:
        """``--name VALUE`` of this run, or ``--name`` when the value is unknown."""
        value = getattr(self, name)
        return f"--{name.replace('_', '-')} {value:g}" if isinstance(value, float) else (
            f"--{name.replace('_', '-')} {value}" if value is not None else f"--{name.replace('_', '-')}")


def relative_updates(history_epochs: list[dict[str, Any]], weight_norms: list[float]) -> list[float]:
    """Per Dense layer, the largest ``||W_end - W_start||`` of any epoch divided by ``||W||``
    (the final weights' norm)."""
    changes = [r.get("weight_change") or [] for r in history_epochs]
    out = []
    for i, norm in enumerate(weight_norms):
        values = [c[i] for c in changes if i < len(c) and c[i] is not None and math.isfinite(c[i])]
        out.append(max(values) / norm if values and norm > 0 else math.nan)
    return out


if __name__ == "__main__":  # python -m barenet.inspect.signals: the table for docs/inspection.md
    print(mode_table())

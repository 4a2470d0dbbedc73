"""The fixes a finding proposes, computed from the run's resolved :class:`Recipe`: a fix names
the run's own settings (``--lr 10 -> 1``), never an initializer or optimizer the run did not
use. Where a setting is unknown (a model trained from the library), the fix says what to
change without inventing the current value."""

from __future__ import annotations

from .signals import Recipe

#: A usual starting learning rate per optimizer.
TYPICAL_LR = {"adam": 0.001, "adamw": 0.001, "sgd": 0.1}


def lower_lr(recipe: Recipe, factor: float = 10.0) -> str:
    """Lower the learning rate ``factor`` times (and the sum reduction, which scales steps)."""
    if recipe.lr is not None:
        text = f"lower the learning rate: --lr {recipe.lr:g} -> {recipe.lr / factor:.3g}"
    else:
        text = f"lower the learning rate {factor:g} times"
    if recipe.optimizer:
        text += f" ({recipe.optimizer})"
    if recipe.reduction == "sum":
        size = recipe.batch_size
        text += (f"; or --reduction mean: the run sums the loss over batches of {size}, which makes "
                 f"every step {size} times larger" if isinstance(size, int)
                 else "; or --reduction mean: the summed loss makes every step batch-size times larger")
    return text


def raise_lr(recipe: Recipe) -> str:
    typical = TYPICAL_LR.get(recipe.optimizer or "")
    if recipe.lr is not None and typical is not None and typical > recipe.lr:
        return (f"raise the learning rate: --lr {recipe.lr:g} -> {typical:g} (a usual start for "
                f"{recipe.optimizer})")
    if recipe.lr is not None:
        return f"raise the learning rate: --lr {recipe.lr:g} -> {recipe.lr * 1000:g}"
    return "raise the learning rate (e.g. 1000 times)"


def suited_init(hidden: str | None) -> str:
    return "he_normal" if (hidden or "relu") in ("relu", "leaky_relu") else "xavier_uniform"


def init_suits(recipe: Recipe) -> bool:
    """The run used the initializer ``auto`` picks for its hidden activation."""
    return recipe.init == suited_init(recipe.hidden)


def better_init(recipe: Recipe, std: float | None = None) -> str:
    """Use the initializer ``auto`` picks for the run's hidden activation, naming the run's own."""
    hidden = recipe.hidden or "relu"
    good = suited_init(hidden)
    used = f"--init {recipe.init}" if recipe.init else "the initialization"
    scale = f" (weight std {std:.2g})" if std is not None else ""
    if recipe.init == good:
        return f"{used}{scale} already suits {hidden}; look at the learning rate and input scaling"
    return f"replace {used}{scale} with --init {good} (what --init auto picks for {hidden} layers)"


def scale_input(recipe: Recipe) -> str:
    used = f" instead of --normalize {recipe.normalize}" if recipe.normalize else ""
    return f"scale the inputs with --normalize 255 (pixels to [0, 1]) or --normalize standardize{used}"


def matching_head(recipe: Recipe, n_classes: int) -> str:
    used = (f"the run pairs a {recipe.output} output with {recipe.loss}"
            if recipe.output and recipe.loss else "the output activation and the loss do not match")
    two = " (or --output sigmoid --loss binary_cross_entropy for two classes)" if n_classes == 2 else ""
    return (f"{used}, a loss that reaches 0 without the right class winning; use --output softmax "
            f"--loss cross_entropy{two}")


def regularize(recipe: Recipe, best_epoch: int) -> str:
    parts = [f"stop near epoch {best_epoch} (--epochs {best_epoch}, or --early-stopping 2)"]
    if not recipe.dropout:
        parts.append("add --dropout 0.2")
    if not recipe.weight_decay:
        parts.append("add --optimizer adamw (weight decay)" if recipe.optimizer == "adam"
                     else "add --weight-decay 0.0001")
    parts.append("or train on more samples")
    return ", ".join(parts)


def train_longer(recipe: Recipe) -> str:
    if recipe.epochs:
        return f"train longer (--epochs {recipe.epochs} -> {2 * recipe.epochs}) or raise the learning rate"
    return "train longer or raise the learning rate"


def other_activation(recipe: Recipe) -> str:
    if recipe.hidden in ("sigmoid", "tanh"):
        return f"or replace --hidden {recipe.hidden} with --hidden relu and --init he_normal"
    return ""


def revive_relu(recipe: Recipe) -> str:
    extra = "" if recipe.hidden == "leaky_relu" else ", or --hidden leaky_relu, whose units cannot die"
    return lower_lr(recipe) + extra

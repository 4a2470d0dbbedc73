"""The training configuration: every option of ``barenet train``, one dataclass.

The command line, ``--config FILE.toml`` and the resolved ``config.toml`` written into every
run directory all go through :class:`TrainConfig`, so that

    barenet train --config runs/RUN/config.toml

reproduces a run bit for bit. Flags override values read from a file. The fields, their
defaults and their checks come from the option table, :mod:`barenet.run.options`; TOML is
read with :mod:`tomllib` and written with ``tomli_w``.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import field
from pathlib import Path
from typing import Any

import tomli_w

from ..data.loader import DATASETS
from ..errors import BarenetError
from ..files.atomic import write_text
from ..nn.losses import LOSS_FOR_OUTPUT, OUTPUTS_FOR_LOSS, check_pairing
from ..nn.schedules import get_schedule
from .options import OPTIONS, unknown_options

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib



class _TrainConfigMethods:
    """What :class:`TrainConfig` does; its fields come from :data:`~barenet.run.options.OPTIONS`."""

    def validate(self) -> TrainConfig:
        """Check every value (:meth:`Option.check`: type, range, names, specs) and the options
        that depend on each other; raise a BarenetError naming the option and what it accepts.
        Numbers are converted to the option's type (an int to a float, a TOML number to text)."""
        for name, opt in OPTIONS.items():
            setattr(self, name, opt.check(getattr(self, name)))
        if self.early_stopping is not None and self.val_fraction == 0:
            raise BarenetError("--early-stopping needs a validation split; set --val-fraction, e.g. 0.1")
        if self.batch_norm and self.batch_size == 1:
            raise BarenetError("--batch-norm needs at least 2 samples per batch to normalize over; "
                               "set --batch-size 2 or more, or drop --batch-norm")
        resolve_head(self, 2 if self.digits is not None else None)  # refuses a wrong output/loss
        get_schedule(self.schedule).check(self.lr, self.epochs)
        return self  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def to_toml(self) -> str:
        """TOML text of every option (None values are written as comments: TOML has no null)."""
        lines = ["# barenet training configuration (fully resolved)",
                 "# reproduce with: barenet train --config config.toml", ""]
        for name in OPTIONS:
            value = getattr(self, name)
            lines.append(f"# {name} = (not set)\n" if value is None else tomli_w.dumps({name: value}))
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)

    def save(self, path: str | Path) -> None:
        write_text(path, self.to_toml())


TrainConfig = dataclasses.make_dataclass(
    "TrainConfig",
    [(o.name, o.annotation, field(default_factory=lambda d=o.default: list(d)) if isinstance(o.default, list)
      else field(default=o.default)) for o in OPTIONS.values()],
    bases=(_TrainConfigMethods,),
    namespace={"__module__": __name__, "__doc__": """Every option of a training run, with barenet's
    default recipe as the defaults: one field per option of :data:`barenet.run.options.OPTIONS`
    (``barenet train --help`` lists them with what each accepts).

    ``output``, ``loss`` and ``init`` may be ``"auto"``: softmax + cross-entropy for several
    classes, one sigmoid unit + binary cross-entropy for a digit pair (an explicit loss picks
    the output that fits it); He init for ReLU layers, Xavier otherwise. ``batch_size`` is a
    positive integer or ``"full"``. ``shift`` > 0 moves each training image by a random
    (dy, dx) in [-shift, shift]^2 pixels, drawn anew every epoch
    (:class:`barenet.augment.RandomShift`; it must be smaller than the image side), the same
    as ``augment = "shift(N)"``; ``augment`` is the whole augmentation spec
    (:mod:`barenet.data.augment_spec`). ``threads``
    is the BLAS thread count, or ``"auto"`` to measure the fastest at the start of a run
    (:mod:`barenet.threads`); the run's config.toml records the number used.
    """},
)

FIELD_NAMES = set(OPTIONS)
__all__ = ["DATASETS", "FIELD_NAMES", "TrainConfig", "make_config", "read_toml", "resolve_head"]


def resolve_head(config: Any, n_classes: int | None) -> tuple[str, str, int]:
    """(output activation, loss name, output units) with ``auto`` resolved, checked by
    :func:`barenet.nn.losses.check_pairing` (``n_classes`` None: not known yet).

    An ``auto`` output fits the loss (softmax for cross_entropy, sigmoid for
    binary_cross_entropy); with an ``auto`` loss too it is one sigmoid unit for two classes and
    a softmax otherwise. An ``auto`` loss fits the output. Two classes with an output other
    than softmax use one unit (p = P(second class)); otherwise one unit per class.
    """
    output, loss = config.output, config.loss
    if output == "auto":
        fitting = {loss_name: outputs[0] for loss_name, outputs in OUTPUTS_FOR_LOSS.items()
                   if loss_name != "squared_error"}
        output = fitting.get(loss, "sigmoid" if n_classes == 2 else "softmax")
    if loss == "auto":
        loss = LOSS_FOR_OUTPUT.get(output, "squared_error")
    units = n_classes or 0
    if n_classes == 2 and output != "softmax":
        units = 1
    check_pairing(output, loss, units or None)
    return output, loss, units


def read_toml(path: str | Path) -> dict[str, Any]:
    """Options from a TOML file (also accepts them under a ``[train]`` table)."""
    path = Path(path)
    try:
        # a byte-order mark (Windows Notepad writes one) is not TOML, but it cannot be meant
        raw = tomllib.loads(path.read_bytes().decode("utf-8").removeprefix("\ufeff"))
    except FileNotFoundError:
        raise BarenetError(f"config file {path} not found; check the path") from None
    except tomllib.TOMLDecodeError as exc:
        raise BarenetError(f"config file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise BarenetError(f"config file {path} is not UTF-8 text (byte {exc.start}); "
                           "a TOML file must be UTF-8") from None
    except OSError as exc:
        raise BarenetError(f"cannot read config file {path}: {exc.strerror}") from None
    if "train" in raw and isinstance(raw["train"], dict):
        raw = {**{k: v for k, v in raw.items() if k != "train"}, **raw["train"]}
    options = {k.replace("-", "_"): v for k, v in raw.items()}
    unknown = set(options) - FIELD_NAMES
    if unknown:
        raise unknown_options(unknown, where=f"config file {path}: ")
    return options


def make_config(file_options: dict[str, Any] | None = None, **overrides: Any) -> TrainConfig:
    """Defaults, then a file's options, then explicit overrides (flags), validated."""
    values: dict[str, Any] = {}
    values.update(file_options or {})
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(values) - FIELD_NAMES
    if unknown:
        raise unknown_options(unknown)
    return TrainConfig(**values).validate()

"""The training configuration: every option of ``barenet train``, one dataclass.

The command line, ``--config FILE.toml`` and the resolved ``config.toml`` written into every
run directory all go through :class:`TrainConfig`, so that

    barenet train --config runs/RUN/config.toml

reproduces a run bit for bit. Flags override values read from a file.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BarenetError
from ..files.atomic import write_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DATASETS = ("mnist", "fashion-mnist", "kmnist", "digits8")
NORMALIZATIONS = ("255", "max", "standardize", "none")


@dataclass
class TrainConfig:
    """Every option of a training run, with barenet's default recipe as the defaults.

    ``output``, ``loss`` and ``init`` may be ``"auto"``: softmax + cross-entropy for several
    classes, one sigmoid unit + binary cross-entropy for a digit pair; He init for ReLU layers,
    Xavier otherwise. ``batch_size`` is a positive integer or ``"full"``. ``shift`` > 0 moves
    each training image by a random (dy, dx) in [-shift, shift]^2 pixels, drawn anew every epoch
    (:class:`barenet.augment.RandomShift`; it must be smaller than the image side).
    ``threads`` is the BLAS thread count, or ``"auto"`` to measure the fastest at the start of
    a run (:mod:`barenet.threads`); the run's config.toml records the number used.
    """

    # data
    dataset: str = "mnist"
    data: str | None = None
    digits: list[int] | None = None
    per_class: int | None = None
    normalize: str = "255"
    val_fraction: float = 0.1
    shift: int = 0  # augmentation: random translation of each training image by up to N pixels
    # model
    layers: list[int] = field(default_factory=lambda: [192])
    hidden: str = "relu"
    output: str = "auto"
    loss: str = "auto"
    reduction: str = "mean"
    init: str = "auto"
    bias_init: str = "0"
    dropout: float = 0.0
    dtype: str = "float32"
    # optimization
    optimizer: str = "adam"
    lr: float = 0.005
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float | None = None  # None: the optimizer's default (0; adamw 0.01)
    schedule: str = "cosine"
    batch_size: int | str = 128
    drop_last: bool = False
    shuffle: bool = True
    epochs: int = 6
    early_stopping: int | None = None
    early_stopping_metric: str = "val_loss"
    checkpoint_every: int | None = None
    seed: int = 0
    threads: int | str = "auto"  # BLAS threads: a number, or "auto" (measured at start)
    # notes carried into the run directory (e.g. where an exercise config departs from its source)
    description: str = ""

    def validate(self) -> TrainConfig:
        """Check every value; raise a BarenetError naming the option and the valid choices."""
        self._coerce_types()
        if self.dataset not in DATASETS:
            raise BarenetError(f"--dataset {self.dataset!r} is unknown; choose one of: {', '.join(DATASETS)}")
        if self.normalize not in NORMALIZATIONS:
            raise BarenetError(f"--normalize {self.normalize!r} is unknown; "
                               f"choose one of: {', '.join(NORMALIZATIONS)}")
        if self.digits is not None:
            if len(self.digits) != 2:
                raise BarenetError(f"--digits takes exactly two digits, e.g. --digits 1 5; got {self.digits}")
            if any(not 0 <= d <= 9 for d in self.digits):
                raise BarenetError(f"--digits must be between 0 and 9; got {self.digits}")
            if self.digits[0] == self.digits[1]:
                raise BarenetError(f"--digits needs two different digits; got {self.digits[0]} twice")
        if self.per_class is not None and self.per_class < 1:
            raise BarenetError(f"--per-class must be a positive number of samples; got {self.per_class}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise BarenetError(f"--val-fraction must be in [0, 1); got {self.val_fraction}")
        if self.shift < 0:
            raise BarenetError(f"--shift must be 0 (off) or a positive number of pixels; got {self.shift}")
        if any(int(n) < 1 for n in self.layers):
            raise BarenetError("--layers takes positive hidden sizes, e.g. --layers 500 250; "
                               f"got {self.layers}")
        if isinstance(self.batch_size, str):
            if self.batch_size != "full":
                try:
                    self.batch_size = int(self.batch_size)
                except ValueError:
                    raise BarenetError("--batch-size must be a positive integer or 'full'; "
                                       f"got {self.batch_size!r}") from None
        if isinstance(self.batch_size, int) and self.batch_size < 1:
            raise BarenetError(f"--batch-size must be a positive integer or 'full'; got {self.batch_size}")
        if self.epochs < 1:
            raise BarenetError(f"--epochs must be at least 1; got {self.epochs}")
        if not self.lr > 0:
            raise BarenetError(f"--lr must be positive; got {self.lr}")
        if self.early_stopping is not None and self.early_stopping < 1:
            raise BarenetError("--early-stopping takes a patience in epochs (>= 1); "
                               f"got {self.early_stopping}")
        if self.early_stopping_metric not in ("val_loss", "val_accuracy"):
            raise BarenetError("--early-stopping-metric must be val_loss or val_accuracy")
        if self.early_stopping is not None and self.val_fraction == 0:
            raise BarenetError("--early-stopping needs a validation split; set --val-fraction, e.g. 0.1")
        from ..nn.layers import initial_bias

        initial_bias(self.bias_init, np.random.default_rng(0), 1, np.dtype(np.float32))
        from ..train.threads import check_threads

        self.threads = check_threads(self.threads)
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise BarenetError(f"--checkpoint-every must be at least 1 epoch; got {self.checkpoint_every}")
        return self

    def _coerce_types(self) -> None:
        """Numbers from TOML or flags into their field's type, with a clear error otherwise."""
        if isinstance(self.bias_init, int | float) and not isinstance(self.bias_init, bool):
            self.bias_init = repr(self.bias_init)  # a number in TOML: the constant bias
        kinds = {"int": ("per_class", "shift", "epochs", "early_stopping", "checkpoint_every", "seed"),
                 "float": ("val_fraction", "dropout", "lr", "momentum", "weight_decay"),
                 "bool": ("nesterov", "drop_last", "shuffle"),
                 "str": ("dataset", "normalize", "hidden", "output", "loss", "reduction", "init", "bias_init",
                         "dtype", "optimizer", "schedule", "early_stopping_metric", "description")}
        for kind, names in kinds.items():
            for name in names:
                value = getattr(self, name)
                if value is None:
                    continue
                ok = {"int": isinstance(value, int) and not isinstance(value, bool),
                      "float": isinstance(value, int | float) and not isinstance(value, bool),
                      "bool": isinstance(value, bool),
                      "str": isinstance(value, str)}[kind]
                if not ok:
                    raise BarenetError(f"option {name} must be a {kind}; got {value!r}")
                if kind == "float":
                    setattr(self, name, float(value))
        for name in ("layers", "digits"):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, list | tuple) or not all(
                    isinstance(v, int) and not isinstance(v, bool) for v in value):
                raise BarenetError(f"option {name} must be a list of integers; got {value!r}")
            setattr(self, name, [int(v) for v in value])
        if self.data is not None and not isinstance(self.data, str):
            raise BarenetError(f"option data must be a path string; got {self.data!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        """TOML text of every option (None values are written as comments: TOML has no null)."""
        lines = ["# barenet training configuration (fully resolved)",
                 "# reproduce with: barenet train --config config.toml", ""]
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                lines.append(f"# {f.name} = (not set)")
            else:
                lines.append(f"{f.name} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"

    def save(self, path: str | Path) -> None:
        write_text(path, self.to_toml())


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


FIELD_NAMES = {f.name for f in fields(TrainConfig)}


def read_toml(path: str | Path) -> dict[str, Any]:
    """Options from a TOML file (also accepts them under a ``[train]`` table)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise BarenetError(f"config file {path} not found; check the path") from None
    except tomllib.TOMLDecodeError as exc:
        raise BarenetError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise BarenetError(f"cannot read config file {path}: {exc.strerror}") from None
    if "train" in raw and isinstance(raw["train"], dict):
        raw = {**{k: v for k, v in raw.items() if k != "train"}, **raw["train"]}
    options = {k.replace("-", "_"): v for k, v in raw.items()}
    unknown = sorted(set(options) - FIELD_NAMES)
    if unknown:
        raise BarenetError(f"config file {path}: unknown option(s) {', '.join(unknown)}; "
                           f"valid options: {', '.join(sorted(FIELD_NAMES))}")
    return options


def make_config(file_options: dict[str, Any] | None = None, **overrides: Any) -> TrainConfig:
    """Defaults, then a file's options, then explicit overrides (flags), validated."""
    values: dict[str, Any] = {}
    values.update(file_options or {})
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        config = TrainConfig(**values)
    except TypeError as exc:
        raise BarenetError(f"bad configuration: {exc}") from None
    return config.validate()

"""Every option of ``barenet train``, declared once.

:data:`OPTIONS` is the one table. Each :class:`Option` says its name, kind, default, the values
it accepts (names, or a numeric range), its help text, its group (data, model, optimization),
whether ``barenet search`` may sweep it, and how the command line spells it. Everything else is
derived from it:

* the :class:`~barenet.run.config.TrainConfig` dataclass (its fields and defaults) and its
  validation (:meth:`Option.check`: the type, the range or the names, with one wording from
  the command line, a TOML file and the Python API);
* the flags of ``barenet train`` and ``barenet search`` and their ``--help``
  (:mod:`barenet.cli.options`);
* reading a value from command-line text (:meth:`Option.from_text`), which the search space
  uses too (:func:`barenet.run.search.parse_space`);
* the TOML file of a run (:meth:`TrainConfig.to_toml`).

Kinds: ``int``, ``float``, ``bool``, ``ints`` (a list of integers), ``name`` (one of
``choices``) and ``text`` (a string; a spec such as an initializer or a schedule is parsed by
its ``check_value``). An ``int`` may also accept ``words`` (``batch_size = "full"``,
``threads = "auto"``); an ``optional`` option may be ``None`` (not set; ``none`` on the
command line of ``search``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.augment_spec import check_augment_spec
from ..data.loader import DATASETS
from ..data.preprocess import NORMALIZATIONS
from ..errors import BarenetError
from ..nn.activations import ACTIVATIONS
from ..nn.init import INIT_NAMES, get_initializer
from ..nn.layers import initial_bias
from ..nn.losses import LOSS_NAMES, REDUCTIONS
from ..nn.model import DTYPES
from ..nn.optim import OPTIMIZER_NAMES
from ..nn.schedules import SCHEDULE_NAMES, get_schedule
from ..train.threads import check_threads

GROUPS = ("data", "model", "optimization")
EARLY_STOPPING_METRICS = ("val_loss", "val_accuracy")
HIDDEN_ACTIVATIONS = tuple(name for name in ACTIVATIONS if name != "softmax")


@dataclass(frozen=True)
class Option:
    """One training option; see the module docstring for the kinds."""

    name: str
    kind: str
    default: Any
    group: str
    help: str
    choices: tuple[str, ...] = ()  # kind "name": the accepted names
    words: tuple[str, ...] = ()  # kind "int": words accepted besides a number
    low: float | None = None  # numeric range (each element of an "ints" list)
    high: float | None = None
    low_open: bool = False  # True: the range excludes ``low``
    high_open: bool = False
    optional: bool = False
    searchable: bool = True
    flag: bool = True  # a flag of ``barenet train``
    metavar: str | None = None
    accepts: str | None = None  # how the accepted values read, when the generated words are clumsy
    check_value: Callable[[Any], Any] | None = None  # a spec's own check, after the kind and range
    numbers_as_text: bool = False  # kind "text": a TOML number becomes its text (bias_init = 0)
    words_per_value: int = 1  # search: how many words without commas make one value (a pair: 2)
    noun: str = ""  # kind "name": what the names are ("hidden activation"), for the error

    @property
    def flag_name(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def annotation(self) -> str:
        base = {"int": "int", "float": "float", "bool": "bool", "ints": "list[int]"}.get(self.kind, "str")
        if self.words:
            base += " | str"
        return base + " | None" if self.optional else base

    # ------------------------------------------------------------------ wording
    def describe(self) -> str:
        """The accepted values in words, e.g. "a number in [0, 1)" or "one of: sgd, adam"."""
        if self.accepts:
            return self.accepts
        if self.kind == "name":
            return "one of: " + ", ".join(self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.kind == "text":
            return "text"
        low, high = _plain(self.low), _plain(self.high)
        if self.kind in ("int", "ints"):
            bounds = (f" from {low} to {high}" if self.high is not None
                      else f" of at least {low}" if self.low is not None else "")
            text = f"a list of integers, each{bounds}" if self.kind == "ints" else f"an integer{bounds}"
            return text + "".join(f" or {word!r}" for word in self.words)
        if self.high is not None:
            return (f"a number in {'(' if self.low_open else '['}{low}, {high}"
                    f"{')' if self.high_open else ']'}")
        if self.low is not None:
            return f"a finite number {'>' if self.low_open else '>='} {low}"
        return "a finite number"

    def refuse(self, value: Any) -> BarenetError:
        """The one error for a value this option does not accept."""
        if self.kind == "name":
            return BarenetError(f"unknown {self.noun or self.name} {value!r} for {self.flag_name}; "
                                f"choose one of: {', '.join(self.choices)}")
        return BarenetError(f"{self.flag_name} must be {self.describe()}; got {value!r}")

    # ------------------------------------------------------------------ values
    def check(self, value: Any) -> Any:
        """``value`` in this option's type (an int to a float, a TOML number to text) if it is
        acceptable; otherwise the :meth:`refuse` error (or the spec's own, from ``check_value``)."""
        if value is None and self.optional:
            return None
        if self.words and isinstance(value, str) and value not in self.words:
            value = self._int_from_text(value)  # batch_size = "100", threads = "2"
        if self.numbers_as_text and _is_number(value):
            value = repr(value)  # bias_init = 0 in TOML
        if not self._accepts(value):
            raise self.refuse(value)
        if self.kind == "ints":
            value = [int(v) for v in value]
        elif self.kind == "float":
            value = float(value)
        if self.check_value is not None:
            self.check_value(value)
        return value

    def _accepts(self, value: Any) -> bool:
        """Whether ``value`` has this option's type and lies in its range or among its names."""
        if self.kind == "ints":
            return isinstance(value, list | tuple) and all(_is_int(v) and self._in_range(v) for v in value)
        if self.kind == "int":
            return value in self.words if isinstance(value, str) else _is_int(value) and self._in_range(value)
        if self.kind == "float":
            return _is_number(value) and self._in_range(float(value))
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "name":
            return isinstance(value, str) and value in self.choices
        return isinstance(value, str)

    def _in_range(self, x: float) -> bool:
        if not math.isfinite(x):
            return False
        if self.low is not None and (x <= self.low if self.low_open else x < self.low):
            return False
        return not (self.high is not None and (x >= self.high if self.high_open else x > self.high))

    def _int_from_text(self, text: str) -> int | str:
        try:
            return int(text.strip())
        except ValueError:
            return text

    def from_text(self, text: str | Sequence[str]) -> Any:
        """A value from command-line text, in this option's type (not yet range-checked).

        ``ints`` take the numbers as separate words or comma-separated (``500 250`` or
        ``500,250``); an ``optional`` option reads ``none`` as not set.
        """
        if self.kind == "ints":
            words = [text] if isinstance(text, str) else list(text)
            try:
                return [int(part) for word in words for part in word.replace(" ", ",").split(",") if part]
            except ValueError:
                raise self.refuse(" ".join(words)) from None
        raw = str(text).strip()
        if self.optional and raw.lower() in ("none", "null"):
            return None
        try:
            if self.kind == "int":
                return raw if raw in self.words else int(raw)
            if self.kind == "float":
                return float(raw)
        except ValueError:
            raise self.refuse(text) from None
        if self.kind == "bool":
            words = {"true": True, "yes": True, "1": True, "on": True,
                     "false": False, "no": False, "0": False, "off": False}
            if raw.lower() not in words:
                raise self.refuse(text)
            return words[raw.lower()]
        return raw

    def help_text(self) -> str:
        """``--help`` text: what it does, what it accepts, its default."""
        default = "not set" if self.default is None else _shown(self.default)
        accepts = "" if self.kind in ("bool", "text") and not self.accepts else f"; {self.describe()}"
        return f"{self.help}{accepts} (default: {default})".replace("%", "%%")


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _is_number(value: Any) -> bool:
    return _is_int(value) or isinstance(value, float | np.floating)


def _plain(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(map(str, value)) or "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


# ----------------------------------------------------------------------------- checks of specs
def _check_digits(digits: list[int]) -> None:
    if len(digits) != 2:
        raise BarenetError(f"--digits takes exactly two digits, e.g. --digits 1 5; got {digits}")
    if any(not 0 <= d <= 9 for d in digits):
        raise BarenetError(f"--digits must be between 0 and 9; got {digits}")
    if digits[0] == digits[1]:
        raise BarenetError(f"--digits needs two different digits; got {digits[0]} twice")


def _check_bias(spec: str) -> None:
    initial_bias(spec, np.random.default_rng(0), 1, np.dtype(np.float32))


OPTION_LIST = (
    # data
    Option("dataset", "name", "mnist", "data", "built-in data set", choices=DATASETS,
           noun="data set"),
    Option("data", "text", None, "data", "a directory of MNIST-format files or an .npz file",
           optional=True, searchable=False, metavar="PATH"),
    Option("digits", "ints", None, "data",
           "train on a digit pair (D1 -> 0, D2 -> 1), e.g. --digits 1 5 or --digits 1,5; "
           "search takes several pairs as --digits 1,5 3,8", optional=True, metavar="D",
           accepts="two different digits from 0 to 9", check_value=_check_digits,
           words_per_value=2),
    Option("per_class", "int", None, "data", "the first K training samples of each class",
           low=1, optional=True, metavar="K"),
    Option("normalize", "name", "255", "data",
           "pixel scaling (255: x/255, max: each image by its own maximum, standardize: by the "
           "training split's mean and std, none)",
           choices=NORMALIZATIONS, noun="normalization"),
    Option("val_fraction", "float", 0.1, "data", "validation split from the training data",
           low=0, high=1, high_open=True),
    Option("shift", "int", 0, "data",
           "augmentation: random translation of each training image by up to N pixels per epoch "
           "(the same as --augment 'shift(N)')",
           low=0, metavar="N", accepts="0 (off) or a positive number of pixels"),
    Option("augment", "text", "none", "data",
           'augmentation of each training batch, e.g. "shift(2)+rotate(10)+scale(0.1)+shear(0.2)'
           '+elastic(34,4)" (terms: shift, rotate, scale, shear, translate, elastic; none: off)',
           check_value=check_augment_spec, metavar="SPEC"),
    # model
    Option("layers", "ints", [192], "model", "hidden layer sizes, e.g. --layers 500 250",
           low=1, metavar="N"),
    Option("hidden", "name", "relu", "model", "hidden activation", choices=HIDDEN_ACTIVATIONS,
           noun="hidden activation"),
    Option("output", "name", "auto", "model",
           "output activation: auto picks the one that fits the loss (softmax for several classes, "
           "one sigmoid unit for a digit pair)", choices=("auto", *ACTIVATIONS),
           noun="output activation"),
    Option("loss", "name", "auto", "model", "loss: auto picks the one that fits the output",
           choices=("auto", *LOSS_NAMES)),
    Option("reduction", "name", "mean", "model", "reduction of the loss over the batch", choices=REDUCTIONS),
    Option("init", "text", "auto", "model",
           'weight initializer: auto (He for ReLU layers, Xavier otherwise), "uniform(-1,1)", '
           '"normal(0.01)", ...', accepts="one of: " + ", ".join(INIT_NAMES), check_value=get_initializer),
    Option("bias_init", "text", "0", "model",
           'initial biases: a number or an initializer spec like "uniform(-1,1)"',
           check_value=_check_bias, numbers_as_text=True),
    Option("dropout", "float", 0.0, "model", "drop probability after each hidden layer",
           low=0, high=1, high_open=True),
    Option("input_dropout", "float", 0.0, "model",
           "drop probability of each input pixel in training (Srivastava et al. 2014: 0.2)",
           low=0, high=1, high_open=True),
    Option("batch_norm", "bool", False, "model",
           "batch normalization of each hidden layer's pre-activations (Ioffe & Szegedy 2015)"),
    Option("noise", "float", 0.0, "model",
           "std of the Gaussian noise added in training to each hidden pre-activation "
           "(after batch normalization; Rasmus et al. 2015: 0.3)", low=0),
    Option("input_noise", "float", 0.0, "model",
           "std of the Gaussian noise added in training to each input, after the normalizer "
           "(--normalize 255: pixels in [0, 1])",
           low=0),
    Option("max_norm", "float", None, "model",
           "max-norm constraint: after each step rescale each unit's incoming weights to an L2 "
           "norm of at most C (Srivastava et al. 2014; e.g. 3); not set: off",
           low=0, low_open=True, optional=True, metavar="C"),
    Option("label_smoothing", "float", 0.0, "model",
           "label smoothing of the cross-entropy targets: (1 - e) y + e / C",
           low=0, high=1, high_open=True),
    Option("dtype", "name", "float32", "model", "dtype of the weights and the arithmetic", choices=DTYPES),
    # optimization
    Option("optimizer", "name", "adam", "optimization", "optimizer", choices=OPTIMIZER_NAMES),
    Option("lr", "float", 0.005, "optimization", "learning rate", low=0, low_open=True),
    Option("momentum", "float", 0.0, "optimization", "SGD momentum", low=0, high=1, high_open=True),
    Option("nesterov", "bool", False, "optimization", "Nesterov momentum (SGD)"),
    Option("weight_decay", "float", None, "optimization",
           "L2 (sgd, adam) or decoupled (adamw) weight decay; not set: the optimizer's default "
           "(0; adamw 0.01)", low=0, optional=True),
    Option("schedule", "text", "cosine", "optimization",
           'learning-rate schedule, e.g. "step(10,0.5)", "exponential(0.95)", "warmup(1)+cosine"',
           accepts="one of: " + ", ".join(SCHEDULE_NAMES), check_value=get_schedule),
    Option("batch_size", "int", 128, "optimization", "samples per step: 1 (per-sample SGD), N, or full",
           low=1, words=("full",), accepts="a positive integer or 'full'"),
    Option("drop_last", "bool", False, "optimization", "drop the last, smaller batch"),
    Option("shuffle", "bool", True, "optimization",
           "shuffle the samples every epoch (--no-shuffle: walk them in their stored order)"),
    Option("epochs", "int", 5, "optimization", "passes over the training data", low=1),
    Option("early_stopping", "int", None, "optimization",
           "stop after PATIENCE epochs without validation improvement; keep the best weights",
           low=1, optional=True, metavar="PATIENCE"),
    Option("early_stopping_metric", "name", "val_loss", "optimization", "early-stopping metric",
           choices=EARLY_STOPPING_METRICS, noun="early-stopping metric"),
    Option("checkpoint_every", "int", None, "optimization", "save a checkpoint every N epochs",
           low=1, optional=True, searchable=False, metavar="N"),
    Option("seed", "int", 0, "optimization", "seed for initialization, shuffling, dropout and splits",
           low=0),
    Option("threads", "int", "auto", "optimization",
           "BLAS threads for the matrix products: auto (the fastest count, measured at start, so it "
           "can differ between runs on a busy machine) or a number; the same seed and count give "
           "bit-identical runs, and the run's config.toml records the count used", low=1, words=("auto",),
           accepts="'auto' or a positive whole number", check_value=check_threads),
    # notes carried into the run directory (e.g. where an exercise config departs from its source)
    Option("description", "text", "", "notes", "notes kept with the run", searchable=False, flag=False),
)

#: The options by name, in the table's order.
OPTIONS: dict[str, Option] = {option.name: option for option in OPTION_LIST}
SEARCHABLE = tuple(name for name, option in OPTIONS.items() if option.searchable)


def option(name: str) -> Option:
    """The option called ``name`` (dashes or underscores); unknown names list the valid ones."""
    key = str(name).replace("-", "_")
    if key not in OPTIONS:
        raise unknown_options([key])
    return OPTIONS[key]


def unknown_options(names: Sequence[str], where: str = "") -> BarenetError:
    """The one error for option names that do not exist."""
    return BarenetError(f"{where}unknown option(s) {', '.join(sorted(names))}; "
                        f"valid options: {', '.join(sorted(OPTIONS))}")

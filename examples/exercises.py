"""The classic exercises of MISSION.md (E1-E5) as barenet configs, and the few hooks the
config file cannot express yet.

Every example is a TOML file beside this module, runnable on its own::

    barenet train --config examples/e3-sigmoid-eta005.toml

``EXAMPLES`` lists them in table order with what each exercise reported. ``run_example``
runs one through :func:`barenet.runner.train_run` with the exercise's extras attached:

* ``shuffle = False``: the exercise walks the samples (or its precomputed batches) in a
  fixed order every epoch; its TOML file says ``shuffle = false``, so ``barenet train
  --config`` does the same.
* ``nll_every``: E2's logistic regression prints the average loss of the last 100 samples
  every 100 steps (:class:`RunningNLL`).
* ``test_each_epoch``: E3 prints test error and accuracy after every epoch
  (:class:`TestEachEpoch`; the test set is only reported, never used to choose anything).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from barenet.config import TrainConfig, make_config, read_toml
from barenet.runner import RunResult, prepare_data, train_run
from barenet.training import evaluate

EXAMPLES_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Example:
    """One config file, ``examples/<name>.toml``, and what the exercise reported for it."""

    name: str
    exercise: str          # "E1" ... "E5"
    title: str             # what is trained, in a few words
    kind: str              # "faithful" or "best"
    reported: str          # the exercise's own result (faithful) or barenet's aim (best)
    aim: float | None = None  # best recipes: the test accuracy to reach (MISSION.md / issue 6)
    nll_every: int | None = None
    test_each_epoch: bool = False

    @property
    def path(self) -> Path:
        return EXAMPLES_DIR / f"{self.name}.toml"


EXAMPLES: list[Example] = [
    Example("e1-1v5", "E1", "1 vs 5, [500, 250] ReLU, squared loss, batch 4000", "faithful",
            "98.77 % train"),
    Example("e1-1v5-best", "E1", "1 vs 5, barenet's best", "best", "aim >= 99.9 % test",
            aim=0.999),
    Example("e1-7v9", "E1", "7 vs 9, [500, 250] ReLU, squared loss, batch 1000", "faithful",
            "94.96 % train"),
    Example("e1-7v9-best", "E1", "7 vs 9, barenet's best", "best", "aim >= 99.4 % test",
            aim=0.994),
    Example("e2-logreg", "E2", "8x8 digits, logistic regression, per-sample SGD, 1 epoch",
            "faithful", "not reported (NLL printed every 100 steps)", nll_every=100),
    Example("e2-hidden32", "E2", "8x8 digits, 32 sigmoid + softmax, per-sample SGD, 15 epochs",
            "faithful", "91.5 % test (94.6 % train)"),
    Example("e2-best", "E2", "8x8 digits, barenet's best", "best", "best effort"),
    Example("e3-sigmoid-eta0005", "E3", "MNIST [100, 100] sigmoid, eta 0.005, 70 epochs",
            "faithful", "learns slowly", test_each_epoch=True),
    Example("e3-sigmoid-eta005", "E3", "MNIST [100, 100] sigmoid, eta 0.05, 70 epochs",
            "faithful", "about 97.4 % test", test_each_epoch=True),
    Example("e3-sigmoid-eta05", "E3", "MNIST [100, 100] sigmoid, eta 0.5, 70 epochs",
            "faithful", "does not learn (about 10 %)", test_each_epoch=True),
    Example("e3-relu-eta005", "E3", "MNIST [100, 100] ReLU, tiny init, eta 0.05", "faithful",
            "never learns", test_each_epoch=True),
    Example("e3-relu-eta0005", "E3", "MNIST [100, 100] ReLU, tiny init, eta 0.005", "faithful",
            "starts learning after about 12 epochs", test_each_epoch=True),
    Example("e3-best", "E3", "MNIST 10 classes, barenet's best", "best", "aim >= 98.5 % test",
            aim=0.985),
    Example("e4-sigmoid32x2", "E4", "MNIST [32, 32] sigmoid, per-sample SGD, 3 epochs, no shuffling",
            "faithful", "56.6 % (about 70 % expected)"),
    Example("e4-best", "E4", "MNIST, the same [32, 32] size, barenet's best", "best", "best effort"),
    Example("e5-5v8-bce", "E5", "5 vs 8, first 1000 per digit, 784-256-1 BCE, full batch",
            "faithful", "94.69 % test (97.2 % train)"),
    Example("e5-5v8-best", "E5", "5 vs 8, first 1000 per digit, barenet's best", "best",
            "aim >= 98.5 % test", aim=0.985),
    Example("e5-softmax10", "E5", "10 classes, first 1000 per digit, 784-256-10, full batch",
            "faithful", "92.45 % test (96.08 % train)"),
    Example("e5-softmax10-best", "E5", "10 classes, first 1000 per digit, barenet's best", "best",
            "aim >= 96 % test", aim=0.96),
]

BY_NAME = {example.name: example for example in EXAMPLES}


def get_example(name: str) -> Example:
    name = Path(name).stem if name.endswith(".toml") else name
    if name not in BY_NAME:
        raise KeyError(f"unknown example {name!r}; choose from: {', '.join(BY_NAME)}")
    return BY_NAME[name]


def load_config(example: Example | str, **overrides: Any) -> TrainConfig:
    """The example's TrainConfig (its TOML file), with ``overrides`` applied on top."""
    example = get_example(example) if isinstance(example, str) else example
    return make_config(read_toml(example.path), **overrides)


# ----------------------------------------------------------------------------- callbacks
class RunningNLL:
    """E2's printout: every ``every`` steps, the average loss of the last ``every`` batches
    (with batch size 1, the average negative log-likelihood of the last ``every`` samples)."""

    def __init__(self, every: int = 100, printer: Callable[[str], None] | None = print) -> None:
        self.every = every
        self.printer = printer
        self.window: list[float] = []
        self.steps = 0
        self.averages: list[tuple[int, float]] = []

    def on_batch_end(self, trainer: Any, batch: int, n_batches: int, loss: float) -> None:
        self.steps += 1
        self.window.append(loss)
        if len(self.window) == self.every:
            average = math.fsum(self.window) / self.every
            self.averages.append((self.steps, average))
            self.window.clear()
            if self.printer is not None:
                self.printer(f"step {self.steps:>6}  average NLL of the last {self.every}: {average:.4f}")


class TestEachEpoch:
    """Evaluate on a held-out split after every epoch and add ``test_loss`` and
    ``test_accuracy`` to the epoch's history record (reported only, never used to choose)."""

    def __init__(self, x: Any, y: Any) -> None:
        self.x, self.y = x, y

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        record["test_loss"], record["test_accuracy"] = evaluate(
            trainer.model, self.x, self.y, trainer.loss, trainer.normalizer)


class BeforeTraining:
    """Loss and accuracy of the untrained network on the training data (E4 prints them)."""

    def __init__(self, x: Any, y: Any) -> None:
        self.x, self.y = x, y
        self.loss: float | None = None
        self.accuracy: float | None = None

    def on_train_begin(self, trainer: Any) -> None:
        if trainer.epoch == 0:
            self.loss, self.accuracy = evaluate(trainer.model, self.x, self.y, trainer.loss,
                                                trainer.normalizer)


@dataclass
class ExampleRun:
    example: Example
    config: TrainConfig
    result: RunResult | None
    seconds: float
    error: str | None = None
    before: tuple[float | None, float | None] = (None, None)
    nll: list[tuple[int, float]] | None = None


def callbacks_for(example: Example, config: TrainConfig,
                  printer: Callable[[str], None] | None = print) -> tuple[list[Any], dict[str, Any]]:
    """The callbacks an example needs, and a dict naming the ones whose results we read."""
    callbacks: list[Any] = []
    named: dict[str, Any] = {}
    if example.nll_every:
        named["nll"] = RunningNLL(example.nll_every, printer)
        callbacks.append(named["nll"])
    if example.kind == "faithful" or example.test_each_epoch:
        data = prepare_data(config)
        if example.kind == "faithful":
            named["before"] = BeforeTraining(data.x_train, data.y_train)
            callbacks.append(named["before"])
        if example.test_each_epoch and data.x_test is not None:
            callbacks.append(TestEachEpoch(data.x_test, data.y_test))
    return callbacks, named


def run_example(example: Example | str, out: str | Path | None = None, *, write: bool = True,
                printer: Callable[[str], None] | None = print, overwrite: bool = False,
                **overrides: Any) -> ExampleRun:
    """Run one example (``overrides`` replace options of its TOML file); a run that stops with
    a :class:`barenet.BarenetError` (e.g. divergence) is returned with ``error`` set.
    ``overwrite`` replaces an earlier run in ``out`` (see :func:`barenet.runner.train_run`)."""
    from barenet.errors import BarenetError

    example = get_example(example) if isinstance(example, str) else example
    config = load_config(example, **overrides)
    callbacks, named = callbacks_for(example, config, printer)
    started = time.perf_counter()
    try:
        result = train_run(config, out=out, write=write, callbacks=callbacks, overwrite=overwrite)
        error = None
    except BarenetError as exc:
        result, error = None, str(exc)
    seconds = time.perf_counter() - started
    run = ExampleRun(example, config, result, seconds, error)
    if "before" in named:
        run.before = (named["before"].loss, named["before"].accuracy)
    if "nll" in named:
        run.nll = list(named["nll"].averages)
    return run

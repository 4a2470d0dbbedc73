"""Hyperparameter search: grid or random, over any :class:`~barenet.config.TrainConfig` option.

Rules that keep the search honest:

* every trial is judged on a **validation split taken from the training data** (the base
  configuration's ``val_fraction``, 0.1 when it is 0); the trials never see the test set: it
  is removed from the data before any trial runs;
* the results table (every trial, sorted by validation accuracy, best first) is saved as CSV;
* the best configuration is then trained once more (optionally on train + validation,
  ``refit_on_all``) and saved as a run directory, and only that model is evaluated on the test
  set, once, at the very end.

Trials run one after another, or in ``jobs`` parallel processes.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BarenetError
from ..files.atomic import write_text
from .config import FIELD_NAMES, TrainConfig, make_config

CSV_NAME = "search.csv"
BEST_DIR = "best"
_NOT_SEARCHABLE = {"data", "description", "checkpoint_every"}

# ----------------------------------------------------------------------------- parsing values
_FIELD_TYPES = {f.name: str(f.type) for f in dataclasses.fields(TrainConfig)}


def parse_value(name: str, text: Any) -> Any:
    """One option value from command-line text, in the option's type: ``layers`` and ``digits``
    take comma-separated integers (``500,250``), ``batch_size`` an integer or ``full``, optional
    options accept ``none``."""
    name = name.replace("-", "_")
    if name not in FIELD_NAMES:
        raise BarenetError(f"unknown option {name!r}; searchable options: "
                           f"{', '.join(sorted(FIELD_NAMES - _NOT_SEARCHABLE))}")
    if not isinstance(text, str):
        return text
    kind = _FIELD_TYPES[name]
    raw = text.strip()
    if "None" in kind and raw.lower() in ("none", "null", ""):
        return None
    try:
        if kind.startswith("list[int]"):
            return [int(v) for v in raw.replace(" ", "").split(",") if v]
        if kind.startswith("int | str"):
            return raw if raw == "full" else int(raw)
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
        if kind.startswith("bool"):
            if raw.lower() in ("true", "yes", "1", "on"):
                return True
            if raw.lower() in ("false", "no", "0", "off"):
                return False
            raise ValueError(raw)
    except ValueError:
        raise BarenetError(f"--{name.replace('_', '-')}: cannot read {text!r} as a value of type "
                           f"{kind}" + (" (give sizes like 500,250)" if kind.startswith("list") else "")
                           ) from None
    return raw


def parse_space(options: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    """``{option: [values...]}`` with every value converted by :func:`parse_value`."""
    space: dict[str, list[Any]] = {}
    for name, values in options.items():
        key = name.replace("-", "_")
        if key in _NOT_SEARCHABLE:
            raise BarenetError(f"option {key} cannot be searched")
        values = list(values)
        if not values:
            raise BarenetError(f"option {key}: give at least one value")
        space[key] = [parse_value(key, v) for v in values]
    return space


# ----------------------------------------------------------------------------- trial lists
def grid(space: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the values (the cartesian product), in order."""
    names = list(space)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(space[n] for n in names))]


def random_sample(space: Mapping[str, Sequence[Any]], n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` distinct combinations drawn uniformly at random (the whole grid, shuffled, when it
    has at most ``n`` points)."""
    if n < 1:
        raise BarenetError(f"--random takes a positive number of trials; got {n}")
    rng = np.random.default_rng(seed)
    names = list(space)
    sizes = [len(space[name]) for name in names]
    total = math.prod(sizes)
    if total <= n:
        points = grid(space)
        return [points[i] for i in rng.permutation(len(points))]
    chosen: list[tuple[int, ...]] = []
    seen: set[tuple[int, ...]] = set()
    while len(chosen) < n:
        pick = tuple(int(rng.integers(s)) for s in sizes)
        if pick not in seen:
            seen.add(pick)
            chosen.append(pick)
    return [{name: space[name][i] for name, i in zip(names, pick, strict=True)} for pick in chosen]


# ----------------------------------------------------------------------------- one trial
_DATA_CACHE: dict[tuple[str, str | None], Any] = {}


def _training_only(config: TrainConfig) -> Any:
    """The config's data set with the test split removed (cached per process)."""
    from ..data import load_dataset

    key = (config.dataset, config.data)
    if key not in _DATA_CACHE:
        ds = load_dataset(config.dataset, data=config.data)
        _DATA_CACHE[key] = dataclasses.replace(ds, x_test=None, y_test=None)
    return _DATA_CACHE[key]


def run_trial(config_dict: dict[str, Any]) -> dict[str, Any]:
    """Train one configuration on the training data and measure it on the validation split.
    Returns a row: ``val_accuracy``, ``val_loss``, ``train_accuracy``, ``train_loss``,
    ``epochs_run``, ``seconds`` and ``error`` (a diverged or invalid trial keeps its row)."""
    from .runner import train_run

    started = time.perf_counter()
    row: dict[str, Any] = {"val_accuracy": None, "val_loss": None, "train_accuracy": None,
                           "train_loss": None, "epochs_run": None, "seconds": None, "error": ""}
    try:
        config = make_config(config_dict)
        result = train_run(config, write=False, dataset=_training_only(config))
        assert "test" not in result.metrics
        val = result.metrics.get("validation") or {}
        train = result.metrics.get("train") or {}
        row.update(val_accuracy=val.get("accuracy"), val_loss=val.get("loss"),
                   train_accuracy=train.get("accuracy"), train_loss=train.get("loss"),
                   epochs_run=result.metrics.get("epochs_run"),
                   best_epoch=result.metrics.get("restored_best_epoch"))
    except BarenetError as exc:
        row["error"] = str(exc)
    row["seconds"] = time.perf_counter() - started
    return row


# ----------------------------------------------------------------------------- the search
@dataclass
class SearchResult:
    """``rows``: one dict per trial (the searched options, then the scores), best first.
    ``best``: the best trial's option values; ``best_config``: its full configuration as
    retrained; ``run_dir``: where the retrained model was saved; ``test_accuracy`` and
    ``test_loss``: the retrained best model on the test set (None without one)."""

    rows: list[dict[str, Any]]
    options: list[str]
    best: dict[str, Any]
    best_config: TrainConfig
    csv_path: Path
    run_dir: Path | None = None
    test_accuracy: float | None = None
    test_loss: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


def _sort_key(row: dict[str, Any]) -> tuple[int, float, float]:
    acc = row.get("val_accuracy")
    if acc is None or not math.isfinite(acc):
        return (1, 0.0, 0.0)
    loss = row.get("val_loss")
    return (0, -acc, loss if loss is not None and math.isfinite(loss) else math.inf)


def results_csv(rows: Sequence[dict[str, Any]], options: Sequence[str]) -> str:
    """The results table as CSV text: rank, the searched options, then the scores."""
    columns = ["rank", *options, "val_accuracy", "val_loss", "train_accuracy", "train_loss",
               "epochs_run", "seconds", "error"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        out = {}
        for key in columns:
            value = row.get(key)
            if isinstance(value, list):
                value = ",".join(map(str, value))
            out[key] = "" if value is None else value
        writer.writerow(out)
    return buffer.getvalue()


class _Progress:
    """A rich progress bar over the trials (or nothing)."""

    def __init__(self, total: int, enabled: bool, console: Any = None) -> None:
        self.progress = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("best val_acc {task.fields[best]}"), TimeElapsedColumn(),
                                     console=console or Console(stderr=True), transient=True)
            self.task = self.progress.add_task("search", total=total, best="-")
        self.best = -1.0

    def __enter__(self) -> _Progress:
        if self.progress is not None:
            self.progress.start()
        return self

    def advance(self, row: dict[str, Any]) -> None:
        acc = row.get("val_accuracy")
        if acc is not None and acc > self.best:
            self.best = acc
        if self.progress is not None:
            self.progress.update(self.task, advance=1,
                                 best=f"{100 * self.best:.2f} %" if self.best >= 0 else "-")

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.stop()


def search(base: TrainConfig, space: Mapping[str, Sequence[Any]], *, out: str | Path,
           n_random: int | None = None, jobs: int = 1, refit_on_all: bool = False, seed: int = 0,
           progress: bool = True, console: Any = None, report: bool = True,
           on_trial: Callable[[dict[str, Any]], None] | None = None) -> SearchResult:
    """Grid search (or, with ``n_random``, random search) of ``space`` around ``base``.

    ``space`` maps option names to candidate values (already typed, see :func:`parse_space`).
    Writes ``out/search.csv`` and the retrained best model's run directory ``out/best``
    (with figures and report.html when ``report``). ``jobs`` > 1 runs trials in that many
    processes. ``refit_on_all`` retrains the winner on train + validation (with early stopping,
    for the number of epochs the trial kept).
    """
    out = Path(out)
    space = {k.replace("-", "_"): list(v) for k, v in space.items()}
    unknown = sorted(set(space) - FIELD_NAMES)
    if unknown:
        raise BarenetError(f"unknown option(s) {', '.join(unknown)} in the search space")
    base = make_config(base.to_dict())
    if base.val_fraction == 0:
        base = dataclasses.replace(base, val_fraction=0.1)
    trials = random_sample(space, n_random, seed) if n_random else grid(space)
    configs = []
    for overrides in trials:  # validate every point before spending time on any
        configs.append(make_config({**base.to_dict(), **overrides}).to_dict())
    jobs = max(1, min(int(jobs), len(configs), os.cpu_count() or 1))
    rows: list[dict[str, Any]] = [{} for _ in configs]

    def finish(i: int, row: dict[str, Any]) -> None:
        rows[i] = {"trial": i + 1, **trials[i], **row}
        bar.advance(row)
        if on_trial is not None:
            on_trial(rows[i])

    _training_only(make_config(configs[0]))  # load once; forked workers inherit it
    if jobs == 1:
        with _Progress(len(configs), progress, console) as bar:
            for i, cfg in enumerate(configs):
                finish(i, run_trial(cfg))
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures: list[Future] = [pool.submit(run_trial, cfg) for cfg in configs]
            with _Progress(len(configs), progress, console) as bar:
                pending = dict(enumerate(futures))
                while pending:
                    for i, fut in list(pending.items()):
                        if fut.done():
                            finish(i, fut.result())
                            del pending[i]
                    time.sleep(0.05)
    rows.sort(key=_sort_key)
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    options = list(space)
    csv_path = out / CSV_NAME
    write_text(csv_path, results_csv(rows, options))
    good = [r for r in rows if r.get("val_accuracy") is not None]
    if not good:
        raise BarenetError(f"every trial failed (see {csv_path}); the first error: {rows[0].get('error')}")
    best_row = good[0]
    best = {k: best_row[k] for k in options}
    best_config = make_config({**base.to_dict(), **best})
    if refit_on_all:
        epochs = best_row.get("best_epoch") or best_row.get("epochs_run") or best_config.epochs
        best_config = dataclasses.replace(best_config, val_fraction=0.0, early_stopping=None,
                                          epochs=int(epochs))
    result = SearchResult(rows, options, best, best_config, csv_path)
    from .runner import train_run

    final = train_run(best_config, out=out / BEST_DIR)
    result.run_dir = final.run_dir
    result.metrics = final.metrics
    test = final.metrics.get("test") or {}
    result.test_accuracy, result.test_loss = test.get("accuracy"), test.get("loss")
    if report and final.run_dir is not None:
        from .report import write_figures_and_report

        write_figures_and_report(final.run_dir, final)
    return result

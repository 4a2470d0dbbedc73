"""Hyperparameter search: grid or random, over any :class:`~barenet.config.TrainConfig` option.

Rules that keep the search honest:

* every trial is judged on a **validation split taken from the training data** (its
  ``val_fraction``, which must be > 0); the trials never see the test set: it is removed from
  the data before any trial runs;
* the results table (every trial, sorted by validation accuracy, best first) is saved as CSV;
* the best configuration is then trained once more (optionally on train + validation,
  ``refit_on_all``) and saved as a run directory, and only that model is evaluated on the test
  set, once, at the very end.

Trials run one after another, or in ``jobs`` parallel processes started fresh (``spawn``): each
loads its own copy of the data. Before any trial runs, every point of the grid is validated
and checked to fit in memory (:func:`barenet.run.memory.check_memory`).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BarenetError
from ..files.atomic import write_text
from ..nn.schedules import get_schedule
from .config import FIELD_NAMES, TrainConfig, make_config
from .memory import check_memory
from .options import SEARCHABLE, option, unknown_options
from .outdir import claim_search_dir

CSV_NAME = "search.csv"
BEST_DIR = "best"


def refit_epochs(best_row: Mapping[str, Any], config: TrainConfig) -> int:
    """Epochs of the refit on train + validation: those the best trial kept (its best epoch
    under early stopping, else the epochs it ran), but never so few that a ``warmup(w)+``
    schedule would warm up for the whole refit and never reach the learning rate (which
    :meth:`~barenet.nn.schedules.Schedule.check` refuses): then w + 1."""
    kept = int(best_row.get("best_epoch") or best_row.get("epochs_run") or config.epochs)
    return max(kept, math.floor(get_schedule(config.schedule).warmup) + 1)


# ----------------------------------------------------------------------------- parsing values
def parse_value(name: str, text: Any) -> Any:
    """One option value from command-line text, in the option's type (the option table reads
    it: :meth:`barenet.run.options.Option.from_text`): ``layers`` and ``digits`` take
    comma-separated integers (``500,250``), ``batch_size`` an integer or ``full``, ``threads`` an
    integer or ``auto``, optional options accept ``none``. A value that is not text is kept."""
    opt = option(name)
    return opt.from_text(text) if isinstance(text, str) else text


def parse_space(options: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    """``{option: [values...]}`` with every value converted by :func:`parse_value`.

    The words of an option whose value is a fixed number of integers (``digits``: a pair) may
    also come one number at a time: ``["1", "5"]`` is the pair 1,5 (and ``["1", "5", "3", "8"]``
    the pairs 1,5 and 3,8), as ``barenet train --digits 1 5`` writes it.
    """
    space: dict[str, list[Any]] = {}
    for name, values in options.items():
        opt = option(name)
        if not opt.searchable:
            raise BarenetError(f"option {opt.name} cannot be searched; searchable options: "
                               f"{', '.join(SEARCHABLE)}")
        values = list(values)
        if not values:
            raise BarenetError(f"option {opt.name}: give at least one value")
        n = opt.words_per_value
        if n > 1 and all(isinstance(v, str) and "," not in v for v in values):
            values = [" ".join(values[i:i + n]) for i in range(0, len(values), n)]
        space[opt.name] = [parse_value(opt.name, v) for v in values]
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
    """The config's data set with the test split removed (loaded once per process)."""
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


def search(base: TrainConfig, space: Mapping[str, Sequence[Any]], *, out: str | Path | None = None,
           n_random: int | None = None, jobs: int = 1, refit_on_all: bool = False, seed: int = 0,
           progress: bool = True, console: Any = None, report: bool = True,
           on_trial: Callable[[dict[str, Any]], None] | None = None,
           on_out: Callable[[Path], None] | None = None) -> SearchResult:
    """Grid search (or, with ``n_random``, random search) of ``space`` around ``base``.

    ``space`` maps option names to candidate values (already typed, see :func:`parse_space`).
    Writes ``out/search.csv`` and the retrained best model's run directory ``out/best``
    (with figures and report.html when ``report``). ``jobs`` > 1 runs trials in that many
    processes. ``refit_on_all`` retrains the winner on train + validation (with early stopping,
    for the number of epochs the trial kept; see :func:`refit_epochs`). ``out`` (default: a new
    ``runs/search-<timestamp>``) must be new or empty; ``on_out`` is called with it.
    """
    space = {k.replace("-", "_"): list(v) for k, v in space.items()}
    unknown = set(space) - FIELD_NAMES
    if unknown:
        raise unknown_options(unknown, where="search space: ")
    base = make_config(base.to_dict())
    trials = random_sample(space, n_random, seed) if n_random is not None else grid(space)
    configs = [make_config({**base.to_dict(), **overrides}) for overrides in trials]
    if any(config.val_fraction == 0 for config in configs):  # every point is checked first
        raise BarenetError("search judges every trial on a validation split and never on the "
                           "test set; --val-fraction must be > 0, e.g. 0.1")
    for config in configs:
        data = _training_only(config)
        n_classes = 2 if config.digits is not None else len(data.class_names)
        check_memory(config, int(np.prod(data.x_train.shape[1:])), n_classes, len(data.x_train))
    out = claim_search_dir(out, CSV_NAME)  # new or empty (default runs/search-<timestamp>)
    if on_out is not None:
        on_out(out)
    jobs = max(1, min(int(jobs), len(configs), os.cpu_count() or 1))
    rows: list[dict[str, Any]] = [{} for _ in configs]
    with _Progress(len(configs), progress, console) as bar:
        def finish(i: int, row: dict[str, Any]) -> None:
            rows[i] = {"trial": i + 1, **trials[i], **row}
            bar.advance(row)
            if on_trial is not None:
                on_trial(rows[i])

        if jobs == 1:
            for i, config in enumerate(configs):
                finish(i, run_trial(config.to_dict()))
        else:  # fresh processes (spawn): each loads its own data, nothing depends on fork
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
                futures = {pool.submit(run_trial, config.to_dict()): i for i, config in enumerate(configs)}
                for future in as_completed(futures):
                    finish(futures[future], future.result())
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
        best_config = dataclasses.replace(best_config, val_fraction=0.0, early_stopping=None,
                                          epochs=refit_epochs(best_row, best_config))
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

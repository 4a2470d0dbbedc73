"""Training output: a progress bar (rich in a terminal, one line rewritten in place in a
Jupyter notebook) and a results table."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .notebook import NotebookText, in_notebook


def _fmt(value: Any, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.2f} %" if percent else f"{value:.4f}"


def _epoch_line(trainer: Any, record: dict[str, Any]) -> str:
    line = (f"epoch {record['epoch']:>3}/{trainer.epochs}  loss {_fmt(record['train_loss'])}"
            f"  acc {_fmt(record['train_accuracy'], True)}")
    if record.get("val_accuracy") is not None:
        line += (f"  val_loss {_fmt(record['val_loss'])}"
                 f"  val_acc {_fmt(record['val_accuracy'], True)}")
    return line + f"  lr {record['lr']:.3g}  {record['seconds']:.2f} s"


class ProgressBar:
    """A training callback: one bar per epoch over its batches, then the epoch's loss and
    accuracy (train and validation) on a line of its own.

    In a Jupyter notebook (and no ``console`` given) the bar and the epoch lines are one
    output rewritten in place, so a long training adds no flood of lines to the cell."""

    BAR_WIDTH = 30

    def __init__(self, console: Console | None = None) -> None:
        self.console = console  # made when training starts, so the callback can be copied
        self.progress: Progress | None = None
        self.task: Any = None
        self.notebook: NotebookText | None = None

    def on_train_begin(self, trainer: Any) -> None:
        if self.console is None and in_notebook():
            self.notebook = NotebookText()
            return
        if self.console is None:
            self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(),
            console=self.console, transient=True)
        self.progress.start()
        self.task = None

    def on_batch_end(self, trainer: Any, batch: int, n_batches: int, loss: float) -> None:
        if self.notebook is not None:
            if batch == n_batches or batch % 25 == 0:
                done = round(self.BAR_WIDTH * batch / n_batches)
                bar = "\u2501" * done + "\u2500" * (self.BAR_WIDTH - done)
                self.notebook.show(f"epoch {trainer.epoch + 1}/{trainer.epochs}  {bar}  "
                                   f"{batch}/{n_batches}  loss {loss:.4f}")
            return
        assert self.progress is not None
        if self.task is None:
            self.task = self.progress.add_task("train", total=n_batches,
                                               epoch=f"{trainer.epoch + 1}/{trainer.epochs}", loss="-")
        if batch == n_batches or batch % 25 == 0:
            self.progress.update(self.task, completed=batch, loss=f"{loss:.4f}")

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        if self.notebook is not None:
            self.notebook.lines.append(_epoch_line(trainer, record))
            self.notebook.show()
            return
        assert self.progress is not None
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
        self.progress.console.print(_epoch_line(trainer, record), highlight=False, soft_wrap=True)

    def on_train_end(self, trainer: Any) -> None:
        if self.progress is not None:
            self.progress.stop()


def results_table(metrics: dict[str, Any]) -> Table:
    """Loss and accuracy per split, as a rich table."""
    table = Table(title="results", title_justify="left")
    table.add_column("split")
    table.add_column("loss", justify="right")
    table.add_column("accuracy", justify="right")
    for split in ("train", "validation", "test"):
        entry = metrics.get(split)
        if entry:
            table.add_row(split, _fmt(entry.get("loss")), _fmt(entry.get("accuracy"), True))
    return table

"""Terminal output for training: a rich progress bar and a results table."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table


def _fmt(value: Any, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.2f} %" if percent else f"{value:.4f}"


class ProgressBar:
    """A training callback: one bar per epoch over its batches, then the epoch's loss and
    accuracy (train and validation) on a line of its own."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console  # made when training starts, so the callback can be copied
        self.progress: Progress | None = None
        self.task: Any = None

    def on_train_begin(self, trainer: Any) -> None:
        if self.console is None:
            self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(),
            console=self.console, transient=True)
        self.progress.start()
        self.task = None

    def on_batch_end(self, trainer: Any, batch: int, n_batches: int, loss: float) -> None:
        assert self.progress is not None
        if self.task is None:
            self.task = self.progress.add_task("train", total=n_batches,
                                               epoch=f"{trainer.epoch + 1}/{trainer.epochs}", loss="-")
        if batch == n_batches or batch % 25 == 0:
            self.progress.update(self.task, completed=batch, loss=f"{loss:.4f}")

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        assert self.progress is not None
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
        line = (f"epoch {record['epoch']:>3}/{trainer.epochs}  loss {_fmt(record['train_loss'])}"
                f"  acc {_fmt(record['train_accuracy'], True)}")
        if record.get("val_accuracy") is not None:
            line += (f"  val_loss {_fmt(record['val_loss'])}"
                     f"  val_acc {_fmt(record['val_accuracy'], True)}")
        line += f"  lr {record['lr']:.3g}  {record['seconds']:.2f} s"
        self.progress.console.print(line, highlight=False, soft_wrap=True)

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

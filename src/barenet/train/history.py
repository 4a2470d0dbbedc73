"""What happened during training, epoch by epoch (and batch by batch for the loss)."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BarenetError
from ..files.atomic import write_text
from ..files.jsonsafe import json_text
from ..files.safe_read import read_json


@dataclass
class History:
    """Per-epoch records plus the loss of every batch.

    Each record in ``epochs`` holds: ``epoch`` (1-based), ``train_loss`` (mean of the batch
    losses, weighted by batch size), ``train_accuracy`` (running accuracy of the batches'
    predictions, taken before each update), ``val_loss`` and ``val_accuracy`` (None without a
    validation set), ``lr`` (the learning rate at the epoch's last step), ``seconds`` (wall
    time of the epoch), ``cpu_seconds`` (CPU time the process used in the epoch, summed over
    its threads: it leaves out the time the machine gave to others), ``weight_change`` (per
    Dense layer, ``||W_end - W_start||_2`` over the epoch) and ``grad_norm`` (per Dense layer,
    the mean over the epoch's batches of ``||dW||_2``).
    """

    epochs: list[dict[str, Any]] = field(default_factory=list)
    batch_loss: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.epochs)

    def column(self, key: str) -> list[Any]:
        return [record.get(key) for record in self.epochs]

    def __getitem__(self, key: str) -> list[Any]:
        return self.column(key)

    @property
    def last(self) -> dict[str, Any]:
        return self.epochs[-1] if self.epochs else {}

    def flat_rows(self) -> list[dict[str, Any]]:
        """One flat dict per epoch; per-layer lists become ``weight_change_1``, ... columns."""
        rows = []
        for record in self.epochs:
            row = {}
            for key, value in record.items():
                if isinstance(value, list):
                    for i, v in enumerate(value, start=1):
                        row[f"{key}_{i}"] = v
                else:
                    row[key] = value
            rows.append(row)
        return rows

    def to_csv(self) -> str:
        """Every column any epoch has, in order of first appearance; a missing value is empty
        (a run resumed from one written by an older version has fewer columns in its first
        epochs)."""
        rows = self.flat_rows()
        if not rows:
            return ""
        columns = list(dict.fromkeys(key for row in rows for key in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
        return buffer.getvalue()

    def save_csv(self, path: str | Path) -> None:
        write_text(path, self.to_csv())

    def to_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "batch_loss": self.batch_loss}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """The inverse of :meth:`to_dict` (a null batch loss, how JSON stores NaN, is NaN).

        Anything else than ``{"epochs": [{...}, ...], "batch_loss": [numbers]}`` raises a
        :class:`BarenetError` (e.g. a history.json edited by hand or by another program).
        """
        if not isinstance(data, dict):
            raise BarenetError(f"the training history is a JSON {_json_type(data)}, not an object "
                               'with "epochs" and "batch_loss"')
        epochs, batch_loss = data.get("epochs", []), data.get("batch_loss", [])
        if not (isinstance(epochs, list) and all(isinstance(r, dict) for r in epochs)):
            raise BarenetError('the training history\'s "epochs" is not a list of objects '
                               "(one per epoch)")
        if not (isinstance(batch_loss, list) and all(
                v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in batch_loss)):
            raise BarenetError('the training history\'s "batch_loss" is not a list of numbers')
        return cls(list(epochs), [math.nan if v is None else float(v) for v in batch_loss])

    @classmethod
    def load_json(cls, path: str | Path) -> History:
        """A history saved by :meth:`save_json`; a missing or malformed file is a BarenetError."""
        path = Path(path)
        data = read_json(path)
        try:
            return cls.from_dict(data)
        except BarenetError as exc:
            raise BarenetError(f"{path}: {exc}; use the file barenet train wrote") from None

    def save_json(self, path: str | Path) -> None:
        write_text(path, json_text(self.to_dict()))

    def _repr_png_(self) -> bytes | None:
        """Jupyter shows a History as its loss and accuracy curves
        (:func:`barenet.inspect.plots.plot_curves`; matplotlib is imported only here, when a
        notebook asks). An empty History shows its text ``repr`` instead."""
        if not self.epochs:
            return None
        from ..inspect.plots import figure_png, plot_curves  # display only: no import-time cycle

        return figure_png(plot_curves(self))


def _json_type(value: Any) -> str:
    """The JSON name of a decoded value's type (list -> "array", str -> "string", ...)."""
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


"""Live training curves in a Jupyter notebook.

:class:`LivePlot` is a training callback for :func:`barenet.fit` (or a
:class:`~barenet.train.trainer.Trainer`)::

    history = bn.fit(model, x, y, validation=(x_val, y_val), callbacks=[LivePlot()])

It adds two outputs to the running cell and rewrites both in place after every epoch
(IPython's ``display_id``): on top, the warnings of :class:`~barenet.inspect.diagnose.LiveDiagnosis`
(dead ReLUs, saturated sigmoids, a learning rate too large, ...), each once, as it is found;
below, the loss and accuracy curves (train and validation) of
:func:`~barenet.inspect.plots.plot_curves`, redrawn with the new epoch.

Outside a notebook (a script, a terminal) there is nowhere to draw: LivePlot does nothing
(``active`` is False), so the same code runs everywhere. Without IPython installed, building
one raises a :class:`~barenet.errors.BarenetError` that names the extra to install.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from ..errors import BarenetError
from ..train.notebook import in_notebook
from .diagnose import LiveDiagnosis


class LivePlot:
    """Redraw the loss and accuracy curves in place every ``every`` epochs (and after the
    last), with the live diagnosis' warnings above them (``diagnose=False`` leaves them out).
    ``findings`` lists what the diagnosis reported; ``active`` says whether it draws."""

    def __init__(self, every: int = 1, *, diagnose: bool = True, dpi: int = 72) -> None:
        try:
            import IPython.display  # noqa: F401
        except ImportError:
            raise BarenetError("LivePlot draws in Jupyter notebooks and needs IPython: "
                               "pip install 'barenet[notebook]'") from None
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise BarenetError(f"LivePlot(every=...) must be a positive number of epochs; got {every}")
        self.every = every
        self.dpi = dpi
        self.diagnosis = LiveDiagnosis(lambda text: None) if diagnose else None  # shown as HTML instead
        self.active = False
        self._handles: dict[str, Any] = {}
        self._drawn = 0

    @property
    def findings(self) -> list[Any]:
        return self.diagnosis.findings if self.diagnosis is not None else []

    def _warnings_html(self) -> str:
        if not self.findings:
            return '<p style="color:#3a3">diagnosis: no problem detected so far</p>'
        e = html.escape
        items = "".join(f"<li><b>{e(f.title)}</b>" + (f" (epoch {f.epoch})" if f.epoch else "")
                        + f": {e(f.explanation)} <b>Fix:</b> {e(f.fix)}</li>" for f in self.findings)
        return f'<ul style="color:#b35c00">{items}</ul>'

    def _show(self, name: str, bundle: dict[str, Any]) -> None:
        from IPython.display import display

        if name in self._handles:
            self._handles[name].update(bundle, raw=True)
        else:
            self._handles[name] = display(bundle, raw=True, display_id=True)

    def on_train_begin(self, trainer: Any) -> None:
        self.active = in_notebook()
        if self.diagnosis is not None:
            self.diagnosis.on_train_begin(trainer)
        if self.active:
            self._handles, self._drawn = {}, 0
            if self.diagnosis is not None:
                self._show("warnings", {"text/html": self._warnings_html()})

    def on_batch_end(self, trainer: Any, batch: int, n_batches: int, loss: float) -> None:
        if self.diagnosis is not None:
            self.diagnosis.on_batch_end(trainer, batch, n_batches, loss)

    def _draw(self, trainer: Any) -> None:
        from .plots import figure_png, plot_curves  # matplotlib: only when there is something to draw

        figure = plot_curves(trainer.history)
        png = base64.b64encode(figure_png(figure, self.dpi)).decode("ascii")
        figure.clear()
        self._drawn = len(trainer.history)
        self._show("curves", {"image/png": png, "text/plain": f"<training curves, epoch {self._drawn}>"})

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        if self.diagnosis is not None:
            self.diagnosis.on_epoch_end(trainer, record)
        if not self.active:
            return
        if self.diagnosis is not None:
            self._show("warnings", {"text/html": self._warnings_html()})
        if record["epoch"] % self.every == 0:
            self._draw(trainer)

    def on_train_end(self, trainer: Any) -> None:
        if self.active and len(trainer.history) and self._drawn != len(trainer.history):
            self._draw(trainer)  # the last epoch, when ``every`` skipped it or training stopped early

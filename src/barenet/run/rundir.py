"""A run directory as an object: ``barenet.Run("runs/RUN")``.

``Run`` reads what ``barenet train --out RUN`` (or :func:`barenet.run.runner.train_run`)
wrote, through :func:`barenet.run.report.load_run`, and gives it back as attributes
(``model``, ``history``, ``metrics``, ``config``, ``findings``, ``figures``). In Jupyter a bare
``Run(...)`` shows the report's summary inline: the results per split, the diagnosis
(:func:`barenet.run.report.run_findings`) and the figures of ``RUN/figures/`` (written by
:func:`barenet.run.report.write_figures` when the directory has none yet).
"""

from __future__ import annotations

import base64
import html
from functools import cached_property
from pathlib import Path
from typing import Any

from . import report
from .report import load_run, run_diagnosis, write_figures

#: Figures two to a row, so a run fits on a screen or two of the notebook.
FIGURE_STYLE = "display:inline-block;width:48%;margin:0 1% 1em 0;vertical-align:top"


class Run:
    """The run directory ``path``, loaded (the data are prepared again from its config.toml,
    as ``barenet report`` does, for the diagnosis and the image grids)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.view = load_run(self.path)

    @property
    def model(self) -> Any:
        return self.view.model

    @property
    def history(self) -> Any:
        return self.view.history

    @property
    def metrics(self) -> dict[str, Any]:
        return self.view.metrics

    @property
    def config(self) -> dict[str, Any]:
        return self.view.config

    @cached_property
    def diagnosis(self) -> Any:
        """The :class:`~barenet.inspect.diagnose.Diagnosis` of the run (findings and checks)."""
        return run_diagnosis(self.view)

    @property
    def findings(self) -> list[Any]:
        """The diagnosis' findings (``[]`` when nothing was found)."""
        return self.diagnosis.findings

    @cached_property
    def figures(self) -> dict[str, Path]:
        """``{name: PNG path}`` in ``RUN/figures/``, written now if the directory has none."""
        folder = self.path / report.FIGURES_DIR
        existing = sorted(folder.glob("*.png")) if folder.is_dir() else []
        if existing:
            order = list(report.FIGURE_TITLES)
            existing.sort(key=lambda p: (order.index(p.stem) if p.stem in order else len(order), p.stem))
            return {p.stem: p for p in existing}
        return write_figures(self.view)

    def report(self) -> Path:
        """Write ``RUN/report.html`` (and the figures); returns its path."""
        path = report.write_report(self.path)
        self.__dict__.pop("figures", None)
        return path

    def __repr__(self) -> str:
        test = (self.metrics.get("test") or {}).get("accuracy")
        score = f", test accuracy {100 * test:.2f} %" if test is not None else ""
        return f"Run({str(self.path)!r}: {len(self.history)} epochs{score})"

    def _repr_html_(self) -> str:
        e = html.escape
        rows = "".join(
            f"<tr><td>{e(split)}</td><td>{entry['loss']:.4f}</td><td>{100 * entry['accuracy']:.2f} %</td>"
            f"<td>{entry.get('samples', '')}</td></tr>"
            for split in ("train", "validation", "test") if (entry := self.metrics.get(split)))
        parts = [f"<h3>barenet run {e(self.path.name)}</h3>",
                 f"<p>{e(str(self.config.get('description') or ''))}</p>" if self.config.get("description")
                 else "",
                 "<table><tr><th>split</th><th>loss</th><th>accuracy</th><th>samples</th></tr>"
                 f"{rows}</table>",
                 f"<p>epochs run: {len(self.history)}; the full report: "
                 f"<code>{e(str(self.path / report.REPORT_NAME))}</code> (<code>run.report()</code>)</p>",
                 "<h4>Diagnosis</h4>"]
        if self.findings:
            parts += [f'<p style="color:#b35c00"><b>{e(f.title)}</b>: {e(f.explanation)} '
                      f"<b>Measured:</b> {e(f.measured)} <b>Fix:</b> {e(f.fix)}</p>" for f in self.findings]
        color = "#3a3" if self.diagnosis.healthy else "#555"
        parts.append(f'<p style="color:{color}">{e(self.diagnosis.summary())}.</p>')
        for name, path in self.figures.items():
            uri = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
            title = e(report.FIGURE_TITLES.get(name, name))
            parts.append(f'<figure style="{FIGURE_STYLE}"><figcaption><b>{title}</b></figcaption>'
                         f'<img alt="{title}" style="width:100%" src="{uri}"></figure>')
        return "\n".join(parts)

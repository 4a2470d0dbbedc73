"""The run report: figures (PNG files in ``RUN/figures/``) and one self-contained
``RUN/report.html`` (every image embedded as a data URI: it opens offline, can be mailed, and
has no external resources).

* :func:`write_figures_and_report` is what ``barenet train`` calls right after
  :func:`barenet.runner.write_run`, with the in-memory :class:`~barenet.runner.RunResult`.
* :func:`write_report` rebuilds both from the run directory alone (``barenet report RUN``):
  ``config.toml``, ``history.json``, ``metrics.json`` and ``model.npz``; the data for the image
  grids are prepared again from the saved configuration (same selection, same seeded split).
* :func:`inspect_run` is ``barenet inspect RUN``: the worst predictions and the image grids.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import BarenetError
from ..export.native import load_model
from ..files.atomic import write_text
from ..files.safe_read import read_json
from ..inspect.diagnose import Diagnosis, Finding, assess
from ..inspect.signals import Recipe
from ..nn.model import MLP
from ..train.history import History
from .config import make_config, read_toml
from .outdir import FIGURES_DIR, REPORT_NAME

#: Samples used for grids, worst predictions and activation histograms (enough, and fast).
MAX_EVAL_SAMPLES = 10000


@dataclass
class RunView:
    """Everything a report needs about one run, from memory or from its directory."""

    run_dir: Path
    config: dict[str, Any]
    history: History
    metrics: dict[str, Any]
    model: MLP | None
    data: Any = None  # runner.PreparedData, or None when the data cannot be loaded
    data_error: str | None = None

    @property
    def class_names(self) -> list[str]:
        if self.data is not None:
            return list(self.data.class_names)
        n = self.model.n_outputs if self.model is not None else 10
        return [str(i) for i in range(max(2, n))]

    @property
    def recipe(self) -> Recipe:
        """The run's resolved settings (``auto`` output, loss and init replaced)."""
        from .runner import resolve_head

        output, loss, _units = resolve_head(make_config(dict(self.config)), len(self.class_names))
        return Recipe.from_config({**self.config, "output": output}, self.model, loss)


def load_run(run_dir: str | Path, *, with_data: bool = True) -> RunView:
    """Read a run directory; with ``with_data`` also prepare its data again (a failure there is
    kept in ``data_error``: the report is then written without image grids).

    A run that ``train`` stopped for divergence keeps what it recorded (metrics.json with
    ``"diverged": true``, and the history and model of the last good epoch when one finished):
    missing history or model files are then read as empty, not refused."""
    from .runner import prepare_data

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise BarenetError(f"run directory {run_dir} not found; give a directory written by "
                           "`barenet train --out DIR`")
    config_path = run_dir / "config.toml"
    if not config_path.exists():
        raise BarenetError(f"{config_path} not found; is {run_dir} a run directory?")
    config = make_config(read_toml(config_path))
    metrics = read_json(run_dir / "metrics.json")
    diverged = isinstance(metrics, dict) and bool(metrics.get("diverged"))
    history_path = run_dir / "history.json"
    history = History.load_json(history_path) if history_path.exists() or not diverged else History()
    model = None
    if (run_dir / "model.npz").exists():
        model, _meta = load_model(run_dir / "model.npz")
    elif not diverged:
        raise BarenetError(f"{run_dir / 'model.npz'} not found; is {run_dir} a run directory?")
    view = RunView(run_dir, config.to_dict(), history, metrics, model)
    if with_data:
        try:
            view.data = prepare_data(config)
        except BarenetError as exc:
            view.data_error = str(exc)
    return view


def view_from_result(run_dir: str | Path, result: Any) -> RunView:
    """A :class:`RunView` of an in-memory :class:`~barenet.runner.RunResult`."""
    config = result.metadata.get("training") or {}
    return RunView(Path(run_dir), dict(config), result.history, result.metrics, result.model, result.data)


# ----------------------------------------------------------------------------- evaluation
@dataclass
class Evaluated:
    split: str
    x: np.ndarray  # raw rows, as stored
    y: np.ndarray
    proba: np.ndarray
    predicted: np.ndarray


def evaluate_split(view: RunView, split: str | None = None) -> Evaluated | None:
    """Predictions on ``split`` (default: test, else validation, else train), at most
    :data:`MAX_EVAL_SAMPLES` samples; None without data."""
    from ..train.trainer import predict_proba_batched, predicted_labels

    data = view.data
    if data is None:
        return None
    splits = {"test": (data.x_test, data.y_test), "validation": (data.x_val, data.y_val),
              "train": (data.x_train, data.y_train)}
    order = [split] if split else ["test", "validation", "train"]
    for name in order:
        if name not in splits:
            raise BarenetError(f"unknown split {name!r}; choose test, validation or train")
        x, y = splits[name]
        if x is not None and y is not None and len(x):
            x, y = x[:MAX_EVAL_SAMPLES], np.asarray(y[:MAX_EVAL_SAMPLES]).astype(np.int64)
            proba = predict_proba_batched(view.model, x, data.normalizer)
            return Evaluated(name, x, y, proba, predicted_labels(proba))
    if split:
        raise BarenetError(f"the run has no {split} split")
    return None


def run_diagnosis(view: RunView) -> Diagnosis:
    """:func:`barenet.inspect.diagnose.assess` applied to a run, with its resolved recipe, its
    training labels and what metrics.json recorded (a divergence)."""
    x = y = y_train = normalizer = None
    if view.data is not None:
        x, y = view.data.x_train[:1000], view.data.y_train[:1000]
        y_train, normalizer = view.data.y_train, view.data.normalizer
    n_train = (view.metrics.get("train") or {}).get("samples")
    error = view.metrics.get("divergence") if view.metrics.get("diverged") else None
    return assess(view.history, view.model, x, y_sample=y, normalizer=normalizer,
                  n_classes=len(view.class_names), recipe=view.recipe, n_train=n_train,
                  error=error, y_train=y_train)


def run_findings(view: RunView) -> list[Finding]:
    """The findings of :func:`run_diagnosis`."""
    return run_diagnosis(view).findings


# ----------------------------------------------------------------------------- figures
def write_figures(view: RunView) -> dict[str, Path]:
    """Every figure of the run as a PNG in ``RUN/figures/``; returns ``{name: path}``."""
    from ..inspect import plots

    out = view.run_dir / FIGURES_DIR
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}

    def keep(name: str, fig: Any) -> None:
        fig.clear()
        written[name] = out / f"{name}.png"

    keep("curves", plots.plot_curves(view.history, out / "curves.png"))
    keep("norms", plots.plot_norms(view.history, out / "norms.png"))
    names = view.class_names
    input_shape = list(view.data.input_shape) if view.data is not None else [28, 28]
    if int(np.prod(input_shape)) == view.model.n_inputs:
        keep("first_layer_weights", plots.plot_first_layer_weights(
            view.model, input_shape, path=out / "first_layer_weights.png"))
    evaluated = evaluate_split(view)
    if evaluated is not None:
        from ..inspect.metrics import confusion_matrix

        ev = evaluated
        cm = confusion_matrix(ev.y, ev.predicted, len(names))
        keep("confusion", plots.plot_confusion(cm, names, out / "confusion.png",
                                               title=f"confusion matrix ({ev.split})"))
        keep("samples", plots.plot_samples(view.data.x_train, view.data.y_train, names,
                                           input_shape=input_shape, path=out / "samples.png"))
        digits = view.config.get("digits")
        if digits and ev.proba.shape[1] <= 2:
            keep("outcomes", plots.plot_binary_outcomes(ev.x, ev.y, ev.predicted, ev.proba, digits,
                                                        input_shape=input_shape, path=out / "outcomes.png"))
        else:
            keep("correct", plots.plot_class_grid(ev.x, ev.y, ev.predicted, ev.proba, names, correct=True,
                                                  input_shape=input_shape, path=out / "correct.png"))
            keep("incorrect", plots.plot_class_grid(ev.x, ev.y, ev.predicted, ev.proba, names,
                                                    correct=False, input_shape=input_shape,
                                                    path=out / "incorrect.png"))
        keep("worst", plots.plot_worst(ev.x, ev.proba, ev.y, names, k=6, input_shape=input_shape,
                                       path=out / "worst.png"))
        x_norm = view.data.normalizer.transform(view.data.x_train[:1000], dtype=view.model.dtype)
        keep("activations", plots.plot_activation_histograms(view.model, x_norm, out / "activations.png"))
    return written


FIGURE_TITLES = {
    "curves": "Loss and accuracy", "norms": "Weight change and gradient norm per layer",
    "confusion": "Confusion matrix", "samples": "Random training samples",
    "outcomes": "True / false positives and negatives", "correct": "Correctly classified, per class",
    "incorrect": "Incorrectly classified, per class", "worst": "Worst predictions",
    "first_layer_weights": "First-layer weights", "activations": "Hidden activations",
}


# ----------------------------------------------------------------------------- HTML
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: .85em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-weight: bold; margin-bottom: .3em; }
.finding { border-left: 4px solid #d9822b; background: #fff7ee; padding: .5em 1em; margin: .6em 0; }
.ok { border-left: 4px solid #3a3; background: #f2fbf2; padding: .5em 1em; }
.muted { color: #777; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, percent: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{100 * value:.2f} %" if percent else f"{value:.4f}"
    return _e(value)


def _table(header: list[str], rows: list[list[Any]], left: int = 1) -> str:
    head = "".join(f'<th class="{"l" if i < left else ""}">{_e(h)}</th>' for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i < left else ""}">{c}</td>'
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def render_html(view: RunView, figures: dict[str, Path], findings: list[Finding]) -> str:
    """The report page as one HTML string (images inlined as base64 PNG data URIs)."""
    m = view.metrics
    parts = [f"<h1>barenet run report: {_e(view.run_dir.name)}</h1>",
             f'<p class="muted">{_e(view.run_dir)} · generated {datetime.now():%Y-%m-%d %H:%M} · '
             f"barenet {_e(__version__)}</p>"]
    if view.config.get("description"):
        parts.append(f"<p>{_e(view.config['description'])}</p>")
    # results
    rows = [[_e(split), _num((m.get(split) or {}).get("loss")),
             _num((m.get(split) or {}).get("accuracy"), True), _num((m.get(split) or {}).get("samples"))]
            for split in ("train", "validation", "test") if m.get(split)]
    parts.append("<h2>Results</h2>" + _table(["split", "loss", "accuracy", "samples"], rows))
    timings = m.get("timings") or {}
    extra = [f"epochs run: {_e(m.get('epochs_run', len(view.history)))}"]
    if m.get("restored_best_epoch"):
        extra.append(f"best weights restored from epoch {_e(m['restored_best_epoch'])}")
    if timings:
        extra.append("time: " + ", ".join(f"{_e(k.replace('_seconds', ''))} {v:.1f} s"
                                          for k, v in timings.items() if isinstance(v, int | float)))
    parts.append("<p>" + " · ".join(extra) + "</p>")
    # diagnosis
    parts.append("<h2>Diagnosis</h2>")
    if findings:
        for f in findings:
            parts.append(f'<div class="finding"><b>{_e(f.title)}</b>'
                         + (f" (epoch {_e(f.epoch)})" if f.epoch else "")
                         + f"<br>{_e(f.explanation)}<br><b>Fix:</b> {_e(f.fix)}</div>")
    else:
        parts.append('<div class="ok">No problem detected: the loss decreases, the gradients flow '
                     "and the hidden units are alive.</div>")
    # per class
    split = next((s for s in ("test", "validation", "train") if (m.get(s) or {}).get("report")), None)
    if split:
        report = m[split]["report"]
        rows = [[_e(c["name"]), _num(c["precision"]), _num(c["recall"]), _num(c["f1"]), _e(c["support"])]
                for c in report["classes"]]
        rows.append(["<b>macro</b>", _num(report["macro_precision"]), _num(report["macro_recall"]),
                     _num(report["macro_f1"]), _e(report["n_samples"])])
        parts.append(f"<h2>Per class ({_e(split)})</h2>"
                     + _table(["class", "precision", "recall", "f1", "support"], rows))
        names = [c["name"] for c in report["classes"]]
        cm_rows = [[f"<b>{_e(n)}</b>"] + [_e(v) for v in row]
                   for n, row in zip(names, report["confusion_matrix"], strict=True)]
        parts.append(f"<h3>Confusion matrix ({_e(split)}; rows: true, columns: predicted)</h3>"
                     + _table(["", *names], cm_rows))
        outcomes = m[split].get("outcomes")
        if outcomes:
            rows = [[_e(k), _e(outcomes[k]), _e(outcomes["meaning"][k])] for k in ("TP", "FP", "TN", "FN")]
            parts.append("<h3>Binary outcomes</h3>" + _table(["outcome", "count", "meaning"], rows))
    # figures
    parts.append("<h2>Figures</h2>")
    if view.data_error:
        parts.append(f'<p class="muted">Image grids skipped: the data could not be loaded '
                     f"({_e(view.data_error)}).</p>")
    for name, path in figures.items():
        title = FIGURE_TITLES.get(name, name)
        parts.append(f'<figure id="fig-{_e(name)}"><figcaption>{_e(title)}</figcaption>'
                     f'<img alt="{_e(title)}" src="{_data_uri(path)}"></figure>')
    # model and config
    parts.append("<h2>Model</h2><pre>" + _e(view.model.summary()) + "</pre>")
    cfg_rows = [[_e(k), _e(v)] for k, v in view.config.items() if v is not None and v != ""]
    parts.append("<h2>Configuration</h2>" + _table(["option", "value"], cfg_rows, left=2))
    parts.append('<p class="muted">Reproduce with <code>barenet train --config '
                 f"{_e(view.run_dir / 'config.toml')}</code></p>")
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>barenet report: {_e(view.run_dir.name)}</title><style>{_CSS}</style></head>"
            f"<body>\n{body}\n</body></html>\n")


def _write(view: RunView) -> Path:
    figures = write_figures(view)
    findings = run_findings(view)
    path = view.run_dir / REPORT_NAME
    write_text(path, render_html(view, figures, findings))
    return path


def write_report(run_dir: str | Path) -> Path:
    """Rebuild ``RUN/figures/*.png`` and ``RUN/report.html`` from the run directory's files.
    Returns the report's path."""
    return _write(load_run(run_dir))


def write_figures_and_report(run_dir: str | Path, result: Any) -> Path:
    """The figures and report.html of a run just trained (``result``: a
    :class:`~barenet.runner.RunResult`), written into ``run_dir``. Returns the report's path."""
    return _write(view_from_result(run_dir, result))


# ----------------------------------------------------------------------------- inspect
def inspect_run(run_dir: str | Path, *, k: int = 10, split: str | None = None) -> dict[str, Any]:
    """The ``k`` worst predictions on ``split`` (default: test) and the image grids written
    into ``RUN/figures/``. Returns ``{"split", "worst": [...], "figures": {name: path}}``;
    each worst entry holds index, true / predicted class names, loss and probabilities."""
    from ..inspect import plots
    from ..inspect.metrics import worst_predictions

    view = load_run(run_dir)
    if view.data is None:
        raise BarenetError(f"cannot load the data of {run_dir}: {view.data_error}")
    ev = evaluate_split(view, split)
    assert ev is not None
    names = view.class_names
    shape = list(view.data.input_shape)
    out = view.run_dir / FIGURES_DIR
    worst = worst_predictions(ev.proba, ev.y, k)
    for w in worst:
        w["true_name"], w["predicted_name"] = names[w["true"]], names[w["predicted"]]
    figures = {"worst": out / f"worst_{ev.split}.png"}
    plots.plot_worst(ev.x, ev.proba, ev.y, names, k=min(k, 12), input_shape=shape,
                     path=figures["worst"]).clear()
    digits = view.config.get("digits")
    if digits and ev.proba.shape[1] <= 2:
        figures["outcomes"] = out / f"outcomes_{ev.split}.png"
        plots.plot_binary_outcomes(ev.x, ev.y, ev.predicted, ev.proba, digits, input_shape=shape,
                                   path=figures["outcomes"]).clear()
    else:
        for correct, name in ((True, "correct"), (False, "incorrect")):
            figures[name] = out / f"{name}_{ev.split}.png"
            plots.plot_class_grid(ev.x, ev.y, ev.predicted, ev.proba, names, correct=correct,
                                  input_shape=shape, path=figures[name]).clear()
    return {"split": ev.split, "worst": worst, "figures": figures}


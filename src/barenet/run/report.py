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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.augment_spec import augmentation_for, run_augment_spec
from ..errors import BarenetError
from ..export.native import load_model
from ..files.atomic import write_text
from ..files.safe_read import read_json
from ..inspect.diagnose import Diagnosis, Finding, assess
from ..inspect.signals import Baselines, Recipe, baselines
from ..nn.model import MLP
from ..train.history import History
from .config import make_config, read_toml
from .exports import write_playground
from .outdir import (
    CONFIG_NAME,
    FIGURES_DIR,
    HISTORY_JSON,
    METRICS_NAME,
    MODEL_NAME,
    REPORT_NAME,
    hold_run_dir,
    release_run_dir,
)
from .report_html import FIGURES

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
    config_path = run_dir / CONFIG_NAME
    if not config_path.exists():
        raise BarenetError(f"{config_path} not found; is {run_dir} a run directory?")
    config = make_config(read_toml(config_path))
    metrics = read_json(run_dir / METRICS_NAME)
    diverged = isinstance(metrics, dict) and bool(metrics.get("diverged"))
    history_path = run_dir / HISTORY_JSON
    history = History.load_json(history_path) if history_path.exists() or not diverged else History()
    model = None
    model_path = run_dir / MODEL_NAME
    if model_path.exists():
        model, _meta = load_model(model_path)
    elif not diverged:
        raise BarenetError(f"{model_path} not found; is {run_dir} a run directory?")
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


#: Figure name -> title, in the report's order (the captions are in report_html.FIGURES).
FIGURE_TITLES = {name: title for name, (title, _look) in FIGURES.items()}


# ----------------------------------------------------------------------------- figures
def run_baselines(view: RunView) -> Baselines:
    """The losses and accuracy of a model that learned nothing, for this run's loss and labels."""
    y = view.data.y_train if view.data is not None else None
    one_unit = view.model.n_outputs == 1 if view.model is not None else None
    return baselines(len(view.class_names), y, view.recipe.loss or "cross_entropy", one_unit)


def write_figures(view: RunView) -> dict[str, Path]:
    """Every figure of the run as a PNG in ``RUN/figures/``; returns ``{name: path}`` in the
    order of :data:`~barenet.run.report_html.FIGURES`."""
    from ..inspect import plots

    out = view.run_dir / FIGURES_DIR
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}

    def keep(name: str, draw: Any, *args: Any, **kwargs: Any) -> None:
        path = out / f"{name}.png"
        draw(*args, path=path, **kwargs).clear()
        written[name] = path

    base = run_baselines(view)
    val_samples = (view.metrics.get("validation") or {}).get("samples")
    keep("curves", plots.plot_curves, view.history, baselines=base, reduction=view.recipe.reduction,
         val_samples=val_samples)
    keep("batch_loss", plots.plot_batch_loss, view.history, baselines=base, reduction=view.recipe.reduction)
    keep("learning_rate", plots.plot_learning_rate, view.history)
    keep("norms", plots.plot_norms, view.history)
    if view.model is None:
        return written
    names = view.class_names
    input_shape = list(view.data.input_shape) if view.data is not None else [28, 28]
    x_norm = None
    if view.data is not None:
        x_norm = view.data.normalizer.transform(view.data.x_train[:1000], dtype=view.model.dtype)
    if int(np.prod(input_shape)) == view.model.n_inputs:
        keep("first_layer_weights", plots.plot_first_layer_weights, view.model, input_shape, x=x_norm)
    ev = evaluate_split(view)
    if ev is None:
        return written
    from ..inspect.metrics import confusion_matrix

    shape = {"input_shape": input_shape}
    cm = confusion_matrix(ev.y, ev.predicted, len(names))
    keep("confusion", plots.plot_confusion, cm, names, split=ev.split)
    keep("samples", plots.plot_samples, view.data.x_train, view.data.y_train, names, **shape)
    spec, shift = view.config.get("augment", "none"), view.config.get("shift", 0)
    augment = augmentation_for(spec, input_shape, shift)
    if augment is not None:
        keep("augmented", plots.plot_augmented, view.data.x_train, augment,
             spec=run_augment_spec(spec, shift), **shape)
    digits = view.config.get("digits")
    if digits and ev.proba.shape[1] <= 2:
        keep("outcomes", plots.plot_binary_outcomes, ev.x, ev.y, ev.predicted, ev.proba, digits,
             split=ev.split, **shape)
        keep("roc_pr", plots.plot_roc_pr, ev.y, ev.proba, digits, split=ev.split)
        keep("probabilities", plots.plot_probability_histogram, ev.y, ev.proba, digits, split=ev.split)
    else:
        for correct, name in ((True, "correct"), (False, "incorrect")):
            keep(name, plots.plot_class_grid, ev.x, ev.y, ev.predicted, ev.proba, names, correct=correct,
                 split=ev.split, **shape)
    keep("worst", plots.plot_worst, ev.x, ev.proba, ev.y, names, k=6, split=ev.split, **shape)
    keep("activations", plots.plot_activation_histograms, view.model, x_norm)
    return written


def _write(view: RunView) -> Path:
    from .report_html import render_html

    hold_run_dir(view.run_dir)  # a run still training there is not written over
    try:
        figures = write_figures(view)
        path = view.run_dir / REPORT_NAME
        write_playground(view.run_dir)  # before the page, which links it when it exists
        write_text(path, render_html(view, figures, run_diagnosis(view)))
    finally:
        release_run_dir(view.run_dir)
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
    plots.plot_worst(ev.x, ev.proba, ev.y, names, k=k, input_shape=shape, split=ev.split,
                     path=figures["worst"]).clear()
    digits = view.config.get("digits")
    if digits and ev.proba.shape[1] <= 2:
        figures["outcomes"] = out / f"outcomes_{ev.split}.png"
        plots.plot_binary_outcomes(ev.x, ev.y, ev.predicted, ev.proba, digits, input_shape=shape,
                                   split=ev.split, path=figures["outcomes"]).clear()
    else:
        for correct, name in ((True, "correct"), (False, "incorrect")):
            figures[name] = out / f"{name}_{ev.split}.png"
            plots.plot_class_grid(ev.x, ev.y, ev.predicted, ev.proba, names, correct=correct,
                                  input_shape=shape, split=ev.split, path=figures[name]).clear()
    return {"split": ev.split, "worst": worst, "figures": figures}


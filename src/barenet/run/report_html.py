"""The HTML page of a run report: one summary line with the resolved model and recipe, the
diagnosis, a table of contents, the results, the most-confused pairs, the figures (each with a
caption saying what to look for) and the resolved configuration. Every image is inlined as a
base64 PNG, so the page is self-contained."""

from __future__ import annotations

import base64
import html
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import __version__
from ..inspect.diagnose import Diagnosis
from ..inspect.ranking import most_confused

#: name -> (title, what to look for). The report shows the figures in this order.
FIGURES: dict[str, tuple[str, str]] = {
    "curves": ("Loss and accuracy per epoch",
               "Both losses should fall well below the dashed uniform-guess line and the accuracy rise "
               "far above the chance line. A loss that stays on the dashed line means the network ignores "
               "its input; a validation loss that turns upward while the training loss falls is "
               "overfitting."),
    "batch_loss": ("Loss of every training batch",
                   "A healthy run falls fast, then wobbles around a slowly falling level. Spikes far above "
                   "the first batch's loss, especially early, mean the learning rate is too large."),
    "learning_rate": ("Learning rate", "The schedule as it ran: check that it has the shape you meant "
                      "(constant, step, cosine decay to near zero)."),
    "norms": ("Weight change and gradient norm per layer",
              "Lines should be of similar height across layers. A layer far below the others (or zero, "
              "written under the plot) receives no gradient: vanishing gradients or dead units. Values "
              "growing by orders of magnitude mean exploding gradients."),
    "first_layer_weights": ("First-layer weights",
                            "After learning, units show stroke-like blobs; pure noise means little "
                            "training, identical tiles mean a symmetric start, tiles marked dead "
                            "never fire."),
    "confusion": ("Confusion matrix",
                  "The colours show only the errors (the diagonal is grey): a dark cell is a pair of classes "
                  "the model mixes up; the most-confused pairs are listed above."),
    "samples": ("Random training samples", "Check that the images and labels are what you expect."),
    "augmented": ("Augmented training samples",
                  "What the augmentation makes of a few training images (each column: the original on "
                  "top, random copies below). Every copy should still be plainly its digit; one that is "
                  "not teaches the network a wrong label."),
    "outcomes": ("True / false positives and negatives",
                 "The false positive and false negative rows show what the model gets wrong."),
    "roc_pr": ("ROC and precision-recall curves",
               "The closer the curves hug the top-left (ROC) and top-right (precision-recall) corners, the "
               "better the scores separate the two digits at every threshold."),
    "probabilities": ("Predicted probabilities by true digit",
                      "Each digit's histogram should pile up at its own end; mass on the wrong side of the "
                      "threshold is an error, mass in the middle is uncertainty."),
    "correct": ("Correctly classified, per class", "Typical, confidently recognized examples."),
    "incorrect": ("Incorrectly classified, per class",
                  "Are the errors plausible (badly written digits) or absurd (a sign of a bug)?"),
    "worst": ("Worst predictions", "The highest-loss samples: the true class is green and outlined; a "
              "confident wrong answer on a clear image deserves a look."),
    "activations": ("Hidden activations",
                    "ReLU layers should spread over positive values with few dead units; sigmoid or tanh "
                    "layers should not pile up at their limits."),
}

#: Files another exporter may write into a run directory, linked from the report when present
#: (label, file name). This is the place for the HTML playground export's link.
RUN_LINKS: tuple[tuple[str, str], ...] = (("Interactive playground", "playground.html"),)

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em;
       margin-top: 2em; }
.summary { font-size: 1.1em; background: #f4f6fa; padding: .5em .8em; border-radius: 4px; }
table { border-collapse: collapse; margin: .5em 0; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: .85em; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption b { display: block; font-size: 1.05em; } figcaption { margin-bottom: .4em; color: #444; }
.finding { border-left: 4px solid #d9822b; background: #fff7ee; padding: .5em 1em; margin: .6em 0; }
.finding.error { border-left-color: #c33; background: #fdeeee; }
.ok { border-left: 4px solid #3a3; background: #f2fbf2; padding: .5em 1em; }
.unsure { border-left: 4px solid #888; background: #f5f5f5; padding: .5em 1em; }
.muted { color: #777; } nav ol { columns: 2; }
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


_NAMES = {"relu": "ReLU", "leaky_relu": "leaky ReLU", "sigmoid": "sigmoid", "tanh": "tanh",
          "identity": "identity", "softmax": "softmax", "cross_entropy": "cross-entropy",
          "binary_cross_entropy": "binary cross-entropy", "squared_error": "squared error",
          "adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}


def resolved_config(view: Any) -> dict[str, Any]:
    """The configuration with every ``auto`` replaced by what the run used."""
    config = dict(view.config)
    recipe = view.recipe
    config.update(output=recipe.output, loss=recipe.loss, init=recipe.init)
    if config.get("weight_decay") is None:
        config["weight_decay"] = 0.01 if config.get("optimizer") == "adamw" else 0.0
    return config


def _epochs(n: Any) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def recipe_line(view: Any) -> str:
    """One line: '784-192-10 ReLU/softmax, cross-entropy, he_normal, Adam lr 0.005 cosine, 5 epochs'."""
    c, model = resolved_config(view), view.model
    sizes = "-".join(map(str, model.sizes)) if model is not None else "?"
    hidden = "/".join(_NAMES.get(h, h) for h in dict.fromkeys(model.hidden)) if model is not None else ""
    output = _NAMES.get(c["output"], c["output"])
    head = f"{hidden}/{output}" if hidden else output
    optimizer = _NAMES.get(c.get("optimizer"), c.get("optimizer"))
    parts = [f"{sizes} {head}", f"{_NAMES.get(c['loss'], c['loss'])}" + (" (summed)" if c.get("reduction")
                                                                          == "sum" else ""),
             str(c["init"]), f"{optimizer} lr {c.get('lr'):g} {c.get('schedule')}",
             _epochs(view.metrics.get("epochs_run", c.get("epochs")))]
    if c.get("dropout"):
        parts.insert(3, f"dropout {c['dropout']:g}")
    if c.get("input_dropout"):
        parts.insert(3, f"input dropout {c['input_dropout']:g}")
    if c.get("input_noise"):
        parts.insert(3, f"input noise {c['input_noise']:g}")
    if c.get("noise"):
        parts.insert(3, f"noise {c['noise']:g}")
    if c.get("batch_norm"):
        parts.insert(3, "batch norm")
    if c.get("digits"):
        parts.append(f"digits {c['digits'][0]} vs {c['digits'][1]}")
    return ", ".join(parts)


def report_links(run_dir: Path) -> list[tuple[str, str]]:
    """(label, relative href) of the companion files present in ``run_dir`` (:data:`RUN_LINKS`)."""
    return [(label, name) for label, name in RUN_LINKS if (run_dir / name).exists()]


def _diagnosis_html(diagnosis: Diagnosis) -> str:
    parts = []
    for f in diagnosis.findings:
        when = f" (from epoch {_e(f.epoch)})" if f.epoch else ""
        parts.append(f'<div class="finding {_e(f.severity)}"><b>{_e(f.title)}</b>{when}'
                     f"<br>{_e(f.explanation)}"
                     + (f"<br><b>Measured:</b> {_e(f.measured)}" if f.measured else "")
                     + f"<br><b>Fix:</b> {_e(f.fix)}</div>")
    css = "ok" if diagnosis.healthy else ("unsure" if not diagnosis.findings else "muted")
    marks = {True: "ok", False: "problem", None: "not measured"}
    rows = [[_e(c.name), _e(marks[c.ok]), _e(c.signal)] for c in diagnosis.checks]
    parts.append(f'<div class="{css}">{_e(diagnosis.summary())}.</div>'
                 + _table(["check", "result", "signal"], rows, left=3))
    return "\n".join(parts)


def render_html(view: Any, figures: dict[str, Path], diagnosis: Diagnosis) -> str:
    """The report page as one HTML string (images inlined as base64 PNG data URIs)."""
    m = view.metrics
    sections: list[tuple[str, str, str]] = []  # (id, title, html)
    sections.append(("diagnosis", "Diagnosis", _diagnosis_html(diagnosis)))
    rows = [[_e(split), _num(m[split].get("loss")), _num(m[split].get("accuracy"), True),
             _num(m[split].get("samples"))] for split in ("train", "validation", "test") if m.get(split)]
    extra = [f"epochs run: {_e(m.get('epochs_run', len(view.history)))}"]
    if m.get("diverged"):
        extra.append(f"<b>diverged</b>: {_e(m.get('divergence'))}")
    if m.get("restored_best_epoch"):
        extra.append(f"best weights restored from epoch {_e(m['restored_best_epoch'])}")
    timings = m.get("timings") or {}
    if timings:
        extra.append("time: " + ", ".join(f"{_e(k.replace('_seconds', ''))} {v:.1f} s"
                                          for k, v in timings.items() if isinstance(v, int | float)))
    sections.append(("results", "Results", _table(["split", "loss", "accuracy", "samples"], rows)
                     + "<p>" + " · ".join(extra) + "</p>"))
    split = next((s for s in ("test", "validation", "train") if (m.get(s) or {}).get("report")), None)
    if split:
        report = m[split]["report"]
        rows = [[_e(c["name"]), _num(c["precision"]), _num(c["recall"]), _num(c["f1"]), _e(c["support"])]
                for c in report["classes"]]
        rows.append(["<b>macro</b>", _num(report["macro_precision"]), _num(report["macro_recall"]),
                     _num(report["macro_f1"]), _e(report["n_samples"])])
        names = [c["name"] for c in report["classes"]]
        pairs = most_confused(report["confusion_matrix"], names, k=5)
        confused = (_table(["true", "predicted as", "samples", "share of the true class"],
                           [[_e(p["true"]), _e(p["predicted"]), _e(p["count"]), _num(p["share"], True)]
                            for p in pairs], left=2) if pairs else "<p>No errors.</p>")
        cm_rows = [[f"<b>{_e(n)}</b>"] + [_e(v) for v in row]
                   for n, row in zip(names, report["confusion_matrix"], strict=True)]
        body = (_table(["class", "precision", "recall", "f1", "support"], rows)
                + f"<h3>Most-confused pairs ({_e(split)} split)</h3>" + confused
                + f"<h3>Confusion matrix ({_e(split)} split; rows: true, columns: predicted)</h3>"
                + _table(["", *names], cm_rows))
        outcomes = m[split].get("outcomes")
        if outcomes:
            rows = [[_e(k), _e(outcomes[k]), _e(outcomes["meaning"][k])] for k in ("TP", "FP", "TN", "FN")]
            body += "<h3>Binary outcomes</h3>" + _table(["outcome", "count", "meaning"], rows)
        sections.append(("per-class", f"Per class ({split} split)", body))
    figs = []
    if view.data_error:
        figs.append('<p class="muted">Image grids skipped: the data could not be loaded '
                    f"({_e(view.data_error)}).</p>")
    for name in [n for n in FIGURES if n in figures] + [n for n in figures if n not in FIGURES]:
        title, look = FIGURES.get(name, (name, ""))
        figs.append(f'<figure id="fig-{_e(name)}"><figcaption><b>{_e(title)}</b>{_e(look)}</figcaption>'
                    f'<img alt="{_e(title)}" src="{_data_uri(figures[name])}"></figure>')
    sections.append(("figures", "Figures", "\n".join(figs)))
    if view.model is not None:
        sections.append(("model", "Model", "<pre>" + _e(view.model.summary()) + "</pre>"))
    config = resolved_config(view)
    cfg_rows = [[_e(k), _e(v)] for k, v in config.items() if v is not None and v != ""]
    sections.append(("configuration", "Configuration (resolved)",
                     _table(["option", "value"], cfg_rows, left=2)
                     + '<p class="muted">Reproduce with <code>barenet train --config '
                     f"{_e(view.run_dir / 'config.toml')}</code></p>"))
    links = report_links(view.run_dir)
    if links:
        sections.append(("links", "Also in this run", "<ul>" + "".join(
            f'<li><a href="{_e(href)}">{_e(label)}</a></li>' for label, href in links) + "</ul>"))
    toc = "<nav><b>Contents</b><ol>" + "".join(f'<li><a href="#{i}">{_e(t)}</a></li>' for i, t, _ in sections)
    toc += "".join(f'<li><a href="#fig-{_e(n)}">{_e(FIGURES.get(n, (n, ""))[0])}</a></li>' for n in figures)
    toc += "</ol></nav>"
    head = [f"<h1>barenet run report: {_e(view.run_dir.name)}</h1>",
            f'<p class="summary">{_e(recipe_line(view))}</p>',
            f'<p class="muted">{_e(view.run_dir)} · generated {datetime.now():%Y-%m-%d %H:%M} · '
            f"barenet {_e(__version__)}</p>"]
    if view.config.get("description"):
        head.append(f"<p>{_e(view.config['description'])}</p>")
    first, rest = sections[0], sections[1:]
    body = "\n".join(head + [f'<h2 id="{first[0]}">{first[1]}</h2>{first[2]}', toc]
                     + [f'<h2 id="{i}">{_e(t)}</h2>\n{h}' for i, t, h in rest])
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>barenet report: {_e(view.run_dir.name)}</title><style>{_CSS}</style></head>"
            f"<body>\n{body}\n</body></html>\n")

"""``barenet report``, ``inspect`` and ``diagnose``: looking inside a run directory."""

from __future__ import annotations

import argparse
from typing import Any

from .common import add_command, console_for, positive_int, print_json


def add_parsers(sub: Any) -> None:
    rp = add_command(sub, "report", cmd_report,
                     help="rebuild a run's figures and self-contained report.html")
    rp.add_argument("run", help="a run directory")

    ins = add_command(sub, "inspect", cmd_inspect,
                      help="print the worst predictions and write the image grids")
    ins.add_argument("run", help="a run directory")
    ins.add_argument("--top", "-k", type=positive_int, default=10, metavar="K",
                     help="how many worst predictions (default 10)")
    ins.add_argument("--split", choices=("test", "validation", "train"),
                     help="which split (default: test, else validation)")

    dg = add_command(sub, "diagnose", cmd_diagnose,
                     help="explain why a run does not learn, and how to fix it")
    dg.add_argument("run", help="a run directory")


def cmd_report(args: argparse.Namespace) -> int:
    from ..run.report import write_report

    path = write_report(args.run)
    if args.json:
        print_json({"report": str(path)})
    else:
        console_for(args).print(f"wrote {path} (figures in {path.parent / 'figures'})")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from rich.table import Table

    from ..run.report import inspect_run

    found = inspect_run(args.run, k=args.top, split=args.split)
    figures = {k: str(v) for k, v in found["figures"].items()}
    if args.json:
        print_json({"split": found["split"], "worst": found["worst"], "figures": figures})
        return 0
    console = console_for(args)
    table = Table(title=f"worst predictions ({found['split']} split, highest loss first)",
                  title_justify="left")
    for col in ("index", "true", "predicted", "p(predicted)", "p(true)", "loss"):
        table.add_column(col, justify="right")
    for w in found["worst"]:
        table.add_row(str(w["index"]), w["true_name"], w["predicted_name"],
                      f"{w['proba'][w['predicted']]:.3f}", f"{w['true_proba']:.3f}", f"{w['loss']:.3f}")
    console.print(table)
    for name, path in figures.items():
        console.print(f"{name}: {path}", markup=False)
    return 0


def labelled_lines(rows: list[tuple[str, str]]) -> Any:
    """A rich grid of ``label  text`` rows whose wrapped text keeps a hanging indent (the
    continuation lines start under the text, not under the label)."""
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column(overflow="fold")
    for label, text in rows:
        grid.add_row(Text(label), Text(text))
    return grid


def print_trimmed(console: Any, renderable: Any) -> None:
    """Print ``renderable`` without the spaces rich pads each table cell with at the end of a
    line (they would trail every copied line)."""
    from rich.segment import Segment, Segments

    for line in console.render_lines(renderable, pad=False):
        segments = list(line)
        while segments and not segments[-1].control and not segments[-1].text.strip():
            segments.pop()
        if segments:
            last = segments[-1]
            segments[-1] = Segment(last.text.rstrip(), last.style, last.control)
        console.print(Segments([*segments, Segment.line()]), end="")


def diagnosis_renderables(diagnosis: Any) -> list[Any]:
    """What ``barenet diagnose`` prints for a :class:`~barenet.inspect.diagnose.Diagnosis`."""
    from rich.padding import Padding
    from rich.text import Text

    out: list[Any] = []
    for f in diagnosis.findings:
        when = f" (from epoch {f.epoch})" if f.epoch else ""
        out.append(Text(f"{f.title}{when}", style="bold yellow"))
        rows = [("why:", f.explanation)] + ([("measured:", f.measured)] if f.measured else [])
        out.append(Padding(labelled_lines(rows + [("fix:", f.fix)]), (0, 0, 0, 2), expand=False))
    style = "bold green" if diagnosis.healthy else "bold"
    out.append(Text(diagnosis.summary(), style=style))
    marks = {True: "ok", False: "PROBLEM", None: "not measured"}
    out.append(Padding(labelled_lines([(f"{c.name}:", f"{marks[c.ok]}; {c.signal}"
                                        if c.ok is not None else marks[None]) for c in diagnosis.checks]),
                       (0, 0, 0, 2), expand=False))
    return out


def cmd_diagnose(args: argparse.Namespace) -> int:
    from ..run.report import load_run, run_diagnosis

    view = load_run(args.run)
    diagnosis = run_diagnosis(view)
    if args.json:
        print_json({"run": str(args.run), **diagnosis.to_dict(), "data_error": view.data_error})
        return 0
    console = console_for(args)
    if view.data_error:
        console.print(f"note: unit and input checks skipped, the data could not be loaded: {view.data_error}",
                      markup=False)
    for renderable in diagnosis_renderables(diagnosis):
        print_trimmed(console, renderable)
    return 0

"""Run every exercise config (faithful and best) and write docs/exercises.md from the results.

    python examples/run_all.py                     # everything (tens of minutes on 2 cores)
    python examples/run_all.py --only e3-best      # one config (repeat --only for more)
    python examples/run_all.py --quick             # smoke run: 1 epoch on a small subset

Each config trains through :func:`barenet.runner.train_run` into ``runs/exercises/<name>/``
(model, config, history, metrics, plus ``summary.json`` with the wall time). The table is then
rebuilt from every ``summary.json`` found there, so ``--only`` refreshes some rows and keeps
the others from earlier runs. ``--quick`` writes under ``runs/exercises-quick/`` and its table
to ``runs/exercises-quick/exercises.md``, never over docs/exercises.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import exercises  # noqa: E402  (the module beside this script)

from barenet import __version__  # noqa: E402
from barenet.config import TrainConfig  # noqa: E402
from barenet.files.jsonsafe import json_text  # noqa: E402
from barenet.threads import blas_threads as barenet_threads  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs" / "exercises"
QUICK_RUNS = ROOT / "runs" / "exercises-quick"
DOCS = ROOT / "docs" / "exercises.md"


SUMMARY = "summary.json"  #: what run_one adds to each run directory (wall time, log)

def small_overrides(config: TrainConfig, epochs: int = 1, per_class: int | None = None) -> dict[str, Any]:
    """Overrides that make a config a smoke run: ``epochs`` epochs on the first ``per_class``
    images of each class (default 100), with a batch no larger than the data."""
    k = per_class or 100
    if config.per_class is not None:
        k = min(k, config.per_class)
    n_classes = 2 if config.digits else 10
    n_train = n_classes * (k - round(config.val_fraction * k))
    batch = config.batch_size
    if isinstance(batch, int) and batch > n_train // 2:
        batch = max(1, n_train // 4)
    return {"epochs": min(epochs, config.epochs), "per_class": k, "batch_size": batch,
            "early_stopping": None}


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Limit BLAS to ``n`` threads for every run (``n`` = 0: leave the library's default)."""
    if n <= 0:
        yield
        return
    with barenet_threads(n):
        yield


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return (f"{platform.node()} ({platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} logical "
            f"CPUs), Python {platform.python_version()}, NumPy {np.__version__}, barenet {__version__}")


def run_one(example: exercises.Example, runs: Path, quick: bool) -> dict[str, Any]:
    overrides = small_overrides(exercises.load_config(example)) if quick else {}
    out = runs / example.name
    print(f"== {example.name}: {example.title}", flush=True)
    log: list[str] = []

    def printer(line: str) -> None:
        log.append(line)
        print("   " + line, flush=True)

    (out / SUMMARY).unlink(missing_ok=True)  # ours; the earlier run's files go with --overwrite
    run = exercises.run_example(example, out=out, printer=printer, overwrite=True, **overrides)
    summary: dict[str, Any] = {
        "name": example.name, "seconds": run.seconds, "error": run.error, "quick": quick,
        "overrides": overrides, "date": datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "before_training": {"loss": run.before[0], "accuracy": run.before[1]},
        "nll_every_100": run.nll,
    }
    if run.result is not None:
        metrics = run.result.metrics
        summary["metrics"] = {split: {"loss": metrics[split]["loss"], "accuracy": metrics[split]["accuracy"]}
                              for split in ("train", "validation", "test") if split in metrics}
        history = run.result.history
        summary["epochs_run"] = len(history)
        summary["train_accuracy_by_epoch"] = history.column("train_accuracy")
        if "test_accuracy" in history.last:
            summary["test_accuracy_by_epoch"] = history.column("test_accuracy")
        if "val_accuracy" in history.last and history.last["val_accuracy"] is not None:
            summary["val_accuracy_by_epoch"] = history.column("val_accuracy")
    out.mkdir(parents=True, exist_ok=True)
    (out / SUMMARY).write_text(json_text(summary, indent=2))
    if log:
        (out / "printed.txt").write_text("\n".join(log) + "\n")
    shown = summary.get("metrics", {})
    print("   " + (f"stopped: {run.error}" if run.error else
                   "  ".join(f"{k} {100 * v['accuracy']:.2f} %" for k, v in shown.items()))
          + f"  ({run.seconds:.1f} s)", flush=True)
    return summary


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f} %"


EXCERPT_EPOCHS = (1, 2, 5, 10, 12, 15, 20, 30, 50, 70, 100, 150)


def _excerpt(values: list[float] | None, epochs: tuple[int, ...] = EXCERPT_EPOCHS) -> str:
    if not values:
        return ""
    picked = [e for e in epochs if e <= len(values)]
    if len(values) not in picked:
        picked.append(len(values))
    return ", ".join(f"{e}: {100 * values[e - 1]:.1f}" for e in picked)


def build_table(runs: Path) -> tuple[str, list[str]]:
    """The markdown table and the notes, from the summaries under ``runs``."""
    head = ("| config | exercise | what | exercise reported / aim | faithful: train | faithful: test "
            "| best: validation | best: test | epochs | wall time |")
    lines = [head, "|" + "---|" * 10]
    notes: list[str] = []
    for example in exercises.EXAMPLES:
        path = runs / example.name / SUMMARY
        summary = json.loads(path.read_text()) if path.exists() else None
        cells = [f"`{example.name}`", example.exercise, example.title, example.reported]
        if summary is None:
            cells += ["not run"] + [""] * 5
        elif summary.get("error"):
            cells += ["stopped (see notes)", "", "", "", "", f"{summary['seconds']:.0f} s"]
        else:
            m = summary["metrics"]
            train, test = m["train"]["accuracy"], m.get("test", {}).get("accuracy")
            if example.kind == "faithful":
                cells += [_pct(train), _pct(test), "", ""]
            else:
                verdict = ""
                if example.aim is not None and test is not None:
                    verdict = " (met)" if test >= example.aim else " (missed)"
                cells += ["", "", _pct(m.get("validation", {}).get("accuracy")), _pct(test) + verdict]
            cells += [str(summary["epochs_run"]), f"{summary['seconds']:.0f} s"]
        lines.append("| " + " | ".join(cells) + " |")
        notes.append(_note(example, summary))
    return "\n".join(lines), notes


def _note(example: exercises.Example, summary: dict[str, Any] | None) -> str:
    config = exercises.load_config(example)
    parts = [f"### `{example.name}` ({example.exercise}, {example.kind})", "", config.description.strip(), ""]
    if summary is None:
        parts.append("Not run yet.")
        return "\n".join(parts)
    if summary.get("error"):
        parts.append(f"**The run stopped**: {summary['error']}")
    before = summary.get("before_training") or {}
    if before.get("accuracy") is not None:
        parts.append(f"- Before training: loss {before['loss']:.4f}, accuracy {_pct(before['accuracy'])} "
                     "on the training data.")
    nll = summary.get("nll_every_100")
    if nll:
        shown = "; ".join(f"{step}: {value:.3f}" for step, value in nll)
        parts.append(f"- Average NLL of the last 100 samples (step: value): {shown}.")
    train_by_epoch = summary.get("train_accuracy_by_epoch")
    if train_by_epoch:
        parts.append("- Training accuracy during each epoch (running, before each update; epoch: %): "
                     + _excerpt(train_by_epoch) + ".")
        passed = next((i + 1 for i, a in enumerate(train_by_epoch) if a is not None and a > 0.5), None)
        parts.append("- First epoch whose training accuracy passed 50 %: "
                     + (f"{passed}." if passed else "never."))
        if len(train_by_epoch) >= 20:
            tail = train_by_epoch[-10:]
            parts.append(f"- Training accuracy over the last 10 epochs: {_pct(min(tail))} "
                         f"to {_pct(max(tail))}.")
    for key, what in (("test_accuracy_by_epoch", "Test accuracy after each epoch"),
                      ("val_accuracy_by_epoch", "Validation accuracy after each epoch")):
        if summary.get(key):
            parts.append(f"- {what} (epoch: %): " + _excerpt(summary[key]) + ".")
    if summary.get("quick"):
        parts.append(f"- Quick smoke run with overrides {summary['overrides']}.")
    parts.append(f"- Run: {summary['date']}, {summary['seconds']:.1f} s.")
    return "\n".join(parts)


def write_docs(runs: Path, path: Path, threads: int = 1) -> None:
    table, notes = build_table(runs)
    summaries = [json.loads(p.read_text()) for p in
                 (runs / example.name / SUMMARY for example in exercises.EXAMPLES) if p.exists()]
    dates = [summary["date"] for summary in summaries]
    when = f"{min(dates)} to {max(dates)}" if dates else "(no runs yet)"
    if any(summary.get("quick") for summary in summaries):
        when += (" **Quick smoke runs (`--quick`: 1 epoch on a small subset): these numbers only show "
                 "that the configs run**")
    blas = f"BLAS limited to {threads} thread(s) per run" if threads > 0 else "BLAS threads left at default"
    text = f"""# The classic exercises, reproduced and beaten

<!-- Generated by `python examples/run_all.py`; do not edit by hand: rerun the script. -->

**Generated by `python examples/run_all.py`, never typed by hand.**

- Runs: {when}.
- Machine: {machine()}; {blas}.
- Wall time is the whole `train_run` call (data, training, evaluation, writing the run
  directory). It is noisy: other engineers' jobs share this machine's two cores, so the same
  config can take twice as long from one run to the next.

Every config is a TOML file in `examples/`, runnable alone with
`barenet train --config examples/NAME.toml`. *Faithful* configs reproduce the exercise in
MISSION.md (E1-E5): its data preparation, initialization, loss, reduction, optimizer, batch
size and epochs; the exercise's own result is in the *reported* column (E1 reports training
accuracy). *Best* configs are barenet's best recipe on the same training data (the same
subset where the exercise restricts it), chosen on a validation split carved from that
training data, never on the test set; the *aim* is issue 6's target for the test accuracy.
Accuracies are measured after training: *train* on the training data the run used, *test* on
the data set's test split. Each config's description, repeated in the notes below, says how
the recipe was chosen and where barenet departs from the original code. The same exercises
as Jupyter notebooks, written with the library API: [notebooks.md](notebooks.md).

{table}

## Notes

""" + "\n\n".join(notes) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this config (a name from examples/, e.g. e3-best); repeatable")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1 epoch on a small subset, into runs/exercises-quick/")
    parser.add_argument("--runs", type=Path, help="where run directories go (default runs/exercises)")
    parser.add_argument("--docs", type=Path, help="where the table goes (default docs/exercises.md)")
    parser.add_argument("--no-run", action="store_true", help="only rebuild the table from earlier runs")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads (default 1: these small matrices run several times faster on one "
                             "thread, above all on a busy machine; 0 leaves the library's default)")
    args = parser.parse_args(argv)
    runs = args.runs or (QUICK_RUNS if args.quick else RUNS)
    docs = args.docs or (runs / "exercises.md" if args.quick else DOCS)
    try:
        selected = [exercises.get_example(n) for n in args.only] if args.only else exercises.EXAMPLES
    except KeyError as exc:
        parser.error(str(exc.args[0]))
    if not args.no_run:
        with blas_threads(args.threads):
            for example in selected:
                run_one(example, runs, args.quick)
    write_docs(runs, docs, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())

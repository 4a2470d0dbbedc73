"""The two MNIST records of issue 20, chosen on validation only, then one test evaluation each.

For each record (``noaug``: no augmentation, ``aug``: affine + elastic distortions) the
starting recipe is examples/record-<name>.toml. Each candidate of :data:`RECORDS` (overrides
of that recipe) is trained for ``selection_epochs`` on the training split with the test set
removed from the data (so it cannot leak into the choice) and scored by validation accuracy;
the best is trained for the recipe's full epochs, and that one model is evaluated once on the
10000 test images. docs/records.md gets the recipe, epochs, wall time, validation and test
accuracy, the paper's figure beside it, and the learning curve.

    PYTHONPATH=src python examples/records.py                  # both records (hours)
    PYTHONPATH=src python examples/records.py --only aug       # one
    PYTHONPATH=src python examples/records.py --smoke --out /tmp/records.md   # minutes
    PYTHONPATH=src python examples/records.py --only noaug --set epochs=250 --runs records-runs-250
                                                   # another attempt: every candidate overridden

``--smoke`` runs the same code on 30 images per digit for 1 epoch (a check that it works, not
a record; the page says so).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from barenet.config import make_config, read_toml  # noqa: E402
from barenet.data.mnist import load_mnist  # noqa: E402
from barenet.files.atomic import write_text  # noqa: E402
from barenet.run.config import tomllib  # noqa: E402  (tomli before Python 3.11)
from barenet.run.runner import train_run  # noqa: E402
from barenet.train.evaluation import evaluate  # noqa: E402


@dataclass(frozen=True)
class Record:
    name: str
    title: str
    paper: str  # the paper's figure, for the page
    target: float  # test accuracy to reach
    candidates: tuple[dict[str, Any], ...]  # overrides of examples/record-<name>.toml
    selection_epochs: int  # epochs of each candidate during selection
    source: str = ""  # where the recipe comes from, when not from the paper above

    @property
    def path(self) -> Path:
        return ROOT / "examples" / f"record-{self.name}.toml"


RECORDS = (
    Record("noaug", "Without augmentation",
           "Srivastava et al. 2014, 3 x 1024 ReLU, dropout + max-norm: 98.94 % (1.06 % error)", 0.990,
           ({},), 15,
           "the supervised baseline of Rasmus et al. 2015 (ladder networks): batch normalization "
           "and Gaussian noise on the inputs and every hidden layer; the earlier recipe, "
           "Srivastava's, is examples/record-noaug-dropout.toml"),
    Record("aug", "With augmentation",
           "Simard et al. 2003, 784-800-10, elastic distortions: 99.3 % (0.7 % error)", 0.993,
           ({}, {"dropout": 0.0}, {"layers": [800], "dropout": 0.0}), 20),
)
RECORD_BY_NAME = {r.name: r for r in RECORDS}
SMOKE = {"per_class": 30, "epochs": 1}
#: Validation error (points) gained over a run's last quarter above which its curve counts as
#: still falling (6 images of the 6000 in the validation split).
STILL_FALLING = 0.1


def _without_test(ds):
    return dataclasses.replace(ds, x_test=None, y_test=None)


class _EpochLines:
    """Prints one line per epoch (the record runs last an hour: this is their log)."""

    def __init__(self, label: str, printer) -> None:
        self.label, self.printer, self.started = label, printer, time.perf_counter()
        self.seen = 0  # epochs run in this process

    def on_epoch_end(self, trainer, record: dict[str, Any]) -> None:
        self.seen += 1
        self.printer(f"{self.label}: epoch {trainer.epoch}/{trainer.epochs} "
                     f"loss {record['train_loss']:.4f} val_acc {record['val_accuracy']:.4%} "
                     f"{time.perf_counter() - self.started:.0f} s")


def command_line(record: Record, chosen: dict[str, Any], threads: int) -> str:
    """The ``barenet train`` command that repeats the final run of ``record``."""
    from barenet.run.options import option

    flags = []
    for name, value in chosen.items():
        flag = option(name).flag_name
        values = value if isinstance(value, list) else [value]
        flags.append(f"{flag} " + " ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in values))
    return " ".join([f"barenet train --config examples/record-{record.name}.toml", *flags,
                     f"--threads {threads}"])


def run_record(record: Record, smoke: bool, runs: Path, threads: int = 1,
               printer=print, resume: bool = False) -> dict[str, Any]:
    """Select on validation, train the chosen recipe, evaluate it once on the test set.

    The final run is a run directory, ``runs/<name>`` (model, config.toml, history, report,
    a checkpoint every 10 epochs); the test set is not in its data, so it plays no part in
    training, selection or early decisions. Returns what the page needs (JSON-ready).

    ``resume`` continues an interrupted final run from its checkpoint (bit for bit the run it
    would have been); its wall time is then the sum of its epochs' times plus this process's
    time outside them. Only a record with a single candidate can be resumed: the scores of an
    interrupted selection are not kept."""
    if resume and len(record.candidates) != 1:
        raise SystemExit(f"{record.name}: only a record with one candidate can be resumed")
    base = read_toml(record.path)
    full = load_mnist()
    no_test = _without_test(full)
    started = time.perf_counter()
    scores = []
    for overrides in record.candidates if len(record.candidates) > 1 else ():
        epochs = 1 if smoke else record.selection_epochs
        config = make_config(base, **{**overrides, "epochs": epochs, **(SMOKE if smoke else {})},
                             threads=threads)
        result = train_run(config, write=False, dataset=no_test)
        val = result.metrics["validation"]["accuracy"]
        scores.append((val, overrides))
        printer(f"{record.name}: candidate {overrides or 'base'}: validation {val:.4%} "
                f"after {epochs} epoch(s)")
    # first of the ties: the earlier candidate; a single candidate needs no selection run
    chosen = max(scores, key=lambda s: s[0])[1] if scores else record.candidates[0]
    config = make_config(base, **{**chosen, **(SMOKE if smoke else {})}, threads=threads,
                         checkpoint_every=10)
    final_started = time.perf_counter()
    lines = _EpochLines(record.name, printer)
    result = train_run(config, out=runs / record.name, dataset=no_test, overwrite=not resume,
                       resume=resume, callbacks=[lines])
    final_seconds = time.perf_counter() - final_started
    resumed_at, earlier_seconds = None, 0.0
    if resume:  # the epochs before the checkpoint ran in an earlier process
        resumed_at = len(result.history) - lines.seen
        earlier_seconds = sum(e["seconds"] for e in result.history.epochs[:resumed_at])
    final_seconds += earlier_seconds
    data = result.data
    x_test = full.x_test.reshape(len(full.x_test), -1)
    test_loss, test_accuracy = evaluate(result.model, x_test, full.y_test, result.loss, data.normalizer)
    printer(f"{record.name}: chosen {chosen or 'base'}; test {test_accuracy:.4%}")
    return {"record": record.name, "config": config.to_toml(), "chosen": chosen,
            "scores": [[v, o] for v, o in scores], "history": result.history.epochs,
            "validation": result.metrics["validation"]["accuracy"],
            "test_accuracy": float(test_accuracy), "test_loss": float(test_loss),
            "final_seconds": final_seconds,
            "total_seconds": time.perf_counter() - started + earlier_seconds,
            "command": command_line(record, chosen, threads), "smoke": smoke,
            "machine": machine(), "resumed_at_epoch": resumed_at}


def machine() -> str:
    """The CPU and BLAS the run used, for the page."""
    import platform

    from threadpoolctl import threadpool_info

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = next((f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})"
                 for i in threadpool_info() if i.get("user_api") == "blas"), "unknown BLAS")
    return f"{cpu}, {os.cpu_count()} cores, {blas}"


def _curve(history: list[dict[str, Any]], rows: int = 12) -> list[str]:
    step = max(1, len(history) // rows)
    picked = history[step - 1::step]
    if history and picked[-1] is not history[-1]:
        picked.append(history[-1])
    lines = ["| epoch | train loss | train acc | val loss | val acc |", "|---:|---:|---:|---:|---:|"]
    for i, e in enumerate(history):
        if any(e is p for p in picked):
            lines.append(f"| {i + 1} | {e['train_loss']:.4f} | {e['train_accuracy']:.2%} | "
                         f"{e['val_loss']:.4f} | {e['val_accuracy']:.2%} |")
    return lines


def _trend(history: list[dict[str, Any]]) -> str:
    """Validation error at a quarter, half, three quarters and the end of the run."""
    n = len(history)
    marks = sorted({max(1, round(n * f)) for f in (0.25, 0.5, 0.75, 1.0)})
    return ", ".join(f"{100 * (1 - history[m - 1]['val_accuracy']):.2f} % at epoch {m}" for m in marks)


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def distortion_grid(path: Path, spec: str) -> None:
    """The report's grid of augmented samples (:func:`barenet.inspect.plots.plot_augmented`)
    for ``spec``, as a PNG beside the page."""
    from barenet.data.augment_spec import augmentation_for
    from barenet.inspect.plots import plot_augmented

    plot_augmented(load_mnist().x_train, augmentation_for(spec, (28, 28)), spec=spec, path=path)


def curve_figure(path: Path, results: list[dict[str, Any]]) -> None:
    """A PNG of each final run's validation error by epoch (log scale), beside its target."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from barenet.files.atomic import write_bytes

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.6), squeeze=False)
    for ax, r in zip(axes[0], results, strict=True):
        rec = RECORD_BY_NAME[r["record"]]
        epochs = range(1, len(r["history"]) + 1)
        ax.plot(epochs, [100 * (1 - e["val_accuracy"]) for e in r["history"]], label="validation error")
        ax.plot(epochs, [100 * (1 - e["train_accuracy"]) for e in r["history"]], label="training error",
                alpha=0.6)
        ax.axhline(100 * (1 - rec.target), color="gray", ls="--", lw=1, label="target (test)")
        ax.axhline(100 * (1 - r["test_accuracy"]), color="C3", ls=":", lw=1, label="final test error")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("error (%)")
        ax.set_title(rec.title, fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    write_bytes(path, buffer.getvalue())


def page(results: list[dict[str, Any]], figure: str | None = None,
         earlier: dict[str, list[dict[str, Any]]] | None = None) -> str:
    """The page; ``earlier`` holds each record's other attempts (:func:`_earlier_lines`)."""
    earlier = earlier or {}
    smoke = any(r["smoke"] for r in results)
    lines = ["# Records: the best plain MLP on MNIST", "",
             "Written by `examples/records.py`. Each recipe is chosen on the validation split (10 % of "
             "the training set) with the test set removed from the data; the chosen recipe is trained "
             "once more for its full epochs (still on the 54000 training images, the validation split "
             "held out) and evaluated once on the 10000 test images.", ""]
    if smoke:
        lines += ["**Smoke run only** (`--smoke`: 30 images per digit, 1 epoch): these figures show that "
                  "the script works and are not records.", ""]
    if figure:
        lines += [f"![learning curves]({figure})", ""]
    for r in results:
        rec = RECORD_BY_NAME[r["record"]]
        config = make_config(tomllib.loads(r["config"]))
        grid = ([f"Distorted training samples: ![samples]({r['grid']})", ""] if r.get("grid") else [])
        reached = r["test_accuracy"] >= rec.target
        lines += [f"## {rec.title} (examples/record-{rec.name}.toml)", "",
                  f"- paper: {rec.paper}",
                  *([f"- recipe from: {rec.source}"] if rec.source else []),
                  f"- target: >= {rec.target:.1%} test; "
                  + ("reached" if reached
                     else f"not reached (short by {rec.target - r['test_accuracy']:.2%})"),
                  f"- test accuracy: **{r['test_accuracy']:.2%}** (loss {r['test_loss']:.4f}); "
                  f"validation {r['validation']:.2%}",
                  f"- recipe: {_recipe(config)}",
                  f"- wall time: {_duration(r['final_seconds'])} for the final run"
                  + (f" (interrupted after epoch {r['resumed_at_epoch']} and resumed from its "
                     "checkpoint: the epochs before it plus the resumed process)"
                     if r.get("resumed_at_epoch") else "")
                  + (f", {_duration(r['total_seconds'])} with the selection" if r["scores"]
                     else " (no selection stage)")
                  + f", on {r['machine']}, {config.threads} BLAS thread(s)",
                  _selection(rec, r),
                  f"- validation error along the way: {_trend(r['history'])}",
                  *([] if reached else [f"- what more would give: {_outlook(rec, r)}"]),
                  f"- repeat it: `{r['command']}`",
                  *[f"- {line}" for line in _earlier_lines(r, earlier.get(r["record"], []))],
                  "", *grid, "Learning curve of the final run:", "",
                  *_curve(r["history"]), ""]
    return "\n".join(lines)


def _recipe(config) -> str:
    """The recipe in one line: the shape, then each regularizer the run used, then the training."""
    used = ["batch norm" if config.batch_norm else "",
            f"noise {config.noise:g}" if config.noise else "",
            f"input noise {config.input_noise:g}" if config.input_noise else "",
            f"input dropout {config.input_dropout:g}" if config.input_dropout else "",
            f"dropout {config.dropout:g}" if config.dropout else "",
            f"max-norm {config.max_norm:g}" if config.max_norm else "",
            f"label smoothing {config.label_smoothing:g}" if config.label_smoothing else "",
            f"augment `{config.augment}`" if config.augment != "none" else "",
            f"shift {config.shift}" if config.shift else ""]
    return ", ".join([f"layers {config.layers}", config.hidden, *filter(None, used),
                      f"{config.optimizer} lr {config.lr:g} {config.schedule}",
                      f"batch {config.batch_size}", f"{config.epochs} epochs"])


def _selection(rec: Record, r: dict[str, Any]) -> str:
    if not r["scores"]:
        return f"- selection: none, the recipe is the single candidate {r['chosen'] or 'base'}"
    return (f"- selection ({rec.selection_epochs} epochs each, validation accuracy): "
            + "; ".join(f"{o or 'base'} {v:.2%}" for v, o in r["scores"])
            + f"; chosen {r['chosen'] or 'base'}")


def _outlook(rec: Record, r: dict[str, Any]) -> str:
    """For a missed target, what the learning curve and the cost per epoch say more time or
    width would give: the validation error gained over the run's last half and quarter, and
    the time of the same epochs at twice the width (parameters scale the epoch's cost)."""
    history, config = r["history"], make_config(tomllib.loads(r["config"]))
    n = len(history)

    def error(epoch: int) -> float:
        return 100 * (1 - history[max(1, epoch) - 1]["val_accuracy"])

    half, last_quarter = error(n // 2) - error(n), error(3 * n // 4) - error(n)
    sizes = [784, *config.layers, 10]
    wide = [784, *(2 * w for w in config.layers), 10]
    ratio = (sum(a * b for a, b in zip(wide, wide[1:], strict=False))
             / sum(a * b for a, b in zip(sizes, sizes[1:], strict=False)))
    if last_quarter > STILL_FALLING:
        epochs = (f"it was still falling, so a longer schedule is expected to lower it further "
                  f"(twice the epochs: about {_duration(2 * r['final_seconds'])} here)")
    else:
        epochs = "it had flattened, so more epochs of this schedule are expected to give little"
    return (f"the validation error fell by {half:.2f} points over the second half of the run and "
            f"by {last_quarter:.2f} over the last quarter; {epochs}; twice the width "
            f"({[2 * w for w in config.layers]}) has {ratio:.1f}x the weights, so the same {n} "
            f"epochs would take about {_duration(ratio * r['final_seconds'])} on this machine")


def _earlier_lines(shown: dict[str, Any], others: list[dict[str, Any]]) -> list[str]:
    """One line per other attempt at the same record (each had its own single test
    evaluation); the one shown above is the attempt with the best validation accuracy."""
    lines = [f"other attempt: {o['command']}: validation {o['validation']:.2%}, test "
             f"{o['test_accuracy']:.2%}, final run {_duration(o['final_seconds'])}"
             for o in others if o is not shown and o["smoke"] == shown["smoke"]]
    if lines:
        lines.insert(0, f"attempts: {len(lines) + 1}, each evaluated once on the test set; the one "
                     "shown above has the best validation accuracy (of a tie, the earlier attempt)")
    return lines


def result_path(out: Path, name: str) -> Path:
    """Where a record's result is kept (beside the page, so the page can be rewritten)."""
    return out.with_name(f"{out.stem}-{name}.json")


def earlier_paths(out: Path, name: str) -> list[Path]:
    """The kept results of a record's earlier attempts, oldest first."""
    found = out.parent.glob(f"{out.stem}-{name}-attempt-*.json")
    return sorted(found, key=lambda p: int(p.stem.rsplit("-", 1)[1]))


def keep_earlier(out: Path, name: str) -> None:
    """Moves the record's current result aside as its next attempt file, so that a new run
    never overwrites a result that was evaluated on the test set."""
    current = result_path(out, name)
    if current.exists():
        current.rename(out.with_name(f"{out.stem}-{name}-attempt-{len(earlier_paths(out, name)) + 1}.json"))


def attempts(out: Path, name: str) -> list[dict[str, Any]]:
    """Every kept result of a record, the one with the best validation accuracy first (the
    choice between attempts uses validation only, like the choice between candidates)."""
    paths = [p for p in (*earlier_paths(out, name), result_path(out, name)) if p.exists()]
    results = [json.loads(p.read_text()) for p in paths]
    return sorted(results, key=lambda r: -r["validation"])  # stable: the earlier of ties first


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["epochs=250", "lr=0.001"]`` -> ``{"epochs": 250, "lr": 0.001}`` (values read as TOML,
    so ``augment="none"`` needs its quotes), each checked as the option it names."""
    overrides = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set takes OPTION=VALUE; got {pair!r}")
        try:
            overrides[name.strip()] = tomllib.loads(f"value = {value.strip()}")["value"]
        except tomllib.TOMLDecodeError:
            raise SystemExit(f"--set {pair}: {value!r} is not a TOML value (quote text)") from None
    make_config(None, **overrides)  # an unknown option or a bad value stops here, before training
    return overrides


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="30 images per digit, 1 epoch: a check")
    parser.add_argument("--only", choices=list(RECORD_BY_NAME), action="append",
                        help="run this record only (repeatable)")
    parser.add_argument("--resume", action="store_true",
                        help="continue each record's interrupted final run from its checkpoint")
    parser.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                        help="override an option of every candidate (a TOML value: epochs=250, "
                             "lr=0.001); repeatable. The repeat command of the result names it")
    parser.add_argument("--page-only", action="store_true",
                        help="train nothing: write the page from the results saved in --runs")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads per run (1: the two records can run side by side)")
    parser.add_argument("--runs", type=Path, default=ROOT / "records-runs",
                        help="where the final runs and their results go")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "records.md")
    args = parser.parse_args(argv)
    names = args.only or list(RECORD_BY_NAME)
    overrides = parse_overrides(args.set)
    if not args.page_only:
        for name in names:
            record = RECORD_BY_NAME[name]
            record = dataclasses.replace(record, candidates=tuple({**c, **overrides}
                                                                   for c in record.candidates))
            result = run_record(record, args.smoke, args.runs, args.threads, resume=args.resume)
            keep_earlier(args.out, name)
            write_text(result_path(args.out, name), json.dumps(result, indent=1))
    kept = {name: attempts(args.out, name) for name in RECORD_BY_NAME}
    results = [runs[0] for runs in kept.values() if runs]
    for r in results:
        augment = make_config(tomllib.loads(r["config"])).augment
        if augment != "none":
            grid = args.out.with_name(f"{args.out.stem}-{r['record']}-samples.png")
            distortion_grid(grid, augment)
            r["grid"] = grid.name
    figure = args.out.with_name(f"{args.out.stem}-curves.png")
    curve_figure(figure, results)
    write_text(args.out, page(results, figure.name, kept))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``barenet train``: the options of a run, the progress display, and the signals.

SIGTERM behaves like Ctrl-C: the last completed epoch is checkpointed and the run can be
resumed with ``--resume``.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from ..errors import BarenetError
from ..run.outdir import CHECKPOINT_NAME, CONFIG_NAME
from .common import add_command, console_for, print_json
from .options import add_train_flags, train_values


def add_parser(sub: Any) -> None:
    train = add_command(sub, "train", cmd_train,
                        help="train a network (default: 10-class MNIST, strong recipe)")
    train.add_argument("--config", help="read options from a TOML file (flags override it)")
    train.add_argument("--out", help="run directory (default: runs/<timestamp>)")
    train.add_argument("--overwrite", action="store_true",
                       help="replace the run in an existing --out directory (its old files are removed)")
    train.add_argument("--no-report", action="store_true",
                       help="skip the figures and report.html (saves a few seconds)")
    train.add_argument("--resume", metavar="RUN",
                       help="continue an interrupted run from RUN/checkpoint.npz, bit for bit")
    add_train_flags(train)


def cmd_train(args: argparse.Namespace) -> int:
    from ..run.config import make_config, read_toml
    from ..run.runner import train_run
    from ..train.progress import ProgressBar, results_table

    overrides = train_values(args)
    if args.resume:
        given = [f"--{k.replace('_', '-')}" for k in overrides]
        if given or args.config or args.out or args.overwrite:
            raise BarenetError("--resume continues a run exactly as it was configured; "
                               f"drop {', '.join(given) or '--config/--out/--overwrite'}")
        out: Path | None = _resume_dir(args.resume)
        config = make_config(read_toml(out / CONFIG_NAME))
    else:
        file_options = read_toml(args.config) if args.config else {}
        config = make_config(file_options, **overrides)
        out = Path(args.out) if args.out else None
    console = console_for(args)
    callbacks: list[Any] = []
    if not (args.quiet or args.json):
        from ..inspect.diagnose import LiveDiagnosis

        callbacks = [ProgressBar(), LiveDiagnosis(lambda text: console.print(text, markup=False))]
    claimed: list[Path] = []

    def announce(run_dir: Path) -> None:
        claimed.append(run_dir)
        console.print(("resuming" if args.resume else "training") + f" on {_data_name(config)}"
                      + (f" digits {config.digits[0]} vs {config.digits[1]}" if config.digits else "")
                      + f" -> {run_dir}", soft_wrap=True)  # paths stay whole, never wrapped

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        try:
            result = train_run(config, out=out, callbacks=callbacks, resume=bool(args.resume),
                               overwrite=args.overwrite, on_run_dir=announce,
                               run_options={"report": not args.no_report})
        except BaseException:
            _stop_progress(callbacks)  # first: a live bar would swallow and re-wrap the message
            raise
    except KeyboardInterrupt:
        if not claimed:
            raise
        checkpoint = claimed[0] / CHECKPOINT_NAME
        if checkpoint.exists():
            print(f"barenet: interrupted; the last completed epoch is saved in {checkpoint}. "
                  f"Resume with: barenet train --resume {claimed[0]}", file=sys.stderr)
        else:
            print("barenet: interrupted before the first epoch finished; nothing to resume",
                  file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    report = bool(result.run_options.get("report", True)) and not args.no_report
    if report and not _report_or_interrupt(result):
        return 130
    if args.json:
        print_json({"run_dir": str(result.run_dir), **_short_metrics(result.metrics)})
        return 0
    console.print(results_table(result.metrics))
    saved = "model, config, history, metrics" + (", figures and report.html" if report else "")
    console.print(f"saved {saved} in {result.run_dir}")
    console.print(f"trained on {result.metrics['blas_threads']} BLAS thread(s); "
                  f"barenet train --config {result.run_dir / 'config.toml'} repeats this run bit for bit")
    return 0


def _resume_dir(given: str) -> Path:
    """The directory ``--resume`` names; one that does not exist is a one-line error."""
    run = Path(given)
    if not run.is_dir():
        raise BarenetError(f"--resume {given}: the run directory does not exist; give the "
                           "directory of an interrupted run (the --out of barenet train)")
    if not (run / CONFIG_NAME).is_file():
        raise BarenetError(f"--resume {given}: {run / CONFIG_NAME} not found; is {given} a run "
                           "directory written by barenet train?")
    return run


def _data_name(config: Any) -> str:
    """What a run trains on, as the user named it: the --data path, else the data set."""
    return str(config.data) if config.data else str(config.dataset)


def _report_or_interrupt(result: Any) -> bool:
    """Write the figures and report.html; on Ctrl-C or SIGTERM stop (temporary files are
    removed by the atomic writes), say that the model is saved and how to finish, and return
    False."""
    from ..run.report import write_figures_and_report

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        write_figures_and_report(result.run_dir, result)
    except KeyboardInterrupt:
        print(f"barenet: interrupted while writing the figures and report; the model is saved in "
              f"{result.run_dir / 'model.npz'}. Finish the report with: barenet report "
              f"{result.run_dir}", file=sys.stderr)
        return False
    finally:
        signal.signal(signal.SIGTERM, previous)
    return True


def _stop_progress(callbacks: list[Any]) -> None:
    """Stop live progress bars that training left running (it stopped by an exception: a
    divergence, a full disk, Ctrl-C), so the terminal gets its cursor back."""
    for callback in callbacks:
        progress = getattr(callback, "progress", None)
        if progress is not None:
            progress.stop()


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM behaves like Ctrl-C: checkpoint the last completed epoch and stop."""
    raise KeyboardInterrupt


def _short_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    short: dict[str, Any] = {}
    for split in ("train", "validation", "test"):
        if split in metrics:
            short[split] = {"loss": metrics[split]["loss"], "accuracy": metrics[split]["accuracy"]}
    short["timings"] = metrics.get("timings")
    return short



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
from .common import add_output_flags, console_for, print_json
from .options import add_train_flags, train_values


def add_parser(sub: Any) -> None:
    train = sub.add_parser("train", help="train a network (default: 10-class MNIST, strong recipe)")
    train.add_argument("--config", help="read options from a TOML file (flags override it)")
    train.add_argument("--out", help="run directory (default: runs/<timestamp>)")
    train.add_argument("--no-report", action="store_true",
                       help="skip the figures and report.html (saves a few seconds)")
    train.add_argument("--resume", metavar="RUN",
                       help="continue an interrupted run from RUN/checkpoint.npz, bit for bit")
    add_train_flags(train)
    add_output_flags(train)
    train.set_defaults(handler=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from ..run.config import make_config, read_toml
    from ..run.runner import default_run_dir, train_run
    from ..train.progress import ProgressBar, results_table

    overrides = train_values(args)
    if args.resume:
        given = [f"--{k.replace('_', '-')}" for k in overrides]
        if given or args.config or args.out:
            raise BarenetError("--resume continues a run exactly as it was configured; "
                               f"drop {', '.join(given) or '--config/--out'}")
        out = Path(args.resume)
        config = make_config(read_toml(out / "config.toml"))
    else:
        file_options = read_toml(args.config) if args.config else {}
        config = make_config(file_options, **overrides)
        out = Path(args.out) if args.out else default_run_dir()
    console = console_for(args)
    callbacks: list[Any] = []
    if not (args.quiet or args.json):
        from ..inspect.diagnose import LiveDiagnosis

        callbacks = [ProgressBar(), LiveDiagnosis(lambda text: console.print(text, markup=False))]
    console.print(("resuming" if args.resume else "training") + f" on {config.dataset}"
                  + (f" digits {config.digits[0]} vs {config.digits[1]}" if config.digits else "")
                  + f" -> {out}")
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        try:
            result = train_run(config, out=out, callbacks=callbacks, resume=bool(args.resume))
        except BaseException:
            _stop_progress(callbacks)  # first: a live bar would swallow and re-wrap the message
            raise
    except KeyboardInterrupt:
        checkpoint = out / "checkpoint.npz"
        if checkpoint.exists():
            print(f"barenet: interrupted; the last completed epoch is saved in {checkpoint}. "
                  f"Resume with: barenet train --resume {out}", file=sys.stderr)
        else:
            print("barenet: interrupted before the first epoch finished; nothing to resume",
                  file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not args.no_report:
        from ..run.report import write_figures_and_report

        write_figures_and_report(result.run_dir, result)
    if args.json:
        print_json({"run_dir": str(result.run_dir), **_short_metrics(result.metrics)})
        return 0
    console.print(results_table(result.metrics))
    saved = "model, config, history, metrics" + ("" if args.no_report else ", figures and report.html")
    console.print(f"saved {saved} in {result.run_dir}")
    console.print(f"trained on {result.metrics['blas_threads']} BLAS thread(s); "
                  f"barenet train --config {result.run_dir / 'config.toml'} repeats this run bit for bit")
    return 0


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



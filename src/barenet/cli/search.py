"""``barenet search``: grid or random hyperparameter search on a validation split."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import BarenetError
from .common import add_command, console_for, print_json
from .options import add_search_flags


def add_parser(sub: Any) -> None:
    se = add_command(sub, "search", cmd_search,
                     help="grid or random hyperparameter search on a validation split",
        description="Each option takes one value (fixed) or several (searched), e.g. "
                    "--lr 0.1 0.01 --batch-size 100 1000 --layers 500,250 512,250,50")
    se.add_argument("--config", help="base options from a TOML file")
    se.add_argument("--data", help="a directory of MNIST-format files or an .npz file")
    se.add_argument("--out", help="output directory (default: runs/search-<timestamp>)")
    se.add_argument("--random", type=int, metavar="N",
                    help="random search: N configurations, N >= 1 (default: the whole grid)")
    se.add_argument("--jobs", "-j", type=int, default=1, help="parallel processes (default 1)")
    se.add_argument("--refit-on-all", action="store_true",
                    help="retrain the best configuration on train + validation")
    se.add_argument("--search-seed", type=int, default=0, help="seed of the random search (default: 0)")
    se.add_argument("--no-report", action="store_true", help="skip the best run's figures and report")
    add_search_flags(se)


def cmd_search(args: argparse.Namespace) -> int:
    from rich.table import Table

    from ..run.config import make_config, read_toml
    from ..run.options import SEARCHABLE
    from ..run.search import parse_space, search

    if args.jobs < 1:
        raise BarenetError(f"--jobs must be at least 1; got {args.jobs}")
    file_options = read_toml(args.config) if args.config else {}
    space = parse_space({name: getattr(args, name) for name in SEARCHABLE if getattr(args, name)})
    fixed = {k: v[0] for k, v in space.items() if len(v) == 1}
    searched = {k: v for k, v in space.items() if len(v) > 1}
    base = make_config({**file_options, **fixed, **({"data": args.data} if args.data else {})})
    console = console_for(args)

    def announce(out: Path) -> None:
        console.print(f"searching {', '.join(searched) or 'nothing (one configuration)'} -> {out}",
                      soft_wrap=True)

    result = search(base, searched, out=args.out, n_random=args.random, jobs=args.jobs,
                    refit_on_all=args.refit_on_all, seed=args.search_seed,
                    progress=not (args.quiet or args.json), report=not args.no_report, on_out=announce)
    if args.json:
        print_json({"csv": str(result.csv_path), "best": result.best, "run_dir": str(result.run_dir),
                     "best_val_accuracy": result.rows[0].get("val_accuracy"),
                     "test_accuracy": result.test_accuracy, "test_loss": result.test_loss,
                     "trials": result.rows})
        return 0
    table = Table(title="trials, best validation accuracy first", title_justify="left")
    for col in ("rank", *result.options, "val acc", "val loss", "epochs", "s"):
        table.add_column(col, justify="right")
    for row in result.rows[:20]:
        cells = [",".join(map(str, v)) if isinstance(v, list) else str(v)
                 for v in (row[k] for k in result.options)]
        acc = row.get("val_accuracy")
        table.add_row(str(row["rank"]), *cells, "-" if acc is None else f"{100 * acc:.2f} %",
                      "-" if row.get("val_loss") is None else f"{row['val_loss']:.4f}",
                      str(row.get("epochs_run") or "-"),
                      f"{row['seconds']:.1f}" + (" [red]failed[/red]" if row.get("error") else ""))
    console.print(table)
    if len(result.rows) > 20:
        console.print(f"... {len(result.rows) - 20} more in {result.csv_path}")
    console.print(f"results: {result.csv_path}", markup=False)
    console.print("best: " + ", ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}"
                                       for k, v in result.best.items()), markup=False)
    where = "train + validation" if args.refit_on_all else "the training split"
    console.print(f"retrained the best configuration on {where}: {result.run_dir}", markup=False)
    if result.test_accuracy is not None:
        console.print(f"test accuracy of the best model (measured once): "
                      f"{100 * result.test_accuracy:.2f} %")
    return 0

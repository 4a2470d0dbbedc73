"""``barenet gradcheck``: every gradient of a matrix of small networks, checked numerically."""

from __future__ import annotations

import argparse
from typing import Any

from ..run.options import OPTIONS
from .common import add_output_flags, console_for, positive_float, print_json
from .options import add_flag, flag_value


def add_parser(sub: Any) -> None:
    gc = sub.add_parser("gradcheck", help="verify every gradient numerically (exit 1 on failure)")
    gc.add_argument("--layers", type=int, nargs="+", default=[5, 4], metavar="N",
                    help="hidden sizes of the checked networks (default: 5 4)")
    gc.add_argument("--tolerance", type=positive_float, default=1e-6,
                    help="largest relative error allowed, > 0 (default 1e-06)")
    add_flag(gc, OPTIONS["seed"], default="0")
    add_output_flags(gc)
    gc.set_defaults(handler=cmd_gradcheck)


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from rich.table import Table

    from ..nn.gradcheck import gradcheck_matrix

    rows = gradcheck_matrix(hidden_sizes=args.layers, seed=flag_value(args, "seed"))
    worst = max(r["max_error"] for r in rows)
    failed = [r for r in rows if r["max_error"] > args.tolerance]
    if args.json:
        print_json({"tolerance": args.tolerance, "max_error": worst, "passed": not failed, "rows": rows})
    else:
        console = console_for(args)
        table = Table(title=f"gradient check, float64 (tolerance {args.tolerance:g})", title_justify="left")
        for col in ("hidden", "output", "loss", "reduction", "dropout", "max rel. error", ""):
            table.add_column(col)
        for r in rows:
            ok = r["max_error"] <= args.tolerance
            table.add_row(r["hidden"], r["output"], r["loss"], r["reduction"], r["dropout"],
                          f"{r['max_error']:.2e}", "ok" if ok else "[red]FAIL[/red]")
        console.print(table)
        console.print(f"{len(rows)} networks checked, {len(failed)} failed; largest error {worst:.2e}")
    return 1 if failed else 0

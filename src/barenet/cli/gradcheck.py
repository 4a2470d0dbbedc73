"""``barenet gradcheck``: every gradient of a matrix of small networks, checked numerically;
``barenet gradcheck runs/RUN`` checks the architecture of that run instead (its hidden
activations, output, loss, reduction and dropout, on a narrow copy of its layers)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import BarenetError
from ..run.options import OPTIONS
from ..run.outdir import CONFIG_NAME, MODEL_NAME
from .common import add_command, console_for, positive_float, print_json
from .options import add_flag, flag_value

#: The checked copy of a run's network: this many inputs and at most this many units per layer.
RUN_INPUTS = 6
RUN_WIDTH = 5


def add_parser(sub: Any) -> None:
    gc = add_command(sub, "gradcheck", cmd_gradcheck,
                     help="verify every gradient numerically (exit 1 on failure)")
    gc.add_argument("run", nargs="?", help="a run directory: check its architecture (default: a matrix of "
                    "every activation, output and loss)")
    gc.add_argument("--layers", type=int, nargs="+", default=[5, 4], metavar="N",
                    help="hidden sizes of the checked networks (default: 5 4)")
    gc.add_argument("--tolerance", type=positive_float, default=1e-6,
                    help="largest relative error allowed, > 0 (default 1e-06)")
    add_flag(gc, OPTIONS["seed"], default="0")


def run_rows(run_dir: str, seed: int = 0) -> tuple[list[dict], str]:
    """Gradient checks of a run's architecture: (rows like gradcheck_matrix's, description)."""
    import numpy as np

    from ..export.native import load_model
    from ..nn.gradcheck import gradcheck
    from ..nn.losses import Loss
    from ..nn.model import MLP
    from ..run.config import make_config, read_toml
    from ..run.runner import resolve_head

    path = Path(run_dir)
    if not (path / CONFIG_NAME).exists():
        raise BarenetError(f"{path / CONFIG_NAME} not found; give a run directory written by "
                           "`barenet train --out DIR`")
    config = make_config(read_toml(path / CONFIG_NAME))
    trained, meta = load_model(path / MODEL_NAME) if (path / MODEL_NAME).exists() else (None, {})
    if trained is not None and isinstance(meta.get("loss"), dict):  # the head the run trained
        output, units, loss = trained.output, trained.n_outputs, Loss(**meta["loss"])
    else:  # no model (it diverged before its first epoch): the configuration's head
        output, loss_name, units = resolve_head(config, 2 if config.digits else 10)
        loss = Loss(loss_name, config.reduction, config.label_smoothing)
    units = min(units, RUN_WIDTH)
    hidden = [min(n, RUN_WIDTH) for n in config.layers]
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(8, RUN_INPUTS))
    labels = rng.integers(0, max(units, 2), size=8)
    rows = []
    for dropout_at_check in ((True, False) if config.dropout or config.input_dropout else (False,)):
        model = MLP([RUN_INPUTS, *hidden, units], hidden=config.hidden, output=output, init="xavier_normal",
                    bias_init=0.1, dropout=config.dropout, dtype="float64", seed=seed,
                    input_dropout=config.input_dropout, batch_norm=config.batch_norm,
                    noise=config.noise, input_noise=config.input_noise)
        result = gradcheck(model, loss, x, labels, dropout=dropout_at_check, seed=seed)
        rows.append({"hidden": config.hidden, "output": output, "loss": loss.name,
                     "label_smoothing": loss.label_smoothing,
                     "reduction": loss.reduction,
                     "dropout": ("on (frozen)" if dropout_at_check else "off"),
                     "max_error": result.max_error, "errors": result.errors})
    sizes = "-".join(map(str, [RUN_INPUTS, *hidden, units]))
    return rows, f"the architecture of {path} on a narrow copy {sizes}"


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from rich.table import Table

    from ..nn.gradcheck import gradcheck_matrix

    seed = flag_value(args, "seed")
    if args.run:
        rows, what = run_rows(args.run, seed)
    else:
        rows, what = gradcheck_matrix(hidden_sizes=args.layers, seed=seed), "every activation and loss"
    worst = max(r["max_error"] for r in rows)
    failed = [r for r in rows if r["max_error"] > args.tolerance]
    if args.json:
        print_json({"tolerance": args.tolerance, "max_error": worst, "passed": not failed, "rows": rows,
                    "checked": what})
    else:
        console = console_for(args)
        table = Table(title=f"gradient check, float64, tolerance {args.tolerance:g}: {what}",
                      title_justify="left", box=None, padding=(0, 1), pad_edge=False,
                      header_style="bold underline")
        for col in ("hidden", "output", "loss", "reduction", "dropout", "error", ""):
            table.add_column(col, no_wrap=True)
        for r in rows:
            ok = r["max_error"] <= args.tolerance
            dropout = r["dropout"].replace("on (frozen)", "frozen")
            table.add_row(r["hidden"], r["output"], r["loss"], r["reduction"], dropout,
                          f"{r['max_error']:.1e}", "ok" if ok else "[red]FAIL[/red]")
        console.print(table)
        console.print(f"{len(rows)} networks checked, {len(failed)} failed; largest error {worst:.2e}")
    return 1 if failed else 0

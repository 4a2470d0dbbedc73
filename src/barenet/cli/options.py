"""The flags of the training options, generated from the one table (:mod:`barenet.run.options`).

``barenet train`` gets one flag per option (a bool is ``--name``, or ``--no-name`` when it is
on by default; a list takes several words); ``barenet search`` gets one flag per searchable
option, each taking one value (fixed) or several (searched). Flags are read as text and turned
into values by the table (:meth:`~barenet.run.options.Option.from_text`), so a bad value gets
the same message as in a TOML file or from the Python API.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..run.options import GROUPS, OPTIONS, Option


def add_train_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per option of ``barenet train``, in groups, with generated help."""
    for group in GROUPS:
        flags = parser.add_argument_group(group)
        for opt in OPTIONS.values():
            if opt.group == group and opt.flag:
                add_flag(flags, opt)


def add_flag(parser: Any, opt: Option, default: Any = None) -> None:
    """The train flag of ``opt`` (``default`` None: the value is left to the config)."""
    if opt.kind == "bool":
        on = not opt.default
        parser.add_argument(opt.flag_name if on else "--no-" + opt.flag_name[2:], dest=opt.name,
                            action="store_true" if on else "store_false", default=None,
                            help=opt.help_text())
        return
    parser.add_argument(opt.flag_name, dest=opt.name, default=default, help=opt.help_text(),
                        nargs="+" if opt.kind == "ints" else None,
                        metavar=opt.metavar or opt.name.split("_")[-1].upper())


def add_search_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per searchable option, each taking one or more values."""
    group = parser.add_argument_group(
        "searched options (one value fixes an option, several search it; "
        "lists as 500,250, digit pairs as 1,5 or, for one pair, 1 5; none: not set)")
    for opt in OPTIONS.values():
        if opt.searchable:
            group.add_argument(opt.flag_name, dest=opt.name, nargs="+", metavar="V", help=opt.help_text())


def train_values(args: argparse.Namespace) -> dict[str, Any]:
    """The options given as train flags, as typed values (not yet range-checked)."""
    values = {}
    for opt in OPTIONS.values():
        given = getattr(args, opt.name, None) if opt.flag else None
        if given is not None:
            values[opt.name] = given if opt.kind == "bool" else opt.from_text(given)
    return values


def flag_value(args: argparse.Namespace, name: str) -> Any:
    """One option's flag, read and checked by the table (for commands that share a flag)."""
    opt = OPTIONS[name]
    return opt.check(opt.from_text(getattr(args, name)))

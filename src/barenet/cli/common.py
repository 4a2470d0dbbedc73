"""What every command shares: the one-line error style, ``--json``/``--quiet``, the console,
JSON printing, and finding a model file from a path.

Every user mistake raises :class:`~barenet.errors.BarenetError`; :func:`barenet.cli.main` prints
it as one line ``barenet: error: ...`` on stderr and exits with :data:`EXIT_USAGE`.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from ..errors import BarenetError
from ..files.jsonsafe import json_text

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse that reports errors in barenet's one-line style (exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise BarenetError(f"{message} (see `{self.prog} --help`)")


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (``--top 0`` or ``-1`` is a one-line error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (``--tolerance -1``, ``0``, ``nan`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def add_command(sub: Any, name: str, handler: Callable[[argparse.Namespace], int], help: str,
                **kwargs: Any) -> argparse.ArgumentParser:
    """The subcommand ``name``: its parser, with the shared ``--quiet``/``--json`` flags,
    dispatching to ``handler`` (Namespace -> exit status)."""
    parser = sub.add_parser(name, help=help, **kwargs)
    add_output_flags(parser)
    parser.set_defaults(handler=handler)
    return parser


def add_output_flags(p: argparse.ArgumentParser) -> None:
    """``--quiet``/``-q`` and ``--json``, the same on every command."""
    p.add_argument("--quiet", "-q", action="store_true", help="print only errors")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")


def console_for(args: argparse.Namespace) -> Any:
    """A rich Console on stdout, silent under ``--quiet`` or ``--json``.

    A closed stdout (``| head``) raises BrokenPipeError, which :func:`barenet.cli.main` turns
    into a quiet exit 0 (rich's own handler would exit 1).
    """
    from rich.console import Console

    console = Console(quiet=bool(args.quiet or args.json), highlight=False)
    console.on_broken_pipe = _broken_pipe
    return console


def _broken_pipe() -> None:
    raise BrokenPipeError("stdout was closed")


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout, non-finite floats as null."""
    print(json_text(data, indent=2))

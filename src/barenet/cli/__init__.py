"""The ``barenet`` command line: argument parsing and printing only, one module per command
group. Each module's ``add_parser(s)(sub)`` registers its commands with a ``handler``.

Every user mistake ends with one line ``barenet: error: ...`` on stderr and exit status 2; a
diverged run exits 1 and an interrupt 130.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import BarenetError, DivergenceError
from . import gradcheck, models, runs, search, train
from .common import EXIT_USAGE, Parser

EXIT_DIVERGED = 1
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="barenet", description="Multilayer perceptrons from scratch in NumPy.")
    parser.add_argument("--version", action="version", version=f"barenet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    train.add_parser(sub)
    models.add_parsers(sub)
    gradcheck.add_parser(sub)
    runs.add_parsers(sub)
    search.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return EXIT_USAGE
        return args.handler(args)
    except DivergenceError as exc:
        print(f"barenet: {exc}", file=sys.stderr)
        return EXIT_DIVERGED
    except BarenetError as exc:
        print(f"barenet: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("barenet: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The ``barenet`` command line: argument parsing and printing only, one module per command
group. Each module's ``add_parser(s)(sub)`` registers its commands with a ``handler``.

Every user mistake ends with one line ``barenet: error: ...`` on stderr and exit status 2; a
diverged run exits 1 and an interrupt 130. NumPy's RuntimeWarnings (overflow, invalid value)
of a command that fails are dropped, since barenet's own message says what went wrong; those
of a command that succeeds are shown after it. Output into a closed pipe (``| head -1``) ends
the command quietly with status 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

from .. import __version__
from ..errors import BarenetError, DivergenceError
from . import export, gradcheck, models, runs, search, train
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
    export.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    with warnings.catch_warnings(record=True) as caught:
        code = _run(argv)
    for w in caught:
        if code != 0 and issubclass(w.category, RuntimeWarning):
            continue  # a symptom of the error just reported (e.g. overflow in a diverging run)
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    return code


def _run(argv: Sequence[str] | None) -> int:
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
    except BrokenPipeError:
        _discard_stdout()
        return 0


def _discard_stdout() -> None:
    """After the reader of stdout went away (``| head``): send what is still buffered to
    /dev/null, so that Python's flush at exit does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file behind stdout (e.g. a test)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

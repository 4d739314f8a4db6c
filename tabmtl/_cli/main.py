"""The ``tabmtl`` entry point: the parser of every command, and the exit code of a run.

Building the parser imports no torch, scikit-learn or pandas (the command modules import
them inside their handlers), so ``tabmtl --help`` and ``tabmtl --version`` answer at once.
A command's handler returns its exit code, or raises a
:class:`~tabmtl._cli.errors.CommandError` that is printed as one line; anything else is a
bug, printed with its traceback (exit code 1).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback

from tabmtl import __version__
from tabmtl._cli import evaluate, explain, fit, predict, report, tune
from tabmtl._cli.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, CommandError
from tabmtl._cli.runtime import say

#: The command modules, in the order ``tabmtl --help`` lists them.
COMMANDS = (fit, predict, evaluate, report, explain, tune)


def build_parser() -> argparse.ArgumentParser:
    """The ``tabmtl`` parser with a subcommand per module of :data:`COMMANDS`.

    Examples
    --------
    >>> build_parser().parse_args(["predict", "m.tabmtl", "d.csv", "-o", "p.csv"]).proba
    False
    """
    parser = argparse.ArgumentParser(
        prog="tabmtl",
        description="Multi-target prediction on a table: fit one multi-task network, "
        "predict, and measure whether training the targets together helps each of them.",
        epilog="Exit codes: 0 ok; 1 unexpected error; 2 bad input or usage; 3 training "
        "diverged; 4 negative transfer with --fail-on-negative; 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"tabmtl {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def _safe_streams() -> None:
    """Never crash on a terminal that cannot show ± or ⚠: replace what it cannot encode."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="replace")


def main(argv: list[str] | None = None) -> int:
    """Run the ``tabmtl`` command line; returns the exit code.

    Parameters
    ----------
    argv : list of str, optional
        Arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code (listed in :mod:`tabmtl._cli`).

    Examples
    --------
    >>> main(["predict", "missing.tabmtl", "data.csv", "--out", "p.csv"])  # doctest: +SKIP
    tabmtl predict: error: model file not found: 'missing.tabmtl'
    2
    """
    _safe_streams()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or an argparse usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    args.argv = argv
    try:
        return args.handler(args)
    except CommandError as exc:  # bad input (2) or training diverged (3)
        say(f"tabmtl {args.command}: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        say(f"tabmtl {args.command}: interrupted; nothing written")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `tabmtl predict ... --out - | head`
        # Python's advice on EPIPE: point stdout at devnull so the exit flush cannot fail
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except Exception:
        traceback.print_exc()
        say(f"tabmtl {args.command}: unexpected error (please report it with the traceback)")
        return EXIT_ERROR

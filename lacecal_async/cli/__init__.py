"""The ``lacecal`` command (also ``python -m lacecal_async``): fetch, sync, status, export, stats.

It imports the library; the library never imports it. Nothing here needs more than the
library's own dependencies; Parquet output needs pyarrow (the ``parquet`` extra).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence

from lacecal_async import __version__
from lacecal_async.cli import demo, export, fetch, inverters, serve, stats, status
from lacecal_async.cli import sync as sync_command
from lacecal_async.cli.messages import hidden_messages
from lacecal_async.cli.options import UsageError

__all__ = ["build_parser", "main"]


EPILOG = """\
Identifiers come from the arguments, from --itr-file FILE, or from the LACECAL_ITR
variable (comma-separated); each may be alias=IDENTIFIER. stderr shows aliases or
redacted identifiers (...WXYZ) only.

Exit status: 0 success; 1 some plants failed; 2 usage error; 130 interrupted (Ctrl-C).
Start with: lacecal demo
"""


def build_parser() -> argparse.ArgumentParser:
    """Return the command's argument parser."""
    parser = argparse.ArgumentParser(
        prog="lacecal",
        description="Fetch records of LACECAL ITR 2.0 plants: rate-limited, paginated, "
        "many plants at once.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        # A unit file's `--st` would change meaning the day an option starting so is added:
        # options are spelled in full (each subcommand's parser says so too).
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.set_defaults(messages_only=False)  # stdout carries data (demo says otherwise)
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    fetch.add_parser(subparsers)
    export.add_parser(subparsers)
    inverters.add_parser(subparsers)
    sync_command.add_parser(subparsers)
    status.add_parser(subparsers)
    stats.add_parser(subparsers)
    serve.add_parser(subparsers)
    demo.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with `argv` (default: ``sys.argv[1:]``); return the exit status.

    Every message goes through `hidden_messages`: argparse quotes what it could not use
    ("invalid choice: '...'"), a usage error the paths given, any of which may hold an
    identifier typed in the wrong place. A command without data on stdout (``lacecal demo``)
    has its stdout filtered too.
    """
    with hidden_messages("stderr"):
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # identifiers (or plants) after options: argparse leaves them over
            trailing = getattr(args, "trailing", "itr")  # the list they belong to
            if not hasattr(args, trailing) or any(e.startswith("-") for e in extra):
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
            getattr(args, trailing).extend(extra)
    except SystemExit as exc:  # --help, --version (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    if not hasattr(args, "func"):
        parser.print_help(sys.stderr)
        return 2
    args.argv = list(sys.argv[1:] if argv is None else argv)  # `sync --workers` re-runs it
    try:
        with hidden_messages("stdout") if args.messages_only else contextlib.nullcontext():
            code: int = args.func(args)
    except UsageError as exc:
        print(f"lacecal: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C, or a platform without signal handlers
        print("lacecal: interrupted", file=sys.stderr)
        return 130
    return code

"""``lacecal serve``: the testing module's fake LACECAL server, until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import sys

from lacecal_async.cli.options import parse_rate_or_none
from lacecal_async.testing import ServeOptions, serve_plants

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    """Serve the fake plants (the first line printed is the base URL); return 0 after Ctrl-C."""
    options = ServeOptions(
        plants=args.plants,
        seed=args.seed,
        host=args.host,
        port=args.port,
        rate=args.rate,
        days=args.days,
    )
    print(
        f"lacecal: serving {args.plants} fake plants; try: lacecal fetch meter ITR "
        f"--base-url URL --rate {_show(args.rate)} --start 2024-10-02 --end 2024-10-03. "
        "Ctrl-C stops.",
        file=sys.stderr,
    )
    asyncio.run(serve_plants(options, out=sys.stdout))
    return 0


def _show(rate: tuple[int, float] | None) -> str:
    return "1000/1" if rate is None else f"{rate[0]}/{rate[1]:g}"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``serve`` to the command."""
    parser = subparsers.add_parser(
        "serve",
        help="run a fake LACECAL server on loopback, to try the tool or test against",
        description="Serve fake plants (30 days of records from 2024-10-02) over HTTP. The "
        "first line printed is the base URL to pass as --base-url, then a table of the plants "
        "with their (made-up) identifiers.",
    )
    parser.add_argument("--plants", type=int, default=20, help="number of plants (default 20)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default 0: any free port)")
    parser.add_argument(
        "--rate",
        type=parse_rate_or_none,
        default=(6, 60.0),
        metavar="N/SECONDS",
        help="per-ITR limit the server enforces, or 'none' (default 6/60)",
    )
    parser.add_argument("--seed", type=int, default=0, help="plants' random seed (default 0)")
    parser.add_argument("--days", type=float, default=30.0, help="days of records (default 30)")
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.set_defaults(func=run)

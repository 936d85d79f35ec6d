"""``lacecal serve``: the testing module's fake LACECAL server, until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import math
import sys

from lacecal_async.cli.bounds import positive_number, whole_number
from lacecal_async.cli.options import parse_rate_or_none
from lacecal_async.testing import ServeOptions, serve_plants

__all__ = ["add_parser", "run"]

#: Most plants and days a fake server serves (`make_plants` builds them all up front).
MAX_SERVE_PLANTS = 100_000
MAX_SERVE_DAYS = 36_525


def run(args: argparse.Namespace) -> int:
    """Serve the fake plants (the first line printed is the base URL); return 0 after Ctrl-C."""
    options = ServeOptions(
        plants=args.plants,
        seed=args.seed,
        host=args.host,
        port=args.port,
        rate=args.rate,
        days=args.days,
        follow=args.follow,
        speed=args.speed,
        interval=args.interval,
    )
    if args.follow:
        print(
            f"lacecal: following a clock running {args.speed:g}x real time: each plant's "
            "records appear as its periods close; try: lacecal sync plants.db ITR "
            "--base-url URL --rate ... --since now --follow",
            file=sys.stderr,
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
    parser.add_argument(
        "--plants",
        type=whole_number(1, MAX_SERVE_PLANTS),
        default=20,
        help=f"number of plants (default 20, at most {MAX_SERVE_PLANTS})",
    )
    parser.add_argument(
        "--port",
        type=whole_number(0, 65_535),
        default=0,
        help="TCP port (default 0: any free port)",
    )
    parser.add_argument(
        "--rate",
        type=parse_rate_or_none,
        default=(6, 60.0),
        metavar="N/SECONDS",
        help="per-ITR limit the server enforces, or 'none' (default 6/60)",
    )
    parser.add_argument("--seed", type=int, default=0, help="plants' random seed (default 0)")
    parser.add_argument(
        "--days",
        type=positive_number(MAX_SERVE_DAYS, "number of days"),
        default=30.0,
        help=f"days of records (default 30, at most {MAX_SERVE_DAYS})",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument(
        "--follow",
        action="store_true",
        help="records keep coming: each plant's latest record is the last period closed by "
        "the server's clock (the window starts DAYS before now)",
    )
    parser.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        metavar="N",
        help="with --follow, the clock runs N times real time (default 1)",
    )
    parser.add_argument(
        "--interval",
        type=_interval,
        default=None,
        metavar="SECONDS",
        help="every plant's integration period (default: varied, mostly 600; e.g. 2 to watch "
        "a poller at work)",
    )
    parser.set_defaults(func=run)


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive speed, not {text!r}")
    return value


def _interval(text: str) -> int:
    if not (text.isascii() and text.isdigit() and int(text) > 0):
        raise argparse.ArgumentTypeError(f"expected a positive whole number, not {text!r}")
    return int(text)

"""``lacecal serve``: the testing module's fake LACECAL server, until Ctrl-C.

With ``--follow --speed N`` its clock runs N times real time; it prints the
``--clock-speed N --clock-epoch T`` that make ``lacecal sync --follow`` share that clock.
``--late-gaps``, ``--future-glitch`` and ``--fail-rate`` give its plants faults to rehearse
repairs and alerts with, without writing Python.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from datetime import UTC, datetime

from lacecal_async.cli.bounds import positive_number, whole_number
from lacecal_async.cli.options import parse_rate_or_none
from lacecal_async.testing import ServeOptions, serve_plants, serve_start

__all__ = ["add_parser", "run"]

#: Most plants and days a fake server serves (`make_plants` builds them all up front).
MAX_SERVE_PLANTS = 100_000
MAX_SERVE_DAYS = 36_525


def run(args: argparse.Namespace) -> int:
    """Serve the fake plants (the first line printed is the base URL); return 0 after Ctrl-C."""
    now = time.time()
    epoch = args.clock_epoch if args.clock_epoch is not None else now
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
        epoch=epoch,
        late_gaps=min(args.late_gaps, args.plants),
        future_glitch=args.future_glitch,
        fail_rate=args.fail_rate,
    )
    start = serve_start(options, now)
    # Hints name hours its data has: from the first whole hour, a day or the whole window.
    first = -(-start // 3600) * 3600
    second = max(min(first + 86400, int(start + args.days * 86400)) // 3600 * 3600, first)
    first_text, second_text = _hour(first), _hour(second)
    rate = _show(args.rate)
    if args.follow:
        clock = (
            f" --clock-speed {args.speed:g} --clock-epoch {epoch:.3f}" if args.speed != 1 else ""
        )
        print(
            f"lacecal: following a clock running {args.speed:g}x real time: each plant's "
            f"records appear as its periods close; try: lacecal sync plants.db ITR "
            f"--base-url URL --rate {rate} --start {first_text} --follow{clock}",
            file=sys.stderr,
        )
    print(
        f"lacecal: serving {args.plants} fake plants with records from {_hour(start)}; try: "
        f"lacecal fetch ITR --endpoint meter --base-url URL --rate {rate} --start {first_text} "
        f"--end {second_text}. "
        "Ctrl-C stops.",
        file=sys.stderr,
    )
    faults = _faults_line(options)
    if faults:
        print(f"lacecal: faults: {faults}", file=sys.stderr)
    asyncio.run(serve_plants(options, out=sys.stdout))
    return 0


def _hour(unix_time: float) -> str:
    return datetime.fromtimestamp(unix_time, UTC).strftime("%Y-%m-%dT%H:%MZ")


def _faults_line(options: ServeOptions) -> str:
    parts = []
    if options.late_gaps:
        parts.append(
            f"the first {options.late_gaps} plants miss 12 periods mid-window until the "
            "server's clock is 10 minutes past its start (late data)"
        )
    if options.future_glitch:
        parts.append(
            f"the next {options.future_glitch} plants also date a record a year ahead "
            "(a logger's clock fault)"
        )
    if options.fail_rate:
        parts.append(f"{options.fail_rate:.0%} of requests fail with 503")
    return "; ".join(parts)


def _show(rate: tuple[int, float] | None) -> str:
    return "1000/1" if rate is None else f"{rate[0]}/{rate[1]:g}"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``serve`` to the command."""
    parser = subparsers.add_parser(
        "serve",
        allow_abbrev=False,
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
    parser.add_argument(
        "--clock-epoch",
        type=_epoch,
        default=None,
        metavar="T",
        help="with --speed, the UNIX time at which the fast clock read the real time (default: "
        "now); `lacecal sync --clock-speed N --clock-epoch T` shares the clock",
    )
    faults = parser.add_argument_group("faults to rehearse repairs and alerts with")
    faults.add_argument(
        "--late-gaps",
        type=whole_number(0, MAX_SERVE_PLANTS),
        default=0,
        metavar="N",
        help="the first N plants miss 12 periods mid-window, served 10 minutes (of the "
        "server's clock) after it starts: late data that `lacecal sync` repairs",
    )
    faults.add_argument(
        "--future-glitch",
        type=whole_number(0, MAX_SERVE_PLANTS),
        default=0,
        metavar="N",
        help="the next N plants also date a record a year ahead (a logger's clock fault: "
        "`lacecal status` warns)",
    )
    faults.add_argument(
        "--fail-rate",
        type=_rate_fraction,
        default=0.0,
        metavar="P",
        help="answer 503 to this fraction of requests, 0 to 1 (a flaky service; retried)",
    )
    parser.set_defaults(func=run)


def _epoch(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and 0 <= value < 253_402_300_800):  # before 10000-01-01
        raise argparse.ArgumentTypeError(f"expected a UNIX time, not {text!r}")
    return value


def _rate_fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise argparse.ArgumentTypeError(f"expected a fraction from 0 to 1, not {text!r}")
    return value


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

"""``python -m lacecal_async.testing``: run the fake LACECAL server until Ctrl-C.

The first line printed is the base URL (machine-readable: `FakeServerProcess` reads it);
a table of the plants follows, with their ITR identifiers in full: they are made-up
identifiers of a local fake, and a test needs them to make requests.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

from lacecal_async.testing.clock import Clock, ScaledClock, SystemClock
from lacecal_async.testing.plants import DEFAULT_START, Plant, make_plants
from lacecal_async.testing.server import FakeLacecalServer

__all__ = ["main", "parse_args", "serve"]


def _rate(text: str) -> tuple[int, float] | None:
    """Parse ``N/SECONDS`` (e.g. ``6/60``, ``6/0.5``) or ``none``."""
    if text.lower() == "none":
        return None
    count, _, seconds = text.partition("/")
    try:
        return int(count), float(seconds)
    except ValueError:
        raise argparse.ArgumentTypeError("expected N/SECONDS, e.g. 6/60, or none") from None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m lacecal_async.testing",
        description="Serve fake LACECAL ITR 2.0 plants over HTTP on loopback, for tests.",
    )
    parser.add_argument("--plants", type=int, default=20, help="number of plants (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of make_plants (default 0)")
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: any free)")
    parser.add_argument(
        "--rate", type=_rate, default=(6, 60.0), help="per-ITR limit N/SECONDS (default 6/60)"
    )
    parser.add_argument("--days", type=float, default=30.0, help="days of data (default 30)")
    parser.add_argument("--start", type=int, default=None, help="UNIX time of the first records")
    parser.add_argument(
        "--follow",
        action="store_true",
        help="records end at the clock (default start: DAYS before now) instead of fixed",
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="with --follow, how fast the clock runs"
    )
    return parser.parse_args(argv)


def build(options: argparse.Namespace) -> tuple[list[Plant], Clock]:
    """Return the plants and the clock the options describe."""
    now = time.time()
    if options.start is not None:
        start = options.start
    else:
        start = int(now - options.days * 86400) if options.follow else DEFAULT_START
    plants = make_plants(
        options.plants, options.seed, start=start, days=options.days, follow_clock=options.follow
    )
    clock: Clock = ScaledClock(now, options.speed) if options.speed != 1.0 else SystemClock()
    return plants, clock


def _when(unix_time: int | None) -> str:
    if unix_time is None:
        return "(follows clock)"
    return datetime.fromtimestamp(unix_time, UTC).strftime("%Y-%m-%d %H:%M")


def _table(plants: Sequence[Plant]) -> str:
    lines = [f"{'ITR':16}  period  phases  meters          inverters  first (UTC)       latest"]
    for p in plants:
        meters = "+".join(["grid"] + ["load"] * p.load + ["reno"] * p.renewable)
        lines.append(
            f"{p.itr:16}  {p.interval:5d}s  {3 if p.three_phase else 1:6d}  {meters:14}  "
            f"{len(p.inverters):9d}  {_when(p.first):16}  {_when(p.latest)}"
            + (f"  gaps: {len(p.gaps)}" if p.gaps else "")
        )
    return "\n".join(lines) + "\n"


async def serve(
    options: argparse.Namespace, *, out: TextIO, stop: asyncio.Event | None = None
) -> None:
    """Serve until `stop` is set, or SIGINT/SIGTERM arrive (handled: a clean exit)."""
    plants, clock = build(options)
    stop = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    async with FakeLacecalServer(
        plants, rate_limit=options.rate, clock=clock, host=options.host, port=options.port
    ) as server:
        for signum in signals:
            loop.add_signal_handler(signum, stop.set)
        try:
            out.write(server.base_url + "\n")
            out.write(_table(plants))
            out.flush()
            await stop.wait()
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the server from the command line; return the exit status."""
    asyncio.run(serve(parse_args(argv), out=out if out is not None else sys.stdout))
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a subprocess by the tests
    sys.exit(main())

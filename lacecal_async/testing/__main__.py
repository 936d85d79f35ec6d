"""``python -m lacecal_async.testing``: run the fake LACECAL server until Ctrl-C.

The first line printed is the base URL (machine-readable: `FakeServerProcess` reads it);
a table of the plants follows, with their ITR identifiers in full: they are made-up
identifiers of a local fake, and a test needs them to make requests.

SIGINT and SIGTERM stop it cleanly; with ``--stop-on-eof`` so does the end of its standard
input, which is how a child notices that its parent died (the pipe's write end closes with
the parent, however it dies).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import TextIO

from lacecal_async.rate import parse_rate_or_none
from lacecal_async.testing import lifeline, serving
from lacecal_async.testing.clock import Clock
from lacecal_async.testing.plants import Plant

__all__ = ["build", "main", "parse_args", "serve"]


def _rate(text: str) -> tuple[int, float] | None:
    """Parse ``N/SECONDS`` (e.g. ``6/60``, ``6/0.5``) or ``none``."""
    try:
        return parse_rate_or_none(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
    parser.add_argument(
        "--interval", type=int, default=None, help="every plant's period [s] (default: varied)"
    )
    parser.add_argument(
        "--epoch",
        type=float,
        default=None,
        help="with --speed, the UNIX time at which the clock read real time (default: at "
        "start); another process given the same shares the clock",
    )
    parser.add_argument(
        "--stop-on-eof",
        action="store_true",
        help="stop when standard input ends too (a parent holding the pipe died or closed it)",
    )
    return parser.parse_args(argv)


def _options(options: argparse.Namespace) -> serving.ServeOptions:
    return serving.ServeOptions(
        **{name: value for name, value in vars(options).items() if name != "stop_on_eof"}
    )


def build(options: argparse.Namespace) -> tuple[list[Plant], Clock]:
    """Return the plants and the clock the parsed options describe."""
    return serving.build(_options(options))


async def serve(
    options: argparse.Namespace, *, out: TextIO, stop: asyncio.Event | None = None
) -> None:
    """Serve what the parsed options describe (see `serving.serve`)."""
    stop = stop if stop is not None else asyncio.Event()
    if options.stop_on_eof:
        lifeline.stop_at_eof(stop)
    await serving.serve(_options(options), out=out, stop=stop)


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the server from the command line; return the exit status."""
    asyncio.run(serve(parse_args(argv), out=out if out is not None else sys.stdout))
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a subprocess by the tests
    sys.exit(main())

"""``python -m benchmarks._serve``: the fake server with gapless 600 s plants, in its own process.

`FakeServerProcess` serves `make_plants` as drawn (varied periods, gaps), so a request count
could not be compared with an exact minimum; the benchmarks need every plant at 600 s with
no gap. The first line printed is the base URL; SIGTERM or SIGINT end it cleanly, and so
does the end of its standard input (a pipe from its parent: the parent died).

Every ITR is served plant 0's encoded records (one shared fragment cache): the fake makes
records at only ~30,000/s (200 meter pages/s), so 500 or 10,000 plants with their own data
would make the *server* the bottleneck. Times, counts, sizes and the rate limit are as for
separate plants; only the values repeat, which no benchmark looks at.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from lacecal_async.rate import parse_rate_or_none
from lacecal_async.testing import FakeLacecalServer, Plant, lifeline, make_plants

SEED = 0
INTERVAL = 600


def plants(count: int, days: float) -> list[Plant]:
    """The plants the child serves: the parent rebuilds them to know the ITRs."""
    return make_plants(count, SEED, days=days, interval=INTERVAL, gaps=False)


async def _serve(count: int, days: float, rate: tuple[int, float] | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    lifeline.stop_at_eof(stop)
    async with FakeLacecalServer(plants(count, days), rate_limit=rate) as server:
        shared: dict[object, bytes] = {}
        for state in server._states.values():  # private, but this is the fake's own test data
            state.cache = shared  # type: ignore[assignment]
        sys.stdout.write(server.base_url + "\n")
        sys.stdout.flush()
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._serve")
    parser.add_argument("--plants", type=int, required=True)
    parser.add_argument("--days", type=float, required=True)
    parser.add_argument("--rate", default="none", help="N/SECONDS or none")
    options = parser.parse_args(argv)
    asyncio.run(_serve(options.plants, options.days, parse_rate_or_none(options.rate)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

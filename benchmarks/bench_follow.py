"""Follow mode at fleet size: 500 plants polled by `follow` on a scaled clock.

The fake server runs in its own process with plants that follow its clock (600 s periods)
and its strict sliding-window limit (6 per 60 clock seconds, scaled to real time); the
engine follows them with a `ScaledClock` that reads the server's clock (same speed, same
epoch). Measured, after a short backfill of a few periods:

- the most requests the server saw in any tenth of a period once polling is steady, beside
  an even spread over the window polls are designed to use (each plant polls at a phase of
  its own in the first ``POLL_SPREAD + JITTER`` of a period after it closes, so that
  records are stored soon; 500 in one tenth would mean no spread at all);
- the 429s the server sent (target 0);
- how long after a record appeared (its period closed on the server's clock) the engine had
  committed it, in periods: max and p99 (target: within one poll cycle, < 1 period). The
  time stored is when the plant's cycle ended, after the commit, so it errs on the long side.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._common import Row, row
from lacecal_async import LacecalClient, ScaledClock
from lacecal_async.polling import JITTER, POLL_SPREAD
from lacecal_async.sync import Cycle, SQLiteStore, follow
from lacecal_async.testing import FakeServerProcess

SECTION = "follow"
INTERVAL = 600
LIMIT = (6, 60.0)
#: (plants, clock speed, periods followed); smoke mode runs a tiny one of the same shape.
SIZE = (500, 60.0, 6)
SMOKE_SIZE = (20, 600.0, 3)
#: Periods of records the plants have before the engine starts (its backfill).
BACKLOG = 4


def peak_in_window(times: list[float], width: float) -> int:
    """The most of `times` in any half-open window of `width`."""
    times = sorted(times)
    best = lo = 0
    for hi, at in enumerate(times):
        while times[lo] <= at - width:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (0 if there are none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(math.ceil(fraction * len(ordered)) - 1, 0))]


async def _measure(plants: int, speed: float, periods: int, db: Path) -> list[Row]:
    epoch = time.time()
    start = (int(epoch) // INTERVAL - BACKLOG) * INTERVAL
    real_limit = (LIMIT[0], LIMIT[1] / speed)
    async with FakeServerProcess(
        plants=plants,
        seed=15,
        rate_limit=real_limit,
        days=1,
        start=start,
        interval=INTERVAL,
        follow=True,
        extra_args=("--speed", repr(speed), "--epoch", repr(epoch)),
    ) as server:
        clock = ScaledClock(epoch + (time.time() - epoch) * speed, speed)
        cycles: list[tuple[float, Cycle]] = []
        began = clock.now()
        async with (
            LacecalClient(base_url=server.base_url, rate_limit=real_limit, timeout=30) as client,
            SQLiteStore(db) as store,
        ):
            task = asyncio.create_task(
                follow(
                    client,
                    store,
                    [(p.itr, f"p{i}") for i, p in enumerate(server.plants)],
                    "meter",
                    since=start,
                    clock=clock,
                    on_cycle=lambda c: cycles.append((clock.now(), c)),
                )
            )
            await asyncio.sleep(periods * INTERVAL / speed)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        stats = await server.stats()
    return _rows(plants, speed, periods, began, cycles, stats, server.plants)


def _rows(  # noqa: PLR0917 - private: one measurement's parts
    plants: int,
    speed: float,
    periods: int,
    began: float,
    cycles: list[tuple[float, Cycle]],
    stats: dict[str, Any],
    served: list[Any],
) -> list[Row]:
    by_alias = {f"p{i}": p for i, p in enumerate(served)}
    delays: list[float] = []
    seen: dict[str, int] = {}
    failures = 0
    for at, cycle in cycles:
        failures += cycle.error is not None
        previous = seen.get(cycle.plant, 0)
        if cycle.latest is None or cycle.latest <= previous:
            continue
        seen[cycle.plant] = cycle.latest
        plant = by_alias[cycle.plant]
        for t in plant.available_times(int(previous) + 1, cycle.latest + 1, now=at):
            appeared = t + INTERVAL
            if appeared > began:  # appeared while following, not in the backlog
                delays.append((at - appeared) / INTERVAL)
    real_period = INTERVAL / speed
    log = [entry["time"] for s in stats.values() for entry in s["log"]]
    steady = [t for t in log if t >= min(log) + 1.5 * real_period]
    peak = peak_in_window(steady, real_period / 10)
    rejections = sum(s["rejections"] for s in stats.values())
    worst, p99 = (max(delays) if delays else 0.0), percentile(delays, 0.99)
    common: dict[str, object] = {
        "plants": plants,
        "clock_speed": speed,
        "periods": periods,
        "requests": len(log),
        "startup_peak_per_tenth": peak_in_window(log, real_period / 10),
        "records_timed": len(delays),
        "failed_cycles": failures,
    }
    label = f"{plants} plants, 600 s periods, {periods} periods at {speed:g}x"
    return [
        row(
            SECTION,
            f"{label}: most requests in a tenth of a period (steady)",
            peak,
            "requests",
            baseline=plants * 0.1 / (POLL_SPREAD + JITTER),
            baseline_name=f"spread evenly over the polls' window ({POLL_SPREAD + JITTER:g} period)",
            extra=common,
        ),
        row(
            SECTION,
            f"{label}: 429s",
            rejections,
            "responses",
            target="0",
            met=rejections == 0,
            extra=common,
        ),
        row(
            SECTION,
            f"{label}: record appeared -> stored, max",
            worst,
            "periods",
            target="< 1",
            met=bool(delays) and worst < 1,
            extra=common,
        ),
        row(
            SECTION,
            f"{label}: record appeared -> stored, p99",
            p99,
            "periods",
            target="< 1",
            met=bool(delays) and p99 < 1,
            extra=common,
        ),
    ]


def run(smoke: bool = False) -> list[Row]:
    """Follow 500 plants for a few periods; report the spread of polls, 429s and delays."""
    plants, speed, periods = SMOKE_SIZE if smoke else SIZE
    with tempfile.TemporaryDirectory() as folder:
        return asyncio.run(_measure(plants, speed, periods, Path(folder) / "follow.db"))


if __name__ == "__main__":
    for result in run():
        print(result)

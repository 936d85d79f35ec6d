"""Schedule efficiency: how close `stream_many` comes to the schedule the rate limit allows.

N ITRs x D days of 600 s meter records (gapless, a range in the past, so each ITR needs
exactly D requests of 144) against the fake server in its own process, both at a scaled
limit of 6 per P seconds. One ITR's ideal: its first 6 requests at t=0, then each one P
after the one 6 before it, so ``floor((D-1)/6) * P``; every ITR runs in parallel, so that is
the fleet's ideal too. Reported: wall / ideal, requests / minimum and 429s (server counts).

P grows with N so that the limit's rate, 6N/P requests/s at most, stays well below what the
client decodes on one core (~400-500 meter pages/s): then the wall time measures the
schedule, not the CPU. The limiter gives a slot back P + P/60 after an exchange *ends* (a
margin for servers that count whole seconds), so ~1.7% over ideal is by design.
"""

from __future__ import annotations

import asyncio
import math
import time

from benchmarks._common import DAY, WARM_PER_ITR, Row, ServerProcess, row
from lacecal_async import LacecalClient

SECTION = "schedule"
LIMIT = 6
WALL_TARGET = 1.05
#: (ITRs, days, period P [s]) per size; smoke mode uses much smaller runs of the same shape.
SIZES = ((1, 37, 0.6), (20, 13, 4.0), (500, 7, 60.0))
SMOKE_SIZES = ((1, 7, 0.1), (20, 7, 0.1), (50, 7, 0.5))


def ideal_wall(requests: int, limit: int, period: float) -> float:
    """Shortest time the limit allows one ITR's `requests` (zero service time)."""
    return (requests - 1) // limit * period


async def _measure(itrs: int, days: int, period: float) -> list[Row]:
    rate = (LIMIT, period)
    spare = -(-days // WARM_PER_ITR)
    async with ServerProcess(count=itrs + spare, days=days + 1, rate=rate) as server:
        ids = [plant.itr for plant in server.plants[:itrs]]
        start = server.plants[0].first
        await server.warm([plant.itr for plant in server.plants[itrs:]], start, days)
        end = start + days * DAY
        minimum = itrs * math.ceil((end - start) / DAY)
        records = 0
        async with LacecalClient(base_url=server.base_url, rate_limit=rate) as client:
            cpu = time.process_time()
            server_cpu = server.cpu_seconds()
            started = time.perf_counter()
            async for event in client.stream_many(ids, "meter", start, end):
                records += len(getattr(event, "records", ()))
            wall = time.perf_counter() - started
            cpu = time.process_time() - cpu
            server_cpu = server.cpu_seconds() - server_cpu
        requests, rejections = await server.totals(ids)
    if records != itrs * days * 144:
        raise RuntimeError(f"schedule: {records} records, expected {itrs * days * 144}")
    ideal = ideal_wall(days, LIMIT, period)
    label = f"{itrs} ITR{'s' if itrs > 1 else ''} x {days} days @ {LIMIT}/{period:g}s"
    allowed = LIMIT * itrs / period
    common: dict[str, object] = {
        "itrs": itrs,
        "days": days,
        "rate_limit": f"{LIMIT}/{period:g}s",
        "max_allowed_req_per_s": round(allowed, 1),
        "client_cpu_share": round(cpu / wall, 3),
        "server_cpu_share": round(server_cpu / wall, 3),
    }
    return [
        row(
            SECTION,
            f"{label}: wall / ideal",
            wall,
            "s",
            baseline=ideal,
            baseline_name="ideal schedule",
            target=f"<= {WALL_TARGET}",
            met=wall / ideal <= WALL_TARGET,
            extra=common,
        ),
        row(
            SECTION,
            f"{label}: requests / minimum",
            requests,
            "requests",
            baseline=minimum,
            baseline_name="ceil(R/144) per ITR",
            target="= 1.00",
            met=requests == minimum,
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
    ]


async def _run(smoke: bool) -> list[Row]:
    rows: list[Row] = []
    for itrs, days, period in SMOKE_SIZES if smoke else SIZES:
        rows.extend(await _measure(itrs, days, period))
    return rows


def run(smoke: bool = False) -> list[Row]:
    """Measure wall/ideal, requests/minimum and 429s for 1, 20 and 500 ITRs."""
    return asyncio.run(_run(smoke))


if __name__ == "__main__":
    for result in run():
        print(result)

"""Latency of a short fetch: a 3-page range on a fresh ITR, at the API's real limit (6 per 60 s).

A fresh ITR has all six slots free, so its three pages must go out at once, one after the
other (each page's cursor comes from the previous reply). The time from the call
``await client.meter_records(itr, start, start + 3 days)`` to its records is set beside
three sequential bare requests (aiohttp GET + ``orjson.loads`` of a 144-record page on a
kept-alive connection), and beside those plus decoding their pages into records (the
floor of any sequential fetch). A wait for the limiter would add 10 s (60 s / 6): a time
within 1.2x the floor shows that none happened. Medians over several fresh ITRs;
the client's connection is opened beforehand, as the bare loop's is.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import aiohttp

from benchmarks._common import BARE_PARSER, DAY, Row, ServerProcess, bare_loads, row
from lacecal_async import LacecalClient, decode

SECTION = "latency"
REAL_LIMIT = (6, 60.0)
PAGES = 3
TARGET = 1.2
SAMPLES, SMOKE_SAMPLES = 15, 3


async def _measure(samples: int) -> list[Row]:
    # `samples` fresh ITRs for the client, then spares for the bare requests (5 each).
    spares = samples // 5 + 2  # the last one warms the server and the client
    async with ServerProcess(count=samples + spares, days=PAGES + 1, rate=REAL_LIMIT) as server:
        ids = [plant.itr for plant in server.plants]
        fresh, spare = ids[:samples], ids[samples:]
        start = server.plants[0].first
        await server.warm(spare[-1:], start, PAGES)  # the server's cache, not the client's
        url = f"{server.base_url}meter.php"
        bare: list[float] = []
        decoding: list[float] = []
        async with aiohttp.ClientSession() as session:
            for index in range(samples + 1):  # the first opens the connection: not counted
                params = {"out": "json", "id": spare[index // 5], "t": str(start), "n": "144"}
                started = time.perf_counter()
                async with session.get(url, params=params) as response:
                    body = await response.read()
                bare_loads(body)
                took = time.perf_counter() - started
                started = time.perf_counter()
                decode("meter", body)
                if index:
                    bare.append(took)
                    decoding.append(time.perf_counter() - started)
        calls: list[float] = []
        async with LacecalClient(base_url=server.base_url, rate_limit=REAL_LIMIT) as client:
            await client.meter_records(spare[-1], start, start + DAY)  # opens the connection
            for itr in fresh:
                started = time.perf_counter()
                records = await client.meter_records(itr, start, start + PAGES * DAY)
                calls.append(time.perf_counter() - started)
                if len(records) != PAGES * 144:
                    raise RuntimeError(f"latency: {len(records)} records")
        requests, rejections = await server.totals(fresh)
    single = statistics.median(bare)
    call = statistics.median(calls)
    floor = PAGES * (single + statistics.median(decoding))
    label = f"meter_records, {PAGES} pages on a fresh ITR @ 6/60s: time to records"
    common: dict[str, object] = {
        "single_bare_ms": round(single * 1000, 3),
        "max_ms": round(max(calls) * 1000, 3),
        "requests": requests,
        "rejections": rejections,
        "samples": samples,
    }
    return [
        row(
            SECTION,
            f"{label} vs bare requests",
            call * 1000,
            "ms",
            baseline=PAGES * single * 1000,
            baseline_name=f"{PAGES} x (bare GET + {BARE_PARSER})",
            extra=common,
        ),
        row(
            SECTION,
            f"{label} vs bare requests + decode",
            call * 1000,
            "ms",
            baseline=floor * 1000,
            baseline_name=f"{PAGES} x (bare GET + {BARE_PARSER} + decode)",
            target=f"<= {TARGET}x: no limiter wait (one would add 10,000 ms)",
            met=call / floor <= TARGET,
            extra=common,
        ),
    ]


def run(smoke: bool = False) -> list[Row]:
    """Median time to a 3-page range on fresh ITRs, beside 3 bare requests."""
    return asyncio.run(_measure(SMOKE_SAMPLES if smoke else SAMPLES))


if __name__ == "__main__":
    for result in run():
        print(result)

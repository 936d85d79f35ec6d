"""Client overhead: `stream_many` with the rate limit lifted, beside the transport's own limit.

The same pages (N ITRs x D days of 144 records, JSON) from the same fake server in its own
process, fetched twice per round: by `stream_many` (limiter, pager, typed records, events)
and by a bare loop of aiohttp GETs plus ``orjson.loads`` (``json.loads`` without the
``bench`` extra) with the same concurrency (one
sequential walk per ITR, over a pool of the client's size). Rounds alternate and each side
keeps its best round. A third loop is the bare one with the library's own `decode` in place
of the parser: what HTTP and decoding alone cost. Reported: records/s and CPU seconds (of
this process) per million records. Targets: the client reaches at least half the bare loop's
records/s, and uses at most 1.25x the CPU of bare GET + `decode` (limiter, pager, fan-out,
events cost at most a quarter on top). Headline: the plants one core keeps up with at the
full rate limit, records/s per core (1 / CPU s per record) / 14.4 (6 pages of 144 a minute).

Like with like: every loop drops a page once it has counted it. The bare loops do so by
construction (``len(decode(body))``); the client's loop deletes its event, else ``async
for`` keeps the last page alive while the next one is fetched and decoded, the page
outlives collections into the oldest generation, and the collector's full collections
(17 instead of 10 per run) cost ~1.5 CPU s per million meter records (measured) that the
library does not spend.

"Lifted" is ``rate_limit=(6, 1e-6)``: one ITR's pages are sequential, so six slots that come
back a microsecond after each exchange never make it wait (``(10**9, P)`` would allocate a
billion free-slot entries per ITR: see the report).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from benchmarks._common import BARE_PARSER, DAY, PAGE, Row, ServerProcess, bare_loads, row
from lacecal_async import LacecalClient, decode
from lacecal_async._transport import DEFAULT_POOL_SIZE

SECTION = "overhead"
LIFTED = (6, 1e-6)
TARGET = 0.5
CPU_TARGET = 1.25
#: Records a plant produces per second while it backfills at the full rate limit (6 x 144/min).
FULL_RATE = 6 * 144 / 60
PLANTS_TARGET = 3000
ITRS, DAYS, ROUNDS = 20, 30, 3
SMOKE = (4, 3, 1)


async def _timed(work: Callable[[], Awaitable[int]], server: ServerProcess) -> dict[str, float]:
    cpu, server_cpu = time.process_time(), server.cpu_seconds()
    started = time.perf_counter()
    records = await work()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    return {
        "records": records,
        "wall": wall,
        "cpu": cpu,
        "server_share": (server.cpu_seconds() - server_cpu) / wall,
    }


async def _measure(endpoint: str, itrs: int, days: int, rounds: int) -> list[Row]:
    async with ServerProcess(count=itrs, days=days + 1, rate=None) as server:
        ids = [plant.itr for plant in server.plants]
        start = server.plants[0].first
        end = start + days * DAY
        await server.warm(ids, start, days, endpoint)
        url = f"{server.base_url}{endpoint}.php"

        async with (
            LacecalClient(base_url=server.base_url, rate_limit=LIFTED) as client,
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=DEFAULT_POOL_SIZE)
            ) as session,
        ):

            async def library() -> int:
                records = 0
                async for event in client.stream_many(ids, endpoint, start, end):
                    records += len(getattr(event, "records", ()))
                    del event  # dropped once counted, as the bare loops drop theirs
                return records

            async def walk(itr: str, *, typed: bool) -> int:
                records = 0
                for day in range(days):
                    params = {"out": "json", "id": itr, "t": str(start + day * DAY), "n": "144"}
                    async with session.get(url, params=params) as response:
                        body = await response.read()
                    records += len(decode(endpoint, body) if typed else bare_loads(body))
                return records

            async def bare() -> int:
                return sum(await asyncio.gather(*(walk(itr, typed=False) for itr in ids)))

            async def bare_decode() -> int:
                return sum(await asyncio.gather(*(walk(itr, typed=True) for itr in ids)))

            best: dict[str, dict[str, float]] = {}
            for _ in range(rounds):
                works = (("client", library), ("bare", bare), ("decode", bare_decode))
                for name, work in works:
                    result = await _timed(work, server)
                    if result["records"] != itrs * days * PAGE:
                        raise RuntimeError(f"overhead {name}: {result['records']} records")
                    if name not in best or result["wall"] < best[name]["wall"]:
                        best[name] = result
    return _rows(endpoint, itrs, days, best)


def _rows(endpoint: str, itrs: int, days: int, best: dict[str, dict[str, float]]) -> list[Row]:
    client, bare, typed = best["client"], best["bare"], best["decode"]
    rate = client["records"] / client["wall"]
    bare_rate = bare["records"] / bare["wall"]
    per_million = client["cpu"] / client["records"] * 1e6
    bare_per_million = bare["cpu"] / bare["records"] * 1e6
    typed_per_million = typed["cpu"] / typed["records"] * 1e6
    plants = 1e6 / per_million / FULL_RATE
    label = f"stream_many {endpoint} JSON, {itrs} ITRs x {days} days"
    common: dict[str, Any] = {
        "client_cpu_share": round(client["cpu"] / client["wall"], 3),
        "server_cpu_share": round(client["server_share"], 3),
        "bare_server_cpu_share": round(bare["server_share"], 3),
    }
    return [
        row(
            SECTION,
            f"{label}: records/s",
            rate,
            "records/s",
            baseline=bare_rate,
            baseline_name=f"aiohttp GET + {BARE_PARSER}",
            target=f">= {TARGET}x bare",
            met=rate / bare_rate >= TARGET,
            extra=common,
        ),
        row(
            SECTION,
            f"{label}: CPU per million records",
            per_million,
            "CPU s/M records",
            baseline=bare_per_million,
            baseline_name=f"aiohttp GET + {BARE_PARSER}",
            extra=common,
        ),
        row(
            SECTION,
            f"{label}: CPU per million records vs bare GET + decode",
            per_million,
            "CPU s/M records",
            baseline=typed_per_million,
            baseline_name="aiohttp GET + the library's own decode",
            target=f"<= {CPU_TARGET}x",
            met=per_million <= CPU_TARGET * typed_per_million,
            extra=common,
        ),
        row(
            SECTION,
            f"{endpoint}: plants one core keeps up with at the full rate limit",
            plants,
            "plants",
            target=f">= {PLANTS_TARGET}" if endpoint == "meter" else None,
            met=plants >= PLANTS_TARGET if endpoint == "meter" else None,
            extra={"records_per_cpu_second": round(1e6 / per_million), **common},
        ),
    ]


async def _run(smoke: bool) -> list[Row]:
    itrs, days, rounds = SMOKE if smoke else (ITRS, DAYS, ROUNDS)
    rows: list[Row] = []
    for endpoint in ("meter", "inverter"):
        rows.extend(await _measure(endpoint, itrs, days, rounds))
    return rows


def run(smoke: bool = False) -> list[Row]:
    """Measure records/s and CPU per million records, client and bare loop, per endpoint."""
    return asyncio.run(_run(smoke))


if __name__ == "__main__":
    for result in run():
        print(result)

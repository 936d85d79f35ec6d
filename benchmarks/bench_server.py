"""How many 144-record pages per second the fake server serves on loopback.

The fake must never be a benchmark's bottleneck: this measures it with a plain aiohttp
client (a few concurrent connections, no rate limit) so that its figure can be compared
with what the library's client consumes. Pages cycle over 30 days of one plant per
connection; a first pass over them warms the fragment cache, as a long benchmark would.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from lacecal_async.testing import FakeLacecalServer, Plant, make_plants

CONCURRENCY = 4
PAGE = 144


def _starts(plant: Plant) -> list[int]:
    day = PAGE * plant.interval
    return list(range(plant.first, (plant.latest or plant.first) + 1, day))


async def _measure(
    server: FakeLacecalServer, plants: list[Plant], endpoint: str, out: str, seconds: float
) -> dict[str, object]:
    pages = records = size = 0
    deadline = 0.0

    async def worker(session: aiohttp.ClientSession, plant: Plant) -> None:
        nonlocal pages, records, size
        url = server.base_url + endpoint
        starts = _starts(plant)
        i = 0
        while time.perf_counter() < deadline:
            params = {"out": out, "id": plant.itr, "t": str(starts[i % len(starts)]), "n": "144"}
            async with session.get(url, params=params) as response:
                body = await response.read()
            assert response.status == 200
            pages += 1
            size += len(body)
            records += body.count(b'"unix_time"' if out == "json" else b"<unix_time>")
            i += 1

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + seconds / 4  # warm-up: fill the cache
        await asyncio.gather(*(worker(session, p) for p in plants))
        pages = records = size = 0
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(*(worker(session, p) for p in plants))
        elapsed = time.perf_counter() - started
    return {
        "benchmark": f"fake server {endpoint} {out}",
        "pages_per_s": round(pages / elapsed, 1),
        "records_per_page": round(records / max(pages, 1), 1),
        "kib_per_page": round(size / max(pages, 1) / 1024, 1),
        "concurrency": CONCURRENCY,
        "seconds": round(elapsed, 2),
    }


async def _run(smoke: bool) -> list[dict[str, object]]:
    plants = make_plants(CONCURRENCY, seed=0, interval=600, gaps=False)
    seconds = 0.2 if smoke else 3.0
    async with FakeLacecalServer(plants, rate_limit=None) as server:
        return [
            await _measure(server, plants, endpoint, out, seconds)
            for endpoint in ("meter.php", "inverter.php")
            for out in ("json", "xml")
        ]


def run(smoke: bool = False) -> list[dict[str, object]]:
    """Measure pages/s per endpoint and format (client and server share one event loop)."""
    return asyncio.run(_run(smoke))


if __name__ == "__main__":
    results = run()
    print(f"{'benchmark':32} {'pages/s':>9} {'records/page':>13} {'KiB/page':>9}")
    for row in results:
        print(
            f"{row['benchmark']!s:32} {row['pages_per_s']!s:>9} "
            f"{row['records_per_page']!s:>13} {row['kib_per_page']!s:>9}"
        )

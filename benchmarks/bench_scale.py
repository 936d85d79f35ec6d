"""Scale and memory: many ITRs in one `fetch_many`, and long streams that must stay flat.

Each measurement runs in a fresh interpreter (so that its peak RSS, ``ru_maxrss``, is its
own) against the fake server in another process:

* 10,000 ITRs x 1 page (a day of 144 meter records) in one `fetch_many`, at the API's real
  limit of 6 per 60 s: peak RSS, and the growth over the idle client divided per ITR,
  beside what the records themselves take (one page measured with tracemalloc);
* `stream_many` over 100 ITRs x 15, 30 and 60 days with a consumer that discards every
  page, rate limit lifted: peak RSS must not grow with the days (target: 60 days within
  10% of 15 days);
* `stream_many` over 100,000 ITRs x 1 page beside 10,000 ITRs x 1 page, identifiers read
  lazily from a file, pages discarded, rate limit lifted: at most `max_active` ITRs are in
  progress, so peak RSS must not grow with the number of ITRs (target: within 10%).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks._common import (
    DAY,
    Row,
    ServerProcess,
    current_rss_mib,
    peak_rss_mib,
    row,
    run_child,
)
from lacecal_async import LacecalClient, decode

SECTION = "scale"
FLAT_TARGET = 1.10
REAL_LIMIT = (6, 60.0)
LIFTED = (6, 1e-6)
FETCH_ITRS, STREAM_ITRS, STREAM_DAYS = 10_000, 100, (15, 30, 60)
SMOKE = (300, 5, (2, 4, 8))
#: ITRs of one page each in the `max_active` comparison, and `max_active` (None: default).
MANY = ((10_000, 100_000), None)
MANY_SMOKE = ((200, 600), 50)


async def _child_fetch(url: str, itrs: int, start: int) -> dict[str, Any]:
    from benchmarks._serve import plants  # noqa: PLC0415 - only the child needs the ITRs

    ids = [plant.itr for plant in plants(itrs, 2)]
    async with LacecalClient(base_url=url, rate_limit=REAL_LIMIT) as client:
        baseline = current_rss_mib()
        started = time.perf_counter()
        results = await client.fetch_many(ids, "meter", start, start + DAY)
        wall = time.perf_counter() - started
        records = sum(len(result.records) for result in results.values())
        failed = sum(result.error is not None for result in results.values())
        tracked = client.tracked_itrs  # still holding their slots: the limit is real
    return {
        "baseline_mib": baseline,
        "peak_mib": peak_rss_mib(),
        "records": records,
        "failed": failed,
        "limiters": tracked,
        "wall": wall,
    }


async def _child_stream(url: str, itrs: int, days: int, start: int) -> dict[str, Any]:
    from benchmarks._serve import plants  # noqa: PLC0415 - only the child needs the ITRs

    ids = [plant.itr for plant in plants(itrs, 2)]
    async with LacecalClient(base_url=url, rate_limit=LIFTED) as client:
        baseline = current_rss_mib()
        records = 0
        started = time.perf_counter()
        async for event in client.stream_many(ids, "meter", start, start + days * DAY):
            records += len(getattr(event, "records", ()))  # and drop the page
        wall = time.perf_counter() - started
    return {"baseline_mib": baseline, "peak_mib": peak_rss_mib(), "records": records, "wall": wall}


def _lines(path: str) -> Iterator[str]:
    """Identifiers one per line, read as the fan-out asks for them (never all in memory)."""
    with Path(path).open(encoding="ascii") as lines:
        for line in lines:
            yield line.strip()


async def _child_many(
    url: str, ids_path: str, start: int, max_active: int | None
) -> dict[str, Any]:
    options = {} if max_active is None else {"max_active": max_active}
    async with LacecalClient(base_url=url, rate_limit=LIFTED) as client:
        baseline = current_rss_mib()
        records = done = 0
        started = time.perf_counter()
        events = client.stream_many(_lines(ids_path), "meter", start, start + DAY, **options)
        async for event in events:
            records += len(getattr(event, "records", ()))  # and drop the page
            done += not hasattr(event, "records")
        wall = time.perf_counter() - started
    return {
        "baseline_mib": baseline,
        "peak_mib": peak_rss_mib(),
        "records": records,
        "done": done,
        "wall": wall,
    }


def _child(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_scale")
    parser.add_argument("mode", choices=("fetch", "stream", "many"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--itrs", type=int, required=True)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--start", type=int, required=True)
    parser.add_argument("--ids", help="many: a file of identifiers, one per line")
    parser.add_argument("--max-active", type=int, default=None)
    options = parser.parse_args(argv)
    if options.mode == "fetch":
        result = asyncio.run(_child_fetch(options.url, options.itrs, options.start))
    elif options.mode == "many":
        result = asyncio.run(
            _child_many(options.url, options.ids, options.start, options.max_active)
        )
    else:
        result = asyncio.run(_child_stream(options.url, options.itrs, options.days, options.start))
    print(json.dumps(result))


async def _page_bytes(url: str, itr: str, start: int) -> bytes:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{url}meter.php", params={"out": "json", "id": itr, "t": str(start), "n": "144"}
        ) as response,
    ):
        return await response.read()


def _records_kib(body: bytes) -> float:
    """What one decoded page of records holds on the heap [KiB]."""
    decode("meter", body)  # first call: converter caches, not the page
    tracemalloc.start()
    page = decode("meter", body)
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del page
    return size / 1024


async def _fetch_many_rows(itrs: int) -> list[Row]:
    async with ServerProcess(count=itrs + 1, days=2, rate=REAL_LIMIT) as server:
        start = server.plants[0].first
        await server.warm([server.plants[-1].itr], start, 1)
        body = await _page_bytes(server.base_url, server.plants[-1].itr, start)
        args = ("fetch", "--url", server.base_url, "--itrs", str(itrs), "--start", str(start))
        result = run_child("benchmarks.bench_scale", *args)
        requests, rejections = await server.totals(p.itr for p in server.plants[:itrs])
    if result["records"] != itrs * 144 or result["failed"]:
        raise RuntimeError(f"fetch_many at scale: {result}")
    per_itr = (result["peak_mib"] - result["baseline_mib"]) * 1024 / itrs
    records = _records_kib(body)
    label = f"fetch_many {itrs} ITRs x 1 page (144 meter records)"
    common: dict[str, object] = {
        "wall_s": round(result["wall"], 2),
        "requests": requests,
        "rejections": rejections,
        "limiters_held": result["limiters"],
    }
    return [
        row(SECTION, f"{label}: peak RSS", result["peak_mib"], "MiB", extra=common),
        row(
            SECTION,
            f"{label}: memory per ITR",
            per_itr,
            "KiB",
            baseline=records,
            baseline_name="the page's 144 records alone (tracemalloc)",
            extra=common,
        ),
    ]


async def _stream_rows(itrs: int, days: Sequence[int]) -> list[Row]:
    peaks: dict[int, dict[str, Any]] = {}
    async with ServerProcess(count=itrs, days=max(days) + 1, rate=None) as server:
        start = server.plants[0].first
        await server.warm([p.itr for p in server.plants], start, max(days))
        for count in days:
            result = run_child(
                "benchmarks.bench_scale",
                *("stream", "--url", server.base_url, "--itrs", str(itrs)),
                *("--days", str(count), "--start", str(start)),
            )
            if result["records"] != itrs * count * 144:
                raise RuntimeError(f"stream_many at scale: {result}")
            peaks[count] = result
    first = peaks[days[0]]["peak_mib"]
    rows = []
    for count in days:
        result = peaks[count]
        flat = result["peak_mib"] <= first * FLAT_TARGET
        rows.append(
            row(
                SECTION,
                f"stream_many {itrs} ITRs x {count} days, pages discarded: peak RSS",
                result["peak_mib"],
                "MiB",
                baseline=first,
                baseline_name=f"peak RSS at {days[0]} days",
                target=f"<= {FLAT_TARGET}x",
                met=flat,
                extra={
                    "records": result["records"],
                    "idle_client_mib": round(result["baseline_mib"], 1),
                    "wall_s": round(result["wall"], 2),
                },
            )
        )
    return rows


async def _many_rows(counts: Sequence[int], max_active: int | None) -> list[Row]:
    """Peak RSS of one-page streams over more and more ITRs: bounded by `max_active`."""
    limit = () if max_active is None else ("--max-active", str(max_active))
    peaks: dict[int, dict[str, Any]] = {}
    async with ServerProcess(count=max(counts), days=2, rate=None) as server:
        start = server.plants[0].first
        await server.warm([server.plants[0].itr], start, 1)
        with tempfile.TemporaryDirectory() as folder:
            for count in counts:
                ids = Path(folder) / f"ids-{count}.txt"
                ids.write_text("".join(p.itr + "\n" for p in server.plants[:count]))
                result = run_child(
                    "benchmarks.bench_scale",
                    *("many", "--url", server.base_url, "--itrs", str(count)),
                    *("--ids", str(ids), "--start", str(start), *limit),
                    timeout=1800,
                )
                if result["records"] != count * 144 or result["done"] != count:
                    raise RuntimeError(f"stream_many over many ITRs: {result}")
                peaks[count] = result
    first = peaks[counts[0]]["peak_mib"]
    return [
        row(
            SECTION,
            f"stream_many {count} ITRs x 1 page, lazy input, max_active "
            f"{max_active or 'default'}, pages discarded: peak RSS",
            peaks[count]["peak_mib"],
            "MiB",
            baseline=first,
            baseline_name=f"peak RSS at {counts[0]} ITRs",
            target=f"<= {FLAT_TARGET}x",
            met=peaks[count]["peak_mib"] <= first * FLAT_TARGET,
            extra={
                "idle_client_mib": round(peaks[count]["baseline_mib"], 1),
                "wall_s": round(peaks[count]["wall"], 2),
            },
        )
        for count in counts
    ]


async def _run(smoke: bool) -> list[Row]:
    fetch_itrs, stream_itrs, stream_days = (
        SMOKE if smoke else (FETCH_ITRS, STREAM_ITRS, STREAM_DAYS)
    )
    return [
        *await _fetch_many_rows(fetch_itrs),
        *await _stream_rows(stream_itrs, stream_days),
        *await _many_rows(*(MANY_SMOKE if smoke else MANY)),
    ]


def run(smoke: bool = False) -> list[Row]:
    """Measure peak RSS of fetch_many at scale and of long streams (fresh interpreters)."""
    return asyncio.run(_run(smoke))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in {"fetch", "stream", "many"}:
        _child(sys.argv[1:])
    else:
        for result in run():
            print(result)

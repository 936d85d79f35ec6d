"""``lacecal fetch`` CPU per million records, with the command's GC tuning and without it.

The command freezes what start-up left alive and raises the generation-0 threshold during a
bulk fetch or sync (`lacecal_async.cli.gc_tuning`); ``LACECAL_GC_TUNING=0`` switches that
off. Both runs fetch the same pages (N ITRs x D days of 144 meter records, JSON, rate limit
lifted) from the same fake server in its own process into JSON Lines on /dev/null; rounds
alternate and each side keeps its least CPU. CPU is the child's user + system time, so it
includes start-up (the same for both).
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import time

from benchmarks._common import DAY, PAGE, Row, ServerProcess, child, row

SECTION = "gc"
ITRS, DAYS, ROUNDS = 20, 30, 3
SMOKE = (2, 2, 1)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _fetch(server: ServerProcess, ids: list[str], days: int, *, tuned: bool) -> float:
    start = server.plants[0].first
    env = {**os.environ, "LACECAL_GC_TUNING": "1" if tuned else "0"}
    cpu = _children_cpu()
    async with child(
        sys.executable,
        *("-m", "lacecal_async", "fetch", "--endpoint", "meter", *ids),
        *("--base-url", server.base_url, "--rate", "6/1e-06", "--progress", "none"),
        *("--start", str(start), "--end", str(start + days * DAY)),
        *("-o", os.devnull, "--format", "jsonl"),
        env=env,
        stderr=asyncio.subprocess.PIPE,
    ) as process:
        _, stderr = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"lacecal fetch failed: {stderr.decode()[-2000:]}")
    return _children_cpu() - cpu


async def _run(smoke: bool) -> list[Row]:
    itrs, days, rounds = SMOKE if smoke else (ITRS, DAYS, ROUNDS)
    records = itrs * days * PAGE
    async with ServerProcess(count=itrs, days=days + 1, rate=None) as server:
        ids = [plant.itr for plant in server.plants]
        await server.warm(ids, server.plants[0].first, days)
        best = {True: float("inf"), False: float("inf")}
        started = time.perf_counter()
        for _ in range(rounds):
            for on in (False, True):
                best[on] = min(best[on], await _fetch(server, ids, days, tuned=on))
        wall = time.perf_counter() - started
    tuned, plain = best[True] / records * 1e6, best[False] / records * 1e6
    label = f"lacecal fetch meter JSON, {itrs} ITRs x {days} days"
    return [
        row(
            SECTION,
            f"{label}: CPU per million records, GC tuned",
            tuned,
            "CPU s/M records",
            baseline=plain,
            baseline_name="LACECAL_GC_TUNING=0 (CPython's defaults)",
            extra={"records": records, "rounds": rounds, "wall_s": round(wall, 1)},
        )
    ]


def run(smoke: bool = False) -> list[Row]:
    """Measure ``lacecal fetch`` CPU per million records with and without the GC tuning."""
    return asyncio.run(_run(smoke))


if __name__ == "__main__":
    for result in run():
        print(result)

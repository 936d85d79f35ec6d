"""Sync throughput: records stored per second by ``lacecal sync`` in a backfill of 100 plants.

Beside it, the baseline: ``lacecal fetch`` of the same range to a CSV file, in the same run,
against the same server (its own process, gapless 600 s plants, shared encoded pages and
warmed first, no rate limit on either side). Each is the real command in a fresh process,
so each figure includes the interpreter's start (~0.3 s); each runs twice, alternating, and
the faster run counts. Meter records only: sync commits each page with the plant's state
in one transaction, fetch appends rows to one file. Into SQLite, then into PostgreSQL (a
throwaway server, fsync off, a fresh database each run) as a fleet runs it: ``--follow
--workers 1``, timed until the database holds every record (`bench_fleet`'s way: the
lease rounds included; a new store's plants need no hand-over wait), and as one plain
backfill process.
"""

from __future__ import annotations

import asyncio
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

from benchmarks._common import DAY, ROOT, Row, ServerProcess, row
from benchmarks.bench_fleet import _backfill, _fresh
from lacecal_async.testing import lifeline
from lacecal_async.testing.postgres import TemporaryPostgres

SECTION = "sync"
#: (plants, days); smoke mode runs a tiny one of the same shape.
SIZE = (100, 7)
SMOKE_SIZE = (5, 2)
RUNS = 3
FETCH = "lacecal fetch to CSV, same range"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(command: list[str], cpu: list[float] | None = None) -> float:
    """Run the command; its wall time [s]. `cpu`: its CPU seconds are appended there."""
    started, used = time.perf_counter(), _children_cpu()
    done = lifeline.run(
        [sys.executable, "-m", "lacecal_async", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"lacecal {command[0]} failed:\n{done.stderr[-2000:]}")
    if cpu is not None:
        cpu.append(_children_cpu() - used)
    return wall


def _check(db: Path, csv: Path, records: int) -> None:
    """Both stored every record: a figure of a run that lost some would mean nothing."""
    connection = sqlite3.connect(db)
    try:
        (stored,) = connection.execute("SELECT count(*) FROM meter").fetchone()
    finally:
        connection.close()
    with csv.open(encoding="utf-8") as stream:
        written = sum(1 for _ in stream) - 1
    if stored != records or written != records:
        raise RuntimeError(f"sync stored {stored}, fetch wrote {written}, of {records} records")


async def _count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM meter"))
    finally:
        await conn.close()


async def _measure(plants: int, days: int, folder: Path) -> list[Row]:
    records = plants * days * 144
    fetches, syncs, follows, backfills = [], [], [], []
    cpu: dict[str, list[float]] = {"fetch": [], "sync": [], "backfill": []}
    async with ServerProcess(count=plants, days=days, rate=None) as server:
        itrs = [plant.itr for plant in server.plants]
        itr_file = folder / "itrs.txt"
        itr_file.write_text("".join(f"p{n}={itr}\n" for n, itr in enumerate(itrs)))
        start = server.plants[0].first
        await server.warm(itrs, start, days)
        common = ["--base-url", server.base_url, "--rate", "1000/1", "-q"]
        with TemporaryPostgres() as postgres:
            for run in range(RUNS):
                fetch = ["fetch", "--endpoint", "meter", *itrs, "--start", str(start)]
                fetch += ["--end", str(start + days * DAY), "-o", str(folder / f"m{run}.csv")]
                fetches.append(await asyncio.to_thread(_timed, [*fetch, *common], cpu["fetch"]))
                sync = ["sync", str(folder / f"s{run}.db"), *itrs, "--start", str(start)]
                sync += ["--endpoint", "meter", *common]
                syncs.append(await asyncio.to_thread(_timed, sync, cpu["sync"]))
                await _fresh(postgres.dsn, f"follow_{run}")
                follows.append(
                    await _backfill(
                        postgres.dsn_for(f"follow_{run}"),
                        itr_file=itr_file,
                        base_url=server.base_url,
                        since=start,
                        workers=1,
                        records=records,
                    )
                )
                await _fresh(postgres.dsn, f"backfill_{run}")
                dsn = postgres.dsn_for(f"backfill_{run}")
                backfill = ["sync", dsn, "--itr-file", str(itr_file), "--start", str(start)]
                backfill += ["--endpoint", "meter", *common]
                backfills.append(await asyncio.to_thread(_timed, backfill, cpu["backfill"]))
                if await _count(dsn) != records:
                    raise RuntimeError(f"the PostgreSQL backfill stored {await _count(dsn)}")
    for run in range(RUNS):
        _check(folder / f"s{run}.db", folder / f"m{run}.csv", records)
    fetch_rate = records / min(fetches)
    extra: dict[str, object] = {
        "plants": plants,
        "days": days,
        "records": records,
        "sync_seconds": [round(s, 2) for s in syncs],
        "fetch_seconds": [round(s, 2) for s in fetches],
        "follow_seconds": [round(s, 2) for s in follows],
        "backfill_seconds": [round(s, 2) for s in backfills],
        # The command's own CPU (not the fake server's, nor PostgreSQL's): steadier than
        # the wall time on a shared machine.
        "cpu_seconds": {name: [round(s, 2) for s in runs] for name, runs in cpu.items()},
    }
    size = f"{plants} plants x {days} days"
    return [
        row(
            SECTION,
            f"lacecal sync, {size} backfill into SQLite (meter)",
            records / min(syncs),
            "records/s",
            target=">= 0.9 x fetch",
            met=min(fetches) / min(syncs) >= 0.9,
            extra=extra,
            baseline=fetch_rate,
            baseline_name=FETCH,
        ),
        row(
            SECTION,
            f"lacecal sync postgresql:// --follow --workers 1, {size} (meter)",
            records / min(follows),
            "records/s",
            target=">= 0.8 x fetch",
            met=min(fetches) / min(follows) >= 0.8,
            baseline=fetch_rate,
            baseline_name=FETCH,
        ),
        row(
            SECTION,
            f"lacecal sync postgresql://, {size} backfill, one process (meter)",
            records / min(backfills),
            "records/s",
            baseline=fetch_rate,
            baseline_name=FETCH,
        ),
    ]


def run(smoke: bool = False) -> list[Row]:
    """Time a 100-plant backfill by ``lacecal sync`` beside ``lacecal fetch`` to CSV."""
    plants, days = SMOKE_SIZE if smoke else SIZE
    with tempfile.TemporaryDirectory() as folder:
        return asyncio.run(_measure(plants, days, Path(folder)))


if __name__ == "__main__":
    for result in run():
        print(result)

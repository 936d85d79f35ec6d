"""Sync throughput: records stored per second by ``lacecal sync`` in a backfill of 100 plants.

Beside it, the baseline: ``lacecal fetch`` of the same range to a CSV file, in the same run,
against the same server (its own process, gapless 600 s plants, shared encoded pages and
warmed first, no rate limit on either side). Both are the real command in a fresh process,
so each figure includes the interpreter's start (~0.3 s); each runs twice, alternating, and
the faster run counts. Meter records only: sync commits each page with the plant's state
in one SQLite transaction, fetch appends rows to one file.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import DAY, ROOT, Row, ServerProcess, row
from lacecal_async.testing import lifeline

SECTION = "sync"
#: (plants, days); smoke mode runs a tiny one of the same shape.
SIZE = (100, 7)
SMOKE_SIZE = (5, 2)
RUNS = 2


def _timed(command: list[str]) -> float:
    started = time.perf_counter()
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


async def _measure(plants: int, days: int, folder: Path) -> list[Row]:
    async with ServerProcess(count=plants, days=days, rate=None) as server:
        itrs = [plant.itr for plant in server.plants]
        start = server.plants[0].first
        await server.warm(itrs, start, days)
        common = ["--base-url", server.base_url, "--rate", "1000/1", "-q"]
        fetches, syncs = [], []
        for run in range(RUNS):
            fetch = ["fetch", "meter", *itrs, "--start", str(start)]
            fetch += ["--end", str(start + days * DAY), "-o", str(folder / f"m{run}.csv")]
            fetches.append(await asyncio.to_thread(_timed, [*fetch, *common]))
            sync = ["sync", str(folder / f"s{run}.db"), *itrs, "--start", str(start)]
            syncs.append(await asyncio.to_thread(_timed, [*sync, "--endpoint", "meter", *common]))
    records = plants * days * 144
    for run in range(RUNS):
        _check(folder / f"s{run}.db", folder / f"m{run}.csv", records)
    sync_rate, fetch_rate = records / min(syncs), records / min(fetches)
    extra: dict[str, object] = {
        "plants": plants,
        "days": days,
        "records": records,
        "sync_seconds": [round(s, 2) for s in syncs],
        "fetch_seconds": [round(s, 2) for s in fetches],
    }
    return [
        row(
            SECTION,
            f"lacecal sync, {plants} plants x {days} days backfill into SQLite (meter)",
            sync_rate,
            "records/s",
            baseline=fetch_rate,
            baseline_name="lacecal fetch to CSV, same range",
            extra=extra,
        )
    ]


def run(smoke: bool = False) -> list[Row]:
    """Time a 100-plant backfill by ``lacecal sync`` beside ``lacecal fetch`` to CSV."""
    plants, days = SMOKE_SIZE if smoke else SIZE
    with tempfile.TemporaryDirectory() as folder:
        return asyncio.run(_measure(plants, days, Path(folder)))


if __name__ == "__main__":
    for result in run():
        print(result)

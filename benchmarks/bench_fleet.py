"""Plants kept up per host: a PostgreSQL fleet's backfill with ``--workers 2`` beside 1.

The real command, ``lacecal sync postgresql://... --follow --workers N``, in its own
process group, against a fake server in its own process (gapless 600 s plants, pages warmed
first, no rate limit on either side) and a throwaway PostgreSQL server (`TemporaryPostgres`,
fsync off), all on this machine: the workers, the fake server and PostgreSQL share its
cores. Each run starts from an empty database; the clock runs from the command's start
until the database holds every record (counted every 0.2 s), so it includes the
interpreters' start, the lease rounds and the hand-overs (none for a plant no worker held;
with 2 workers, up to 1 s at ``--rate 1000/1`` for the plants the first gives the second).
Each N runs twice, alternating, and the faster run counts.

A plant backfilling at the full rate limit (6 pages of 144 records a minute) makes 14.4
records/s, so records/s / 14.4 is how many plants the host keeps backfilling at full speed;
a plant caught up needs one request per period, far fewer.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

from benchmarks._common import Row, ServerProcess, child, row
from lacecal_async.testing.postgres import TemporaryPostgres

SECTION = "fleet"
#: (plants, days); smoke mode runs a tiny one of the same shape.
SIZE = (200, 7)
SMOKE_SIZE = (4, 1)
RUNS = 2
#: Records/s of one plant backfilling at the full rate limit: 6 pages of 144 a minute.
PLANT_RATE = 6 * 144 / 60


async def _count(
    conn: asyncpg.Connection | None, dsn: str
) -> tuple[asyncpg.Connection | None, int]:
    """The meter rows stored, on one connection kept across calls (none until the database is).

    A connection per look would fork a server backend five times a second, taking CPU
    from the run being timed.
    """
    if conn is None:
        conn = await asyncpg.connect(dsn)
    try:
        return conn, int(await conn.fetchval("SELECT count(*) FROM meter"))
    except asyncpg.UndefinedTableError:  # the first worker has not made the schema yet
        return conn, 0


async def _fresh(admin: str, name: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _backfill(
    dsn: str, *, itr_file: Path, base_url: str, since: int, workers: int, records: int
) -> float:
    command = [
        *(sys.executable, "-m", "lacecal_async", "sync", dsn, "--itr-file", str(itr_file)),
        *("--start", str(since), "--endpoint", "meter", "--follow", "-q"),
        *("--workers", str(workers), "--lease-ttl", "3s"),
        *("--base-url", base_url, "--rate", "1000/1", "--retries", "0"),
    ]
    started = time.perf_counter()
    log = itr_file.with_name(f"workers{workers}.log")
    with log.open("wb") as stderr:
        # SIGTERM at the end: the workers release their leases as they do in service.
        conn: asyncpg.Connection | None = None
        try:
            async with child(*command, stderr=stderr, grace=60) as process:
                conn, stored = await _count(conn, dsn)
                while stored < records:
                    if process.returncode is not None or time.perf_counter() - started > 600:
                        tail = log.read_text(errors="replace")[-2000:]
                        raise RuntimeError(
                            f"stored {stored} of {records} records, then stopped:\n{tail}"
                        )
                    await asyncio.sleep(0.1)
                    conn, stored = await _count(conn, dsn)
                return time.perf_counter() - started
        finally:
            if conn is not None:
                await conn.close()


async def _measure(plants: int, days: int, folder: Path, runs: int) -> list[Row]:
    records = plants * days * 144
    seconds: dict[int, list[float]] = {1: [], 2: []}
    async with ServerProcess(count=plants, days=days, rate=None) as server:
        itrs = [plant.itr for plant in server.plants]
        start = server.plants[0].first
        await server.warm(itrs, start, days)
        itr_file = folder / "itrs.txt"
        itr_file.write_text("".join(f"p{n}={itr}\n" for n, itr in enumerate(itrs)))
        with TemporaryPostgres() as postgres:
            for run in range(runs):
                for workers in (1, 2):
                    name = f"fleet_{workers}_{run}"
                    await _fresh(postgres.dsn, name)
                    seconds[workers].append(
                        await _backfill(
                            postgres.dsn_for(name),
                            itr_file=itr_file,
                            base_url=server.base_url,
                            since=start,
                            workers=workers,
                            records=records,
                        )
                    )
    one, two = records / min(seconds[1]), records / min(seconds[2])
    extra: dict[str, object] = {
        "plants": plants,
        "days": days,
        "records": records,
        "seconds": {str(n): [round(s, 2) for s in runs] for n, runs in seconds.items()},
    }
    return [
        row(
            SECTION,
            f"lacecal sync postgresql:// --workers 1, {plants} plants x {days} days (meter)",
            round(one),
            "records/s",
            extra={**extra, "plants_per_host": round(one / PLANT_RATE)},
        ),
        row(
            SECTION,
            f"lacecal sync postgresql:// --workers 2, {plants} plants x {days} days (meter)",
            round(two),
            "records/s",
            baseline=round(one),
            baseline_name="--workers 1",
            extra={**extra, "plants_per_host": round(two / PLANT_RATE)},
        ),
        row(
            SECTION,
            "plants kept backfilling per host (records/s / 14.4), --workers 2 vs 1",
            round(two / PLANT_RATE),
            "plants",
            baseline=round(one / PLANT_RATE),
            baseline_name="--workers 1",
        ),
    ]


def run(smoke: bool = False) -> list[Row]:
    """Time a PostgreSQL fleet's backfill with 1 and 2 worker processes."""
    plants, days = SMOKE_SIZE if smoke else SIZE
    with tempfile.TemporaryDirectory() as folder:
        return asyncio.run(_measure(plants, days, Path(folder), 1 if smoke else RUNS))


if __name__ == "__main__":
    for result in run(smoke="--smoke" in sys.argv):
        print(result["name"], result["value"], result["unit"], result.get("ratio"))

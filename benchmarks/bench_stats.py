"""Records rolled up per second from a year-long store, beside a SQL GROUP BY of the same rows.

One plant-year of meter records (600 s periods, 2024: 52,704 periods, a leap year) in a
SQLite store, committed through `SQLiteStore.commit_page` as a sync would. Measured, each
the best of `RUNS`, interleaved so a burst of load from the shared machine hits both:
- `rollup_store(store, "meter", "day", ZoneInfo("Europe/Madrid"))`: read back through the
  store's ``read_rows`` in batches, every quantity summed per local day (DST included),
  counts and completeness; the same by hour;
- the baseline: one SQL ``GROUP BY`` over the same rows in the same file (sqlite3, its
  own connection), summing the same 20 columns per local day by the offset each row
  carries, with a count: what a user's own query gives (no holes marked, float sums);
- the pure rollup of the same records in memory (no I/O): the rollup's own cost.
The rollup's rows and the GROUP BY's are checked to agree (energies to 1e-6 kWh).
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from benchmarks._common import Row, row
from lacecal_async import fingerprint
from lacecal_async.endpoints import Endpoint
from lacecal_async.records import MeterRecord
from lacecal_async.stats import METER_QUANTITIES, StatsRow, rollup
from lacecal_async.stats_buckets import Bucket
from lacecal_async.stats_store import rollup_store
from lacecal_async.sync import SQLiteStore, SyncState
from lacecal_async.testing import make_plants

SECTION = "stats"
MADRID = ZoneInfo("Europe/Madrid")
YEAR = int(datetime(2024, 1, 1, tzinfo=MADRID).timestamp())
DAYS, SMOKE_DAYS = 366, 3
RUNS = 3
PAGE = 1000
_SUMS = ", ".join(f"SUM({q})" for q in METER_QUANTITIES)
GROUP_BY = (
    f"SELECT plant, (unix_time + utc_offset_s) / 86400 AS day, COUNT(*), {_SUMS} "  # noqa: S608
    "FROM meter GROUP BY plant, day ORDER BY plant, day"
)


def _records(days: int) -> list[MeterRecord]:
    plant = make_plants(1, seed=8, start=YEAR, days=days + 1, interval=600, gaps=False)[0]
    return plant.meter_records(YEAR, YEAR + days * 86400)  # a year: the DST hours cancel


async def _fill(path: Path, records: list[MeterRecord]) -> None:
    async with SQLiteStore(path) as store:
        key = await store.add_plant(fingerprint("BenchStats000001"), "bench")
        for i in range(0, len(records), PAGE):
            page = records[i : i + PAGE]
            state = SyncState(latest=page[-1].unix_time, interval=page[-1].interval)
            await store.commit_page(key, Endpoint.METER, page, state, now=1.0)


async def _rollup_store(path: Path, bucket: Bucket) -> tuple[float, list[StatsRow]]:
    async with SQLiteStore(path, create=False) as store:
        started = time.perf_counter()
        rows = [row async for row in rollup_store(store, Endpoint.METER, bucket, MADRID)]
        return time.perf_counter() - started, rows


def _group_by(path: Path) -> tuple[float, list[tuple[Any, ...]]]:
    connection = sqlite3.connect(path)
    try:
        started = time.perf_counter()
        found = connection.execute(GROUP_BY).fetchall()
        return time.perf_counter() - started, found
    finally:
        connection.close()


def _check(rows: list[StatsRow], grouped: list[tuple[Any, ...]], records: int) -> None:
    """The figures mean something only if both summed every record to the same totals."""
    if sum(r.periods for r in rows) != records or sum(g[2] for g in grouped) != records:
        raise RuntimeError("the rollup or the GROUP BY missed records")
    if len(rows) != len(grouped):
        raise RuntimeError(f"{len(rows)} local days rolled up, {len(grouped)} grouped")
    for mine, theirs in zip(rows, grouped, strict=True):
        for name, value in zip(METER_QUANTITIES, theirs[3:], strict=True):
            if abs(mine.energy[name] - value) > 1e-6:
                raise RuntimeError(f"{mine.start}: {name} {mine.energy[name]} vs {value}")


async def _run(smoke: bool) -> list[Row]:
    days = SMOKE_DAYS if smoke else DAYS
    records = _records(days)
    best = {"day": float("inf"), "hour": float("inf"), "sql": float("inf"), "pure": float("inf")}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "year.db"
        await _fill(path, records)
        days_rows: list[StatsRow] = []
        grouped: list[tuple[Any, ...]] = []
        for _ in range(1 if smoke else RUNS):
            seconds, days_rows = await _rollup_store(path, "day")
            best["day"] = min(best["day"], seconds)
            seconds, grouped = _group_by(path)
            best["sql"] = min(best["sql"], seconds)
            seconds, _ = await _rollup_store(path, "hour")
            best["hour"] = min(best["hour"], seconds)
            started = time.perf_counter()
            rollup({"bench": records}, "day", MADRID)
            best["pure"] = min(best["pure"], time.perf_counter() - started)
        _check(days_rows, grouped, len(records))
    rate = {name: len(records) / seconds for name, seconds in best.items()}
    what = f"{len(records):,} meter periods, a plant-{'year' if not smoke else 'few days'}"
    return [
        row(
            SECTION,
            f"rollup_store by local day, SQLite ({what})",
            round(rate["day"]),
            "records/s",
            baseline=round(rate["sql"]),
            baseline_name="SQL GROUP BY, same rows, same file",
        ),
        row(
            SECTION,
            "rollup_store by hour, SQLite (the same store)",
            round(rate["hour"]),
            "records/s",
            baseline=round(rate["sql"]),
            baseline_name="SQL GROUP BY by day",
        ),
        row(
            SECTION,
            "rollup of the same records in memory (no I/O)",
            round(rate["pure"]),
            "records/s",
            baseline=round(rate["sql"]),
            baseline_name="SQL GROUP BY by day",
        ),
    ]


def run(smoke: bool = False) -> list[Row]:
    """Measure records/s rolled up from a plant-year store, and the GROUP BY beside it."""
    return asyncio.run(_run(smoke))


if __name__ == "__main__":
    for result in run():
        print(result["name"], result["value"], result["unit"], result.get("ratio"))

"""Rows/s upserted into PostgreSQL by one worker, and the database's size per plant-year.

A throwaway server (`TemporaryPostgres`: fsync off, so the figures are the CPU's and the
protocol's, not a disk's). Pages of 144 meter records (a day of 600 s periods):
- each way `_upsert_rows` can send a page (one ``unnest`` statement, ``COPY`` into a staging
  table then one INSERT, ``executemany``), new rows then the same rows again (conflicts),
  a transaction per page; ``executemany`` is the baseline;
- `PostgresStore.commit_page` as the engine calls it (holes and sync state included), the
  target being 50,000 rows/s: a statement per step (the store core's way, the baseline),
  then one statement per page (`lacecal_async.sync.postgres_page`), interleaved, the best of
  two runs each;
- `commit_page` beside the raw ``unnest`` upsert, page by page in turn (so a burst of load
  from the shared machine hits both alike), new rows then the same again: the issue's
  ratio, at least 0.9. The raw upsert is given rows; `commit_page` makes them of records;
- the tables' size on disk after a month of one plant's meter and inverter records, times 12.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Literal

import asyncpg

from benchmarks._common import Row, row
from lacecal_async import fingerprint
from lacecal_async.endpoints import Endpoint
from lacecal_async.records import MeterRecord
from lacecal_async.sync import PostgresStore, SyncState
from lacecal_async.sync.core import StoreCore, upsert_from
from lacecal_async.sync.postgres_page import upsert_unnest
from lacecal_async.sync.schema import TABLE_NAMES
from lacecal_async.tables import METER, Table
from lacecal_async.tables import Row as TableRow
from lacecal_async.testing import make_plants
from lacecal_async.testing.postgres import TemporaryPostgres

SECTION = "postgres"
PAGE = 144
TARGET = 50_000
_TABLES = ("meter", "inverter", "inverter_periods", "holes", "sync_state")


UpsertMethod = Literal["unnest", "copy", "executemany"]
#: How `_upsert_rows` may send a page's rows.
UPSERT_METHODS: tuple[UpsertMethod, ...] = ("unnest", "copy", "executemany")
#: The one the store uses (`PostgresStore._upsert`).
STORE_UPSERT: UpsertMethod = "unnest"


async def _upsert_rows(
    conn: asyncpg.Connection[Any], table: Table, rows: Sequence[TableRow], method: UpsertMethod
) -> None:
    """Insert or replace `rows` (one per key) of a data table, in the caller's transaction.

    ``unnest``: one statement with a column array per column; ``copy``: COPY into a
    temporary staging table, then one INSERT from it; ``executemany``: a statement per row.
    """
    if not rows:
        return
    name = TABLE_NAMES[table]
    if method == "unnest":
        await conn.execute(upsert_unnest(table), *(list(c) for c in zip(*rows, strict=True)))
    elif method == "executemany":
        await conn.executemany(upsert_from(table), rows)
    else:
        stage = f"_stage_{name}"
        await conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {name}) ON COMMIT DELETE ROWS"
        )
        await conn.copy_records_to_table(stage, records=rows, columns=table.names)
        await conn.execute(upsert_from(table, f"SELECT {', '.join(table.names)} FROM {stage}"))  # noqa: S608


def _pages(days: int) -> tuple[str, list[list[MeterRecord]]]:
    plant = make_plants(1, seed=3, days=days, gaps=False)[0]
    records = plant.meter_records(plant.first, (plant.latest or 0) + 1)
    return "bench-plant", [records[i : i + PAGE] for i in range(0, len(records), PAGE)]


async def _prepare(dsn: str) -> None:
    """The schema, and the plants the sections write to."""
    async with PostgresStore(dsn) as store:
        for n, alias in enumerate(("bench-plant", "bench-store", "bench-size")):
            await store.add_plant(fingerprint(f"BenchPlant{n:06d}"), alias)


async def _methods(dsn: str, key: str, pages: list[list[MeterRecord]]) -> dict[str, float]:
    rates: dict[str, float] = {}
    rows = [METER.rows(key, page) for page in pages]
    total = sum(len(r) for r in rows)
    conn = await asyncpg.connect(dsn)
    written: dict[str, list[Any]] = {}
    try:
        for method in UPSERT_METHODS:
            await conn.execute("TRUNCATE meter")
            started = time.perf_counter()
            for _ in range(2):  # new rows, then every one a conflict
                for page in rows:
                    async with conn.transaction():
                        await _upsert_rows(conn, METER, page, method)
            rates[method] = 2 * total / (time.perf_counter() - started)
            written[method] = [tuple(r) for r in await conn.fetch("TABLE meter ORDER BY 1, 2")]
    finally:
        await conn.close()
    if any(found != written["executemany"] for found in written.values()):
        raise AssertionError("the upsert methods wrote different rows")
    return rates


class _StatementPerStep(PostgresStore):
    """The store core's page: a statement (a round trip) per step, as SQLite writes it."""

    _write_page = StoreCore._write_page


async def _store(dsn: str, pages: list[list[MeterRecord]], kind: type[PostgresStore]) -> float:
    async with kind(dsn) as store:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("DELETE FROM meter WHERE plant = 'bench-store'")
            await conn.execute("DELETE FROM sync_state WHERE plant = 'bench-store'")
        finally:
            await conn.close()
        total = sum(len(page) for page in pages)
        started = time.perf_counter()
        for page in pages:
            state = SyncState(latest=page[-1].unix_time, interval=page[-1].interval)
            await store.commit_page("bench-store", Endpoint.METER, page, state, now=1.0)
        return total / (time.perf_counter() - started)


async def _paired(dsn: str, key: str, pages: list[list[MeterRecord]]) -> tuple[float, float]:
    """Return rows/s of the raw ``unnest`` upsert and of `commit_page`, page by page in turn."""
    rows = [METER.rows(key, page) for page in pages]
    raw = store = 0.0
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DELETE FROM meter WHERE plant IN ($1, 'bench-store')", key)
        await conn.execute("DELETE FROM sync_state WHERE plant = 'bench-store'")
        async with PostgresStore(dsn) as store_:
            for _ in range(2):  # new rows, then every one a conflict
                for page, page_rows in zip(pages, rows, strict=True):
                    started = time.perf_counter()
                    async with conn.transaction():
                        await _upsert_rows(conn, METER, page_rows, "unnest")
                    between = time.perf_counter()
                    state = SyncState(latest=page[-1].unix_time, interval=page[-1].interval)
                    await store_.commit_page("bench-store", Endpoint.METER, page, state, now=1.0)
                    raw += between - started
                    store += time.perf_counter() - between
    finally:
        await conn.close()
    total = 2 * sum(len(page) for page in pages)
    return total / raw, total / store


async def _size_per_year(dsn: str, days: int) -> tuple[float, int]:
    plant = make_plants(1, seed=4, days=days, gaps=False)[0]
    async with PostgresStore(dsn) as store:
        span = (plant.first, (plant.latest or 0) + 1)
        for endpoint, records in (
            (Endpoint.METER, plant.meter_records(*span)),
            (Endpoint.INVERTER, plant.inverter_records(*span)),
        ):
            for i in range(0, len(records), PAGE):
                page: Any = records[i : i + PAGE]
                await store.commit_page("bench-size", endpoint, page, SyncState(), now=1.0)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DELETE FROM meter WHERE plant <> 'bench-size'")
        await conn.execute("VACUUM FULL")
        size = sum([await conn.fetchval("SELECT pg_total_relation_size($1)", t) for t in _TABLES])
    finally:
        await conn.close()
    return size * 365 / days, len(plant.inverters)


async def _run(smoke: bool) -> list[Row]:
    days = 3 if smoke else 120
    key, pages = _pages(days)
    with TemporaryPostgres() as server:
        await _prepare(server.dsn)
        rates = await _methods(server.dsn, key, pages)
        # Interleaved, twice each, so a burst of load from the shared machine hits both.
        per_step = one = 0.0
        for _ in range(2):
            per_step = max(per_step, await _store(server.dsn, pages, _StatementPerStep))
            one = max(one, await _store(server.dsn, pages, PostgresStore))
        paired = [await _paired(server.dsn, key, pages) for _ in range(3)]
        size, inverters = await _size_per_year(server.dsn, 3 if smoke else 30)
    base = rates["executemany"]
    out = [
        row(
            SECTION,
            f"upsert_rows {method}: meter rows/s, pages of {PAGE}",
            round(rate),
            "rows/s",
            baseline=round(base),
            baseline_name="executemany",
            extra={"store_uses": method == STORE_UPSERT},
        )
        for method, rate in rates.items()
    ]
    out.append(
        row(
            SECTION,
            f"PostgresStore.commit_page, a statement per step ({STORE_UPSERT}, holes, state)",
            round(per_step),
            "rows/s",
            baseline=round(base),
            baseline_name="executemany",
        )
    )
    out.append(
        row(
            SECTION,
            "PostgresStore.commit_page, one statement per page (rows, state, holes' reads)",
            round(one),
            "rows/s",
            baseline=round(per_step),
            baseline_name="a statement per step",
            target=f">= {TARGET} rows/s",
            met=one >= TARGET,
        )
    )
    raw, store = sorted(paired, key=lambda pair: pair[1] / pair[0])[1]  # the median ratio
    out.append(
        row(
            SECTION,
            "PostgresStore.commit_page beside the raw unnest upsert, page by page in turn",
            round(store),
            "rows/s",
            baseline=round(raw),
            baseline_name="raw unnest upsert (given rows)",
            ratio=store / raw,
            target=">= 0.9 x raw",
            met=store / raw >= 0.9,
            extra={"runs": [[round(r), round(s)] for r, s in paired]},
        )
    )
    out.append(
        row(
            SECTION,
            f"database size per plant-year (meter + {inverters} inverters, 600 s periods)",
            round(size / 2**20, 1),
            "MiB",
        )
    )
    return out


def run(smoke: bool = False) -> list[Row]:
    """Measure upserted rows/s (each method, then the store) and the size per plant-year."""
    return asyncio.run(_run(smoke))


if __name__ == "__main__":
    for result in run():
        print(result["name"], result["value"], result["unit"], result.get("ratio"))

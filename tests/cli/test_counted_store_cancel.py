"""Ctrl-C while a page commits: the count ``lacecal sync`` reports is what the database holds."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lacecal_async import fingerprint
from lacecal_async.cli.counted_store import counted_store
from lacecal_async.endpoints import Endpoint
from lacecal_async.records import MeterRecord
from lacecal_async.sync import PostgresStore, SQLiteStore, SyncState
from lacecal_async.testing import make_plants

PLANT = make_plants(1, seed=82, days=1, gaps=False)[0]


async def _stored(db: str) -> int:
    reader = PostgresStore(db, create=False) if db.startswith("postgresql://") else None
    async with reader or SQLiteStore(Path(db), create=False) as store:
        return len(
            [
                record
                async for _, records in store.read_records(Endpoint.METER)
                for record in records
                if isinstance(record, MeterRecord)
            ]
        )


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_dsn"))
    return str(tmp_path / "sync.db")


async def test_a_page_cancelled_while_it_commits_is_counted_if_it_committed(
    database: str,
) -> None:
    told: list[int] = []
    records = [PLANT.meter_record(PLANT.first + i * PLANT.interval) for i in range(50)]
    state = SyncState(latest=records[-1].unix_time, interval=PLANT.interval, since=PLANT.first)
    dsn = database.startswith("postgresql://")
    store = counted_store(database, lambda _p, _e, n, _s: told.append(n), dsn=dsn)
    async with store:
        await store.add_plant(fingerprint(PLANT.itr), "roof")
        page = asyncio.ensure_future(
            store.commit_page("roof", Endpoint.METER, records, state, now=1.0)
        )
        await asyncio.sleep(0)  # the page is handed to the database: Ctrl-C comes now
        page.cancel()
        with pytest.raises(asyncio.CancelledError):
            await page
    # Both stores finish a job they started (their docs): so must the count.
    assert sum(told) == await _stored(database) == len(records)

"""SQLiteStore's own tables: the export's columns, ``start`` as ISO 8601 text.

What every store does (pages, holes, errors, status) is in test_store_contract.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import SQLiteStore, StoreError, SyncState
from lacecal_async.tables import INVERTERS, PERIODS, Row
from lacecal_async.tables import METER as METER_TABLE
from tests.support.stores import KEY, PLANT, page_state, rows

METER = Endpoint.METER
INVERTER = Endpoint.INVERTER
IV = PLANT.interval


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "sync.db"


@pytest.fixture
async def store(db: Path) -> AsyncIterator[SQLiteStore]:
    async with SQLiteStore(db) as opened:
        await opened.add_plant(KEY)
        yield opened


def meter_table(db: Path) -> list[tuple[object, ...]]:
    return rows(db, "SELECT * FROM meter ORDER BY plant, unix_time")


def inverter_table(db: Path) -> list[tuple[object, ...]]:
    return rows(db, "SELECT * FROM inverter ORDER BY plant, unix_time, inverter_id")


def periods_table(db: Path) -> list[tuple[object, ...]]:
    return rows(db, "SELECT * FROM inverter_periods ORDER BY plant, unix_time")


def as_stored(export_rows: list[Row]) -> list[tuple[object, ...]]:
    """The export's rows as SQLite holds them: ``start`` as ISO 8601 text with its offset."""
    return [(*row[:2], row[2].isoformat(), *row[3:]) for row in export_rows]  # type: ignore[union-attr]


async def test_rows_are_the_export_columns_and_values(store: SQLiteStore, db: Path) -> None:
    meters = PLANT.meter_records(PLANT.first, PLANT.first + 5 * IV)
    inverters = PLANT.inverter_records(PLANT.first, PLANT.first + 5 * IV)
    await store.commit_page(KEY, METER, meters, page_state(meters), now=1.0)
    await store.commit_page(KEY, INVERTER, inverters, SyncState(latest=0, interval=IV), now=1.0)
    assert meter_table(db) == as_stored(METER_TABLE.rows(KEY, meters))
    assert periods_table(db) == as_stored(PERIODS.rows(KEY, inverters))
    assert inverter_table(db) == sorted(
        as_stored(INVERTERS.rows(KEY, inverters)), key=lambda r: (r[1], r[5])
    )
    tables = {"meter": METER_TABLE, "inverter": INVERTERS, "inverter_periods": PERIODS}
    for name, table in tables.items():
        names = [r[0] for r in rows(db, "SELECT name FROM pragma_table_info(?)", name)]
        assert names == table.names
    # Each period's total once: SQL sums give the plant's production.
    (total,) = rows(db, "SELECT sum(total_energy_kwh) FROM inverter_periods")[0]
    assert total == pytest.approx(sum(r.total_energy for r in inverters))


async def test_a_write_naming_a_worker_is_refused_as_sqlite_has_no_leases(
    store: SQLiteStore, db: Path
) -> None:
    page = PLANT.meter_records(PLANT.first, PLANT.first + 3600)
    with pytest.raises(StoreError, match="SQLiteStore has no leases"):
        await store.commit_page(KEY, Endpoint.METER, page, page_state(page), now=1.0, worker="w")
    assert meter_table(db) == []
    assert await store.state(KEY, Endpoint.METER) is None

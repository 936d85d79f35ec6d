"""A store of the previous schema upgrades to the one that records faults, its data kept.

SQLite's version 2 and PostgreSQL's version 3 add what a sync ignored for being dated
after the clock (per plant and endpoint) and the state of inverter-list refreshes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pytest

from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import (
    PostgresStore,
    SQLiteStore,
    StatusRow,
    Store,
    schema,
)
from tests.support.stores import KEY, PLANT, meter_pages, page_state


class PreviousSQLiteStore(SQLiteStore):
    """The SQLite store of the release before: schema version 1."""

    migrations: ClassVar[tuple[tuple[str, ...], ...]] = schema.SQLITE_MIGRATIONS[:1]


class PreviousPostgresStore(PostgresStore):
    """The PostgreSQL store of the release before: schema version 2."""

    migrations: ClassVar[tuple[tuple[str, ...], ...]] = schema.POSTGRES_MIGRATIONS[:2]


Stores = tuple[Callable[[], Store], Callable[[], Store]]


@pytest.fixture(params=["sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Stores:
    """The previous release's store and this one's, on one new database."""
    if request.param == "sqlite":
        path = tmp_path / "old.db"
        return (lambda: PreviousSQLiteStore(path)), (lambda: SQLiteStore(path))
    dsn = request.getfixturevalue("postgres_dsn")
    return (lambda: PreviousPostgresStore(dsn)), (lambda: PostgresStore(dsn))


async def test_the_previous_schema_upgrades_and_keeps_every_row(stores: Stores) -> None:
    previous, current = stores
    first, second = meter_pages()[:2]
    async with previous() as store:
        await store.add_plant(KEY, "roof")
        await store.commit_page("roof", Endpoint.METER, first, page_state(first), now=1.0)
        await store.record_error("roof", Endpoint.METER, "HTTP 503", 99.0, now=2.0)
        before = await store.state("roof", Endpoint.METER)
        stored = [r async for _, rs in store.read_records(Endpoint.METER) for r in rs]
    async with current() as store:
        assert await store.state("roof", Endpoint.METER) == before
        assert [r async for _, rs in store.read_records(Endpoint.METER) for r in rs] == stored
        (row,) = await store.status()
        assert (row.failures, row.last_error, row.latest_record) == (
            1,
            "HTTP 503",
            first[-1].unix_time,
        )
        # the new columns' defaults: nothing was ignored
        assert (row.future_record, row.future_seen_at, row.future_removed) == (None, None, 0)
        # The new writes work on the upgraded database.
        await store.commit_page("roof", Endpoint.METER, second, page_state(second), now=3.0)
        await store.record_error("roof", Endpoint.INVERTER_LIST, "HTTP 404", 50.0, now=4.0)
        removed = await store.drop_future(
            "roof", Endpoint.METER, after=second[-2].unix_time, seen=None, now=5.0
        )
        assert removed == 1
        rows = {r.endpoint: r for r in await store.status()}
    assert set(rows) == {Endpoint.METER, Endpoint.INVERTER_LIST}
    meter = rows[Endpoint.METER]
    assert meter.latest_record == second[-2].unix_time
    assert (meter.future_record, meter.future_removed, meter.failures) == (
        second[-1].unix_time,
        1,
        0,
    )
    assert rows[Endpoint.INVERTER_LIST] == StatusRow(
        "roof", Endpoint.INVERTER_LIST, None, None, 0, 0, 1, "HTTP 404", 4.0, 50.0
    )
    assert PLANT.itr not in repr(rows)

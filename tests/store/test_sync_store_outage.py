"""A one-shot `sync` waits out a short store outage, and says a long one once, as the store's.

Before, a store unavailable during a one-shot sync (a full disk, a locked SQLite file, a
dropped PostgreSQL connection) was reported as every plant's own failure, one per plant
and endpoint, and the sync gave up at once. Now the plants the store failed are tried
again (`store_backoff`); a store that stays unavailable ends the sync with one
`StoreUnavailableError`. Either way nothing committed is lost or doubled: the rows equal
those of an undisturbed sync once it is run again. The fault is SQLite's own
``database or disk is full`` (`CappedStore`), the clock a scaled one (the waits are seconds).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from lacecal_async import ScaledClock
from lacecal_async.endpoints import Endpoint
from lacecal_async.records import InverterRecord, MeterRecord
from lacecal_async.sync import SQLiteStore, StoreUnavailableError, SyncState, sync
from lacecal_async.tables import INVERTERS, METER, PERIODS, Row
from lacecal_async.testing import make_plants
from tests.support.capped_sqlite import CappedStore
from tests.support.fixtures import ClientFactory, ServerFactory

PLANTS = make_plants(3, seed=31, days=2)
ITRS = [plant.itr for plant in PLANTS]
SINCE = PLANTS[0].first
#: The clock's speed: the waits between tries (a second, then doubling) pass in moments.
SPEED = 200.0


class FullAfterAWhile(CappedStore):
    """A store whose disk fills at the first page committed, and has room after `fails` more.

    `fails` None: it stays full. Plants are added and read first, as a sync does.
    """

    fails: int | None = None
    failed = 0

    async def commit_page(
        self,
        plant: str,
        endpoint: Endpoint,
        records: Sequence[MeterRecord] | Sequence[InverterRecord],
        state: SyncState,
        *,
        now: float,
        worker: str | None = None,
    ) -> None:
        if self.failed == 0:
            self.full()
        try:
            await super().commit_page(plant, endpoint, records, state, now=now, worker=worker)
        except StoreUnavailableError:
            self.failed += 1
            if self.fails is not None and self.failed >= self.fails:
                self.room()
            raise


async def _rows(path: Path) -> dict[str, list[Row]]:
    async with SQLiteStore(path, create=False) as store:
        return {
            table.name: [row async for batch in store.read_rows(table) for row in batch]
            for table in (METER, PERIODS, INVERTERS)
        }


async def _undisturbed(tmp_path: Path, client_url: str, make_client: ClientFactory) -> Path:
    calm = tmp_path / "calm.db"
    async with SQLiteStore(calm) as store:
        reports = await sync(make_client(client_url), store, ITRS, since=SINCE)
    assert all(report.ok for report in reports.values())
    return calm


def _store_lines(logs: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in logs.records
        if r.levelno >= logging.WARNING and "disk is full" in r.getMessage()
    ]


async def test_a_short_store_outage_is_waited_out_and_said_once(
    tmp_path: Path,
    make_server: ServerFactory,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await make_server(list(PLANTS))
    store = FullAfterAWhile(tmp_path / "s.db")
    store.fails = 2 * len(PLANTS)  # every endpoint's first page fails, then there is room
    with caplog.at_level(logging.INFO, logger="lacecal_async"):
        async with store:
            clock = ScaledClock(time.time(), SPEED)
            reports = await sync(
                make_client(server.base_url), store, ITRS, since=SINCE, clock=clock
            )
    assert store.failed >= store.fails
    assert all(report.ok for report in reports.values()), reports
    # Said once, as the store's (not once per plant and endpoint), and not as a failure.
    assert len(_store_lines(caplog)) == 1, _store_lines(caplog)
    assert "the store is unavailable" in _store_lines(caplog)[0]
    assert all(e.error is None for r in reports.values() for e in r.endpoints)
    # Nothing lost or doubled.
    calm = await _undisturbed(tmp_path, server.base_url, make_client)
    assert await _rows(store.path) == await _rows(calm)


async def test_a_store_that_stays_unavailable_ends_the_sync_with_one_error(
    tmp_path: Path,
    make_server: ServerFactory,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await make_server(list(PLANTS))
    client = make_client(server.base_url)
    store = FullAfterAWhile(tmp_path / "s.db")
    with caplog.at_level(logging.WARNING, logger="lacecal_async"):
        async with store:
            clock = ScaledClock(time.time(), SPEED)
            with pytest.raises(StoreUnavailableError, match="disk is full") as failed:
                await sync(client, store, ITRS, since=SINCE, clock=clock)
            assert re.search(
                r"the store was unavailable \d+ times over \d+ s: giving up", str(failed.value)
            ), failed.value
            assert "run the sync again" in str(failed.value)
            assert all(itr[-8:] not in str(failed.value) for itr in ITRS)
            assert len(_store_lines(caplog)) == 1, _store_lines(caplog)
            # Room again: run again, it completes; nothing lost or doubled.
            store.room()
            store.fails = 0
            reports = await sync(client, store, ITRS, since=SINCE, clock=clock)
    assert all(report.ok for report in reports.values()), reports
    calm = await _undisturbed(tmp_path, server.base_url, make_client)
    assert await _rows(store.path) == await _rows(calm)


class Unreachable(SQLiteStore):
    """A store whose database drops every connection once open (as a dropped one raises)."""

    async def add_plant(self, fingerprint: str, alias: str | None = None) -> str:
        raise StoreUnavailableError(f"{self.path}: the connection dropped")


async def test_a_store_unavailable_before_the_first_cycle_is_waited_for_then_said_once(
    tmp_path: Path,
    make_server: ServerFactory,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await make_server(list(PLANTS))
    with caplog.at_level(logging.INFO, logger="lacecal_async"):
        async with Unreachable(tmp_path / "s.db") as store:
            clock = ScaledClock(time.time(), SPEED)
            with pytest.raises(StoreUnavailableError, match="unavailable 6 times") as failed:
                await sync(make_client(server.base_url), store, ITRS, since=SINCE, clock=clock)
    assert "connection dropped" in str(failed.value)
    waits = [r for r in caplog.records if "trying again" in r.getMessage()]
    assert [r.levelno for r in waits] == [logging.WARNING] + [logging.INFO] * 4

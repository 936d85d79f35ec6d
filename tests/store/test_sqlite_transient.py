"""SQLite's transient faults in follow mode: a locked database, a full one. Both are survived.

Before, ``database is locked`` (another process holding the write lock past the store's
timeout) and ``database or disk is full`` escaped the engine as `sqlite3.OperationalError`
and ended `follow`. Now each is a `StoreUnavailableError`: the cycle reports it (its event's
error says so), backs off, and the plant carries on once the lock is gone or there is room.
The rows stored then equal those of an undisturbed sync.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lacecal_async import LacecalClient
from lacecal_async.sync import Cycle, SQLiteStore, follow, sync
from lacecal_async.tables import INVERTERS, METER, PERIODS, Row
from lacecal_async.testing import make_plants
from tests.support.capped_sqlite import CappedStore
from tests.support.checks import wait_until
from tests.support.fixtures import ClientFactory, ServerFactory

PERIOD = 2


async def _rows(path: Path, end: int) -> dict[str, list[Row]]:
    async with SQLiteStore(path, create=False) as store:
        return {
            table.name: [row async for batch in store.read_rows(table, end=end) for row in batch]
            for table in (METER, PERIODS, INVERTERS)
        }


async def _survives(
    tmp_path: Path,
    make_server: ServerFactory,
    make_client: ClientFactory,
    *,
    store: SQLiteStore,
    fault: Callable[[], Callable[[], None]],
    word: str,
) -> None:
    """Follow through `fault` (which returns its end), then compare with an undisturbed sync."""
    since = int(time.time()) // PERIOD * PERIOD - 30 * PERIOD
    plants = make_plants(2, seed=8, start=since, days=1, interval=PERIOD, follow_clock=True)
    server = await make_server(plants, rate_limit=(20, 1.0))
    client: LacecalClient = make_client(server.base_url, rate_limit=(20, 1.0))
    itrs = [plant.itr for plant in plants]
    cycles: list[Cycle] = []
    async with store:
        task = asyncio.create_task(follow(client, store, itrs, since=since, on_cycle=cycles.append))
        try:
            await wait_until(lambda: len({c.plant for c in cycles if c.error is None}) == 2)
            end_fault = fault()
            failed = len(cycles)
            await wait_until(
                lambda: sum(word in (c.error or "") for c in cycles[failed:]) >= 4 or task.done()
            )
            assert not task.done(), task.exception()
            end_fault()
            cutoff = int(time.time()) // PERIOD * PERIOD

            def caught_up() -> bool:
                latest: dict[tuple[str, str], int] = {}
                for c in cycles:
                    if c.error is None and c.latest is not None:
                        latest[c.plant, c.endpoint.value] = c.latest
                return task.done() or (len(latest) == 4 and min(latest.values()) >= cutoff)

            await wait_until(caught_up)
            assert not task.done(), task.exception()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    calm = tmp_path / "calm.db"
    async with SQLiteStore(calm) as other:
        reports = await sync(client, other, itrs, since=since)
    assert all(report.ok for report in reports.values())
    undisturbed = await _rows(calm, cutoff)
    assert undisturbed["meter"]
    assert await _rows(store.path, cutoff) == undisturbed


async def test_follow_waits_out_a_locked_database(
    tmp_path: Path, make_server: ServerFactory, make_client: ClientFactory
) -> None:
    path = tmp_path / "s.db"

    def lock() -> Callable[[], None]:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process's write lock, held

        def unlock() -> None:
            other.execute("ROLLBACK")
            other.close()

        return unlock

    store = SQLiteStore(path, timeout=0.05)
    await _survives(
        tmp_path, make_server, make_client, store=store, fault=lock, word="database is locked"
    )


@pytest.mark.slow
async def test_follow_waits_out_a_full_database(
    tmp_path: Path, make_server: ServerFactory, make_client: ClientFactory
) -> None:
    store = CappedStore(tmp_path / "s.db")

    def fill() -> Callable[[], None]:
        store.full()
        return store.room

    await _survives(
        tmp_path, make_server, make_client, store=store, fault=fill, word="disk is full"
    )

"""`follow` on a SQLite store holds its follow lock: a second follower is refused at once.

The lock is the store's (`SQLiteStore.following`), so a library user running two `follow`
on one file, in one process or two, gets `StoreInUseError`, not doubled polls. `sync`
takes no lock; the lock goes when the follower stops.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from lacecal_async import LacecalClient
from lacecal_async.sync import Cycle, SQLiteStore, StoreInUseError, follow, sync
from lacecal_async.testing import Plant
from tests.support.checks import wait_until
from tests.support.fixtures import ClientFactory, ServerFactory


async def test_a_second_follower_of_one_sqlite_file_is_refused(
    tmp_path: Path, plant: Plant, make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server([plant])
    client: LacecalClient = make_client(server.base_url)
    since = plant.first
    db = tmp_path / "s.db"
    cycles: list[Cycle] = []
    async with SQLiteStore(db) as store, SQLiteStore(db) as other:
        first = asyncio.create_task(
            follow(client, store, [plant.itr], "meter", since, on_cycle=cycles.append)
        )
        await wait_until(lambda: bool(cycles) or first.done())
        assert not first.done()
        with pytest.raises(StoreInUseError, match=rf"pid {os.getpid()} on host \S+\)"):
            await follow(client, other, [plant.itr], "meter", since)
        # A one-shot sync is no follower: it runs beside the daemon.
        reports = await sync(client, other, [plant.itr], "meter", since)
        assert all(report.ok for report in reports.values())
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        # Stopped, it holds the lock no more.
        cycles.clear()
        again = asyncio.create_task(
            follow(client, other, [plant.itr], "meter", since, on_cycle=cycles.append)
        )
        await wait_until(lambda: bool(cycles) or again.done())
        assert not again.done()
        again.cancel()
        with pytest.raises(asyncio.CancelledError):
            await again

"""Fleet mode is a call, not a store type: `Fenced` writes, `follow` alone on PostgreSQL.

Real PostgreSQL (the `postgres_dsn` fixture) and the fake server over HTTP. `follow_fleet`
runs a fleet worker (tests/store/test_fleet*.py); `follow` is one follower whatever the
store, and a `Fenced` view is the store the engine writes through in a fleet.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from lacecal_async import LacecalClient, fingerprint
from lacecal_async.endpoints import Endpoint
from lacecal_async.records import Inverter
from lacecal_async.sync import (
    Fenced,
    LeaseLostError,
    PostgresStore,
    SQLiteStore,
    SyncState,
    follow,
    follow_fleet,
)
from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support.fleet import until

LONG = 60.0  # a ttl that does not run out during a test


async def test_a_fenced_view_writes_only_while_its_worker_holds_the_lease(
    postgres_dsn: str,
) -> None:
    plant = make_plants(1, seed=3, days=1)[0]
    records = plant.meter_records(plant.first, plant.first + 10 * plant.interval)
    async with PostgresStore(postgres_dsn) as store:
        key = await store.add_plant(fingerprint(plant.itr))
        assert await store.lease_plants("a", want=1, ttl=LONG) == [key]
        holder, other = Fenced(store, "a"), Fenced(store, "b")
        first = SyncState(latest=records[4].unix_time, interval=plant.interval)
        await holder.commit_page(key, Endpoint.METER, records[:5], first, now=1.0)
        assert await other.state(key, Endpoint.METER) == first  # reads are not fenced
        stale = SyncState(latest=records[-1].unix_time, interval=plant.interval)
        inverters = [Inverter(1, "x", "m", "mo", "s")]
        writes: list[Callable[[], Awaitable[object]]] = [
            lambda: other.commit_page(key, Endpoint.METER, records[5:], stale, now=2.0),
            lambda: other.commit_inventory(key, inverters, now=2.0),
            lambda: other.repair_attempted(key, Endpoint.METER, 0, 10, now=2.0),
            lambda: other.record_error(key, Endpoint.METER, "boom", 5.0, now=2.0),
            lambda: other.drop_future(key, Endpoint.METER, after=0, seen=None, now=2.0),
        ]
        for write in writes:
            with pytest.raises(LeaseLostError, match="no longer holds the lease"):
                await write()
        assert await store.state(key, Endpoint.METER) == first  # nothing of "b" got through
        assert await store.inventory(key) == []
        assert await other.holes(key, Endpoint.METER) == []
        # The holder's writes land, each fenced the same way.
        await holder.commit_inventory(key, inverters, now=3.0, next_poll=9.0)
        await holder.record_error(key, Endpoint.METER, "late", 9.0, now=3.0)
        assert await store.inventory(key) == inverters
        dropped = await holder.drop_future(
            key, Endpoint.METER, after=records[2].unix_time, seen=None, now=4.0
        )
        assert dropped == 2
        await holder.repair_attempted(key, Endpoint.METER, 0, 10, now=5.0)


async def test_follow_on_a_postgres_store_is_one_follower_not_a_fleet_worker(
    postgres_dsn: str,
) -> None:
    # Before fleet mode was explicit, `follow` on a PostgresStore joined a fleet by the
    # store's type: it leased the plant and kept a heartbeat. Now it syncs, holding nothing.
    plant = make_plants(1, seed=5, days=1)[0]
    async with (
        FakeLacecalServer([plant], rate_limit=None) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 0.05)) as client,
        PostgresStore(postgres_dsn) as store,
    ):
        task = asyncio.create_task(
            follow(client, store, [(plant.itr, "solo")], "meter", since=plant.first)
        )
        try:

            async def caught_up() -> bool:
                state = await store.state("solo", Endpoint.METER)
                return state is not None and state.latest is not None

            await until(caught_up)
            assert await store.leases() == {}
            assert await store.live_workers() == []
            assert [row.holder for row in await store.status()] == [None]
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_a_fleet_on_a_store_without_leases_is_refused_up_front(tmp_path: Path) -> None:
    plant = make_plants(1, seed=7, days=1)[0]
    async with SQLiteStore(tmp_path / "one.db") as store, LacecalClient() as client:
        with pytest.raises(TypeError, match="use `follow` for one follower"):
            await follow_fleet(client, store, [plant.itr], "meter", plant.first)  # type: ignore[arg-type]
        assert await store.plants() == []  # refused before anything was written

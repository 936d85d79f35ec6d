"""Closing the client under `sync` or `follow` raises one LacecalClosedError, not a group.

Before, each of the engine's tasks failed with it and their TaskGroup raised
``ExceptionGroup[LacecalClosedError]``, which ``except LacecalClosedError`` misses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
import pytest

from lacecal_async import LacecalClient, LacecalClosedError
from lacecal_async.sync import PostgresStore, Store, follow, follow_fleet, sync
from lacecal_async.telemetry import ClientEvent, RequestDone
from lacecal_async.testing import FakeClock, FakeLacecalServer, Faults, make_plants
from tests.support.checks import DEADLINE, wait_until
from tests.support.store_kinds import StoreKind

PLANTS = make_plants(2, seed=71, days=1)
#: Far longer than closing takes, far shorter than DEADLINE: a hang fails the test quickly.
CLOSED_WITHIN = 30

Run = Callable[[LacecalClient, Store], Coroutine[Any, Any, None]]


async def _sync(client: LacecalClient, store: Store) -> None:
    await sync(client, store, [p.itr for p in PLANTS], since=PLANTS[0].first)


async def _follow(client: LacecalClient, store: Store) -> None:
    await follow(client, store, [p.itr for p in PLANTS], since=PLANTS[0].first)


async def _follow_fleet(client: LacecalClient, store: Store) -> None:
    assert isinstance(store, PostgresStore)
    await follow_fleet(client, store, [p.itr for p in PLANTS], since=PLANTS[0].first)


@pytest.mark.parametrize(
    "run", [_sync, _follow, _follow_fleet], ids=["sync", "follow", "follow_fleet"]
)
async def test_closing_the_client_raises_one_closed_error(store_kind: StoreKind, run: Run) -> None:
    if run is _follow_fleet and store_kind.name != "postgres":
        pytest.skip("a fleet shares a PostgreSQL store")
    done: list[RequestDone] = []

    def keep(event: ClientEvent) -> None:
        if isinstance(event, RequestDone):
            done.append(event)

    slow = Faults(delay=DEADLINE)  # every request is in flight when the client closes
    async with (
        FakeLacecalServer(PLANTS, rate_limit=None) as server,
        store_kind.make() as store,
    ):
        for plant in PLANTS:
            server.set_faults(plant.itr, slow)
        client = LacecalClient(base_url=server.base_url, rate_limit=(100, 0.05), on_event=keep)
        task = asyncio.create_task(run(client, store))
        await wait_until(lambda: all(server.stats(p.itr).requests >= 1 for p in PLANTS))
        await client.close()
        with pytest.raises(LacecalClosedError):
            await asyncio.wait_for(task, DEADLINE)
    assert done
    assert {event.error for event in done} == {"LacecalClosedError"}


async def test_closing_the_client_while_follow_sleeps_ends_it(store_kind: StoreKind) -> None:
    """Every plant polled, its poller and repairer asleep on a clock that never moves: close()
    ends `follow` at once. Before, it noticed at its next request only, a period later.
    """
    clock = FakeClock(max(p.latest or p.first for p in PLANTS) + 60)
    async with (
        FakeLacecalServer(PLANTS, rate_limit=None) as server,
        store_kind.make() as store,
    ):
        client = LacecalClient(base_url=server.base_url, rate_limit=(100, 0.05))
        plants = [p.itr for p in PLANTS]
        task = asyncio.create_task(
            follow(client, store, plants, "meter", since=PLANTS[0].first, clock=clock)
        )
        await wait_until(lambda: clock.sleepers == 2 * len(plants) or task.done())
        await client.close()
        with pytest.raises(LacecalClosedError):
            await asyncio.wait_for(task, CLOSED_WITHIN)


async def test_closing_the_client_ends_a_fleet_worker_holding_no_plant(postgres_dsn: str) -> None:
    async with PostgresStore(postgres_dsn) as store:
        client = LacecalClient(base_url="http://127.0.0.1:9/", rate_limit=(100, 0.05))
        task = asyncio.create_task(follow_fleet(client, store, [], since=PLANTS[0].first))
        conn = await asyncpg.connect(postgres_dsn)
        try:  # the worker has run a lease round: it beats
            async with asyncio.timeout(DEADLINE):
                while True:
                    if await conn.fetchval("SELECT count(*) FROM workers"):
                        break
                    await asyncio.sleep(0.01)
        finally:
            await conn.close()
        await client.close()
        with pytest.raises(LacecalClosedError):
            await asyncio.wait_for(task, CLOSED_WITHIN)

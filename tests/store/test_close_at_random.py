"""`client.close()` at random moments under `client.watch`, `sync.follow` and `follow_fleet`.

Whenever the client closes (before the first request, in the middle of a backlog, while a
commit is under way, while plants sleep), the call ends with one `LacecalClosedError` (not a
group, not another error) in a bounded time, and leaves no task of its own behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from lacecal_async import LacecalClient, LacecalClosedError
from lacecal_async.sync import PostgresStore, Store, follow, follow_fleet
from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support.checks import wait_until
from tests.support.store_kinds import StoreKind

PLANTS = make_plants(3, seed=97, days=3)
ITRS = [p.itr for p in PLANTS]
#: Far longer than closing takes, far shorter than DEADLINE: a hang fails the test quickly.
CLOSED_WITHIN = 30
ROUNDS = 6

Run = Callable[[LacecalClient, Store], Coroutine[Any, Any, None]]


async def _watch(client: LacecalClient, store: Store) -> None:
    async with contextlib.aclosing(client.watch(ITRS, "meter", since=PLANTS[0].first)) as it:
        async for _ in it:
            pass


async def _follow(client: LacecalClient, store: Store) -> None:
    await follow(client, store, ITRS, since=PLANTS[0].first)


async def _follow_fleet(client: LacecalClient, store: Store) -> None:
    assert isinstance(store, PostgresStore)
    await follow_fleet(client, store, ITRS, since=PLANTS[0].first, handover_wait=0.0)


@pytest.mark.slow
@pytest.mark.parametrize(
    "run", [_watch, _follow, _follow_fleet], ids=["watch", "follow", "follow_fleet"]
)
async def test_close_at_any_moment_ends_the_call_with_one_closed_error(
    store_kind: StoreKind, run: Run
) -> None:
    if run is _follow_fleet and store_kind.name != "postgres":
        pytest.skip("a fleet shares a PostgreSQL store")
    if run is _watch and store_kind.name != "sqlite":
        pytest.skip("watch holds no store: once is enough")
    rng = random.Random(5)
    async with FakeLacecalServer(PLANTS, rate_limit=None) as server, store_kind.make() as store:
        for _ in range(ROUNDS):
            client = LacecalClient(base_url=server.base_url, rate_limit=(200, 0.05))
            before = asyncio.all_tasks()
            task = asyncio.create_task(run(client, store))
            # 0 to a few hundred loop turns, or a while: before, during and after the backlog.
            for _ in range(rng.randrange(300)):
                await asyncio.sleep(0)
            if rng.random() < 0.5:
                await asyncio.sleep(rng.random() * 0.3)
            await client.close()
            with pytest.raises(LacecalClosedError):
                await asyncio.wait_for(task, CLOSED_WITHIN)
            # Every task the call started ends (a wait for state, with a deadline).
            started = asyncio.all_tasks() - before - {task}
            await wait_until(lambda: all(t.done() for t in started))  # noqa: B023 - awaited here

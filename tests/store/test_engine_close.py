"""Closing the client under `sync` or `follow` raises one LacecalClosedError, not a group.

Before, each of the engine's tasks failed with it and their TaskGroup raised
``ExceptionGroup[LacecalClosedError]``, which ``except LacecalClosedError`` misses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from lacecal_async import LacecalClient, LacecalClosedError
from lacecal_async.sync import Store, follow, sync
from lacecal_async.telemetry import ClientEvent, RequestDone
from lacecal_async.testing import FakeLacecalServer, Faults, make_plants
from tests.support.checks import DEADLINE, wait_until
from tests.support.store_kinds import StoreKind

PLANTS = make_plants(2, seed=71, days=1)

Run = Callable[[LacecalClient, Store], Coroutine[Any, Any, None]]


async def _sync(client: LacecalClient, store: Store) -> None:
    await sync(client, store, [p.itr for p in PLANTS], since=PLANTS[0].first)


async def _follow(client: LacecalClient, store: Store) -> None:
    await follow(client, store, [p.itr for p in PLANTS], since=PLANTS[0].first)


@pytest.mark.parametrize("run", [_sync, _follow], ids=["sync", "follow"])
async def test_closing_the_client_raises_one_closed_error(store_kind: StoreKind, run: Run) -> None:
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

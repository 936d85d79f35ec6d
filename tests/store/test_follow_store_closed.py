"""A store closed under `follow` or a fleet worker stops it with the store's `StoreError`.

`follow` documents its failures as the library's exceptions; an ``ExceptionGroup`` from
its internal task group would slip past ``except StoreError`` in the caller. Before, the
engine unwrapped only `LacecalClosedError`, and this raised ``ExceptionGroup([StoreError])``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lacecal_async.sync import PostgresStore, SQLiteStore, StoreError, follow, follow_fleet
from lacecal_async.testing import make_plants
from tests.support.checks import wait_until
from tests.support.fixtures import ClientFactory, ServerFactory
from tests.support.lease_worker import measured_ttl

PLANTS = make_plants(2, seed=43, days=30, gaps=False)


async def test_a_store_closed_under_follow_raises_its_store_error(
    make_server: ServerFactory, make_client: ClientFactory, tmp_path: Path
) -> None:
    server = await make_server(PLANTS, rate_limit=None)
    client = make_client(server.base_url, rate_limit=(2, 1.0))  # a backfill of many pages
    store = SQLiteStore(tmp_path / "f.db")
    await store.open()
    plants = [(plant.itr, f"p{i}") for i, plant in enumerate(PLANTS)]
    task = asyncio.create_task(follow(client, store, plants, "meter", PLANTS[0].first))
    try:
        await wait_until(lambda: server.stats(PLANTS[0].itr).requests >= 2)
        await store.close()
        with pytest.raises(StoreError):
            await asyncio.wait_for(task, 30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_store_closed_under_a_fleet_worker_ends_it_with_its_store_error(
    make_server: ServerFactory, make_client: ClientFactory, postgres_dsn: str
) -> None:
    # Before, every lease round failed with "the store ... is not open", was taken for a
    # passing outage, and the worker ran on silently for ever.
    server = await make_server(PLANTS, rate_limit=None)
    client = make_client(server.base_url, rate_limit=(2, 1.0))
    store = PostgresStore(postgres_dsn)
    await store.open()
    ttl = await measured_ttl(store)  # rounds come back soon, however busy the machine
    plants = [(plant.itr, f"p{i}") for i, plant in enumerate(PLANTS)]
    task = asyncio.create_task(
        follow_fleet(
            client, store, plants, "meter", PLANTS[0].first, lease_ttl=ttl, handover_wait=0.0
        )
    )
    try:
        await wait_until(lambda: server.stats(PLANTS[0].itr).requests >= 2 or task.done())
        assert not task.done(), task.exception()
        await store.close()
        with pytest.raises(StoreError, match="not open"):
            await asyncio.wait_for(task, 60)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

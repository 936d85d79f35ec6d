"""`commit_pages` cancelled or closed under at any moment: the batch lands whole or not at all.

A daemon is stopped (SIGTERM cancels its tasks, then the store closes) whenever it happens
to be; a commit under way must never leave part of a batch, and the store (PostgreSQL's pool
returns connections without a reset query) must go on working for the next caller.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from lacecal_async import fingerprint
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import StoreError, SyncState
from lacecal_async.sync.core import PlantPage, StoreCore
from lacecal_async.tables import METER
from lacecal_async.testing import make_plants
from tests.support.store_kinds import StoreKind

PLANTS = make_plants(4, seed=41, days=4)
KEYS = [fingerprint(p.itr) for p in PLANTS]
ROUNDS = 12
SIZE = 30  # records per page: a batch is a few statements long


def batch(round_: int) -> list[PlantPage]:
    """Round `round_`'s pages: the next SIZE records of every plant."""
    pages = []
    for plant, key in zip(PLANTS, KEYS, strict=True):
        first = plant.first + round_ * SIZE * plant.interval
        records = plant.meter_records(first, first + SIZE * plant.interval)
        state = SyncState(latest=records[-1].unix_time, interval=plant.interval)
        pages.append(PlantPage(key, Endpoint.METER, records, state))
    return pages


@pytest.fixture
async def store(store_kind: StoreKind) -> AsyncIterator[StoreCore]:
    async with store_kind.make() as opened:
        assert isinstance(opened, StoreCore)
        for key in KEYS:
            await opened.add_plant(key)
        yield opened


async def counts(store: StoreCore) -> dict[str, int]:
    found = dict.fromkeys(KEYS, 0)
    async for rows in store.read_rows(METER):
        for row in rows:
            found[str(row[0])] += 1
    return found


async def test_a_batch_cancelled_at_any_moment_lands_whole_or_not_at_all(
    store: StoreCore,
) -> None:
    rng = random.Random(7)
    for round_ in range(ROUNDS):
        task = asyncio.create_task(store.commit_pages(batch(round_), now=float(round_)))
        # Cancel after 0 to a few loop turns, or after a short while: every phase of the call.
        for _ in range(rng.randrange(6)):
            await asyncio.sleep(0)
        if rng.random() < 0.3:
            await asyncio.sleep(rng.random() * 0.01)
        task.cancel()
        result = (await asyncio.gather(task, return_exceptions=True))[0]
        assert result is None or isinstance(result, asyncio.CancelledError), repr(result)
        found = await counts(store)
        # Whatever the moment, every plant holds the same number of pages: none, or all.
        assert len(set(found.values())) == 1, found
        assert found[KEYS[0]] % SIZE == 0, found
    # The store still works after all that: a batch lands, its state with it. (A cancelled
    # call's commit may still land after it: the store finishes what it started.)
    await store.commit_pages(batch(ROUNDS), now=99.0)
    found = await counts(store)
    assert len(set(found.values())) == 1, found
    assert found[KEYS[0]] % SIZE == 0, found
    assert found[KEYS[0]] >= SIZE, found
    state = await store.state(KEYS[0], Endpoint.METER)
    assert state is not None
    assert state.latest == batch(ROUNDS)[0].records[-1].unix_time


async def test_closing_the_store_under_a_batch_lands_it_whole_or_refuses_it(
    store_kind: StoreKind,
) -> None:
    rng = random.Random(11)
    for round_ in range(6):
        async with store_kind.make() as opened:
            assert isinstance(opened, StoreCore)
            for key in KEYS:
                await opened.add_plant(key)
            task = asyncio.create_task(opened.commit_pages(batch(round_), now=1.0))
            for _ in range(rng.randrange(4)):
                await asyncio.sleep(0)
            await opened.close()
            result = (await asyncio.gather(task, return_exceptions=True))[0]
            assert result is None or isinstance(result, StoreError), repr(result)
        async with store_kind.make() as again:
            assert isinstance(again, StoreCore)
            found = await counts(again)
            assert len(set(found.values())) == 1, found

"""Closing the client or cancelling follow while a batch is in flight and pages wait.

Follow must end promptly (no wait on a batch that never goes), the batch in flight lands
whole, the waiting pages are taken back, and a restart then stores what an undisturbed
sync stores. The store's `commit_pages` is wrapped (a test double holding it at the door),
nothing of aiohttp's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from lacecal_async import LacecalClient, LacecalClosedError
from lacecal_async.sync import Cycle, SQLiteStore, Store, follow, sync
from lacecal_async.sync import batching as sync_batching
from lacecal_async.sync.core import PlantPage
from lacecal_async.tables import METER, Row
from lacecal_async.testing import FakeClock, FakeLacecalServer, make_plants
from tests.support.checks import wait_until
from tests.support.store_kinds import StoreKind

T0 = 1727827200
PERIOD = 600
NOW = T0 + 86400 + 0.4 * PERIOD
SINCE = int(NOW) - 3 * PERIOD
PLANTS = make_plants(5, seed=31, start=T0, interval=PERIOD, gaps=False, follow_clock=True)
KEYS = [f"p{i}" for i in range(len(PLANTS))]
PAIRS = [(plant.itr, key) for plant, key in zip(PLANTS, KEYS, strict=True)]


@pytest.fixture(autouse=True)
def _wide_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sync_batching, "WINDOW", 1.0)


async def _rows(store: Store) -> list[Row]:
    return sorted([row async for batch in store.read_rows(METER) for row in batch])


def _held(store: Any, hold: asyncio.Event, batches: list[list[PlantPage]]) -> None:
    many = store.commit_pages

    async def commit_pages(batch: Sequence[PlantPage], **kwargs: Any) -> None:
        batches.append(list(batch))
        await hold.wait()
        await many(batch, **kwargs)

    store.commit_pages = commit_pages


@pytest.mark.parametrize("how", ["client.close", "cancel", "cancel twice"])
async def test_follow_stopped_under_a_held_batch_ends_and_loses_nothing(
    store_kind: StoreKind, tmp_path: Path, how: str
) -> None:
    clock = FakeClock(NOW)
    cycles: dict[str, list[Cycle]] = {key: [] for key in KEYS}

    def settled() -> bool:
        now = clock.now()
        return all(cycles[k] and cycles[k][-1].next_poll > now for k in KEYS)

    async with FakeLacecalServer(PLANTS, rate_limit=None, clock=clock) as server:
        async with store_kind.make() as store:
            client = LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0))
            hold, batches = asyncio.Event(), list[list[PlantPage]]()
            returned_while_held = False
            task = asyncio.create_task(
                follow(
                    client,
                    store,
                    PAIRS,
                    "meter",
                    SINCE,
                    clock=clock,
                    on_cycle=lambda c: cycles[c.plant].append(c),
                )
            )
            try:
                await wait_until(lambda: settled() or task.done())
                assert not task.done()
                _held(store, hold, batches)
                clock.advance(PERIOD)  # every plant polls: a batch comes, and is held
                await wait_until(lambda: bool(batches) or task.done())
                assert not task.done()
                if how == "client.close":
                    await client.close()
                else:
                    task.cancel()
                await asyncio.sleep(0.05)
                if how == "cancel twice":  # impatient: a second cancel while follow stops
                    task.cancel()
                    await asyncio.sleep(0.05)
                    returned_while_held = task.done()
                hold.set()
                async with asyncio.timeout(30):  # promptly: far below a test's deadline
                    with contextlib.suppress(asyncio.CancelledError, LacecalClosedError):
                        await task
            finally:
                hold.set()
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                await client.close()
            if how == "cancel twice":
                assert not returned_while_held
            for page in batches[0]:
                assert await store.state(page.plant, page.endpoint) == page.state
        async with (
            store_kind.make() as store,
            LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as again,
        ):
            await sync(again, store, PAIRS, "meter", SINCE, clock=clock)
            synced = await _rows(store)
        async with (
            LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as fresh,
            SQLiteStore(tmp_path / "undisturbed.db") as reference,
        ):
            await sync(fresh, reference, PAIRS, "meter", SINCE, clock=clock)
            expected = await _rows(reference)
    assert synced == expected

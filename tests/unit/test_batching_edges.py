"""`Batcher` at its edges: the page cap, and pages taken back while others come.

A batch is committed at once when it holds `PAGES` pages; pages arriving in the same
turn of the loop must start the next batch, not swell this one (one transaction per
128 pages is what the cap promises a store). The sink here is a test double of a store's
`commit_page`/`commit_pages` that records what it was given; nothing of aiohttp's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import attrs

from lacecal_async.endpoints import Endpoint
from lacecal_async.sync.batching import Batcher
from lacecal_async.sync.core import PlantPage
from lacecal_async.sync.store import SyncState
from lacecal_async.testing import FakeClock

T0 = 1727827200.0


@attrs.define
class Sink:
    """Records the batches and single pages committed, in order."""

    batches: list[list[str]] = attrs.field(factory=list)

    async def commit_page(
        self,
        plant: str,
        endpoint: Endpoint,
        records: Sequence[object],
        state: SyncState,
        *,
        now: float,
    ) -> None:
        del endpoint, records, state, now
        await asyncio.sleep(0)
        self.batches.append([plant])

    async def commit_pages(self, batch: Sequence[PlantPage], *, now: float) -> None:
        del now
        await asyncio.sleep(0)
        self.batches.append([page.plant for page in batch])


def _page(plant: str) -> PlantPage:
    return PlantPage(plant, Endpoint.METER, [], SyncState(next_poll=T0))


async def test_a_batch_never_holds_more_than_the_cap() -> None:
    sink = Sink()
    batcher = Batcher(sink, FakeClock(T0), window=0.2, pages=4)
    async with asyncio.timeout(10):  # the last, partial batch goes after its window
        await asyncio.gather(*(batcher.commit(_page(f"p{i}")) for i in range(10)))
        await batcher.drain()
    assert sorted(p for batch in sink.batches for p in batch) == sorted(f"p{i}" for i in range(10))
    assert max(len(batch) for batch in sink.batches) <= 4, sink.batches


async def test_a_page_after_one_taken_back_lands_once_and_promptly() -> None:
    sink = Sink()
    batcher = Batcher(sink, FakeClock(T0), window=30.0, pages=2)
    async with asyncio.timeout(10):
        alone = asyncio.create_task(batcher.commit(_page("gone")))
        await asyncio.sleep(0)
        alone.cancel()  # taken back: its batch is now empty
        await asyncio.gather(alone, return_exceptions=True)
        await asyncio.gather(*(batcher.commit(_page(f"p{i}")) for i in range(4)))
        await batcher.drain()
    assert sorted(p for batch in sink.batches for p in batch) == ["p0", "p1", "p2", "p3"]
    assert max(len(batch) for batch in sink.batches) <= 2, sink.batches

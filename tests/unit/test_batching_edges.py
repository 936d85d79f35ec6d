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
from lacecal_async.sync.store import StoreUnavailableError, SyncState
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


@attrs.define
class StalledSink(Sink):
    """A store that stalls every commit until `pages` commits wait, then fails them all.

    As a PostgreSQL whose statements all time out: a batch retried a page at a time must
    not make each plant wait for every other plant's timeout in turn.
    """

    pages: int = 0
    waiting: int = 0
    released: asyncio.Event = attrs.field(factory=asyncio.Event)

    async def commit_page(
        self,
        plant: str,
        endpoint: Endpoint,
        records: Sequence[object],
        state: SyncState,
        *,
        now: float,
    ) -> None:
        del plant, endpoint, records, state, now
        self.waiting += 1
        if self.waiting >= self.pages:
            self.released.set()
        await self.released.wait()
        raise StoreUnavailableError("statement timeout")

    async def commit_pages(self, batch: Sequence[PlantPage], *, now: float) -> None:
        del batch, now
        await asyncio.sleep(0)
        raise StoreUnavailableError("statement timeout")


async def test_a_failed_batch_retries_its_pages_side_by_side() -> None:
    sink = StalledSink(pages=6)
    batcher = Batcher(sink, FakeClock(T0), window=0.2, pages=6)
    plants = [asyncio.create_task(batcher.commit(_page(f"p{i}"))) for i in range(6)]
    # One page at a time, the first waits for the rest, which never come.
    ended, _ = await asyncio.wait(plants, timeout=10)
    sink.released.set()  # never leave a commit stalled behind the test
    got = await asyncio.gather(*plants, return_exceptions=True)
    await batcher.drain()
    assert len(ended) == len(plants)
    assert all(isinstance(error, StoreUnavailableError) for error in got), got

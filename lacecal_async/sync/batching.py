"""Follow mode's group commits: small pages of several plants share one transaction.

A steady poll brings a page of one record and then its next poll time: two commits, each
a transaction of its own (a thread hop and a WAL commit, or a round trip), part of a
poll's CPU at 100,000 plants. Here a plant's small page waits a few milliseconds
(`WINDOW`, real time: it is a cost, not part of any schedule) for others, and all of them
are committed by one `commit_pages`, each page with its own state as `commit_page` would
(exactly once).

A batch goes before the window ends once no other page can come in it: every job running
(`Batcher.job`: a plant's poll or repairs) waits in it, and none is due within the window
(`Batcher.quiet`, on follow's clock). So a few plants polling at their own phases wait for
nothing, and a test clock that stands still while a batch waits never stalls it.

If the batch fails, each of its pages is committed alone, side by side, so one plant's bad
page or lost lease fails that plant only, with the error `commit_page` gives (and a store
whose statements all time out costs each plant one timeout, not one per page ahead of it).
A plant cancelled while its page waits takes the page back (not committed: its next poll
asks for it again); one cancelled while its batch is in flight waits for the batch to end
before it stops, so a page is always either committed with its state or asked for again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Protocol, cast

from lacecal_async.clock import Clock
from lacecal_async.endpoints import Endpoint
from lacecal_async.records import InverterRecord, MeterRecord
from lacecal_async.sync.core import PlantPage
from lacecal_async.sync.store import SyncState

__all__ = ["PAGES", "SMALL_PAGE", "WINDOW", "Batcher", "PageSink"]

_log = logging.getLogger("lacecal_async.sync")

#: How long [real s] the first page of a batch waits for others.
WINDOW = 0.05
#: A batch holds at most this many pages, and is committed at once when it does.
PAGES = 128
#: Pages of at most this many records are batched (a steady poll's); larger ones (a
#: catch-up's full pages) are committed alone, without waiting.
SMALL_PAGE = 16


class PageSink(Protocol):
    """Where batches go: a store with `commit_pages`, or a fleet's `Fenced` view of one."""

    async def commit_page(
        self,
        plant: str,
        endpoint: Endpoint,
        records: Sequence[MeterRecord] | Sequence[InverterRecord],
        state: SyncState,
        *,
        now: float,
    ) -> None:
        """Commit one page with its plant's state."""

    async def commit_pages(self, batch: Sequence[PlantPage], *, now: float) -> None:
        """Commit the pages, each with its plant's state, in one transaction: all or none."""


_Waiting = tuple[PlantPage, asyncio.Future[None]]


class _Batch:
    """Pages waiting to go together; `full` is set once no more may join (or none is left)."""

    def __init__(self, full: asyncio.Future[None]) -> None:
        self.full = full
        self.pages: list[_Waiting] = []


class Batcher:
    """Commits plants' small pages in batches: ``await batcher.commit(page)``.

    Made by `Batcher.open`, which drains it on leaving (no batch is left in flight).
    """

    def __init__(
        self, sink: PageSink, clock: Clock, *, window: float = WINDOW, pages: int = PAGES
    ) -> None:
        self._sink = sink
        self._clock = clock
        self._window = window
        self._pages = pages
        #: The batch pages join now (None: the next page starts one).
        self._forming: _Batch | None = None
        self._flushes: set[asyncio.Task[None]] = set()
        #: Jobs running now (`job`): each may still bring a page.
        self._running = 0
        #: Whether no job is due by the given time [clock s] (None: always assume one is).
        self.quiet: Callable[[float], bool] | None = None

    @contextlib.contextmanager
    def job(self) -> Iterator[None]:
        """Count a job (a plant's poll or repairs) as running for the block."""
        self._running += 1
        try:
            yield
        finally:
            self._running -= 1
            self._go_if_complete()

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, store: object, clock: Clock) -> AsyncIterator[Batcher | None]:
        """Yield a batcher for `store`, or None if it cannot commit pages together."""
        if not callable(getattr(store, "commit_pages", None)):
            yield None
            return
        batcher = cls(cast("PageSink", store), clock, window=WINDOW, pages=PAGES)
        try:
            yield batcher
        finally:
            await batcher.drain()

    async def commit(self, page: PlantPage) -> None:
        """Commit `page` with whatever others come within the window; raise its own error."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        entry = (page, done)
        batch = self._forming
        if batch is None or batch.full.done():  # none, or one full and about to go
            batch = self._forming = _Batch(loop.create_future())
            flush = asyncio.create_task(self._flush(batch))
            self._flushes.add(flush)
            flush.add_done_callback(self._flushes.discard)
        batch.pages.append(entry)
        self._go_if_complete()
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            if any(waiting is entry for waiting in batch.pages):  # not taken: take it back
                batch.pages.remove(entry)
                if not batch.pages and not batch.full.done():  # its flush has nothing to wait for
                    batch.full.set_result(None)
                raise
            await _ended(done)  # taken: it lands whole, or not at all, before this stops
            raise

    def _go_if_complete(self) -> None:
        """Let the queued batch go now if it is full, or no other page can join it."""
        batch = self._forming
        if batch is None or batch.full.done() or not batch.pages:
            return
        full, count = batch.full, len(batch.pages)
        if count >= self._pages or (
            count >= self._running
            and self.quiet is not None
            and self.quiet(self._clock.now() + self._window)
        ):
            full.set_result(None)

    async def drain(self) -> None:
        """Commit what waits now and return once no batch is in flight."""
        batch = self._forming
        if batch is not None and not batch.full.done():
            batch.full.set_result(None)
        while self._flushes:
            await asyncio.wait(list(self._flushes))

    async def _flush(self, forming: _Batch) -> None:
        """Wait for the window (or a full batch), then commit the batch's pages."""
        await asyncio.wait((forming.full,), timeout=self._window)
        if self._forming is forming:
            self._forming = None
        batch, forming.pages = forming.pages, []
        try:
            await self._commit(batch)
        finally:  # this task cancelled (the loop is closing): no waiter waits forever
            for _, done in batch:
                if not done.done():
                    done.cancel()

    async def _commit(self, batch: list[_Waiting]) -> None:
        if not batch:  # every page was taken back
            return
        sink = self._sink
        if len(batch) > 1:
            try:
                await sink.commit_pages([page for page, _ in batch], now=self._clock.now())
            except Exception as exc:  # noqa: BLE001 - each page alone says whose it was
                _log.debug("a batch of %d pages failed, committing each alone: %s", len(batch), exc)
            else:
                for _, done in batch:
                    done.set_result(None)
                return
        # Side by side, as the plants would commit without batches: a store whose statements
        # all time out makes each plant wait one timeout, not one per page ahead of it.
        await asyncio.gather(*(self._commit_alone(page, done) for page, done in batch))

    async def _commit_alone(self, page: PlantPage, done: asyncio.Future[None]) -> None:
        try:
            await self._sink.commit_page(
                page.plant, page.endpoint, page.records, page.state, now=self._clock.now()
            )
        except Exception as exc:  # noqa: BLE001 - the plant's own error, raised to it
            done.set_exception(exc)
        else:
            done.set_result(None)


async def _ended(done: asyncio.Future[None]) -> None:
    """Wait until `done` is done, whatever cancels the waiting task meanwhile."""
    while not done.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(done)
    if not done.cancelled():
        done.exception()  # retrieved: the task stops anyway (cancelled)

"""The stores ``lacecal sync`` writes through: each committed page is told to a listener.

What a run committed is what its progress shows and what Ctrl-C reports: the listener
hears of a page only after its transaction committed, so the count never includes the page
in flight when the run stopped. Each page's sync state says where the plant's endpoint
stands and at which period, which is what the ETA needs. Pages come one at a time
(`commit_page`) or several plants' together (`commit_pages`: follow mode's small pages);
each is told either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence

import attrs

from lacecal_async.endpoints import Endpoint
from lacecal_async.records import InverterRecord, MeterRecord
from lacecal_async.sync import PlantPage, PostgresStore, SQLiteStore, SyncState

__all__ = ["CommitListener", "CountedPostgresStore", "CountedSQLiteStore", "counted_store"]

#: Told ``(plant key, endpoint, records, the state committed with them)`` after each commit.
CommitListener = Callable[[str, Endpoint, int, SyncState], None]


@attrs.define
class CountedSQLiteStore(SQLiteStore):
    """A `SQLiteStore` telling `listener` of each page it committed."""

    listener: CommitListener = attrs.field(kw_only=True)

    async def commit_page(
        self,
        plant: str,
        endpoint: Endpoint,
        records: Sequence[MeterRecord] | Sequence[InverterRecord],
        state: SyncState,
        *,
        now: float,
        worker: str | None = None,
    ) -> None:
        """`SQLiteStore.commit_page`, then the listener (told even if cancelled meanwhile)."""
        page = PlantPage(plant, endpoint, records, state)
        job = super().commit_page(plant, endpoint, records, state, now=now, worker=worker)
        await _landed(job, lambda: _tell(self.listener, [page]))

    async def commit_pages(
        self, batch: Sequence[PlantPage], *, now: float, worker: str | None = None
    ) -> None:
        """`SQLiteStore.commit_pages`, then the listener of each page (as `commit_page`)."""
        job = super().commit_pages(batch, now=now, worker=worker)
        await _landed(job, lambda: _tell(self.listener, batch))


@attrs.define
class CountedPostgresStore(PostgresStore):
    """A `PostgresStore` telling `listener` of each page it committed (fenced ones too)."""

    listener: CommitListener = attrs.field(kw_only=True)

    async def commit_page(
        self,
        plant: str,
        endpoint: Endpoint,
        records: Sequence[MeterRecord] | Sequence[InverterRecord],
        state: SyncState,
        *,
        now: float,
        worker: str | None = None,
    ) -> None:
        """`PostgresStore.commit_page`, then the listener (told even if cancelled meanwhile)."""
        page = PlantPage(plant, endpoint, records, state)
        job = super().commit_page(plant, endpoint, records, state, now=now, worker=worker)
        await _landed(job, lambda: _tell(self.listener, [page]))

    async def commit_pages(
        self, batch: Sequence[PlantPage], *, now: float, worker: str | None = None
    ) -> None:
        """`PostgresStore.commit_pages`, then the listener of each page (as `commit_page`)."""
        job = super().commit_pages(batch, now=now, worker=worker)
        await _landed(job, lambda: _tell(self.listener, batch))


def _tell(listener: CommitListener, pages: Iterable[PlantPage]) -> None:
    for page in pages:
        listener(page.plant, page.endpoint, len(page.records), page.state)


async def _landed(job: Awaitable[None], tell: Callable[[], None]) -> None:
    """Await a store's `job`, then `tell` (also if cancelled meanwhile, once it landed).

    Both stores complete a job they started whatever its caller does: pages whose caller
    was cancelled (Ctrl-C) while they committed are in the database, so they are told.
    """
    task = asyncio.ensure_future(job)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        if not task.cancelled() and task.exception() is None:
            tell()
        raise
    tell()


def counted_store(
    db: str, listener: CommitListener, *, dsn: bool
) -> CountedPostgresStore | CountedSQLiteStore:
    """Return the (unopened) store `db` names, telling `listener` of each committed page."""
    if dsn:
        return CountedPostgresStore(db, listener=listener)
    return CountedSQLiteStore(db, listener=listener)

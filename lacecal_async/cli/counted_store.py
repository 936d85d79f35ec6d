"""The stores ``lacecal sync`` writes through: each committed page is told to a listener.

What a run committed is what its progress shows and what Ctrl-C reports: the listener
hears of a page only after its transaction committed, so the count never includes the page
in flight when the run stopped. Each page's sync state says where the plant's endpoint
stands and at which period, which is what the ETA needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import attrs

from lacecal_async.endpoints import Endpoint
from lacecal_async.records import InverterRecord, MeterRecord
from lacecal_async.sync import PostgresStore, SQLiteStore, SyncState

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
        """`SQLiteStore.commit_page`, then the listener (told even if cancelled meanwhile).

        The SQLite store completes a job it started whatever its caller does: a page whose
        caller was cancelled (Ctrl-C) while it committed is in the database, so it is told.
        """
        page = asyncio.ensure_future(
            super().commit_page(plant, endpoint, records, state, now=now, worker=worker)
        )
        try:
            await asyncio.shield(page)
        except asyncio.CancelledError:
            await asyncio.wait([page])
            if not page.cancelled() and page.exception() is None:
                self.listener(plant, endpoint, len(records), state)
            raise
        self.listener(plant, endpoint, len(records), state)


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
        """`PostgresStore.commit_page`, then the listener."""
        await super().commit_page(plant, endpoint, records, state, now=now, worker=worker)
        self.listener(plant, endpoint, len(records), state)


def counted_store(
    db: str, listener: CommitListener, *, dsn: bool
) -> CountedPostgresStore | CountedSQLiteStore:
    """Return the (unopened) store `db` names, telling `listener` of each committed page."""
    if dsn:
        return CountedPostgresStore(db, listener=listener)
    return CountedSQLiteStore(db, listener=listener)

"""Keeping plants' records in a local database: stores, their rows, holes and repairs.

`SQLiteStore` is the default store; the `Store` protocol is what the sync engine uses, so
other databases can implement it. The store never imports the client: it receives records
and writes them.
"""

from __future__ import annotations

from lacecal_async.sync.holes import REPAIR_AFTER, Hole
from lacecal_async.sync.sqlite import SQLiteStore
from lacecal_async.sync.store import (
    PlantEntry,
    SchemaVersionError,
    StatusRow,
    Store,
    StoreError,
    SyncState,
)

__all__ = [
    "REPAIR_AFTER",
    "Hole",
    "PlantEntry",
    "SQLiteStore",
    "SchemaVersionError",
    "StatusRow",
    "Store",
    "StoreError",
    "SyncState",
]

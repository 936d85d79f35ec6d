"""Keeping plants' records in a local database: stores, their rows, holes and repairs.

`SQLiteStore` is the default store; `PostgresStore` is the store of a fleet of workers
sharing one database, which split its plants by leases (`LeaseStore`). The `Store` protocol
is what the sync engine uses, so other databases can implement it. The store never imports
the client: it receives records and writes them.
"""

from __future__ import annotations

from lacecal_async.sync.holes import REPAIR_AFTER, Hole
from lacecal_async.sync.leases import LeaseBalance, LeaseStore, fair_share
from lacecal_async.sync.postgres import PostgresStore
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
    "LeaseBalance",
    "LeaseStore",
    "PlantEntry",
    "PostgresStore",
    "SQLiteStore",
    "SchemaVersionError",
    "StatusRow",
    "Store",
    "StoreError",
    "SyncState",
    "fair_share",
]

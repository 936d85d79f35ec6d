"""Keeping plants' records in a local database: stores, their rows, holes and repairs.

`sync` brings plants up to date in a store and `follow` keeps them so (the engine, which
uses the client). `SQLiteStore` is the default store; `PostgresStore` is the store of a
fleet of workers sharing one database (`follow_fleet`), which split its plants by leases
(`lacecal_async.sync.fleet`). The `Store` protocol is what the engine uses, so other
databases can implement it. The stores never import the client: they receive records and
write them.
"""

from __future__ import annotations

from lacecal_async.sync.core import PlantPage
from lacecal_async.sync.engine import (
    Cycle,
    EndpointReport,
    PlantReport,
    SyncPlant,
    follow,
    follow_fleet,
    sync,
    sync_plants,
)
from lacecal_async.sync.fleet import Fenced, FleetEvent, FleetStore, LeaseStore, worker_id
from lacecal_async.sync.holes import REPAIR_AFTER, Hole
from lacecal_async.sync.lease_gate import LeaseDeadlineError, LeaseGate
from lacecal_async.sync.leases import LeaseBalance, LeaseLostError, fair_share
from lacecal_async.sync.postgres import PostgresStore
from lacecal_async.sync.sqlite import SQLiteStore
from lacecal_async.sync.store import (
    NoStoreError,
    PlantEntry,
    SchemaVersionError,
    StatusRow,
    Store,
    StoreError,
    StoreInUseError,
    StoreUnavailableError,
    SyncState,
    check_alias,
)

__all__ = [
    "REPAIR_AFTER",
    "Cycle",
    "EndpointReport",
    "Fenced",
    "FleetEvent",
    "FleetStore",
    "Hole",
    "LeaseBalance",
    "LeaseDeadlineError",
    "LeaseGate",
    "LeaseLostError",
    "LeaseStore",
    "NoStoreError",
    "PlantEntry",
    "PlantPage",
    "PlantReport",
    "PostgresStore",
    "SQLiteStore",
    "SchemaVersionError",
    "StatusRow",
    "Store",
    "StoreError",
    "StoreInUseError",
    "StoreUnavailableError",
    "SyncPlant",
    "SyncState",
    "check_alias",
    "fair_share",
    "follow",
    "follow_fleet",
    "sync",
    "sync_plants",
    "worker_id",
]

"""Which store a command's DB argument names: a SQLite file, or a PostgreSQL DSN."""

from __future__ import annotations

from lacecal_async.sync import PostgresStore, SQLiteStore
from lacecal_async.sync.postgres import dsn_shown

__all__ = ["DSN_PREFIXES", "is_dsn", "make_store", "shown"]

#: A DB argument starting with one of these is a PostgreSQL DSN (the `postgres` extra).
DSN_PREFIXES = ("postgresql://", "postgres://")


def is_dsn(db: str) -> bool:
    """Whether `db` names a PostgreSQL database rather than a SQLite file."""
    return db.startswith(DSN_PREFIXES)


def make_store(db: str) -> PostgresStore | SQLiteStore:
    """Return the (unopened) store `db` names; opening a DSN without asyncpg says what to do."""
    return PostgresStore(db) if is_dsn(db) else SQLiteStore(db)


def shown(db: str) -> str:
    """Return `db` fit for a message: a DSN without its password."""
    return dsn_shown(db) if is_dsn(db) else db

"""The stores the contract tests run on: SQLite and PostgreSQL, behind one handle.

A test that asks for `store_kind` runs once per store. It sees the store through the
`Store` protocol (and what its database holds through `dump`; `execute` changes it behind
the store's back, as another program would), so the same assertions hold for both; what
only one store has is tested in its own module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import attrs
import pytest

from lacecal_async.sync import PostgresStore, SQLiteStore, Store
from lacecal_async.testing.postgres import find_postgres_bin
from tests.support import processes


@attrs.frozen
class StoreKind:
    """A database for one test. make: a new (unopened) store on it; dump: all it holds;
    execute: run SQL statements on it through a connection of its own."""

    name: str
    make: Callable[[], Store]
    integrity_error: type[Exception]
    dump: Callable[[], bytes]
    execute: Callable[[str], Awaitable[None]]


def _sqlite(path: Path) -> StoreKind:
    import sqlite3  # noqa: PLC0415

    def dump() -> bytes:
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        return b"".join(p.read_bytes() for p in files if p.exists())

    async def execute(sql: str) -> None:
        db = sqlite3.connect(path)
        try:
            db.executescript(sql)
        finally:
            db.close()

    return StoreKind("sqlite", lambda: SQLiteStore(path), sqlite3.IntegrityError, dump, execute)


def _postgres(dsn: str) -> StoreKind:
    import asyncpg  # noqa: PLC0415

    def dump() -> bytes:
        done = processes.run([str(find_postgres_bin() / "pg_dump"), "--dbname", dsn], text=False)
        assert done.returncode == 0, done.stderr
        out: bytes = done.stdout
        return out

    async def execute(sql: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    return StoreKind(
        "postgres",
        lambda: PostgresStore(dsn),
        asyncpg.IntegrityConstraintViolationError,
        dump,
        execute,
    )


@pytest.fixture(params=["sqlite", "postgres"])
def store_kind(request: pytest.FixtureRequest, tmp_path: Path) -> StoreKind:
    """A fresh database of each store in turn (PostgreSQL: a new database on the server)."""
    if request.param == "sqlite":
        return _sqlite(tmp_path / "sync.db")
    return _postgres(request.getfixturevalue("postgres_dsn"))

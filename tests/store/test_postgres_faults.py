"""`PostgresStore` turns a dropped connection into `StoreUnavailableError`, never asyncpg's own.

A call whose backend is terminated mid-statement is tried once more on a fresh connection;
terminated again, it raises `StoreUnavailableError` (a `StoreError`: the engine retries
it), and the store works on once the database does. Before, asyncpg's
``ConnectionDoesNotExistError`` / ``AdminShutdownError`` escaped raw.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import asyncpg
import pytest

from lacecal_async import fingerprint
from lacecal_async.sync import PostgresStore, StoreError, StoreUnavailableError
from tests.support.fleet import until

_WAITING = (
    "SELECT array_agg(pid) FROM pg_stat_activity WHERE datname = current_database() "
    "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
)
KEY = fingerprint("2Yw4aCQ9gfZ6y1T9")


async def _terminate_the_waiting(admin: asyncpg.Connection[Any], gone: set[int]) -> None:
    """Wait for a backend blocked on the admin's lock, not one of `gone`; terminate it.

    A terminated backend may still show as waiting for a moment: `gone` are skipped.
    """
    found: list[int] = []

    async def waiting() -> bool:
        await admin.execute("SELECT pg_stat_clear_snapshot()")  # fresh within its transaction
        found[:] = [pid for pid in await admin.fetchval(_WAITING) or [] if pid not in gone]
        return bool(found)

    await until(waiting)
    for pid in found:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
        gone.add(pid)


async def test_a_terminated_backend_is_a_store_unavailable_error(postgres_dsn: str) -> None:
    async with PostgresStore(postgres_dsn, pool_size=1) as store:
        await store.add_plant(KEY, "roof")
        admin = await asyncpg.connect(postgres_dsn)
        try:
            locked = admin.transaction()
            await locked.start()
            await admin.execute("LOCK TABLE plants IN ACCESS EXCLUSIVE MODE")
            call = asyncio.create_task(store.plants())
            gone: set[int] = set()
            await _terminate_the_waiting(admin, gone)  # the call's first connection
            await _terminate_the_waiting(admin, gone)  # and the fresh one it tried again on
            with pytest.raises(StoreUnavailableError) as caught:
                await call
            await locked.rollback()
        finally:
            await admin.close()
        assert isinstance(caught.value, StoreError)
        assert "terminat" in str(caught.value)
        assert not isinstance(caught.value.__cause__, asyncpg.PostgresError)
        assert [entry.plant for entry in await store.plants()] == ["roof"]  # works on


async def test_one_terminated_backend_is_tried_again_unseen(postgres_dsn: str) -> None:
    async with PostgresStore(postgres_dsn, pool_size=1) as store:
        await store.add_plant(KEY, "roof")
        admin = await asyncpg.connect(postgres_dsn)
        try:
            locked = admin.transaction()
            await locked.start()
            await admin.execute("LOCK TABLE plants IN ACCESS EXCLUSIVE MODE")
            call = asyncio.create_task(store.plants())
            await _terminate_the_waiting(admin, set())
            await locked.rollback()
        finally:
            await admin.close()
        assert [entry.plant for entry in await call] == ["roof"]


async def test_a_database_that_is_not_there_is_unavailable() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = PostgresStore(f"postgresql://lacecal:secret@127.0.0.1:{port}/fleet", timeout=5)
    with pytest.raises(StoreUnavailableError, match="cannot connect") as caught:
        await store.open()
    assert "secret" not in str(caught.value)

"""Databases that hold no lacecal store, and what they look like, to see a reader left them alone.

Used by test_store_create_off.py (the stores opened with ``create=False``) and
test_cli_readonly.py (``lacecal status`` and ``lacecal export``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg

#: Put in every DSN the tests pass: the server trusts any, and no message may show it.
PASSWORD = "S3cretPassw0rd"  # noqa: S105 - not a credential: the server trusts any

_RELATIONS = """
SELECT n.nspname, c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY 1, 2, a.attnum
"""


def with_password(dsn: str) -> str:
    """`dsn` (``postgresql://postgres@host...``) with `PASSWORD` in it."""
    assert "postgres@" in dsn
    return dsn.replace("postgres@", f"postgres:{PASSWORD}@", 1)


async def _fetch(dsn: str, *queries: str) -> list[list[tuple[Any, ...]]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [[tuple(row) for row in await conn.fetch(query)] for query in queries]
    finally:
        await conn.close()


async def pg_schema(dsn: str) -> list[list[tuple[Any, ...]]]:
    """Every schema, and every relation (table, index, sequence) with its columns, by name."""
    return await _fetch(dsn, "SELECT nspname FROM pg_namespace ORDER BY 1", _RELATIONS)


async def add_other_app(dsn: str) -> None:
    """Give the database another application's tables (none named as a lacecal store's)."""
    await _fetch(
        dsn,
        "CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL)",
        "INSERT INTO customers VALUES (1, 'Ada'), (2, 'Grace')",
        "CREATE SCHEMA billing",
        "CREATE TABLE billing.invoices (id bigserial PRIMARY KEY, customer integer)",
    )


async def other_app_rows(dsn: str) -> list[list[tuple[Any, ...]]]:
    """The other application's data, to see it unchanged too."""
    return await _fetch(
        dsn, "SELECT * FROM customers ORDER BY id", "SELECT * FROM billing.invoices"
    )


def pg_state(dsn: str, *, other_app: bool) -> list[list[tuple[Any, ...]]]:
    """What a reader must leave as it was: the schema, and the other app's rows if any."""

    async def read() -> list[list[tuple[Any, ...]]]:
        state = await pg_schema(dsn)
        return [*state, *(await other_app_rows(dsn))] if other_app else state

    return asyncio.run(read())


def make_other_sqlite(path: Path) -> None:
    """Write another application's SQLite file (rollback journal, as sqlite3 makes them)."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    db.executemany("INSERT INTO notes (body) VALUES (?)", [("milk",), ("eggs",)])
    db.commit()
    db.close()


def files(directory: Path) -> dict[str, bytes]:
    """Every file in `directory` and its bytes (a -wal or -shm left behind shows too)."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}

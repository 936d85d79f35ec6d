"""The SQLite file itself: schema versions, upgrades and refusals, mode 0600.

That no identifier reaches the database is tested on every store in test_store_contract.py.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import sys
from pathlib import Path
from typing import ClassVar

import pytest

from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import SchemaVersionError, SQLiteStore, StoreError
from lacecal_async.sync.schema import SQLITE_MIGRATIONS as MIGRATIONS
from tests.support.stores import KEY, meter_pages, page_state, rows

_ADD_NOTE = ("ALTER TABLE meter ADD COLUMN note TEXT",)

SCHEMA_VERSION = len(MIGRATIONS)


class NewerStore(SQLiteStore):
    """The store as a later release would ship it: one more migration."""

    migrations: ClassVar[tuple[tuple[str, ...], ...]] = (*MIGRATIONS, _ADD_NOTE)


class BrokenUpgradeStore(SQLiteStore):
    """A release whose new migration fails half-way."""

    migrations: ClassVar[tuple[tuple[str, ...], ...]] = (
        *MIGRATIONS,
        ("ALTER TABLE meter ADD COLUMN note TEXT", "ALTER TABLE nowhere ADD COLUMN x TEXT"),
    )


def user_version(path: Path) -> int:
    return int(rows(path, "PRAGMA user_version")[0][0])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_new_store_has_the_current_schema(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    async with SQLiteStore(db):
        pass
    assert user_version(db) == SCHEMA_VERSION == 2
    tables = {r[0] for r in rows(db, "SELECT name FROM sqlite_schema WHERE type = 'table'")}
    assert tables == {
        *("plants", "meter", "inverter", "inverter_periods", "inverters"),
        *("sync_state", "holes", "inventory_state"),
    }
    assert rows(db, "PRAGMA journal_mode") == [("wal",)]


async def test_a_newer_library_upgrades_in_one_transaction(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    page = meter_pages()[0]
    async with SQLiteStore(db) as store:
        await store.add_plant(KEY)
        await store.commit_page(KEY, Endpoint.METER, page, page_state(page), now=1.0)
    with pytest.raises(sqlite3.OperationalError, match="nowhere"):
        await BrokenUpgradeStore(db).open()
    assert user_version(db) == SCHEMA_VERSION
    assert "note" not in {r[1] for r in rows(db, "PRAGMA table_info(meter)")}  # rolled back
    async with NewerStore(db) as newer:
        assert await newer.state(KEY, Endpoint.METER) == page_state(page)
    assert user_version(db) == SCHEMA_VERSION + 1
    assert "note" in {r[1] for r in rows(db, "PRAGMA table_info(meter)")}
    assert len(rows(db, "SELECT * FROM meter")) == len(page)
    # This library refuses the upgraded file, and leaves it as it is.
    newer_message = rf"schema version {SCHEMA_VERSION + 1} is newer .* \({SCHEMA_VERSION}\)"
    with pytest.raises(SchemaVersionError, match=newer_message):
        await SQLiteStore(db).open()
    assert user_version(db) == SCHEMA_VERSION + 1
    async with NewerStore(db):  # the newer library still opens it
        pass


async def test_a_foreign_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE mine (x)")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaVersionError, match="not a lacecal store"):
        await SQLiteStore(db).open()
    assert issubclass(SchemaVersionError, StoreError)
    assert rows(db, "SELECT name FROM sqlite_schema") == [("mine",)]


async def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"not a database, but someone's notes\n" * 200)
    with pytest.raises(SchemaVersionError, match="is not an SQLite database"):
        await SQLiteStore(path).open()
    assert path.read_bytes().startswith(b"not a database")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
async def test_the_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "private.db"
    old_umask = os.umask(0o002)  # a permissive umask must not widen the files
    try:
        async with SQLiteStore(db) as store:
            await store.add_plant(KEY)
            page = meter_pages()[0]
            await store.commit_page(KEY, Endpoint.METER, page, page_state(page), now=1.0)
            wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
            assert [mode(p) for p in (db, wal, shm)] == [0o600] * 3
    finally:
        os.umask(old_umask)
    assert mode(db) == 0o600

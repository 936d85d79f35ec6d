"""A store opened with ``create=False`` creates and upgrades nothing, and refuses what is no store.

Before it, opening a store always created the schema: a reader pointed at the wrong
database (an empty one, another application's) put lacecal's tables in it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

import pytest

from lacecal_async.sync import (
    NoStoreError,
    PostgresStore,
    SchemaVersionError,
    SQLiteStore,
    StoreError,
    schema,
)
from tests.support.readonly import add_other_app, files, make_other_sqlite, pg_state
from tests.support.stores import KEY

_ADD_NOTE = ("ALTER TABLE plants ADD COLUMN note TEXT",)


class NewerSQLiteStore(SQLiteStore):
    """The SQLite store as a later release would ship it: one more migration."""

    migrations: ClassVar[tuple[tuple[str, ...], ...]] = (*schema.SQLITE_MIGRATIONS, _ADD_NOTE)


class NewerPostgresStore(PostgresStore):
    """The PostgreSQL store as a later release would ship it: one more migration."""

    migrations: ClassVar[tuple[tuple[str, ...], ...]] = (*schema.POSTGRES_MIGRATIONS, _ADD_NOTE)


# -- SQLite ---------------------------------------------------------------------------------
async def test_sqlite_empty_file_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    db.write_bytes(b"")
    with pytest.raises(NoStoreError, match=r"empty\.db: .*not a lacecal store; `lacecal sync`"):
        await SQLiteStore(db, create=False).open()
    assert files(tmp_path) == {"empty.db": b""}


async def test_sqlite_missing_file_is_not_created(tmp_path: Path) -> None:
    db = tmp_path / "missing.db"
    with pytest.raises(NoStoreError, match=r"missing\.db: no such file"):
        await SQLiteStore(db, create=False).open()
    assert files(tmp_path) == {}


async def test_sqlite_other_apps_file_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "notes.db"
    make_other_sqlite(db)
    before = files(tmp_path)
    with pytest.raises(SchemaVersionError, match="it is not a lacecal store"):
        await SQLiteStore(db, create=False).open()
    assert files(tmp_path) == before  # not even switched to WAL


async def test_sqlite_older_schema_is_refused_not_upgraded(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    async with SQLiteStore(db) as store:
        await store.add_plant(KEY)
    before = files(tmp_path)
    version = len(schema.SQLITE_MIGRATIONS)
    with pytest.raises(
        NoStoreError,
        match=rf"schema version {version} is older .* \({version + 1}\); run `lacecal sync`",
    ):
        await NewerSQLiteStore(db, create=False).open()
    assert files(tmp_path) == before
    # The same library opening it to write (as `lacecal sync` does) upgrades it.
    async with NewerSQLiteStore(db) as store:
        assert [p.plant for p in await store.plants()] == [KEY]
    async with NewerSQLiteStore(db, create=False) as store:
        assert [p.plant for p in await store.plants()] == [KEY]
    with pytest.raises(SchemaVersionError, match="is newer"):
        await SQLiteStore(db, create=False).open()


async def test_sqlite_current_store_opens_for_reading(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with SQLiteStore(db) as store:
        await store.add_plant(KEY, "roof")
    async with SQLiteStore(db, create=False) as store:
        assert [p.plant for p in await store.plants()] == ["roof"]
        assert [row.plant for row in await store.status()] == ["roof"]
    assert SQLiteStore(db, create=False).create is False
    assert SQLiteStore(db).create is True


async def test_sqlite_directory_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open"):
        await SQLiteStore(tmp_path, create=False).open()


# -- PostgreSQL -----------------------------------------------------------------------------
@pytest.mark.parametrize("other_app", [False, True], ids=["empty", "other-app"])
def test_postgres_without_a_store_is_refused_and_left_as_it_was(
    postgres_dsn: str, *, other_app: bool
) -> None:
    if other_app:
        asyncio.run(add_other_app(postgres_dsn))
    before = pg_state(postgres_dsn, other_app=other_app)
    store = PostgresStore(postgres_dsn, create=False)
    with pytest.raises(NoStoreError, match="no lacecal store in this database; `lacecal sync`"):
        asyncio.run(store.open())
    assert pg_state(postgres_dsn, other_app=other_app) == before
    if not other_app:
        assert before[1] == []  # truly empty: no relation at all


def test_postgres_older_schema_is_refused_not_upgraded(postgres_dsn: str) -> None:
    async def make() -> None:
        async with PostgresStore(postgres_dsn) as store:
            await store.add_plant(KEY)

    asyncio.run(make())
    before = pg_state(postgres_dsn, other_app=False)
    version = len(schema.POSTGRES_MIGRATIONS)
    with pytest.raises(
        NoStoreError,
        match=rf"schema version {version} is older .* \({version + 1}\); run `lacecal sync`",
    ):
        asyncio.run(NewerPostgresStore(postgres_dsn, create=False).open())
    assert pg_state(postgres_dsn, other_app=False) == before

    async def upgrade_then_read() -> None:
        async with NewerPostgresStore(postgres_dsn) as store:  # what `lacecal sync` does
            assert [p.plant for p in await store.plants()] == [KEY]
        async with NewerPostgresStore(postgres_dsn, create=False) as store:
            assert [p.plant for p in await store.plants()] == [KEY]
        with pytest.raises(SchemaVersionError, match="is newer"):
            await PostgresStore(postgres_dsn, create=False).open()

    asyncio.run(upgrade_then_read())
    assert pg_state(postgres_dsn, other_app=False) != before  # the upgrade was written

"""``lacecal status`` and ``lacecal export`` pointed at a database without a lacecal store.

Before, both opened the store as ``lacecal sync`` does, creating its schema: the user's
empty PostgreSQL database, or another application's, got lacecal's tables, and an empty
SQLite file became a store. Now each says so on one line and leaves the database as it was.
Exit status: status 3 (UNKNOWN, as monitoring reads it); export 2 (its usage error: DB
names no store, as for a missing file or a file that is not a database).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from lacecal_async import fingerprint
from lacecal_async.cli import main
from lacecal_async.sync import SQLiteStore
from tests.support.readonly import (
    PASSWORD,
    add_other_app,
    files,
    make_other_sqlite,
    pg_state,
    with_password,
)

#: Each command, and its exit status for a DB that holds no store.
EXIT = {"status": 3, "export": 2}  # status: UNKNOWN, as monitoring reads it


def _run(command: str, db: str, tmp_path: Path) -> int:
    output = ["-o", str(tmp_path / "out" / "meter.csv")] if command == "export" else []
    return main([command, db, *output])


def _one_line(err: str, *expected: str) -> None:
    assert err.startswith("lacecal: error: ")
    assert err.count("\n") == 1, err
    assert PASSWORD not in err
    assert "Traceback" not in err
    for text in expected:
        assert text in err, err


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    (tmp_path / "out").mkdir()
    return tmp_path / "out"


@pytest.mark.parametrize("command", list(EXIT))
@pytest.mark.parametrize("other_app", [False, True], ids=["empty", "other-app"])
def test_postgresql_without_a_store(
    postgres_dsn: str,
    tmp_path: Path,
    out_dir: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    *,
    other_app: bool,
) -> None:
    if other_app:
        asyncio.run(add_other_app(postgres_dsn))
    before = pg_state(postgres_dsn, other_app=other_app)
    assert _run(command, with_password(postgres_dsn), tmp_path) == EXIT[command]
    _one_line(
        capsys.readouterr().err,
        postgres_dsn.rsplit("@", 1)[1],  # host, port, database
        "no lacecal store in this database; `lacecal sync` creates one",
    )
    assert pg_state(postgres_dsn, other_app=other_app) == before
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize("command", list(EXIT))
def test_empty_sqlite_file(
    tmp_path: Path, out_dir: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    db = tmp_path / "empty.db"
    db.write_bytes(b"")
    assert _run(command, str(db), tmp_path) == EXIT[command]
    _one_line(capsys.readouterr().err, f"{db}: an empty database, not a lacecal store")
    assert files(tmp_path) == {"empty.db": b""}
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize("command", list(EXIT))
def test_other_apps_sqlite_file(
    tmp_path: Path, out_dir: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    db = tmp_path / "notes.db"
    make_other_sqlite(db)
    before = files(tmp_path)
    assert _run(command, str(db), tmp_path) == EXIT[command]
    assert files(tmp_path) == before  # not even switched to WAL
    err = capsys.readouterr().err
    _one_line(err, "it is not a lacecal store")
    assert err.count(str(db)) == 1  # the path said once, not twice
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize("command", [*EXIT, "sync"])
@pytest.mark.parametrize(
    "table",
    [
        "CREATE TABLE schema_version (id integer PRIMARY KEY, name text)",
        "CREATE TABLE schema_version (version text)",
        "CREATE TABLE schema_version (version integer)",
        "CREATE TABLE schema_version (version integer, note text DEFAULT 'empty')",
    ],
    ids=["no-version-column", "text-version", "integer-version", "empty"],
)
def test_another_apps_schema_version_table_is_not_a_store(  # noqa: PLR0917 - fixtures
    postgres_dsn: str,
    tmp_path: Path,
    out_dir: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    table: str,
) -> None:
    # Its own `schema_version` once made `status` print asyncpg's raw error (a traceback).
    rows = [] if "empty" in table else ["INSERT INTO schema_version VALUES ('7')"]
    asyncio.run(_execute(postgres_dsn, table, *rows))
    before = pg_state(postgres_dsn, other_app=False)
    if command == "sync":
        itr = "ABCDEFGHJKLMNPQR"
        code = main(["sync", with_password(postgres_dsn), itr, "--start", "2017-06-05"])
    else:
        code = _run(command, with_password(postgres_dsn), tmp_path)
    assert code != 0
    _one_line(capsys.readouterr().err, "schema_version", "not a lacecal store")
    assert pg_state(postgres_dsn, other_app=False) == before
    assert list(out_dir.iterdir()) == []


async def _execute(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _synced_sqlite_store(path: Path) -> None:
    async def make() -> None:
        async with SQLiteStore(path) as store:
            await store.add_plant(fingerprint("ABCDEFGHJKLMNPQR"), "roof")

    asyncio.run(make())


@pytest.mark.parametrize("command", list(EXIT))
def test_a_rollback_journal_store_is_read_without_switching_it_to_wal(
    tmp_path: Path, out_dir: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # `VACUUM INTO` (a backup) writes a store in rollback-journal mode; reading it must not
    # rewrite its header to WAL.
    _synced_sqlite_store(tmp_path / "live.db")
    backup = tmp_path / "backup" / "b.db"
    backup.parent.mkdir()
    sqlite3.connect(tmp_path / "live.db").execute(f"VACUUM INTO '{backup}'").connection.close()
    before = files(backup.parent)
    assert before["b.db"][18:20] == b"\x01\x01"  # rollback journal
    code = _run(command, str(backup), tmp_path)
    capsys.readouterr()
    assert code in {0, EXIT[command]}
    assert files(backup.parent) == before

"""A store whose schema lost a table (a hand edit, half a restore): one line, no traceback."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from lacecal_async import fingerprint
from lacecal_async.cli import main
from lacecal_async.sync import SQLiteStore
from lacecal_async.testing import make_plants


def _damaged(db: Path, table: str) -> None:
    async def make() -> None:
        async with SQLiteStore(db) as store:
            await store.add_plant(fingerprint(make_plants(1, seed=1)[0].itr), "roof")

    asyncio.run(make())
    with sqlite3.connect(db) as conn:
        conn.execute(f"DROP TABLE {table}")
    conn.close()


@pytest.mark.parametrize(
    ("command", "table", "status"), [("status", "sync_state", 3), ("export", "meter", 1)]
)
def test_a_store_missing_a_table_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, table: str, status: int
) -> None:
    db = tmp_path / "s.db"
    _damaged(db, table)
    argv = [command, str(db)] if command == "status" else [command, str(db), "-o", "-"]
    assert main(argv) == status
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"no such table: {table}" in err
    assert "restore it from a backup" in err

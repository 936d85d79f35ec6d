"""A damaged SQLite store (its pages overwritten) is one clear line and a non-zero exit.

Before, ``lacecal sync`` and ``lacecal status`` on a store whose pages hold garbage raised
``sqlite3.DatabaseError: malformed database schema`` as a traceback. A file of garbage from
its first byte was already refused in one line ("not an SQLite database"): both are tested.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from lacecal_async import fingerprint
from lacecal_async.cli import main
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import SQLiteStore, SyncState
from lacecal_async.testing import make_plants

PLANT = make_plants(1, seed=3, days=20)[0]
PAGE = 4096


async def _store(path: Path) -> None:
    records = PLANT.meter_records(PLANT.first, PLANT.first + 2000 * PLANT.interval)
    async with SQLiteStore(path) as store:
        key = await store.add_plant(fingerprint(PLANT.itr))
        state = SyncState(latest=records[-1].unix_time, interval=PLANT.interval)
        await store.commit_page(key, Endpoint.METER, records, state, now=1.0)
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file itself
    finally:
        db.close()


def _damage(path: Path) -> None:
    """Overwrite every third page after the first (header and schema root stay)."""
    data = bytearray(path.read_bytes())
    for page in range(2, len(data) // PAGE, 3):
        data[page * PAGE + 8 : page * PAGE + 200] = b"\x07" * 192
    path.write_bytes(bytes(data))


@pytest.fixture(params=["damaged", "garbage"])
def broken(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / "s.db"
    if request.param == "garbage":
        path.write_bytes(bytes(range(256)) * 80)
    else:
        asyncio.run(_store(path))
        _damage(path)
    return path


@pytest.mark.parametrize("command", ["sync", "status", "export"])
def test_a_damaged_store_is_one_line_and_a_failure(
    command: str, broken: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = {
        "sync": ["sync", str(broken), PLANT.itr, "--start", "now", "-q"],
        "status": ["status", str(broken)],
        "export": ["export", str(broken), "-o", str(tmp_path / "meter.csv")],
    }[command]
    # sync never gets to ask: the store fails first (nothing listens on port 9)
    code = main([*argv, "--base-url", "http://127.0.0.1:9"] if command == "sync" else argv)
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1, err
    assert err.startswith("lacecal: error: ")
    assert str(broken) in err
    assert "Traceback" not in err
    assert PLANT.itr[:8] not in err

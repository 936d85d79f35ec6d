"""``lacecal status`` on an empty store and on a malformed DSN (review 2, findings 01 and 08)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lacecal_async import fingerprint
from lacecal_async.cli import main
from lacecal_async.sync import SQLiteStore
from lacecal_async.testing import make_plants


async def _make(db: Path, aliases: list[str]) -> None:
    async with SQLiteStore(db) as store:
        for alias, plant in zip(aliases, make_plants(len(aliases), seed=1), strict=True):
            await store.add_plant(fingerprint(plant.itr), alias)


def test_status_of_a_store_with_nothing_synced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "e.db"
    asyncio.run(_make(db, []))
    assert main(["status", str(db)]) == 3  # UNKNOWN: nothing to judge
    out = capsys.readouterr().out
    assert out.startswith("plant")
    assert "no plants" in out
    assert main(["status", str(db), "--json"]) == 3
    assert capsys.readouterr().out == "[]\n"
    asyncio.run(_make(db, ["roof"]))
    assert main(["status", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:2] == ["roof", "-"]


@pytest.mark.parametrize(
    ("dsn", "status"),
    [
        ("postgresql://postgres:S3cretPassw0rd@127.0.0.1:5432/a?sslmode=bogus", 3),
        # a port out of range is a usage error (test_cli_bounds.py)
        ("postgresql://postgres:S3cretPassw0rd@127.0.0.1:5432:99999/a", 2),
    ],
)
def test_status_of_a_malformed_dsn_is_one_line(
    dsn: str, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", dsn]) == status
    err = capsys.readouterr().err
    assert err.startswith("lacecal: error: ")
    assert err.count("\n") == 1
    assert "S3cretPassw0rd" not in err
    assert "Traceback" not in err

"""``lacecal status`` names the faults a daemon survives: a future record, a failing inventory."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import attrs
import pytest

from lacecal_async import LacecalClient, fingerprint
from lacecal_async.cli import main
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import PostgresStore, SQLiteStore, Store, SyncState, sync
from lacecal_async.testing import FakeClock, FakeLacecalServer, Faults, make_plants

YEAR = 365 * 86400
T0 = 1_760_000_000


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database `lacecal status` reads: a SQLite file, or a PostgreSQL DSN."""
    if request.param == "sqlite":
        return str(tmp_path / "s.db")
    return str(request.getfixturevalue("postgres_dsn"))


def _store(db: str) -> Store:
    return PostgresStore(db) if db.startswith("postgresql://") else SQLiteStore(Path(db))


async def _sync_with_faults(db: str) -> tuple[int, int]:
    """Sync a plant whose logger dates a record a year ahead, and one whose list fails."""
    clock = FakeClock(T0)
    glitching, listless = (
        attrs.evolve(p, gaps=())
        for p in make_plants(2, seed=41, start=T0 - 86400, days=2, follow_clock=True)
    )
    last = glitching.last_time(T0)
    glitch = last + YEAR
    listless = attrs.evolve(
        listless, faults=Faults(always_fail=True, fail_status=404, endpoints=("inverter_list",))
    )
    async with (
        FakeLacecalServer([glitching, listless], rate_limit=None, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0), retries=0) as client,
        _store(db) as store,
    ):
        server.set_faults(glitching.itr, Faults(future_at=glitch))
        await sync(client, store, [(glitching.itr, "roof")], "meter", T0 - 3600, clock=clock)
        await sync(client, store, [(listless.itr, "barn")], "inverter", T0 - 3600, clock=clock)
    return last, glitch


def test_status_shows_the_future_record_and_the_failing_inventory(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    last, glitch = asyncio.run(_sync_with_faults(db))
    assert main(["status", db, "--json"]) == 1  # WARNING: faults it survives
    rows = {(o["plant"], o["endpoint"]): o for o in json.loads(capsys.readouterr().out)}
    assert set(rows) == {("roof", "meter"), ("barn", "inverter"), ("barn", "inverter_list")}
    roof = rows[("roof", "meter")]
    assert (roof["latest_record"], roof["failures"]) == (last, 1)
    assert "after this client's clock" in roof["last_error"]
    assert (roof["future_record"], roof["future_seen_at"], roof["future_removed"]) == (
        glitch,
        T0,
        0,
    )
    listing = rows[("barn", "inverter_list")]
    assert listing["failures"] == 1
    assert "404" in listing["last_error"]
    assert listing["next_poll"] > T0
    assert (listing["latest_record"], listing["holes"]) == (None, 0)
    assert rows[("barn", "inverter")]["failures"] == 0  # its records are fine

    assert main(["status", db]) == 1
    table = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(table) if line.startswith("roof"))
    assert table[at].split()[:2] == ["roof", "meter"]
    notes = table[at + 1 : at + 3]
    assert "after this client's clock" in notes[0]
    assert notes[1].startswith("    ignored a record dated ")
    assert "365.0d after the clock" in notes[1]
    listed = next(line for line in table if "inverter_list" in line)
    assert listed.split()[:2] == ["barn", "inverter_list"]
    assert listed.split()[6] == "1"  # the failures column


async def _store_a_future_record(db: str) -> int:
    """What an older version stored for a glitching logger: its record of next year."""
    plant = make_plants(1, seed=42, days=1)[0]
    future = plant.meter_record((int(time.time()) + YEAR) // 600 * 600)
    async with _store(db) as store:
        await store.add_plant(fingerprint(plant.itr), "roof")
        state = SyncState(latest=future.unix_time, interval=600)
        await store.commit_page("roof", Endpoint.METER, [future], state, now=time.time())
    return future.unix_time


def test_status_flags_a_latest_record_dated_after_the_clock(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    future = asyncio.run(_store_a_future_record(db))
    assert main(["status", db, "--json"]) == 1
    (row,) = json.loads(capsys.readouterr().out)
    assert row["verdict"] == "warning"
    assert row["latest_record"] == future
    assert row["lag_s"] < -364 * 86400  # negative: ahead of now, not "0s" behind
    assert main(["status", db]) == 1
    table = capsys.readouterr().out.splitlines()
    assert "ahead 36" in table[1]  # the lag column: ahead 364.9d or so
    assert table[2].startswith("    the latest stored record is dated after this machine's clock")

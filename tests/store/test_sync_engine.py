"""The sync engine in process: reports, resume, failures, the inventory.

When `follow` polls (phases, the repair schedule) is in test_follow_schedule.py.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import attrs
import pytest

from lacecal_async import LacecalClient, fingerprint
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import Cycle, SQLiteStore, sync
from lacecal_async.testing import FakeLacecalServer, Faults, make_plants


def _times(path: Path, plant: str) -> list[int]:
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT unix_time FROM meter WHERE plant = ? ORDER BY 1", (plant,))
        return [t for (t,) in rows]
    finally:
        db.close()


async def test_sync_stores_each_plant_once_and_resumes(tmp_path: Path) -> None:
    plants = make_plants(3, seed=2, days=2)
    good, alias_plant, bad = plants
    bad = attrs.evolve(bad, faults=Faults(always_fail=True, fail_status=500))
    path = tmp_path / "s.db"
    cycles: list[Cycle] = []
    async with (
        FakeLacecalServer([good, alias_plant, bad], rate_limit=None) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0), retries=0) as client,
        SQLiteStore(path) as store,
    ):
        chosen: list[str | tuple[str, str | None]] = [good.itr, (alias_plant.itr, "roof"), bad.itr]
        first = await sync(client, store, chosen, "meter", good.first, on_cycle=cycles.append)
        assert first[fingerprint(good.itr)].ok
        assert first["roof"].records == len(alias_plant.meter_records(good.first, 2**40))
        failed = first[fingerprint(bad.itr)]
        assert not failed.ok
        assert "HTTP 500" in (failed.endpoints[0].error or "")
        assert bad.itr not in repr(first)
        assert good.itr not in repr(first)
        again = await sync(client, store, chosen, ["meter"], good.first)
        assert again[fingerprint(good.itr)].records == 0  # up to date: nothing twice
        status = {(s.plant, s.endpoint): s for s in await store.status()}
        bad_row = status[(fingerprint(bad.itr), Endpoint.METER)]
        assert bad_row.failures == 2
        assert "HTTP 500" in (bad_row.last_error or "")
        with pytest.raises(ValueError, match="since"):
            await sync(client, store, [plants[2].itr], "inverter")
    assert {c.plant for c in cycles} == {fingerprint(good.itr), "roof", fingerprint(bad.itr)}
    assert _times(path, fingerprint(good.itr)) == good.available_times(good.first, 2**40)
    raw = path.read_bytes()
    for plant in plants:
        assert plant.itr[:8].encode() not in raw


async def test_sync_refreshes_the_inventory_with_inverter_records(tmp_path: Path) -> None:
    plant = make_plants(1, seed=4, days=1)[0]
    async with (
        FakeLacecalServer([plant], rate_limit=None) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as client,
        SQLiteStore(tmp_path / "i.db") as store,
    ):
        report = await sync(client, store, [(plant.itr, "site")], "inverter", plant.first)
        assert report["site"].inverters == len(plant.inverters)
        assert await store.inventory("site") == list(plant.inverters)

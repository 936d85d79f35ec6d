"""The sync engine in process: reports, resume, failures, and late data on the repair schedule."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import attrs
import pytest

from lacecal_async import LacecalClient, ScaledClock, fingerprint
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import REPAIR_AFTER, Cycle, SQLiteStore, follow, sync
from lacecal_async.testing import FakeLacecalServer, Faults, make_plants

PERIOD = 2
SPEED = 4.0


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


async def test_late_data_lands_on_the_repair_schedule(tmp_path: Path) -> None:
    clock = ScaledClock(time.time(), SPEED)
    now = int(clock.now()) // PERIOD * PERIOD
    start = now - 12 * PERIOD
    gap = (now - 8 * PERIOD, now - 6 * PERIOD)
    # The gap fills in 2 periods from now, well before its first repair (6 periods).
    base = make_plants(1, seed=6, start=start, days=1, interval=PERIOD, follow_clock=True)[0]
    plant = attrs.evolve(base, late=((*gap, now + 2 * PERIOD),))
    path = tmp_path / "late.db"
    landed: list[float] = []
    async with (
        FakeLacecalServer([plant], rate_limit=None, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as client,
        SQLiteStore(path) as store,
    ):

        def watch(cycle: Cycle) -> None:
            if cycle.repaired:
                landed.append(clock.now())

        task = asyncio.create_task(
            follow(
                client, store, [(plant.itr, "late")], "meter", start, clock=clock, on_cycle=watch
            )
        )
        await asyncio.sleep((REPAIR_AFTER[0] + 3) * PERIOD / SPEED)
        missing_before = clock.now()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await store.holes("late", Endpoint.METER) == []
    stored = _times(path, "late")
    assert set(range(*gap, PERIOD)) <= set(stored)
    assert stored == sorted(set(stored))
    # Not before the first scheduled repair (6 periods after the hole was seen), and then.
    assert len(landed) == 1
    assert now + (REPAIR_AFTER[0] - 1) * PERIOD <= landed[0] <= missing_before

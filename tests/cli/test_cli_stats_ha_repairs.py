"""ha-json's resume never passes an hour the store still means to repair.

A plant's hole is asked for again on a schedule counted from when the store FOUND it (1008
periods at most: 7 days of 10-minute periods, 42 days of hourly ones), whatever the age of
its data: a backlog synced today has old holes that may still be filled this week. An
export whose resume moved past such an hour never exports the repair, and Home Assistant's
sums stay short for good. Here: twelve days synced at once, a hole on the first day, the
export, the repair, the continued export; applied one after the other (rows with the same
start replace the old ones, as Home Assistant does), they must equal one export of the
repaired store.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from lacecal_async import fingerprint
from lacecal_async.cli import main
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import SQLiteStore, SyncState
from lacecal_async.testing import make_plants

MADRID = ZoneInfo("Europe/Madrid")
FIRST = int(datetime(2024, 11, 4, tzinfo=MADRID).timestamp())
(PLANT,) = make_plants(1, seed=3, start=FIRST, days=12, interval=600, gaps=False)
RECORDS = list(PLANT.meter_records(PLANT.first, (PLANT.latest or 0) + 1))
#: The first day's 10:00 hour: missing at the first sync, repaired later.
HOLE = range(FIRST + 10 * 3600, FIRST + 11 * 3600)


async def commit(db: Path, records: list[Any]) -> None:
    async with SQLiteStore(db) as store:
        key = await store.add_plant(fingerprint(PLANT.itr), "roof")
        for i in range(0, len(records), 144):
            page = records[i : i + 144]
            state = SyncState(latest=RECORDS[-1].unix_time, interval=600)
            await store.commit_page(key, Endpoint.METER, page, state, now=time.time())


def export(db: Path, out: Path, since: str, *more: str) -> dict[str, Any]:
    args = ["stats", str(db), "--by", "hour", "--start", since, "-o", str(out), "-q"]
    assert main([*args, *more]) == 0
    found: list[dict[str, Any]] = json.loads(out.read_text())
    return {s["metadata"]["statistic_id"]: s for s in found}


def test_a_repair_of_an_old_hole_reaches_the_continued_export(tmp_path: Path) -> None:
    db = tmp_path / "plants.db"
    asyncio.run(commit(db, [r for r in RECORDS if r.unix_time not in HOLE]))
    first = export(db, tmp_path / "first.json", str(FIRST))
    asyncio.run(commit(db, [r for r in RECORDS if r.unix_time in HOLE]))  # the repair
    resume = min(s["resume"]["start"] for s in first.values())
    second = export(
        db, tmp_path / "second.json", resume, "--continue-from", str(tmp_path / "first.json")
    )
    whole = export(db, tmp_path / "whole.json", str(FIRST))
    for sid, statistic in whole.items():
        imported = {row["start"]: row for row in first[sid]["stats"]}
        imported |= {row["start"]: row for row in second[sid]["stats"]}  # replaces by start
        assert imported == {row["start"]: row for row in statistic["stats"]}, sid

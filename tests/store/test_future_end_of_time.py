"""A logger whose clock jumps to the end of time: a clock fault like any other, no crash.

``9999-12-31 23:00:00 -1200`` is a valid date with an offset, the service's own shape, and
its instant is in the year 10000 (UTC). Before, saying how far ahead it was raised
``ValueError: year 10000 is out of range`` from `catch_up`: `sync` raised it out of its
TaskGroup and a follow daemon died; and `lacecal status` crashed on the record it noted.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lacecal_async import LacecalClient
from lacecal_async.cli import main
from lacecal_async.sync import SQLiteStore, sync
from lacecal_async.testing import make_plants
from tests.support.scripted import ScriptFactory

PLANT = make_plants(1, seed=5, days=1)[0]
END_OF_TIME = "9999-12-31 23:00:00 -1200"
JSON = {"Content-Type": "application/json"}


def _record() -> bytes:
    sample = Path(__file__).parents[1] / "samples" / "meter.json"
    record = json.loads(sample.read_text())[0]
    when = datetime.fromisoformat(END_OF_TIME)
    record.update(date=END_OF_TIME, unix_time=int(when.timestamp()))
    return json.dumps([record]).encode()


async def test_a_record_dated_past_year_9999_utc_is_a_clock_fault(
    make_scripted: ScriptFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    latest = (200, JSON, _record())
    scripted = await make_scripted([latest, (200, JSON, b"[]"), *[latest] * 4])
    db = tmp_path / "s.db"
    since = int(datetime.now(UTC).timestamp()) - 3600
    async with (
        LacecalClient(base_url=scripted.base_url, rate_limit=(100, 1.0), retries=0) as client,
        SQLiteStore(db) as store,
    ):
        reports = await sync(client, store, [(PLANT.itr, "roof")], "meter", since)
    (meter,) = reports["roof"].endpoints
    assert meter.records == 0
    assert meter.error is not None
    assert "after this client's clock" in meter.error
    # The command runs its own event loop: in a thread of its own here.
    assert await asyncio.to_thread(main, ["status", str(db)]) == 1  # WARNING: a clock fault
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert "ignored a record dated UNIX time 253402340400" in out, out

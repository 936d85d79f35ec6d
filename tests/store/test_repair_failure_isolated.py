"""One hole whose repair keeps failing does not keep the plant's other holes from repair.

A logger's backlog may hold a period the server cannot serve (a corrupt record: a page it
answers with garbage, every time). Before, the engine asked for the due holes in time
order and stopped at the first failure: every later hole waited behind it for good, in
`sync` and in `follow`'s repairer alike (which starts over at the same hole each round).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from lacecal_async import LacecalClient, fingerprint
from lacecal_async.decoding import decode
from lacecal_async.endpoints import Endpoint, WireFormat
from lacecal_async.sync import SQLiteStore, SyncState, sync
from lacecal_async.testing import FakeClock, make_plants
from tests.support.scripted import ScriptFactory

PLANT = make_plants(1, seed=9, days=1)[0]
P = 600
BASE = 1_727_827_200  # 2024-10-02 00:00Z
TIMES = [BASE + i * P for i in range(10)]
FIRST_HOLE, SECOND_HOLE = TIMES[3], TIMES[6]
JSON = {"Content-Type": "application/json"}
CET = timezone(timedelta(hours=2))


def _records(times: list[int]) -> bytes:
    sample = Path(__file__).parents[1] / "samples" / "meter.json"
    template = json.loads(sample.read_text())[0]
    out: list[dict[str, Any]] = []
    for unix_time in times:
        date = datetime.fromtimestamp(unix_time, CET).strftime("%Y-%m-%d %H:%M:%S +0200")
        out.append(template | {"unix_time": unix_time, "date": date})
    return json.dumps(out).encode()


@pytest.mark.parametrize(
    ("reply", "left"),
    [
        ((200, JSON, b"<html>corrupt</html>"), [FIRST_HOLE]),  # that page: the next is asked
        ((404, JSON, b"[]"), [FIRST_HOLE]),
        ((503, JSON, b"[]"), [FIRST_HOLE, SECOND_HOLE]),  # the server is down: stop there
    ],
    ids=["corrupt page", "404", "503"],
)
async def test_a_failing_repair_leaves_the_next_hole_repaired(
    make_scripted: ScriptFactory,
    tmp_path: Path,
    reply: tuple[int, dict[str, str], bytes],
    left: list[int],
) -> None:
    found = first_seen = BASE + 10 * P
    clock = FakeClock(first_seen + 7 * P)  # both holes due (6 periods after they were found)
    scripted = await make_scripted(
        [
            (200, JSON, _records(TIMES[-1:])),  # the latest: nothing new
            reply,  # the first hole's page
            (200, JSON, _records([SECOND_HOLE])),  # the second hole's page
        ]
    )
    async with (
        LacecalClient(base_url=scripted.base_url, rate_limit=(100, 1.0), retries=0) as client,
        SQLiteStore(tmp_path / "s.db") as store,
    ):
        key = await store.add_plant(fingerprint(PLANT.itr), "roof")
        kept = [t for t in TIMES if t not in (FIRST_HOLE, SECOND_HOLE)]
        records = decode(Endpoint.METER, _records(kept), WireFormat.JSON)
        state = SyncState(latest=TIMES[-1], interval=P, since=BASE)
        await store.commit_page(key, Endpoint.METER, records, state, now=found)
        assert [h.start for h in await store.holes(key, Endpoint.METER)] == [
            FIRST_HOLE,
            SECOND_HOLE,
        ]
        reports = await sync(client, store, [(PLANT.itr, "roof")], "meter", clock=clock)
        holes = [h.start for h in await store.holes(key, Endpoint.METER)]
    assert holes == left
    assert reports["roof"].endpoints[0].error is not None  # the failing one is reported

"""Late data in the fake server: gaps that fill in when its clock reaches a given instant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import attrs
import pytest

from lacecal_async import decode, fingerprint
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import SQLiteStore, SyncState
from lacecal_async.testing import FakeClock, FakeLacecalServer, make_plants

BASE = make_plants(1, seed=3, days=1)[0]
IV = BASE.interval
T0 = BASE.first
LATEST = BASE.latest or 0
# Periods 10..14 upload at T0 + 1 day + 1 h; the last 3 periods upload later still.
FILLED = T0 + 86400 + 3600.0
LATE = attrs.evolve(
    BASE,
    itr="LateLogger000001",
    late=((T0 + 10 * IV, T0 + 15 * IV, FILLED), (LATEST - 2 * IV, LATEST + IV, FILLED + 600)),
)
ALL_TIMES = [T0 + i * IV for i in range(20)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0 + 86400)


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[FakeLacecalServer]:
    async with FakeLacecalServer([LATE], rate_limit=None, clock=clock) as fake:
        yield fake


async def fetch(server: FakeLacecalServer, endpoint: Endpoint, **params: object) -> bytes:
    query = {"id": LATE.itr, "out": "json", **{k: str(v) for k, v in params.items()}}
    async with aiohttp.ClientSession() as session:
        async with session.get(server.base_url + endpoint.path, params=query) as response:
            assert response.status == 200
            return await response.read()


async def meter_times(server: FakeLacecalServer, **params: object) -> list[int]:
    return [
        r.unix_time for r in decode(Endpoint.METER, await fetch(server, Endpoint.METER, **params))
    ]


async def test_a_late_gap_has_no_record_until_the_clock_reaches_it(
    server: FakeLacecalServer, clock: FakeClock
) -> None:
    missing = ALL_TIMES[10:15]
    before = await meter_times(server, t=T0, n=20)  # n counts records: it reads past the gap
    assert before == [T0 + i * IV for i in range(25) if T0 + i * IV not in missing]
    assert not set(missing) & set(before)
    clock.set(FILLED - 1)
    assert await meter_times(server, t=T0 + 10 * IV, n=5) == ALL_TIMES[15:20]
    clock.set(FILLED)
    assert await meter_times(server, t=T0, n=20) == ALL_TIMES
    # The values are the plant's usual ones, as if they had always been there.
    body = await fetch(server, Endpoint.INVERTER, t=T0 + 10 * IV, n=5)
    assert list(decode(Endpoint.INVERTER, body)) == [LATE.inverter_record(t) for t in missing]


async def test_the_latest_record_waits_for_a_late_tail(
    server: FakeLacecalServer, clock: FakeClock
) -> None:
    assert await meter_times(server) == [LATEST - 3 * IV]  # the tail is not uploaded yet
    clock.set(FILLED + 600)
    assert await meter_times(server) == [LATEST]


def test_the_plant_model_answers_by_now() -> None:
    gap = T0 + 10 * IV
    assert not LATE.has_record(gap, now=FILLED - 1)
    assert LATE.has_record(gap, now=FILLED)
    assert LATE.has_record(gap - IV, now=0)
    assert gap not in LATE.available_times(T0, T0 + 20 * IV, now=FILLED - 1)
    periods = attrs.evolve(LATE, n_counts="periods")
    assert periods.page_times(T0 + 9 * IV, 3, now=FILLED - 1) == [T0 + 9 * IV]
    assert periods.page_times(T0 + 9 * IV, 3, now=FILLED) == [T0 + 9 * IV, gap, gap + IV]
    with pytest.raises(ValueError, match="late gaps needs `now`"):
        LATE.has_record(gap)
    assert BASE.has_record(gap)  # a plant without late gaps needs no clock


async def test_late_records_land_in_the_store_on_the_repair_schedule(
    server: FakeLacecalServer, clock: FakeClock, tmp_path: Path
) -> None:
    """What the sync engine will do, by hand: holes found, asked again when due, filled."""
    async with SQLiteStore(tmp_path / "late.db") as store:
        key = await store.add_plant(fingerprint(LATE.itr), "late")
        page = decode(Endpoint.METER, await fetch(server, Endpoint.METER, t=T0, n=20))
        state = SyncState(latest=page[-1].unix_time, interval=IV)
        await store.commit_page(key, Endpoint.METER, page, state, now=clock.now())
        (hole,) = await store.holes(key, Endpoint.METER)
        assert (hole.start, hole.end) == (T0 + 10 * IV, T0 + 15 * IV)
        clock.advance(6 * IV)  # due now, and the logger has uploaded (FILLED is 1 h in)
        assert await store.holes(key, Endpoint.METER, due_by=clock.now()) == [hole]
        body = await fetch(server, Endpoint.METER, t=hole.start, n=hole.periods)
        repaired = decode(Endpoint.METER, body)
        await store.commit_page(key, Endpoint.METER, repaired, state, now=clock.now())
        await store.repair_attempted(key, Endpoint.METER, hole.start, hole.end, now=clock.now())
        assert await store.holes(key, Endpoint.METER) == []
        (status,) = await store.status()
        assert (status.first_record, status.latest_record, status.holes) == (
            T0,
            page[-1].unix_time,
            0,
        )

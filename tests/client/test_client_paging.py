"""LacecalClient paging over real HTTP: the records are the ground truth, the requests minimal.

Every test compares what the client returns with what the plant says exists
(`Plant.meter_records` / `inverter_records`), and counts the requests the fake server saw.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import attrs
import pytest

from lacecal_async.client import LacecalClient
from lacecal_async.records import InverterRecord, MeterRecord
from lacecal_async.testing import MADRID, FakeClock, FakeLacecalServer, Plant, make_plants
from tests.support.fixtures import ClientFactory, ServerFactory

DAY = 86_400
WireName = Literal["json", "xml"]


@pytest.fixture(params=["json", "xml"])
def wire(request: pytest.FixtureRequest) -> WireName:
    value: WireName = request.param
    return value


def itr_for(name: str) -> str:
    """A valid, stable identifier per test plant."""
    return hashlib.sha256(name.encode()).hexdigest()[:16]


def variant(base: Plant, name: str, **changes: Any) -> Plant:
    """A plant like `base` with its own ITR and the given changes."""
    return attrs.evolve(base, itr=itr_for(name), **changes)


def timed_params(server: FakeLacecalServer, itr: str) -> list[dict[str, str]]:
    return [entry.params for entry in server.stats(itr).log]


def assert_increasing(records: tuple[MeterRecord, ...] | tuple[InverterRecord, ...]) -> None:
    times = [r.unix_time for r in records]
    assert times == sorted(set(times)), "records repeated or out of order"


def assert_only_t(params: list[dict[str, str]]) -> None:
    """Every request sends `t` (or nothing, for the latest), never `d`; n is 1..144."""
    for p in params:
        assert "d" not in p
        if "t" in p:
            assert 1 <= int(p["n"]) <= 144
        else:
            assert "n" not in p


async def test_ten_days_backfill_is_ten_requests_and_the_ground_truth(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant, wire: WireName
) -> None:
    server = await make_server([plant])
    client = make_client(server.base_url, wire_format=wire)
    start = plant.first + 2 * DAY
    end = start + 10 * DAY

    records = await client.meter_records(plant.itr, start, end)

    assert records == tuple(plant.meter_records(start, end))
    assert len(records) == 1440
    assert_increasing(records)
    stats = server.stats(plant.itr)
    assert stats.requests == 10
    assert stats.rejections == 0
    params = timed_params(server, plant.itr)
    assert_only_t(params)
    assert [p["n"] for p in params] == ["144"] * 10
    assert [p["out"] for p in params] == [wire] * 10
    assert params[0]["t"] == str(start)


async def test_inverter_records_take_aware_datetimes_start_inclusive_end_exclusive(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant, wire: WireName
) -> None:
    server = await make_server([plant])
    client = make_client(server.base_url, wire_format=wire)
    # 12:00 and 20:00 in Madrid, as Madrid datetimes: both bounds on the grid.
    start = datetime.fromtimestamp(plant.first + 3 * DAY, MADRID).replace(hour=12)
    end = start + timedelta(hours=8)

    records = await client.inverter_records(plant.itr, start, end)

    s, e = int(start.timestamp()), int(end.timestamp())
    assert records == tuple(plant.inverter_records(s, e))
    assert records[0].unix_time == s  # start is inclusive
    assert records[-1].unix_time == e - 600  # end is exclusive
    assert server.stats(plant.itr).requests == 1
    assert timed_params(server, plant.itr)[0]["n"] == "96"  # 8 h in 300 s periods


async def test_sub_second_datetimes_round_up_to_the_next_second(
    client: LacecalClient, server: FakeLacecalServer, plant: Plant
) -> None:
    base = plant.first + DAY
    start = datetime.fromtimestamp(base, UTC) + timedelta(microseconds=500_000)
    end = datetime.fromtimestamp(base + 3600, UTC) + timedelta(microseconds=1)

    records = await client.meter_records(plant.itr, start, end)

    # The record at `base` starts before `start`; the one at base+3600 starts before `end`.
    assert [r.unix_time for r in records] == list(range(base + 600, base + 3601, 600))


async def test_n_is_the_periods_left_and_records_at_or_after_end_are_dropped(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant
) -> None:
    # Records mode: the first page, asked for the range's 10 periods counted in the shortest
    # period (300 s: n=20), brings 13 records from beyond `end`, which must not be returned.
    start = plant.first + DAY
    gappy = variant(plant, "drop-after-end", gaps=((start + 3000, start + 4800),))
    server = await make_server([gappy])
    client = make_client(server.base_url)
    end = start + 10 * 600

    records = await client.meter_records(gappy.itr, start, end)

    assert records == tuple(gappy.meter_records(start, end))
    assert len(records) == 7
    assert all(r.unix_time < end for r in records)
    assert timed_params(server, gappy.itr) == [
        {"out": "json", "id": gappy.itr, "t": str(start), "n": "20"}
    ]


async def test_unaligned_end_counts_the_partial_period(
    client: LacecalClient, server: FakeLacecalServer, plant: Plant
) -> None:
    start = plant.first + DAY
    end = start + 50 * 600 + 1  # the period starting at start + 50*600 is in range

    records = await client.meter_records(plant.itr, start, end)

    assert len(records) == 51
    assert records[-1].unix_time == start + 50 * 600
    # the first page counts the range in 300 s periods: 101 (the extra ones cost bandwidth)
    assert [p["n"] for p in timed_params(server, plant.itr)] == ["101"]


@pytest.mark.parametrize("n_counts", ["records", "periods"])
async def test_gaps_in_both_n_modes_lose_nothing_within_the_cost_bound(
    make_server: ServerFactory,
    make_client: ClientFactory,
    plant: Plant,
    wire: WireName,
    n_counts: Literal["records", "periods"],
) -> None:
    f = plant.first
    gaps = (
        (f + DAY + 3000, f + DAY + 4800),  # 3 periods
        (f + 2 * DAY, f + 4 * DAY + 1200),  # longer than a page
        (f + 5 * DAY - 600, f + 5 * DAY + 600),  # across a page boundary
        (f + 6 * DAY + 600, f + 7 * DAY),  # the range ends inside this one
    )
    gappy = variant(plant, f"gaps-{n_counts}", gaps=gaps, n_counts=n_counts)
    server = await make_server([gappy])
    client = make_client(server.base_url, wire_format=wire)
    start, end = f + DAY, f + 6 * DAY + 3600

    records = await client.meter_records(gappy.itr, start, end)

    expected = tuple(gappy.meter_records(start, end))
    assert records == expected
    assert_increasing(records)
    params = timed_params(server, gappy.itr)
    assert_only_t(params)
    periods = math.ceil((end - start) / 600)
    bound = (
        math.ceil(len(expected) / 144) + 1
        if n_counts == "records"
        else math.ceil(periods / 144) + 2
    )
    assert server.stats(gappy.itr).requests <= bound


@pytest.mark.parametrize("n_counts", ["records", "periods"])
async def test_until_latest_through_a_trailing_gap(
    make_server: ServerFactory,
    make_client: ClientFactory,
    plant: Plant,
    n_counts: Literal["records", "periods"],
) -> None:
    assert plant.latest is not None
    latest = plant.latest
    gappy = variant(
        plant, f"trailing-{n_counts}", gaps=((latest - 3000, latest - 600),), n_counts=n_counts
    )
    server = await make_server([gappy])
    client = make_client(server.base_url)
    start = latest - DAY

    records = await client.meter_records(gappy.itr, start)

    assert records == tuple(gappy.meter_records(start, latest + 1))
    assert records[-1].unix_time == latest
    assert server.stats(gappy.itr).requests <= math.ceil(DAY / 600 / 144) + 2


async def test_300_second_periods_learn_the_interval(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant, wire: WireName
) -> None:
    fine = variant(plant, "five-minutes", interval=300)
    server = await make_server([fine])
    client = make_client(server.base_url, wire_format=wire)
    start = fine.first + DAY

    three_days = await client.inverter_records(fine.itr, start, start + 3 * DAY)
    assert three_days == tuple(fine.inverter_records(start, start + 3 * DAY))
    assert len(three_days) == 864
    assert server.stats(fine.itr).requests == 6  # 864 / 144: the minimum

    server.reset_stats()
    two_hours = await client.inverter_records(fine.itr, start, start + 7200)
    assert two_hours == tuple(fine.inverter_records(start, start + 7200))
    # Until a reply tells the interval, the shortest (300 s) is assumed: one page of 24.
    assert [p["n"] for p in timed_params(server, fine.itr)] == ["24"]


async def test_autumn_dst_day_has_25_hours_of_records(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant, wire: WireName
) -> None:
    server = await make_server([plant])
    client = make_client(server.base_url, wire_format=wire)
    start = datetime(2024, 10, 27, tzinfo=MADRID)
    end = datetime(2024, 10, 28, tzinfo=MADRID)

    records = await client.meter_records(plant.itr, start, end)

    s, e = int(start.timestamp()), int(end.timestamp())
    assert records == tuple(plant.meter_records(s, e))
    assert len(records) == 25 * 6
    assert_increasing(records)
    offsets = [r.start.utcoffset() for r in records]
    assert offsets[0] == timedelta(hours=2)
    assert offsets[-1] == timedelta(hours=1)
    wall = [r.start.replace(tzinfo=None) for r in records]
    assert len(wall) - len(set(wall)) == 6  # the repeated hour, told apart by unix_time
    assert server.stats(plant.itr).requests == 2


async def test_spring_dst_day_has_23_hours_of_records(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant, wire: WireName
) -> None:
    spring = variant(plant, "spring", first=1743206400, latest=None)
    clock = FakeClock(1743206400 + 5 * DAY)
    server = await make_server([spring], clock=clock)
    client = make_client(server.base_url, wire_format=wire)
    start = datetime(2025, 3, 30, tzinfo=MADRID)
    end = datetime(2025, 3, 31, tzinfo=MADRID)

    records = await client.meter_records(spring.itr, start, end)

    s, e = int(start.timestamp()), int(end.timestamp())
    assert e - s == 23 * 3600
    assert records == tuple(spring.meter_records(s, e, now=clock.now()))
    assert len(records) == 23 * 6
    local = [r.start.replace(tzinfo=None) for r in records]
    assert not any(w.hour == 2 and w.day == 30 for w in local)  # 02:00-03:00 never happens
    assert server.stats(spring.itr).requests == 1


async def test_until_latest_asks_for_the_latest_first_then_the_minimum(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant, wire: WireName
) -> None:
    clock = FakeClock(plant.first + 4 * DAY + 123)
    live = variant(plant, "live", latest=None)
    server = await make_server([live], clock=clock)
    client = make_client(server.base_url, wire_format=wire)
    latest = live.last_time(clock.now())
    start = latest - 300 * 600

    records = await client.meter_records(live.itr, start)

    assert records == tuple(live.meter_records(start, latest + 1, now=clock.now()))
    assert len(records) == 301
    params = timed_params(server, live.itr)
    assert "t" not in params[0]  # where the data ends, first
    # The looked-up latest record is handed out, not fetched again: 300 periods before it.
    assert [p["n"] for p in params[1:]] == ["144", "144", "12"]
    assert len(params) == 1 + math.ceil(300 / 144)

    # The data grows with the server's clock: the next call sees the new records.
    clock.advance(1800)
    newer = await client.meter_records(live.itr, latest + 1)
    assert [r.unix_time for r in newer] == [latest + 600, latest + 1200, latest + 1800]


async def test_start_after_the_latest_is_empty_after_one_request(
    client: LacecalClient, server: FakeLacecalServer, plant: Plant
) -> None:
    assert plant.latest is not None
    assert await client.meter_records(plant.itr, plant.latest + 1) == ()
    assert server.stats(plant.itr).requests == 1


async def test_empty_range_makes_no_request(
    client: LacecalClient, server: FakeLacecalServer, plant: Plant
) -> None:
    assert await client.meter_records(plant.itr, plant.first, plant.first) == ()
    assert server.stats(plant.itr).requests == 0


async def test_latest_only(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant, wire: WireName
) -> None:
    assert plant.latest is not None
    ends_in_gap = variant(plant, "ends-in-gap", gaps=((plant.latest - 1200, plant.latest + 600),))
    server = await make_server([plant, ends_in_gap])
    client = make_client(server.base_url, wire_format=wire)

    meter = await client.meter_records(plant.itr)
    inverter = await client.inverter_records(plant.itr)
    assert meter == (plant.meter_record(plant.latest),)
    assert inverter == (plant.inverter_record(plant.latest),)
    assert timed_params(server, plant.itr) == [{"out": wire, "id": plant.itr}] * 2

    last = await client.meter_records(ends_in_gap.itr)
    assert last == (ends_in_gap.meter_record(plant.latest - 1800),)


async def test_inverters(
    make_server: ServerFactory, make_client: ClientFactory, wire: WireName
) -> None:
    plants = make_plants(4, seed=3)
    server = await make_server(plants)
    client = make_client(server.base_url, wire_format=wire)
    for p in plants:
        assert await client.inverters(p.itr) == p.inverters
        assert timed_params(server, p.itr) == [{"out": wire, "id": p.itr}]


async def test_iterators_fetch_page_by_page(
    client: LacecalClient, server: FakeLacecalServer, plant: Plant
) -> None:
    start = plant.first + DAY
    end = start + 3 * DAY
    meters = client.iter_meter_records(plant.itr, start, end)
    first = await anext(meters)
    assert first == plant.meter_record(start)
    assert server.stats(plant.itr).requests == 1  # nothing fetched ahead of the consumer

    rest = [r async for r in meters]
    assert (first, *rest) == tuple(plant.meter_records(start, end))
    assert server.stats(plant.itr).requests == 3

    server.reset_stats()
    seen: list[InverterRecord] = []
    inverters = client.iter_inverter_records(plant.itr, start, end)
    async for record in inverters:
        seen.append(record)
        if len(seen) == 200:
            break
    await inverters.aclose()  # type: ignore[attr-defined]
    assert seen == plant.inverter_records(start, end)[:200]
    assert server.stats(plant.itr).requests == 2


async def test_iterator_until_latest(
    client: LacecalClient, server: FakeLacecalServer, plant: Plant
) -> None:
    assert plant.latest is not None
    start = plant.latest - DAY + 600
    records = [r async for r in client.iter_inverter_records(plant.itr, start)]
    assert records == plant.inverter_records(start, plant.latest + 1)
    assert server.stats(plant.itr).requests == 2  # the latest, then one page of 144

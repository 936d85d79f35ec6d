"""Exact request counts for recent ranges: no lookup of the latest record for a bounded
range the pages complete, and a lookup's record in the range is used, not fetched again.
"""

from __future__ import annotations

import math
import time

import pytest

from lacecal_async import LacecalClient
from lacecal_async.testing import FakeClock, FakeLacecalServer, Plant, make_plants
from tests.support.fixtures import ServerFactory

PERIOD = 600
#: The server's clock, frozen in the middle of the current period: "recent" is recent for real.
NOW = int(time.time()) // PERIOD * PERIOD + 250


async def _recent_plant(make_server: ServerFactory) -> tuple[FakeLacecalServer, Plant, int]:
    """A gapless plant whose data runs up to the server's (frozen) clock, and its latest."""
    plant = make_plants(1, seed=8, start=NOW - 40 * 86_400, interval=PERIOD, follow_clock=True)[0]
    server = await make_server([plant], rate_limit=None, clock=FakeClock(NOW))
    latest = plant.last_time(NOW)
    return server, plant, latest


async def test_a_range_ending_an_hour_ago_costs_its_pages_only(make_server: ServerFactory) -> None:
    server, plant, _ = await _recent_plant(make_server)
    end = NOW // PERIOD * PERIOD - 3600
    start = end - 288 * PERIOD
    async with LacecalClient(base_url=server.base_url) as client:
        records = await client.meter_records(plant.itr, start, end)
    assert [r.unix_time for r in records] == list(range(start, end, PERIOD))
    assert server.stats(plant.itr).requests == math.ceil(288 / 144) == 2


async def test_a_range_ending_just_before_the_latest_record(make_server: ServerFactory) -> None:
    server, plant, latest = await _recent_plant(make_server)
    start = latest - 144 * PERIOD
    async with LacecalClient(base_url=server.base_url) as client:
        records = await client.inverter_records(plant.itr, start, latest)
    assert len(records) == 144
    assert server.stats(plant.itr).requests == 1


async def test_a_range_ending_in_the_future_costs_its_pages_only(
    make_server: ServerFactory,
) -> None:
    server, plant, latest = await _recent_plant(make_server)
    start = latest - 143 * PERIOD  # 144 records up to the latest
    end = NOW + 7200
    periods = math.ceil((end - start) / PERIOD)
    async with LacecalClient(base_url=server.base_url) as client:
        records = await client.meter_records(plant.itr, start, end)
    assert [r.unix_time for r in records] == list(range(start, latest + 1, PERIOD))
    assert server.stats(plant.itr).requests == math.ceil(periods / 144) == 2


async def test_an_open_end_uses_the_latest_record_it_looked_up(make_server: ServerFactory) -> None:
    server, plant, latest = await _recent_plant(make_server)
    start = latest - 144 * PERIOD  # 145 records: 144 before the latest, and the latest
    async with LacecalClient(base_url=server.base_url) as client:
        records = [r async for r in client.iter_meter_records(plant.itr, start)]
    assert [r.unix_time for r in records] == list(range(start, latest + 1, PERIOD))
    log = server.stats(plant.itr).log
    assert len(log) == 2  # the lookup, then one page of 144: the latest is not fetched again
    assert "t" not in log[0].params
    assert log[1].params["n"] == "144"


async def test_an_open_end_at_the_latest_record_costs_the_lookup_only(
    make_server: ServerFactory,
) -> None:
    server, plant, latest = await _recent_plant(make_server)
    async with LacecalClient(base_url=server.base_url) as client:
        records = await client.meter_records(plant.itr, latest)
        later = await client.meter_records(plant.itr, latest + 1)
    assert [r.unix_time for r in records] == [latest]
    assert later == ()
    assert server.stats(plant.itr).requests == 2


@pytest.mark.parametrize("interval", [300, 600, 900, 3600])
@pytest.mark.parametrize("hours", [1, 6, 11, 12, 13, 23, 24, 25, 49])
async def test_a_range_before_the_latest_costs_ceil_periods_over_144_at_any_interval(
    make_server: ServerFactory, interval: int, hours: int
) -> None:
    # The review's finding: 13 h of 300 s periods cost 2 requests, 1 h cost 2 as well.
    start = NOW // 86_400 * 86_400 - 20 * 86_400
    plant = make_plants(1, seed=3, start=start - 86_400, days=10, interval=interval, gaps=False)[0]
    server = await make_server([plant], rate_limit=None)
    end = start + hours * 3600
    async with LacecalClient(base_url=server.base_url) as client:
        records = await client.meter_records(plant.itr, start, end)
    periods = math.ceil(hours * 3600 / interval)
    assert [r.unix_time for r in records] == list(range(start, end, interval))
    assert server.stats(plant.itr).requests == math.ceil(periods / 144)

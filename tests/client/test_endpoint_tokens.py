"""The typed endpoint tokens (`METER`, `INVERTER`, `INVERTER_LIST`) against the fake server.

A token fetches exactly what its endpoint's name and `Endpoint` member fetch: scripts that
pass names keep working, and typed code gets the record type (typing_checks.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lacecal_async import (
    INVERTER,
    INVERTER_LIST,
    METER,
    Cursor,
    Endpoint,
    Inverter,
    InverterRecord,
    LacecalClient,
    MeterRecord,
    PageEvent,
    Records,
    decode,
    fingerprint,
)
from lacecal_async.endpoints import endpoint_of
from lacecal_async.sync import SQLiteStore, sync
from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support.samples import INVERTERS, METER_RECORDS, SAMPLES

RATE = (6, 0.6)
HOUR = 3600


def test_a_token_names_its_endpoint_and_record_type() -> None:
    assert (METER.endpoint, METER.record_type) == (Endpoint.METER, MeterRecord)
    assert (INVERTER.endpoint, INVERTER.record_type) == (Endpoint.INVERTER, InverterRecord)
    assert (INVERTER_LIST.endpoint, INVERTER_LIST.record_type) == (
        Endpoint.INVERTER_LIST,
        Inverter,
    )
    assert str(INVERTER) == "inverter"
    assert repr(METER) == "<Records meter: MeterRecord>"
    assert Records(Endpoint.METER, MeterRecord) == METER
    assert endpoint_of("inverter_list") is endpoint_of(INVERTER_LIST) is Endpoint.INVERTER_LIST
    with pytest.raises(ValueError, match="is not a valid Endpoint"):
        endpoint_of("meters")


def test_a_cursor_and_endpoint_typed_for_names_take_a_token() -> None:
    assert Cursor.since(METER, 1_700_000_400) == Cursor.since("meter", 1_700_000_400)
    token: Any = INVERTER  # code typed for names (``Endpoint(name)``) takes one at run time
    assert Endpoint(token) is Endpoint.INVERTER
    with pytest.raises(ValueError, match="no records per period"):
        Cursor.since(INVERTER_LIST, 1_700_000_400)


async def test_catch_up_and_sync_take_tokens(tmp_path: Path) -> None:
    (plant,) = make_plants(1, seed=32, interval=600, gaps=False)
    assert plant.latest is not None  # a fixed window: its latest record is known
    start = plant.latest - 6 * HOUR
    async with (
        FakeLacecalServer([plant], rate_limit=RATE) as server,
        LacecalClient(base_url=server.base_url, rate_limit=RATE) as client,
        SQLiteStore(tmp_path / "s.db") as store,
    ):
        pages = client.catch_up(plant.itr, INVERTER, Cursor.since(INVERTER, start))
        records = [r async for page, _ in pages for r in page]
        one = await sync(client, store, [plant.itr], METER, since=start)
        both = await sync(client, store, [plant.itr], [METER, INVERTER], since=start)
    assert records == plant.inverter_records(start, plant.latest + 1)
    assert [e.endpoint for e in one[fingerprint(plant.itr)].endpoints] == [Endpoint.METER]
    assert [e.endpoint for e in both[fingerprint(plant.itr)].endpoints] == [
        Endpoint.METER,
        Endpoint.INVERTER,
    ]


async def test_fetch_many_with_a_token_equals_the_name_and_the_member() -> None:
    plants = make_plants(2, seed=31, interval=600, gaps=False)
    itrs = [p.itr for p in plants]
    start, end = plants[0].first, plants[0].first + 6 * HOUR
    async with (
        FakeLacecalServer(plants, rate_limit=RATE) as server,
        LacecalClient(base_url=server.base_url, rate_limit=RATE) as client,
    ):
        by_token = await client.fetch_many(itrs, METER, start, end)
        by_name = await client.fetch_many(itrs, "meter", start, end)
        by_member = await client.fetch_many(itrs, Endpoint.METER, start, end)
        inverters = await client.fetch_many(itrs, INVERTER, start, end)
        listed = await client.fetch_many(itrs, INVERTER_LIST)
        latest = await client.latest_many(itrs, INVERTER)
        pages = [
            event
            async for event in client.stream_many(itrs, INVERTER, start, end)
            if isinstance(event, PageEvent)
        ]
    for plant in plants:
        records = plant.meter_records(start, end)
        assert list(by_token[plant.itr].records) == records
        assert by_name[plant.itr] == by_token[plant.itr] == by_member[plant.itr]
        assert list(inverters[plant.itr].records) == plant.inverter_records(start, end)
        assert all(isinstance(i, Inverter) for i in listed[plant.itr].records)
        assert listed[plant.itr].records
        assert isinstance(latest[plant.itr].record, InverterRecord)
    assert sum(len(page.records) for page in pages) == sum(
        len(inverters[itr].records) for itr in itrs
    )


async def test_latest_many_refuses_the_inverter_list_token() -> None:
    async with LacecalClient(base_url="http://127.0.0.1:9/") as client:
        with pytest.raises(ValueError, match="meter or inverter"):
            await client.latest_many(["A" * 16], INVERTER_LIST)
        with pytest.raises(ValueError, match="inverter_list takes no start"):
            await client.fetch_many(["A" * 16], INVERTER_LIST, 0)


@pytest.mark.parametrize("wire_format", ["json", "xml"])
def test_decode_with_a_token_equals_the_name(wire_format: str) -> None:
    for token, expected in ((METER, METER_RECORDS), (INVERTER_LIST, INVERTERS)):
        body = (SAMPLES / f"{token}.{wire_format}").read_bytes()
        assert decode(token, body, wire_format) == expected
        assert decode(token.endpoint.value, body, wire_format) == expected

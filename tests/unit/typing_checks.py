"""Checked by mypy, never run: the fan-out's and latest_*'s types per endpoint.

pytest does not collect this file (its name does not start with ``test_``); mypy checks it
with the rest of ``tests``, so a change that loses a type fails ``scripts/test``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, assert_type

from lacecal_async import (
    Endpoint,
    FetchResult,
    Inverter,
    InverterRecord,
    LacecalClient,
    LatestResult,
    LimitState,
    MeterRecord,
    StreamEvent,
)
from lacecal_async.events import PageEvent


async def fetch_many_is_typed_per_endpoint(client: LacecalClient, itrs: list[str]) -> None:
    assert_type(await client.fetch_many(itrs, "meter"), dict[str, FetchResult[MeterRecord]])
    assert_type(
        await client.fetch_many(itrs, Endpoint.METER, 0, 600), dict[str, FetchResult[MeterRecord]]
    )
    assert_type(await client.fetch_many(itrs, "inverter"), dict[str, FetchResult[InverterRecord]])
    assert_type(
        await client.fetch_many(itrs, Endpoint.INVERTER), dict[str, FetchResult[InverterRecord]]
    )
    assert_type(await client.fetch_many(itrs, "inverter_list"), dict[str, FetchResult[Inverter]])
    endpoint: str = "meter"
    assert_type(await client.fetch_many(itrs, endpoint), dict[str, FetchResult[Any]])
    result = (await client.fetch_many(itrs, "meter"))["x"]
    assert_type(result.records, tuple[MeterRecord, ...])


async def stream_many_is_typed_per_endpoint(client: LacecalClient, itrs: list[str]) -> None:
    events = client.stream_many(itrs, "meter", 0)
    assert_type(events, AsyncGenerator[StreamEvent[MeterRecord]])
    async for event in events:
        if isinstance(event, PageEvent):
            assert_type(event.records, tuple[MeterRecord, ...])
    assert_type(
        client.stream_many(itrs, Endpoint.INVERTER, 0),
        AsyncGenerator[StreamEvent[InverterRecord]],
    )
    assert_type(client.stream_many(itrs, "inverter_list"), AsyncGenerator[StreamEvent[Inverter]])


async def latest_is_typed(client: LacecalClient, itr: str, itrs: list[str]) -> None:
    assert_type(await client.latest_meter_record(itr), MeterRecord | None)
    assert_type(await client.latest_inverter_record(itr), InverterRecord | None)
    assert_type(await client.latest_many(itrs, "meter"), dict[str, LatestResult[MeterRecord]])
    assert_type(
        await client.latest_many(itrs, Endpoint.INVERTER),
        dict[str, LatestResult[InverterRecord]],
    )
    one = (await client.latest_many(itrs, "meter"))["x"]
    assert_type(one.record, MeterRecord | None)


def options_and_state_are_typed(client: LacecalClient, itr: str) -> None:
    assert_type(client.with_options(retries=0, timeout=10), LacecalClient)
    assert_type(client.limit_state(itr), LimitState)
    assert_type(client.limit_state(itr).ready_in, float | None)

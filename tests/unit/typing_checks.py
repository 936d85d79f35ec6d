"""Checked by mypy, never run: the many-ITR calls and `decode` are typed by their token.

pytest does not collect this file (its name does not start with ``test_``); mypy checks it
with the rest of ``tests``, so a change that loses a type fails ``scripts/test``. The slow
test in test_typing_tokens.py also runs mypy on it alone and reads its revealed types.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, assert_type

from lacecal_async import (
    INVERTER,
    INVERTER_LIST,
    METER,
    Cursor,
    Endpoint,
    FetchResult,
    Inverter,
    InverterRecord,
    LacecalClient,
    LatestResult,
    LimitState,
    MeterRecord,
    Records,
    StreamEvent,
    WatchBatch,
    decode,
)
from lacecal_async.events import PageEvent


def tokens_carry_their_record_type() -> None:
    assert_type(METER, Records[MeterRecord])
    assert_type(INVERTER, Records[InverterRecord])
    assert_type(INVERTER_LIST, Records[Inverter])
    assert_type(METER.record_type, type[MeterRecord])


async def fetch_many_is_typed_by_its_token(client: LacecalClient, itrs: list[str]) -> None:
    assert_type(await client.fetch_many(itrs, METER), dict[str, FetchResult[MeterRecord]])
    assert_type(await client.fetch_many(itrs, METER, 0, 600), dict[str, FetchResult[MeterRecord]])
    assert_type(await client.fetch_many(itrs, INVERTER), dict[str, FetchResult[InverterRecord]])
    assert_type(await client.fetch_many(itrs, INVERTER_LIST), dict[str, FetchResult[Inverter]])
    result = (await client.fetch_many(itrs, METER))["x"]
    assert_type(result.records, tuple[MeterRecord, ...])


async def names_and_members_still_work_as_any(client: LacecalClient, itrs: list[str]) -> None:
    assert_type(await client.fetch_many(itrs, "meter"), dict[str, FetchResult[Any]])
    assert_type(await client.fetch_many(itrs, Endpoint.METER, 0, 600), dict[str, FetchResult[Any]])
    endpoint: str = "inverter"
    assert_type(await client.latest_many(itrs, endpoint), dict[str, LatestResult[Any]])
    assert_type(client.stream_many(itrs, Endpoint.INVERTER), AsyncGenerator[StreamEvent[Any]])
    assert_type(decode("meter", b"[]"), tuple[Any, ...])


async def stream_many_is_typed_by_its_token(client: LacecalClient, itrs: list[str]) -> None:
    events = client.stream_many(itrs, METER, 0)
    assert_type(events, AsyncGenerator[StreamEvent[MeterRecord]])
    async for event in events:
        if isinstance(event, PageEvent):
            assert_type(event.records, tuple[MeterRecord, ...])
    assert_type(client.stream_many(itrs, INVERTER, 0), AsyncGenerator[StreamEvent[InverterRecord]])
    assert_type(client.stream_many(itrs, INVERTER_LIST), AsyncGenerator[StreamEvent[Inverter]])


async def latest_is_typed(client: LacecalClient, itr: str, itrs: list[str]) -> None:
    assert_type(await client.latest_meter_record(itr), MeterRecord | None)
    assert_type(await client.latest_inverter_record(itr), InverterRecord | None)
    assert_type(await client.latest_many(itrs, METER), dict[str, LatestResult[MeterRecord]])
    assert_type(await client.latest_many(itrs, INVERTER), dict[str, LatestResult[InverterRecord]])
    one = (await client.latest_many(itrs, METER))["x"]
    assert_type(one.record, MeterRecord | None)


def catch_up_is_typed_by_its_token(client: LacecalClient, itr: str) -> None:
    pages = client.catch_up(itr, METER, Cursor.since(METER, 0))
    assert_type(pages, AsyncGenerator[tuple[tuple[MeterRecord, ...], Cursor]])
    named = client.catch_up(itr, "inverter", Cursor.since("inverter", 0))
    assert_type(named, AsyncGenerator[tuple[tuple[Any, ...], Cursor]])


def decode_is_typed_by_its_token(body: bytes) -> None:
    assert_type(decode(METER, body), tuple[MeterRecord, ...])
    assert_type(decode(INVERTER, body, "xml"), tuple[InverterRecord, ...])
    assert_type(decode(INVERTER_LIST, body, hide=["x"]), tuple[Inverter, ...])


def options_and_state_are_typed(client: LacecalClient, itr: str) -> None:
    assert_type(client.with_options(retries=0, timeout=10), LacecalClient)
    assert_type(client.limit_state(itr), LimitState)
    assert_type(client.limit_state(itr).ready_in, float | None)


async def watch_is_typed_by_its_token(client: LacecalClient, itrs: list[str]) -> None:
    batches = client.watch(itrs, METER, since=0)
    assert_type(batches, AsyncGenerator[WatchBatch[MeterRecord]])
    async for batch in batches:
        assert_type(batch.records, tuple[MeterRecord, ...])
    assert_type(client.watch(itrs, INVERTER, since=0), AsyncGenerator[WatchBatch[InverterRecord]])
    assert_type(client.watch(itrs, "meter", since=0), AsyncGenerator[WatchBatch[Any]])

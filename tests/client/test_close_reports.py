"""A request that close() abandons is reported as LacecalClosedError, as its caller gets it."""

from __future__ import annotations

import asyncio

import pytest

from lacecal_async import LacecalClosedError, RequestDone
from lacecal_async.telemetry import ClientEvent
from lacecal_async.testing import Faults, Plant
from tests.support.checks import wait_until
from tests.support.fixtures import ClientFactory, ServerFactory


async def test_a_request_abandoned_by_close_names_the_error_its_caller_got(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant
) -> None:
    server = await make_server([plant])
    server.set_faults(plant.itr, Faults(delay=30.0))  # in flight when the client closes
    done: list[RequestDone] = []

    def keep(event: ClientEvent) -> None:
        if isinstance(event, RequestDone):
            done.append(event)

    client = make_client(server.base_url, on_event=keep)
    call = asyncio.create_task(client.latest_meter_record(plant.itr))
    await wait_until(lambda: server.stats(plant.itr).requests == 1)
    await client.close()
    with pytest.raises(LacecalClosedError):
        await call
    assert [(e.error, e.status, e.records) for e in done] == [("LacecalClosedError", None, 0)]


async def test_a_cancelled_call_is_still_reported_as_cancelled(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant
) -> None:
    server = await make_server([plant])
    server.set_faults(plant.itr, Faults(delay=30.0))
    done: list[ClientEvent] = []
    client = make_client(server.base_url, on_event=done.append)
    call = asyncio.create_task(client.latest_meter_record(plant.itr))
    await wait_until(lambda: server.stats(plant.itr).requests == 1)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert [e.error for e in done if isinstance(e, RequestDone)] == ["CancelledError"]

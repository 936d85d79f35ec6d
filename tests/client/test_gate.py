"""`LacecalClient.with_gate`: a gate asked right before each request is sent, over real HTTP."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
import pytest

from lacecal_async import LacecalConnectionError, LacecalError
from lacecal_async.telemetry import ClientEvent, RequestDone
from lacecal_async.testing import FakeLacecalServer, Plant
from tests.support.fixtures import ClientFactory, ServerFactory

DAY = 86_400


class RefusedError(LacecalError):
    """What the tests' gates raise."""


class Gate:
    """A gate that lets requests through (for `allow` seconds) until told to refuse."""

    def __init__(self, allow: float = 60.0) -> None:
        self.allow = allow
        self.refusing = False
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        if self.refusing:
            raise RefusedError("refused by the test's gate")
        return self.allow


async def test_a_refusing_gate_fails_the_call_without_a_request_or_a_retry(
    server: FakeLacecalServer, make_client: ClientFactory, plant: Plant
) -> None:
    client = make_client(server.base_url, retries=3)
    gate = Gate()
    gate.refusing = True
    with pytest.raises(RefusedError):
        await client.with_gate(gate).inverters(plant.itr)
    assert gate.calls == 1
    assert server.stats(plant.itr).requests == 0
    # The client itself is not gated: its requests go as before.
    assert await client.inverters(plant.itr) == plant.inverters


async def test_the_gate_is_asked_after_the_wait_for_the_rate_limit(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant
) -> None:
    # One request a second: the second call waits for the first one's slot. The gate starts
    # refusing once the first request is done, while the second still waits: a gate asked
    # before the wait would have let it through.
    server = await make_server([plant], rate_limit=(1, 1.0))
    client = make_client(server.base_url, rate_limit=(1, 1.0))
    gate = Gate()

    def on_event(event: ClientEvent) -> None:
        if isinstance(event, RequestDone):
            gate.refusing = True

    client.add_listener(on_event)
    gated = client.with_gate(gate)
    first, second = await asyncio.gather(
        gated.inverters(plant.itr), gated.inverters(plant.itr), return_exceptions=True
    )
    assert first == plant.inverters
    assert isinstance(second, RefusedError)
    assert server.stats(plant.itr).requests == 1


async def test_views_keep_the_gate_and_a_gated_view_asks_both_gates(
    server: FakeLacecalServer, make_client: ClientFactory, plant: Plant
) -> None:
    client = make_client(server.base_url)
    outer, inner = Gate(), Gate()
    view = client.with_gate(outer).with_options(leave_free=1).with_gate(inner)
    start = plant.first + DAY
    assert await view.meter_records(plant.itr, start, start + DAY) == tuple(
        plant.meter_records(start, start + DAY)
    )
    assert outer.calls == inner.calls == 1
    inner.refusing = True
    with pytest.raises(RefusedError):
        await view.inverters(plant.itr)
    assert outer.calls == inner.calls == 2
    assert server.stats(plant.itr).requests == 1


class _Unresolved(aiohttp.abc.AbstractResolver):
    """A resolver that never answers: a connection that cannot be made in time."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[Any]:
        await asyncio.Event().wait()
        raise AssertionError("never resolved")  # pragma: no cover

    async def close(self) -> None:
        """Nothing to close."""


async def test_the_gates_answer_bounds_getting_a_connection(
    server: FakeLacecalServer, make_client: ClientFactory, plant: Plant
) -> None:
    # The client's own timeout is a minute, the session's connect 30 s; the gate leaves 50 ms
    # to get connected, so the attempt fails then, before anything is sent, not late.
    port = server.base_url.split(":")[2].split("/")[0]
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(resolver=_Unresolved()),
        timeout=aiohttp.ClientTimeout(connect=30.0),  # the shorter of the two bounds it
    ) as session:
        client = make_client(
            f"http://localhost:{port}/APIv1/", session=session, retries=0, timeout=60.0
        )
        gate = Gate(allow=0.05)
        with pytest.raises(LacecalConnectionError, match=r"no connection within the 0\.05s"):
            await client.with_gate(gate).inverters(plant.itr)
    assert gate.calls == 1
    assert server.stats(plant.itr).requests == 0

"""`max_rate`: a client-wide cap across all ITRs (aiolimiter's leaky bucket), measured where
it counts: at the fake server's request log."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from lacecal_async import LacecalClient, LacecalClosedError
from lacecal_async.testing import make_plants
from tests.support.checks import max_in_window, wait_until
from tests.support.fixtures import ClientFactory, ServerFactory


@pytest.mark.slow
async def test_no_second_holds_more_than_the_burst_plus_the_rate(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    plants = make_plants(200, seed=12, days=1)
    server = await make_server(plants, rate_limit=(6, 60.0))
    # When each request starts, from aiohttp's own trace hooks: the cap's promise is about
    # when requests are sent; arrivals at the server add the network's jitter on top.
    starts: list[float] = []

    async def on_request_start(*_: object) -> None:
        starts.append(asyncio.get_running_loop().time())

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        client = make_client(
            server.base_url, session=session, rate_limit=(6, 60.0), max_rate=(50, 1.0)
        )
        called = asyncio.get_running_loop().time()
        results = await client.fetch_many([p.itr for p in plants], "inverter_list")

    assert all(r.ok for r in results.values())
    assert len(starts) == 200
    # The documented bound: a burst of 50, then 50 a second, so at most 100 in any second.
    assert max_in_window(starts, 1.0) <= 100
    # Without the cap all 200 arrive within a fraction of a second; with it, the burst of 50
    # goes at once and the other 150 drain at 50 a second: the last arrives at least 3 s
    # after the call, however the network or a busy machine delays any of them (measured
    # from the call: a delayed burst would shorten the span between arrivals).
    arrivals = [entry.time for p in plants for entry in server.stats(p.itr).log]
    assert max(arrivals) - called >= 150 / 50 * 1.0
    assert client.max_rate == (50, 1.0)


async def test_an_itr_waiting_for_its_slot_holds_no_fleet_capacity(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    a, b = make_plants(2, seed=4, days=1)
    server = await make_server([a, b], rate_limit=(1, 60.0))
    # A burst of 2, then one every 30 s: a third request within the test waits for ever.
    client = make_client(server.base_url, rate_limit=(1, 60.0), max_rate=(2, 60.0))

    await client.inverters(a.itr)  # takes A's only slot and one of the cap's two
    second_a = asyncio.create_task(client.inverters(a.itr))  # waits a minute for A's slot
    await wait_until(lambda: client.limit_state(a.itr).waiting == 1)
    # The cap's second token is still free: B goes at once. Had A's wait taken it, B would
    # wait 30 s for the next one; half that tells the two apart on any machine.
    async with asyncio.timeout(15):
        assert await client.inverters(b.itr) == b.inverters
    second_a.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second_a
    assert server.stats(a.itr).requests == 1


async def test_close_fails_a_call_waiting_on_the_cap_at_once(
    make_server: ServerFactory,
) -> None:
    a, b = make_plants(2, seed=4, days=1)
    server = await make_server([a, b], rate_limit=(6, 60.0))
    client = LacecalClient(base_url=server.base_url, rate_limit=(6, 60.0), max_rate=(1, 60.0))
    await client.inverters(a.itr)  # the cap's only token for a minute
    waiting = asyncio.create_task(client.inverters(b.itr))
    await wait_until(lambda: client.limit_state(b.itr).busy == 1)  # B has its slot
    assert server.stats(b.itr).requests == 0  # held by the cap, not by B's own limit
    assert client.limit_state(b.itr).free == 5

    await client.close()
    # At once: not after the minute the cap would hold it (a bound no busy machine reaches).
    async with asyncio.timeout(15):
        with pytest.raises(LacecalClosedError):
            await waiting
    assert server.stats(b.itr).requests == 0


@pytest.mark.parametrize(
    ("max_rate", "error"),
    [((0, 1.0), ValueError), ((5, 0.0), ValueError), ((2.5, 1.0), TypeError)],
)
def test_max_rate_is_checked(max_rate: tuple[int, float], error: type[Exception]) -> None:
    with pytest.raises(error, match="max_rate"):
        LacecalClient(max_rate=max_rate)

"""A cancellation from outside comes out of every public call as itself, after the
fan-out's own tasks are cancelled and awaited: ``task.cancel()``, ``asyncio.timeout``
and a failing ``TaskGroup`` sibling.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from lacecal_async import LacecalClient
from lacecal_async.testing import FakeLacecalServer, Faults, Plant, make_plants
from tests.support.checks import client_tasks, wait_until
from tests.support.fixtures import ServerFactory

DAY = 86_400
#: A reply that never comes while a test runs (the server closes before it would) [s].
NEVER = 3600.0


async def _drain(iterator: Any) -> int:
    count = 0
    async for _ in iterator:
        count += 1
    return count


Call = Callable[[LacecalClient, list[Plant]], Awaitable[object]]

CALLS: dict[str, Call] = {
    "inverters": lambda c, p: c.inverters(p[0].itr),
    "meter_records": lambda c, p: c.meter_records(p[0].itr, p[0].first, p[0].first + DAY),
    "iter_meter_records": lambda c, p: _drain(
        c.iter_meter_records(p[0].itr, p[0].first, p[0].first + DAY)
    ),
    "fetch_many": lambda c, p: c.fetch_many(
        [x.itr for x in p], "meter", p[0].first, p[0].first + DAY
    ),
    "stream_many": lambda c, p: _drain(
        c.stream_many([x.itr for x in p], "meter", p[0].first, p[0].first + DAY)
    ),
}


async def _slow_fleet(make_server: ServerFactory) -> tuple[FakeLacecalServer, list[Plant]]:
    plants = make_plants(3, seed=5)
    server = await make_server(plants)
    for plant in plants:
        server.set_faults(plant.itr, Faults(delay=NEVER))
    return server, plants


async def _in_progress(server: FakeLacecalServer, plants: list[Plant]) -> None:
    await wait_until(lambda: server.stats(plants[0].itr).requests >= 1)


@pytest.mark.parametrize("name", CALLS)
async def test_task_cancel_comes_out_as_cancelled(make_server: ServerFactory, name: str) -> None:
    server, plants = await _slow_fleet(make_server)
    async with LacecalClient(base_url=server.base_url, rate_limit=(6, 0.1)) as client:
        before = client_tasks()
        task = asyncio.create_task(_call(CALLS[name], client, plants))
        await _in_progress(server, plants)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert client_tasks() == before  # nothing of the call is left running
        # The client carries on.
        server.set_faults(plants[1].itr, Faults())
        assert await client.inverters(plants[1].itr) == plants[1].inverters


@pytest.mark.parametrize("name", CALLS)
async def test_asyncio_timeout_comes_out_as_timeout(make_server: ServerFactory, name: str) -> None:
    server, plants = await _slow_fleet(make_server)
    async with LacecalClient(base_url=server.base_url, rate_limit=(6, 0.1)) as client:
        before = client_tasks()
        with pytest.raises(TimeoutError):
            await _timed_out_once_in_progress(CALLS[name](client, plants), server, plants)
        assert client_tasks() == before
        assert server.stats(plants[0].itr).requests >= 1


async def _timed_out_once_in_progress(
    call: Awaitable[object], server: FakeLacecalServer, plants: list[Plant]
) -> None:
    """Await `call` in an ``asyncio.timeout`` that expires once the call is under way."""

    async def expire(deadline: asyncio.Timeout) -> None:
        await _in_progress(server, plants)
        deadline.reschedule(asyncio.get_running_loop().time())

    async with asyncio.timeout(None) as deadline:
        expiring = asyncio.create_task(expire(deadline))
        try:
            await call
        finally:
            expiring.cancel()  # done by now, unless the call ended before it was under way
            with contextlib.suppress(asyncio.CancelledError):
                await expiring


@pytest.mark.parametrize("name", CALLS)
async def test_a_failing_taskgroup_sibling_cancels_the_call(
    make_server: ServerFactory, name: str
) -> None:
    server, plants = await _slow_fleet(make_server)
    seen: list[BaseException] = []

    async def call(client: LacecalClient) -> None:
        try:
            await CALLS[name](client, plants)
        except BaseException as exc:
            seen.append(exc)
            raise

    async def sibling() -> None:
        await _in_progress(server, plants)
        raise LookupError("the sibling fails")

    async with LacecalClient(base_url=server.base_url, rate_limit=(6, 0.1)) as client:
        before = client_tasks()

        async def together() -> None:
            async with asyncio.TaskGroup() as group:
                group.create_task(call(client))
                group.create_task(sibling())

        with pytest.raises(ExceptionGroup) as caught:
            await together()
        assert [type(e) for e in caught.value.exceptions] == [LookupError]
        assert [type(e) for e in seen] == [asyncio.CancelledError]
        assert client_tasks() == before


async def _call(call: Call, client: LacecalClient, plants: list[Plant]) -> object:
    return await call(client, plants)


async def test_stream_many_consumer_cancelled_between_events(make_server: ServerFactory) -> None:
    plants = make_plants(4, seed=5)
    server = await make_server(plants)
    server.set_faults(plants[3].itr, Faults(delay=NEVER))
    async with LacecalClient(base_url=server.base_url, rate_limit=(6, 0.1)) as client:
        before = client_tasks()
        events: list[object] = []

        async def consume() -> None:
            stream = client.stream_many([p.itr for p in plants], "inverter_list")
            async for event in stream:
                events.append(event)

        task = asyncio.create_task(consume())
        await wait_until(lambda: len(events) >= 6)  # three plants done, one is slow
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert client_tasks() == before


async def test_a_fetching_task_cancelled_by_someone_else_ends_the_stream_as_cancelled(
    make_server: ServerFactory,
) -> None:
    plants = make_plants(3, seed=6)
    server = await make_server(plants)
    for plant in plants:
        server.set_faults(plant.itr, Faults(delay=NEVER))
    async with LacecalClient(base_url=server.base_url, rate_limit=(6, 0.1)) as client:
        before = client_tasks()
        task = asyncio.create_task(_drain(client.stream_many([p.itr for p in plants], "meter")))
        await wait_until(lambda: all(server.stats(p.itr).requests for p in plants))
        inner = [t for t in client_tasks() - before if t is not task]
        assert inner
        inner[0].cancel()  # e.g. a supervisor that cancels what it does not know
        with pytest.raises(asyncio.CancelledError):
            async with asyncio.timeout(30):  # a hang, not slowness: the replies never come
                await task
        assert client_tasks() == before

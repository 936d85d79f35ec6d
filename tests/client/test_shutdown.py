"""close() and leaving ``async with``: every pending call fails at once with
`LacecalClosedError`, a later call sends nothing, and nothing stays on the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator

import aiohttp
import pytest

from lacecal_async import (
    ClientEvent,
    LacecalClient,
    LacecalClosedError,
    LacecalError,
    RequestDone,
    RetryScheduled,
)
from lacecal_async.testing import FakeLacecalServer, Faults, Plant, make_plants
from tests.support.checks import client_tasks, library_timers, wait_until
from tests.support.fixtures import ClientFactory, ServerFactory

DAY = 86_400
#: How soon after close() every pending call must have failed [s]. close() waits for nothing
#: (no timer, no reply): a pending call ends a few loop turns later, milliseconds even on a
#: busy machine. The bound need only be far below what each call here would wait for if
#: close() left it running (a slot 30 s away, a backoff of 25 s or more, a reply delayed an
#: hour), so a slow machine never fails it.
CLOSE_BOUND = 5.0
#: A reply that never comes while a test runs (the server closes before it would) [s].
NEVER = 3600.0


async def _fails_closed_soon(task: asyncio.Task[object]) -> LacecalClosedError:
    done, _ = await asyncio.wait({task}, timeout=CLOSE_BOUND)
    assert task in done, "a pending call was still running after close()"
    error = task.exception()
    assert isinstance(error, LacecalClosedError), repr(error)
    assert isinstance(error, LacecalError)
    return error


def _spawn(call: Awaitable[object]) -> asyncio.Task[object]:
    async def run() -> object:
        return await call

    return asyncio.create_task(run())


async def test_close_fails_a_call_waiting_for_its_slot(
    make_server: ServerFactory, plant: Plant
) -> None:
    server = await make_server([plant], rate_limit=(1, 30.0))
    client = LacecalClient(base_url=server.base_url, rate_limit=(1, 30.0))
    before = client_tasks()
    await client.inverters(plant.itr)
    waiting = _spawn(client.inverters(plant.itr))  # its slot frees in 30 s
    await wait_until(lambda: client.limit_state(plant.itr).waiting == 1)
    await client.close()
    await _fails_closed_soon(waiting)
    assert server.stats(plant.itr).requests == 1
    assert client_tasks() == before
    assert library_timers() == []


async def test_leaving_async_with_fails_a_call_in_its_backoff(
    make_server: ServerFactory, plant: Plant
) -> None:
    server = await make_server([plant], rate_limit=None)
    server.set_faults(plant.itr, Faults(always_fail=True))
    retries: list[ClientEvent] = []

    def keep(event: ClientEvent) -> None:
        if isinstance(event, RetryScheduled):
            retries.append(event)

    # The first backoff is 600/6/2 s (50 s), jittered to 25-50 s: far longer than the bound.
    async with LacecalClient(
        base_url=server.base_url, rate_limit=(6, 600.0), on_event=keep
    ) as client:
        in_backoff = _spawn(client.meter_records(plant.itr, plant.first, plant.first + DAY))
        await wait_until(lambda: len(retries) == 1)  # told just before its backoff begins
    await _fails_closed_soon(in_backoff)
    assert library_timers() == []


async def test_close_fails_a_call_waiting_for_its_reply(
    make_server: ServerFactory, plant: Plant
) -> None:
    server = await make_server([plant])
    server.set_faults(plant.itr, Faults(delay=NEVER))
    client = LacecalClient(base_url=server.base_url, rate_limit=(6, 0.1))
    before = client_tasks()
    waiting = _spawn(client.inverters(plant.itr))
    await wait_until(lambda: server.stats(plant.itr).requests == 1)
    await client.close()
    await _fails_closed_soon(waiting)
    assert client_tasks() == before


async def test_close_fails_a_call_waiting_for_a_connection(
    make_server: ServerFactory,
) -> None:
    slow, other = make_plants(2, seed=3)
    server = await make_server([slow, other])
    server.set_faults(slow.itr, Faults(delay=NEVER))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        client = LacecalClient(session, base_url=server.base_url, rate_limit=(6, 0.1))
        replying = _spawn(client.inverters(slow.itr))
        await wait_until(lambda: server.stats(slow.itr).requests == 1)
        connecting = _spawn(client.inverters(other.itr))  # the only connection is busy
        # It holds its ITR's slot: it waits for the connection the slow reply holds.
        await wait_until(lambda: client.limit_state(other.itr).busy == 1)
        assert not connecting.done()
        await client.close()
        await _fails_closed_soon(replying)
        await _fails_closed_soon(connecting)
        assert server.stats(other.itr).requests == 0
        assert not session.closed  # a session passed in is the caller's to close


async def test_close_fails_every_kind_of_pending_call_at_once(
    make_server: ServerFactory, plant: Plant
) -> None:
    server = await make_server([plant], rate_limit=(1, 30.0))
    client = LacecalClient(base_url=server.base_url, rate_limit=(1, 30.0))
    await client.inverters(plant.itr)
    start = plant.first + DAY
    calls = [
        _spawn(client.meter_records(plant.itr, start, start + DAY)),
        _spawn(client.fetch_many([plant.itr], "meter", start, start + DAY)),
        _spawn(_first(client.iter_meter_records(plant.itr, start, start + DAY))),
        _spawn(_first(client.stream_many([plant.itr], "meter", start, start + DAY))),
    ]
    await wait_until(lambda: client.limit_state(plant.itr).waiting == len(calls))
    await client.close()
    for call in calls:
        await _fails_closed_soon(call)
    assert library_timers() == []


async def _first(iterator: object) -> object:
    async for item in iterator:  # type: ignore[attr-defined]
        return item
    return None


@pytest.mark.parametrize("via", ["close", "async with"])
async def test_a_call_after_close_sends_nothing(
    server: FakeLacecalServer, plant: Plant, via: str
) -> None:
    client = LacecalClient(base_url=server.base_url, rate_limit=(6, 0.1))
    if via == "close":
        await client.close()
    else:
        async with client:
            pass
    with pytest.raises(LacecalClosedError):
        await client.inverters(plant.itr)
    with pytest.raises(LacecalClosedError):
        await client.meter_records(plant.itr, plant.first, plant.first + DAY)
    with pytest.raises(LacecalClosedError):
        await _first(client.iter_meter_records(plant.itr, plant.first, plant.first + DAY))
    assert server.stats(plant.itr).requests == 0
    await client.close()  # twice is fine


async def test_close_with_nothing_pending_leaves_nothing_scheduled(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant
) -> None:
    server = await make_server([plant])
    client = make_client(server.base_url, rate_limit=(6, 30.0))
    before = client_tasks()
    await client.inverters(plant.itr)  # its slot stays held for 30 s
    await client.close()
    assert library_timers() == []
    assert client_tasks() == before


async def test_close_while_a_stream_consumer_is_busy_fails_its_next_step(
    make_server: ServerFactory,
) -> None:
    plants = make_plants(3, seed=9)
    server = await make_server(plants, rate_limit=(1, 30.0))
    client = LacecalClient(base_url=server.base_url, rate_limit=(1, 30.0))
    before = client_tasks()
    start = plants[0].first
    events = client.stream_many([p.itr for p in plants], "meter", start, start + 3 * DAY)
    first = await anext(events)  # the others wait 30 s for their next slot
    assert first.itr_id in {p.itr for p in plants}
    await client.close()  # while the consumer is busy with its event
    with pytest.raises(LacecalClosedError):
        await anext(events)
    assert client_tasks() == before
    assert library_timers() == []


@pytest.mark.parametrize("buffer", [1, 64])
async def test_close_ends_a_suspended_streams_tasks_and_stops_reading_its_input(
    make_server: ServerFactory, buffer: int
) -> None:
    plants = make_plants(5, days=5, seed=4)
    server = await make_server(plants, rate_limit=None)
    client = LacecalClient(base_url=server.base_url, rate_limit=(100, 0.2))
    before = client_tasks()
    read = 0

    def itrs() -> Iterator[str]:  # the plants, then a long lazy tail of unknown identifiers
        nonlocal read
        for plant in plants:
            read += 1
            yield plant.itr
        for number in range(100_000):
            read += 1
            yield f"unknownITR{number:06d}"

    start = plants[0].first
    events = client.stream_many(
        itrs(), "meter", start, start + 5 * DAY, max_active=3, buffer=buffer
    )
    await anext(events)  # then the consumer pauses: the producers fill the queue and block
    await asyncio.sleep(0.2)  # however far they got meanwhile, close() stops them
    read_at_close = read
    await client.close()
    async with asyncio.timeout(CLOSE_BOUND):  # "the fan-out's tasks outlived close()"
        await wait_until(lambda: client_tasks() == before)
    assert library_timers() == []
    assert read == read_at_close, "the input was read after close()"
    with pytest.raises(LacecalClosedError):
        await anext(events)
    assert read == read_at_close


@pytest.mark.slow
async def test_close_stays_quick_with_a_listener_and_replies_waiting_to_decode() -> None:
    # Replies fetched ahead wait undecoded; reporting them to a listener at the close once
    # decoded them all first (0.6 s for ~165 XML pages) before pending calls failed.
    plants = make_plants(201, seed=9, interval=600, gaps=False)
    slow, plants = plants[0], plants[1:]
    start, events = plants[0].first, list[ClientEvent]()
    async with FakeLacecalServer([slow, *plants], rate_limit=(100, 0.05)) as server:
        server.set_faults(slow.itr, Faults(delay=NEVER))
        client = LacecalClient(
            base_url=server.base_url,
            rate_limit=(100, 0.05),
            wire_format="xml",
            timeout=NEVER,  # the slow reply is still awaited at the close, however late
            on_event=events.append,
        )
        stream = client.stream_many([p.itr for p in plants], "meter", start, start + 3 * DAY)
        await anext(stream)
        pending = _spawn(client.meter_records(slow.itr, start, start + DAY))
        # Replies pile up undecoded behind the stalled consumer: the server has sent them.
        await wait_until(lambda: sum(len(server.stats(p.itr).log) for p in plants) > 60)
        closing = asyncio.create_task(client.close())
        await _fails_closed_soon(pending)
        await closing
        await stream.aclose()
    done = [e for e in events if isinstance(e, RequestDone)]
    assert len(done) > 60  # each request the server saw is reported once
    # What made the close slow, seen whatever the machine's speed: the replies the consumer
    # never took are reported undecoded (no records), not decoded first. Decoded: the page
    # the consumer took and the one readied for its next step, no more.
    assert sum(e.ok for e in done) <= 2
    assert all(e.records == 0 and e.error == "LacecalClosedError" for e in done if not e.ok)

"""LacecalClient life cycle: session ownership, argument checks before any request,
cancellation that leaves nothing behind, and no unclosed-session warnings on any path.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import warnings
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from lacecal_async import (
    ClientEvent,
    LacecalClosedError,
    LacecalConnectionError,
    LacecalResponseError,
    RetryScheduled,
)
from lacecal_async.client import LacecalClient
from lacecal_async.testing import FakeLacecalServer, Faults, Plant
from tests.support.checks import request_counter, wait_until
from tests.support.fixtures import FAST_LIMIT, ClientFactory, ServerFactory

DAY = 86_400
#: A reply that never comes while a test runs (the server closes before it would) [s].
NEVER = 3600.0


@contextlib.contextmanager
def leak_check() -> Iterator[list[Any]]:
    """Collect ResourceWarnings and the loop's reports (unclosed sessions, connectors)."""
    loop = asyncio.get_running_loop()
    reports: list[Any] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reports.append(context))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield reports
            gc.collect()
            reports.extend(w for w in caught if issubclass(w.category, ResourceWarning))
    finally:
        loop.set_exception_handler(previous)


def other_tasks() -> set[asyncio.Task[Any]]:
    """Tasks other than this test's and the in-process fake server's request handlers."""
    return {
        task
        for task in asyncio.all_tasks()
        if task is not asyncio.current_task()
        and not getattr(task.get_coro(), "__qualname__", "").startswith("RequestHandler.")
    }


# -- session ownership -----------------------------------------------------------------------


async def test_owned_session_is_created_lazily_and_closed_on_exit(
    server: FakeLacecalServer, plant: Plant
) -> None:
    with leak_check() as leaks:
        await _use_then_close(server, plant)
        _create_and_drop(server)
    # An unclosed session (or connector) would be reported once collected: the one the
    # client used was closed on exit, and a client never used opened none.
    assert leaks == []


async def _use_then_close(server: FakeLacecalServer, plant: Plant) -> None:
    async with LacecalClient(base_url=server.base_url, rate_limit=FAST_LIMIT) as client:
        await client.inverters(plant.itr)
    await client.close()  # twice is fine
    with pytest.raises(LacecalClosedError):
        await client.inverters(plant.itr)
    assert server.stats(plant.itr).requests == 1


def _create_and_drop(server: FakeLacecalServer) -> None:
    client = LacecalClient(base_url=server.base_url, rate_limit=FAST_LIMIT)
    assert "closed" not in repr(client)
    del client  # never used, never closed


async def test_passed_in_session_is_used_and_never_closed(
    server: FakeLacecalServer, plant: Plant
) -> None:
    trace, requests = request_counter()
    connector = aiohttp.TCPConnector(limit=7)
    async with aiohttp.ClientSession(connector=connector, trace_configs=[trace]) as session:
        async with LacecalClient(session, base_url=server.base_url, rate_limit=FAST_LIMIT) as c:
            assert c.pool_size == 7
            assert await c.inverters(plant.itr) == plant.inverters
        await c.close()
        assert not session.closed
        assert requests() == 1
        # Still the caller's to use.
        async with session.get(server.base_url + "inverter_list.php?out=json&id=" + plant.itr):
            pass
        assert requests() == 2


async def test_passed_in_session_that_raises_for_status_still_gives_typed_errors(
    server: FakeLacecalServer, plant: Plant
) -> None:
    server.set_faults(plant.itr, Faults(always_fail=True, fail_status=404))
    async with aiohttp.ClientSession(raise_for_status=True) as session:
        client = LacecalClient(session, base_url=server.base_url, rate_limit=FAST_LIMIT)
        with pytest.raises(LacecalResponseError) as info:
            await client.inverters(plant.itr)
        assert info.value.status == 404
        assert server.stats(plant.itr).requests == 1  # a 404 is not retried
        server.set_faults(plant.itr, Faults(fail_first=1))
        assert await client.inverters(plant.itr) == plant.inverters


async def test_owned_session_closes_on_errors_and_cancellation(
    make_server: ServerFactory, plant: Plant
) -> None:
    server = await make_server([plant])
    with leak_check() as leaks:
        await _errors_and_cancellation(server, plant)
    assert leaks == []


async def _errors_and_cancellation(server: FakeLacecalServer, plant: Plant) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{sock.getsockname()[1]}/APIv1/"
    with pytest.raises(LacecalConnectionError):
        async with LacecalClient(base_url=refused, rate_limit=FAST_LIMIT, retries=0) as client:
            await client.inverters(plant.itr)

    server.set_faults(plant.itr, Faults(delay=NEVER))

    async def slow_call() -> None:
        async with LacecalClient(base_url=server.base_url, rate_limit=FAST_LIMIT) as client:
            await client.inverters(plant.itr)

    task = asyncio.create_task(slow_call())
    await wait_until(lambda: server.stats(plant.itr).requests == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    with pytest.raises(LacecalConnectionError):
        async with LacecalClient(base_url=server.base_url, timeout=0.05, retries=0) as client:
            await client.inverters(plant.itr)


async def test_the_leak_check_sees_an_unclosed_session() -> None:
    # The checks above can fail: a session left open is reported once collected.
    with leak_check() as leaks:
        session = aiohttp.ClientSession()
        del session
    assert any("Unclosed client session" in str(leak) for leak in leaks)


# -- arguments are checked before any request -------------------------------------------------


async def test_bad_arguments_raise_before_any_request(
    server: FakeLacecalServer, plant: Plant
) -> None:
    trace, requests = request_counter()
    itr = plant.itr
    naive = datetime(2024, 10, 5, 12, 0)
    aware = plant.first + DAY
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        client = LacecalClient(session, base_url=server.base_url, rate_limit=FAST_LIMIT)
        value_errors: list[Any] = [
            lambda: client.meter_records(itr, naive),
            lambda: client.inverter_records(itr, aware, naive),
            lambda: client.meter_records(itr, aware, aware - 1),  # end < start
            lambda: client.meter_records(itr, None, aware),  # end without start
            lambda: client.inverter_records(itr, end=aware),
        ]
        for call in value_errors:
            with pytest.raises(ValueError):  # noqa: PT011 - the message varies by case
                await call()
        type_errors: list[Any] = [
            lambda: client.meter_records(itr, "2024-10-05"),  # type: ignore[arg-type]
            lambda: client.meter_records(itr, 1.7e9),  # type: ignore[arg-type]
            lambda: client.meter_records(itr, True),
            lambda: client.inverter_records(itr, aware, "tomorrow"),  # type: ignore[arg-type]
        ]
        for call in type_errors:
            with pytest.raises(TypeError):
                await call()
        # The iterators check eagerly, at the call, not at the first `anext`.
        with pytest.raises(ValueError, match="naive"):
            client.iter_meter_records(itr, naive)
        with pytest.raises(ValueError, match="before start"):
            client.iter_inverter_records(itr, aware, aware - 600)
        with pytest.raises(ValueError, match="start is required"):
            client.iter_meter_records(itr, None)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            client.iter_inverter_records(itr, "x")  # type: ignore[arg-type]
    assert requests() == 0
    assert server.stats(itr).requests == 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"rate_limit": (0, 60.0)}, ValueError),
        ({"rate_limit": (6, 0.0)}, ValueError),
        ({"rate_limit": (6, -1.0)}, ValueError),
        ({"rate_limit": (6.0, 60.0)}, TypeError),
        ({"rate_limit": (True, 60.0)}, TypeError),
        ({"timeout": 0}, ValueError),
        ({"retries": -1}, ValueError),
        ({"wire_format": "csv"}, ValueError),
    ],
)
def test_constructor_arguments_are_checked(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        LacecalClient(**kwargs)


def test_a_client_refuses_an_aiohttp_without_its_resend_switch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A session the client makes turns off aiohttp's silent re-send (`_retry_connection`):
    # an aiohttp that renamed it would re-send past the limiter, so the client says so when
    # made, instead of setting an attribute nothing reads. A passed-in session is the
    # caller's: it is taken as it is.
    assert "_retry_connection" in aiohttp.ClientSession.ATTRS  # today's aiohttp has it
    renamed = aiohttp.ClientSession.ATTRS - {"_retry_connection"}
    monkeypatch.setattr(aiohttp.ClientSession, "ATTRS", renamed)
    with pytest.raises(RuntimeError, match="_retry_connection"):
        LacecalClient(base_url="http://127.0.0.1:1/APIv1")


def test_defaults_and_properties() -> None:
    client = LacecalClient(base_url="http://127.0.0.1:1/APIv1")
    assert client.rate_limit == (6, 60.0)
    assert client.pool_size == 100
    assert repr(client).startswith("<LacecalClient http://127.0.0.1:1/APIv1/ json rate=6/60s")


# -- cancellation -------------------------------------------------------------------------------


async def test_cancelling_an_in_flight_request_abandons_it(
    server: FakeLacecalServer, make_client: ClientFactory, plant: Plant
) -> None:
    client = make_client(server.base_url)
    await client.inverters(plant.itr)
    server.reset_stats()
    server.set_faults(plant.itr, Faults(delay=NEVER))
    before = other_tasks()

    task = asyncio.create_task(client.meter_records(plant.itr, plant.first, plant.first + DAY))
    await wait_until(lambda: server.stats(plant.itr).requests == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert server.stats(plant.itr).log == []  # the reply was never waited for
    assert other_tasks() == before
    state = client.limit_state(plant.itr)
    assert state.busy == 0  # the slot is given back
    assert state.waiting == 0
    server.set_faults(plant.itr, Faults())
    assert await client.inverters(plant.itr) == plant.inverters  # the client carries on


async def test_cancelling_a_paged_fetch_waiting_for_its_turn(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant
) -> None:
    server = await make_server([plant], rate_limit=(6, 60.0))
    client = make_client(server.base_url, rate_limit=(6, 60.0))
    before = other_tasks()
    start = plant.first + DAY

    task = asyncio.create_task(client.meter_records(plant.itr, start, start + 10 * DAY))
    await wait_until(lambda: client.limit_state(plant.itr).waiting == 1)
    assert server.stats(plant.itr).requests == 6  # the burst, then the 7th page waits
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert other_tasks() == before
    assert client.limit_state(plant.itr).waiting == 0
    assert client.limit_state(plant.itr).busy == 0
    assert server.stats(plant.itr).requests == 6


async def test_cancelling_during_the_backoff_before_a_retry(
    server: FakeLacecalServer, make_client: ClientFactory, plant: Plant
) -> None:
    server.set_faults(plant.itr, Faults(always_fail=True))
    # The first backoff is 600/6/2 s (50 s), jittered to 25-50 s: far longer than the test.
    client = make_client(server.base_url, rate_limit=(6, 600.0), retries=3)
    retries: list[ClientEvent] = []
    client.add_listener(retries.append)
    before = other_tasks()
    task = asyncio.create_task(client.inverters(plant.itr))
    # Told just before its backoff begins (after the 503 was reported).
    await wait_until(lambda: any(isinstance(e, RetryScheduled) for e in retries))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert other_tasks() == before
    assert server.stats(plant.itr).requests == 1
    assert client.limit_state(plant.itr).busy == 0


async def test_leaving_an_iterator_early_stops_fetching(
    server: FakeLacecalServer, make_client: ClientFactory, plant: Plant
) -> None:
    client = make_client(server.base_url)
    before = other_tasks()
    start = plant.first + DAY
    records = client.iter_meter_records(plant.itr, start, start + 10 * DAY)
    async for record in records:
        assert record.unix_time == start
        break
    await records.aclose()  # type: ignore[attr-defined]
    assert server.stats(plant.itr).requests == 1
    assert other_tasks() == before

    task = asyncio.create_task(_drain(client.iter_inverter_records(plant.itr, start)))
    await wait_until(lambda: server.stats(plant.itr).requests >= 3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert other_tasks() == before


async def _drain(records: Any) -> int:
    count = 0
    async for _ in records:
        count += 1
        await asyncio.sleep(0)
    return count

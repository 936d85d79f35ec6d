"""Listeners see every attempt, retry and 429, with the identifier redacted; a listener's
bug never breaks the request it observes."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from lacecal_async import (
    ClientEvent,
    Endpoint,
    LacecalClient,
    LacecalParseError,
    RateLimited,
    RequestDone,
    RetryScheduled,
    fingerprint,
)
from lacecal_async.testing import FakeLacecalServer, Faults, Plant, make_plants
from tests.support.checks import fragment_of, wait_until
from tests.support.fixtures import ClientFactory, ServerFactory
from tests.support.scripted import ScriptFactory


async def test_each_request_reports_its_outcome_and_wait(
    make_server: ServerFactory, plant: Plant
) -> None:
    limit = (2, 1.0)
    server = await make_server([plant], rate_limit=limit)
    events: list[ClientEvent] = []
    loop = asyncio.get_running_loop()
    async with LacecalClient(
        base_url=server.base_url, rate_limit=limit, on_event=events.append
    ) as client:
        began = loop.time()
        await client.inverters(plant.itr)
        await client.inverters(plant.itr)
        third_asked = loop.time()
        await client.inverters(plant.itr)  # waits for the first slot: a period after its end
        await client.meter_records(plant.itr, plant.first, plant.first + 2 * 144 * 600)

    assert all(isinstance(e, RequestDone) for e in events)
    done = [e for e in events if isinstance(e, RequestDone)]
    assert len(done) == server.stats(plant.itr).requests == 5
    first = done[0]
    assert first.itr == "..." + plant.itr[-4:]
    assert {e.plant for e in done} == {fingerprint(plant.itr)}
    assert (first.endpoint, first.attempt, first.status, first.error) == (
        Endpoint.INVERTER_LIST,
        1,
        200,
        None,
    )
    assert first.ok
    assert first.records == len(plant.inverters)
    assert first.duration > 0
    # A fresh ITR does not wait: its wait is two reads of the clock with nothing between.
    assert first.limiter_wait < limit[1] / 2
    # The third did: its slot freed a period (and the margin) after the first request ended,
    # which was after `began`; it asked at `third_asked` (so on a slow machine it waits less).
    assert done[2].limiter_wait >= limit[1] * (1 + 1 / 60) - (third_asked - began)
    assert [e.records for e in done[3:]] == [144, 144]
    for event in events:
        assert fragment_of(repr(event), plant.itr) is None


async def test_retries_and_429s_are_reported(
    make_scripted: ScriptFactory, make_client: ClientFactory, plant: Plant
) -> None:
    scripted = await make_scripted([(503, {}, b""), (429, {"Retry-After": "0.05"}, b"")])
    client = make_client(scripted.base_url, retries=2)
    events: list[ClientEvent] = []
    client.add_listener(events.append)

    await client.inverters(plant.itr)

    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "RequestDone",
        "RetryScheduled",
        "RequestDone",
        "RateLimited",
        "RetryScheduled",
        "RequestDone",
    ]
    failed, retry, limited, paused = events[0], events[1], events[3], events[4]
    assert isinstance(failed, RequestDone)
    assert (failed.status, failed.error, failed.records) == (503, "LacecalResponseError", 0)
    assert not failed.ok
    assert isinstance(retry, RetryScheduled)
    assert (retry.attempt, retry.error) == (1, "LacecalResponseError")
    assert retry.delay > 0
    assert isinstance(limited, RateLimited)
    assert (limited.retry_after, limited.pause) == (0.05, 0.05)
    assert isinstance(paused, RetryScheduled)
    assert (paused.attempt, paused.error, paused.delay) == (2, "LacecalRateLimitError", 0.0)
    last = events[5]
    assert isinstance(last, RequestDone)
    assert (last.attempt, last.status, last.error) == (3, 200, None)


async def test_a_connection_error_has_no_status(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant
) -> None:
    server = await make_server([plant])
    server.set_faults(plant.itr, Faults(drop_first=1))
    client = make_client(server.base_url, retries=1)
    events: list[ClientEvent] = []
    client.add_listener(events.append)

    await client.inverters(plant.itr)

    first = events[0]
    assert isinstance(first, RequestDone)
    assert (first.status, first.error) == (None, "LacecalConnectionError")


async def test_a_failing_listener_is_logged_and_the_request_goes_on(
    make_server: ServerFactory,
    make_client: ClientFactory,
    plant: Plant,
    lacecal_logs: pytest.LogCaptureFixture,
) -> None:
    server = await make_server([plant])
    client = make_client(server.base_url)
    seen: list[ClientEvent] = []

    def broken(event: ClientEvent) -> None:
        raise RuntimeError("listener bug")

    client.add_listener(broken)
    client.add_listener(seen.append)

    assert await client.inverters(plant.itr) == plant.inverters
    assert len(seen) == 1  # the listener after the broken one still ran
    errors = [r for r in lacecal_logs.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "listener" in errors[0].getMessage()
    assert plant.itr not in errors[0].getMessage()

    client.remove_listener(broken)
    client.remove_listener(seen.append)
    await client.inverters(plant.itr)
    assert len(seen) == 1
    with pytest.raises(ValueError):  # noqa: PT011 - list.remove's own error
        client.remove_listener(seen.append)


async def test_views_report_to_their_clients_listeners(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant
) -> None:
    server = await make_server([plant])
    events: list[ClientEvent] = []
    client = make_client(server.base_url, on_event=events.append)

    await client.with_options(retries=0).inverters(plant.itr)

    assert len(events) == 1


async def test_replies_a_consumer_left_behind_are_still_reported() -> None:
    # Fan-out replies wait undecoded for their turn, and a request may be in flight, when
    # the stream is closed: each was made all the same (and spent the ITR's budget).
    plants = make_plants(10, seed=5, interval=600, gaps=False)
    start, rate = plants[0].first, (100, 0.05)
    done: list[RequestDone] = []

    def keep(event: ClientEvent) -> None:
        if isinstance(event, RequestDone):
            done.append(event)

    async with (
        FakeLacecalServer(plants, rate_limit=rate) as server,
        # The slow reply never comes, nor does the client stop waiting for it before the
        # close, however long the test takes.
        LacecalClient(
            base_url=server.base_url, rate_limit=rate, timeout=3600.0, on_event=keep
        ) as client,
    ):
        slow = plants[-1]
        server.set_faults(slow.itr, Faults(delay=3600.0))  # in flight at the close
        events = client.stream_many([p.itr for p in plants], "meter", start, start + 3 * 86_400)
        async with contextlib.aclosing(events):
            await anext(events)  # then the consumer stalls while replies come in

            def replied_and_idle() -> int:  # plants whose reply is in, waiting for its turn
                return sum(
                    bool(server.stats(p.itr).log) and client.limit_state(p.itr).busy == 0
                    for p in plants[:-1]
                )

            # The page taken, one decoded for the next step, and at least one more waiting.
            await wait_until(
                lambda: replied_and_idle() >= 3 and server.stats(slow.itr).requests == 1
            )
        made = sum(server.stats(p.itr).requests for p in plants)
    assert len(done) == made
    taken = [e for e in done if e.ok]
    left = [e for e in done if not e.ok]
    assert taken
    assert all(e.status == 200 and e.records == 144 for e in taken)
    assert all(e.error == "CancelledError" and e.records == 0 for e in left)
    assert {e.status for e in left} == {200, None}  # waiting to decode; mid-exchange


@pytest.mark.parametrize("many", [False, True])
async def test_a_reply_that_does_not_decode_is_reported_as_a_parse_error(many: bool) -> None:
    plants = make_plants(1, seed=6, interval=600, gaps=False)
    (plant,) = plants
    events: list[ClientEvent] = []
    async with (
        FakeLacecalServer(plants, rate_limit=(100, 0.05)) as server,
        LacecalClient(
            base_url=server.base_url, rate_limit=(100, 0.05), on_event=events.append
        ) as client,
    ):
        server.set_faults(plant.itr, Faults(maintenance_page=True))
        if many:
            results = await client.fetch_many([plant.itr], "meter", plant.first, plant.first + 600)
            assert isinstance(results[plant.itr].error, LacecalParseError)
        else:
            with pytest.raises(LacecalParseError):
                await client.meter_records(plant.itr, plant.first, plant.first + 600)
    done = [e for e in events if isinstance(e, RequestDone)]
    assert [(e.status, e.error, e.records, e.ok) for e in done] == [
        (200, "LacecalParseError", 0, False)
    ]

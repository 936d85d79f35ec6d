"""fetch_many / stream_many against the fake server at a scaled rate limit."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any, Literal

import pytest

from lacecal_async import (
    FetchResult,
    InvalidITRError,
    ItrDone,
    ItrFailed,
    LacecalClient,
    LacecalConnectionError,
    LacecalParseError,
    LacecalResponseError,
    MeterRecord,
    PageEvent,
    StreamEvent,
    fanout,
)
from lacecal_async.testing import FakeLacecalServer, Faults, Plant, make_plants
from tests.support.checks import wait_until

DAY = 86_400
RATE = (6, 0.6)


@contextlib.asynccontextmanager
async def serving(
    plants: list[Plant], *, rate: tuple[int, float] = RATE, retries: int = 1
) -> AsyncIterator[tuple[FakeLacecalServer, LacecalClient]]:
    async with (
        FakeLacecalServer(plants, rate_limit=rate) as server,
        LacecalClient(base_url=server.base_url, rate_limit=rate, retries=retries) as client,
    ):
        yield server, client


_SERVER_SIDE = ("RequestHandler", "_accept_connection")


def other_tasks() -> set[asyncio.Task[object]]:
    """Pending tasks of the client side (the in-process server's handlers excluded)."""
    current = asyncio.current_task()
    return {
        t
        for t in asyncio.all_tasks()
        if t is not current
        and not t.done()
        and not any(name in repr(t.get_coro()) for name in _SERVER_SIDE)
    }


def made(server: FakeLacecalServer, plants: list[Plant]) -> int:
    """Requests the server has seen for `plants`."""
    return sum(server.stats(p.itr).requests for p in plants)


def idle(client: LacecalClient, plants: list[Plant]) -> bool:
    """Whether no exchange of `plants` is in progress (or waiting for its turn)."""
    states = [client.limit_state(p.itr) for p in plants]
    return all(state.busy == 0 and state.waiting == 0 for state in states)


@pytest.mark.slow
async def test_twenty_itrs_four_days_complete_without_429() -> None:
    plants = make_plants(20, seed=7, interval=600, gaps=False)
    start = plants[0].first
    end = start + 4 * DAY  # 576 records a plant: four full pages each
    async with serving(plants) as (server, client):
        results = await client.fetch_many([p.itr for p in plants], "meter", start, end)
        for plant in plants:
            result = results[plant.itr]
            assert result.ok, result.error
            assert list(result.records) == plant.meter_records(start, end)
            stats = server.stats(plant.itr)
            assert stats.rejections == 0
            assert stats.requests <= 5


BAD_FAULTS = {
    "always_5xx": (Faults(always_fail=True), LacecalResponseError),
    "maintenance": (Faults(maintenance_page=True), LacecalParseError),
    "garbage": (Faults(garbage=True), LacecalParseError),
    "truncated": (Faults(truncate=True), LacecalParseError),
    "dropped": (Faults(drop_connection=True), LacecalConnectionError),
}


@pytest.mark.parametrize("wire_format", ["json", "xml"])
async def test_bad_plants_never_spoil_good_ones(wire_format: Literal["json", "xml"]) -> None:
    plants = make_plants(8, seed=3, interval=600, gaps=False)
    good, bad = plants[:3], plants[3 : 3 + len(BAD_FAULTS)]
    unknown = "Z" * 16
    invalid = "not-an-itr"
    start, end = plants[0].first, plants[0].first + 2 * DAY
    async with (
        FakeLacecalServer(plants, rate_limit=RATE) as server,
        LacecalClient(
            base_url=server.base_url, rate_limit=RATE, retries=1, wire_format=wire_format
        ) as client,
    ):
        for plant, (faults, _) in zip(bad, BAD_FAULTS.values(), strict=True):
            server.set_faults(plant.itr, faults)
        itrs = [p.itr for p in plants] + [unknown, invalid]
        results = await client.fetch_many(itrs, "meter", start, end)
    for plant in good:
        assert results[plant.itr].ok
        assert list(results[plant.itr].records) == plant.meter_records(start, end)
    for plant, (_, error_type) in zip(bad, BAD_FAULTS.values(), strict=True):
        error = results[plant.itr].error
        assert isinstance(error, error_type), (plant.faults, error)
        assert plant.itr not in str(error)
        assert plant.itr not in repr(results[plant.itr])
    missing = results[unknown].error
    assert isinstance(missing, LacecalResponseError)
    assert missing.status == 404
    assert unknown not in str(missing)
    assert isinstance(results[invalid].error, InvalidITRError)
    assert results[invalid].records == ()


async def test_invalid_identifier_makes_no_request() -> None:
    plants = make_plants(1, seed=1)
    async with serving(plants) as (server, client):
        results = await client.fetch_many([42, "x" * 17], "meter")  # type: ignore[list-item]
        assert all(isinstance(r.error, InvalidITRError) for r in results.values())
        assert set(results) == {42, "x" * 17}
        assert server.stats(plants[0].itr).requests == 0


async def test_duplicates_are_fetched_once_and_async_iterables_work() -> None:
    plants = make_plants(3, seed=2)

    async def identifiers() -> AsyncIterator[str]:
        for plant in plants + plants:
            yield plant.itr

    async with serving(plants) as (server, client):
        results = await client.fetch_many(identifiers(), "inverter_list")
        assert set(results) == {p.itr for p in plants}
        for plant in plants:
            assert results[plant.itr].records == plant.inverters
            assert server.stats(plant.itr).requests == 1


async def test_latest_only_for_each_itr() -> None:
    plants = make_plants(4, seed=4, gaps=False)
    async with serving(plants) as (_, client):
        results = await client.fetch_many([p.itr for p in plants], "inverter")
    for plant in plants:
        (record,) = results[plant.itr].records
        assert record == plant.inverter_record(plant.last_time())


async def test_stream_events_carry_progress_in_time_order() -> None:
    plants = make_plants(3, seed=5, interval=600, gaps=False)
    start, end = plants[0].first, plants[0].first + 3 * DAY
    seen: dict[str, list[int]] = {}
    finals: dict[str, StreamEvent[Any]] = {}
    async with serving(plants) as (_, client):
        async for event in client.stream_many([p.itr for p in plants], "meter", start, end):
            assert event.itr_id not in finals
            if isinstance(event, PageEvent):
                times = seen.setdefault(event.itr_id, [])
                times += [r.unix_time for r in event.records]
                assert event.progress.records == len(times)
                assert event.progress.expected_pages == 3
                assert "records>" in repr(event)
                assert event.itr_id not in repr(event)
            else:
                finals[event.itr_id] = event
    for plant in plants:
        assert seen[plant.itr] == sorted(seen[plant.itr])
        assert seen[plant.itr] == plant.available_times(start, end)
        final = finals[plant.itr]
        assert isinstance(final, ItrDone)
        assert final.progress.pages == 3
        assert final.progress.records == 3 * 144


async def test_failed_itr_keeps_progress_and_pages_delivered() -> None:
    plants = make_plants(1, seed=6, interval=600, gaps=False)
    plant = plants[0]
    start = plant.first
    async with serving(plants, retries=0) as (server, client):
        events = client.stream_many([plant.itr], "meter", start, start + 3 * DAY)
        async with contextlib.aclosing(events):
            first = await anext(events)
            assert isinstance(first, PageEvent)
            server.set_faults(plant.itr, Faults(always_fail=True))
            rest = [event async for event in events]
    assert isinstance(rest[-1], ItrFailed)
    assert rest[-1].progress.pages == 1
    assert isinstance(rest[-1].error, LacecalResponseError)


@pytest.mark.slow
async def test_slow_consumer_applies_backpressure() -> None:
    plants = make_plants(4, seed=8, interval=600, gaps=False)
    start = plants[0].first
    rate = (100, 0.05)
    async with serving(plants, rate=rate) as (server, client):
        events = client.stream_many(
            [p.itr for p in plants], "meter", start, start + 25 * DAY, buffer=2
        )
        async with contextlib.aclosing(events):
            await anext(events)  # then a consumer that sleeps
            # Every ITR fetches ahead (a page each, beside the one consumed), then all are
            # blocked on the full buffer: no exchange in progress.
            await wait_until(lambda: made(server, plants) > len(plants) and idle(client, plants))
            await asyncio.sleep(0.3)  # nothing more is fetched, however long it sleeps:
            # at most the buffer, one page held by each blocked ITR, and the one consumed.
            assert made(server, plants) <= 2 + len(plants) + 1
            remaining = [e async for e in events]
    assert sum(isinstance(e, ItrDone) for e in remaining) == len(plants)


async def test_break_and_aclose_leave_no_task() -> None:
    plants = make_plants(5, seed=9, interval=600, gaps=False)
    start = plants[0].first
    async with serving(plants) as (_, client):
        before = other_tasks()
        events = client.stream_many([p.itr for p in plants], "meter", start, start + 9 * DAY)
        async for _ in events:
            break
        await events.aclose()
        assert other_tasks() == before

        async for _ in client.stream_many([p.itr for p in plants], "meter", start, start + 9 * DAY):
            break  # no aclose(): the generator is finalized once dropped
        gc.collect()
        await wait_until(lambda: other_tasks() == before)


async def test_cancelling_fetch_many_leaves_no_task() -> None:
    plants = make_plants(5, seed=10, interval=600, gaps=False)
    start = plants[0].first
    async with serving(plants) as (server, client):
        before = other_tasks()
        task = asyncio.create_task(
            client.fetch_many([p.itr for p in plants], "meter", start, start + 30 * DAY)
        )
        await wait_until(lambda: made(server, plants) >= len(plants))  # well under way
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert other_tasks() == before
        sent = made(server, plants)
        assert sent < len(plants) * 30  # stopped before the end
        await asyncio.sleep(0.3)  # nothing is left to send anything, however long we wait
        assert made(server, plants) == sent


async def test_max_in_flight_bounds_concurrent_requests() -> None:
    plants = make_plants(6, seed=11)
    async with serving(plants) as (server, client):
        for plant in plants:
            server.set_faults(plant.itr, Faults(delay=0.1))
        results = await client.fetch_many([p.itr for p in plants], "meter", max_in_flight=2)
        assert all(r.ok for r in results.values())
        arrivals = sorted(server.stats(p.itr).log[0].time for p in plants)
    # Two at a time, each taking 0.1 s: the third starts only when the first has ended.
    for i in range(2, len(arrivals)):
        assert arrivals[i] - arrivals[i - 2] >= 0.09


@pytest.mark.slow
async def test_two_thousand_itrs_one_page_each() -> None:
    plants = make_plants(2000, seed=12, gaps=False)
    async with serving(plants) as (server, client):
        results = await client.fetch_many([p.itr for p in plants], "meter")
        assert len(results) == 2000
        assert all(r.ok and len(r.records) == 1 for r in results.values())
        assert sum(server.stats(p.itr).rejections for p in plants) == 0


async def test_broken_iterable_is_raised_and_leaves_no_task() -> None:
    plants = make_plants(2, seed=13)

    def identifiers() -> Iterator[str]:
        yield plants[0].itr
        raise RuntimeError("source failed")

    async with serving(plants) as (_, client):
        before = other_tasks()
        with pytest.raises(RuntimeError, match="source failed"):
            await client.fetch_many(identifiers(), "meter")
        assert other_tasks() == before


async def test_argument_errors_come_before_any_request() -> None:
    plants = make_plants(1, seed=14)
    itrs = [plants[0].itr]
    async with serving(plants) as (server, client):
        with pytest.raises(ValueError, match="inverter_list"):
            client.stream_many(itrs, "inverter_list", 0)
        with pytest.raises(ValueError, match="buffer"):
            client.stream_many(itrs, "meter", buffer=0)
        with pytest.raises(ValueError, match="max_in_flight"):
            client.stream_many(itrs, "meter", max_in_flight=0)
        with pytest.raises(ValueError, match="naive"):
            await client.fetch_many(itrs, "meter", datetime(2024, 1, 1))
        with pytest.raises(ValueError, match=r"endpoint|meters"):
            client.stream_many(itrs, "meters")
        assert server.stats(plants[0].itr).requests == 0


def test_fetch_result_repr_redacts() -> None:
    result: FetchResult[object] = FetchResult("A" * 12 + "WXYZ", (), None)
    assert "A" * 12 not in repr(result)
    assert "...WXYZ" in repr(result)
    assert result.ok


async def test_unhashable_identifier_fails_alone() -> None:
    plants = make_plants(1, seed=15)
    async with serving(plants) as (_, client):
        events = [e async for e in client.stream_many([["x"], plants[0].itr], "inverter_list")]  # type: ignore[list-item]
    failed = [e for e in events if isinstance(e, ItrFailed)]
    assert len(failed) == 1
    assert isinstance(failed[0].error, InvalidITRError)
    assert sum(isinstance(e, ItrDone) for e in events) == 1


async def test_open_range_has_no_expected_page_count() -> None:
    plants = make_plants(1, seed=16, gaps=False)
    plant = plants[0]
    async with serving(plants) as (_, client):
        events = [
            e async for e in client.stream_many([plant.itr], "meter", plant.last_time() - 3600)
        ]
    pages = [e for e in events if isinstance(e, PageEvent)]
    assert [r.unix_time for e in pages for r in e.records] == plant.available_times(
        plant.last_time() - 3600, plant.last_time() + 1
    )
    assert all(e.progress.expected_pages is None for e in pages)


async def _broken_replies(*args: object, **kwargs: object) -> AsyncIterator[Any]:
    raise RuntimeError("bug in a fetching task")
    yield  # pragma: no cover - makes this an async generator


async def test_a_bug_in_a_task_is_raised_and_leaves_no_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug below the fan-out (here: in the paging layer) must surface, not vanish."""
    monkeypatch.setattr(fanout, "replies", _broken_replies)
    plants = make_plants(3, seed=17)
    async with (
        FakeLacecalServer(plants, rate_limit=RATE) as server,
        LacecalClient(base_url=server.base_url, rate_limit=RATE) as client,
    ):
        before = other_tasks()
        with pytest.raises(RuntimeError, match="bug in a fetching task"):
            await client.fetch_many([p.itr for p in plants], "meter", plants[0].first)
        assert other_tasks() == before


async def test_no_identifiers_no_results() -> None:
    async with serving(make_plants(1, seed=18)) as (_, client):
        assert await client.fetch_many([], "meter") == {}


class _Stop(BaseException):
    """Not an Exception: what KeyboardInterrupt or a foreign cancellation looks like."""


async def test_base_exception_from_the_iterable_propagates_without_hanging() -> None:
    plants = make_plants(2, seed=19)

    def identifiers() -> Iterator[str]:
        yield plants[0].itr
        raise _Stop

    async with serving(plants) as (_, client):
        before = other_tasks()
        with pytest.raises(_Stop):
            async with asyncio.timeout(10):
                await client.fetch_many(identifiers(), "meter")
        assert other_tasks() == before


@pytest.mark.slow
async def test_pages_fetched_ahead_of_a_stalled_consumer_are_bounded() -> None:
    plants = make_plants(60, seed=20, interval=600, gaps=False)
    start = plants[0].first
    async with serving(plants, rate=(100, 0.05)) as (server, client):
        events = client.stream_many(
            [p.itr for p in plants], "meter", start, start + 2 * DAY, buffer=4, max_in_flight=3
        )
        async with contextlib.aclosing(events):
            await anext(events)  # then the consumer stalls
            # Not one page per ITR (60): the credits (the buffer and the places in flight)
            # and the page taken. The fetching uses every credit (the other ITRs hold their
            # slot and wait for one), then no more.
            bound = 4 + 3 + 1
            await wait_until(lambda: made(server, plants) >= bound)
            await asyncio.sleep(0.3)  # however long it stalls
            assert made(server, plants) == bound
            remaining = [e async for e in events]
    assert sum(isinstance(e, ItrDone) for e in remaining) == len(plants)


def live_meter_records() -> int:
    """MeterRecord objects alive in the process (garbage collected first)."""
    gc.collect()
    return sum(type(o) is MeterRecord for o in gc.get_objects())


@pytest.mark.slow
async def test_a_stalled_consumer_has_at_most_one_page_decoded_ahead() -> None:
    # Pages fetched ahead wait as bodies: decoded records that wait for the consumer outlive
    # garbage collections and make every later one costlier (issue 14).
    plants = make_plants(20, seed=21, interval=600, gaps=False)
    start = plants[0].first
    before = live_meter_records()  # other tests' (kept by caches, fixtures)
    async with serving(plants, rate=(100, 0.05)) as (server, client):
        events = client.stream_many([p.itr for p in plants], "meter", start, start + 5 * DAY)
        async with contextlib.aclosing(events):
            first = await anext(events)  # then the consumer stalls, holding its page
            # Every ITR fetches ahead meanwhile: its reply in (the server has sent it, and the
            # exchange has ended: the slot is free again), waiting for its turn to decode.
            await wait_until(
                lambda: all(
                    len(server.stats(p.itr).log) >= 1 and client.limit_state(p.itr).busy == 0
                    for p in plants
                )
            )
            assert isinstance(first, PageEvent)
            # The page taken, and one decoded for the consumer's next step.
            assert live_meter_records() - before <= 2 * 144
            remaining = [e async for e in events]
    pages = [first, *(e for e in remaining if isinstance(e, PageEvent))]
    assert sum(len(e.records) for e in pages) == len(plants) * 5 * 144


@pytest.mark.parametrize("count", [1, 3])
async def test_the_last_itrs_retry_gets_its_place_back_with_max_active_one(count: int) -> None:
    # The input's end once kept the place the feeder had taken to read it: with one place,
    # the last ITR, backing off to retry, never got it back.
    plants = make_plants(count, seed=22, interval=600, gaps=False)
    start = plants[0].first
    async with serving(plants, rate=(6, 0.05), retries=2) as (server, client):
        server.set_faults(plants[-1].itr, Faults(fail_first=1))
        async with asyncio.timeout(10):
            results = await client.fetch_many(
                [p.itr for p in plants], "meter", start, start + DAY, max_active=1
            )
    assert [len(results[p.itr].records) for p in plants] == [144] * count
    assert all(results[p.itr].error is None for p in plants)


async def test_an_input_that_waits_for_a_result_does_not_hold_the_only_place() -> None:
    # An async input waiting for the first ITR's outcome once held the one place while the
    # first ITR, backing off to retry, waited for it: neither moved again.
    plants = make_plants(2, seed=23, interval=600, gaps=False)
    first, second = plants
    start = first.first
    first_over = asyncio.Event()

    async def source() -> AsyncIterator[str]:
        yield first.itr
        await first_over.wait()
        yield second.itr

    ended: list[str] = []
    async with serving(plants, rate=(6, 0.05), retries=2) as (server, client):
        server.set_faults(first.itr, Faults(fail_first=1))
        async with asyncio.timeout(10):
            async for event in client.stream_many(
                source(), "meter", start, start + DAY, max_active=1
            ):
                if isinstance(event, ItrDone):
                    ended.append(event.itr_id)
                    first_over.set()
    assert ended == [first.itr, second.itr]

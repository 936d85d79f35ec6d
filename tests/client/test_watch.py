"""Store-less watching: cursors, catch_up and client.watch against the fake server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from lacecal_async import Cursor, LacecalClient, WatchBatch
from lacecal_async.endpoints import Endpoint
from lacecal_async.polling import backoff, next_poll, phase_of
from lacecal_async.testing import FakeClock, FakeLacecalServer, Faults, make_plants
from tests.support.checks import wait_until
from tests.support.stores import PLANT

PERIOD = 2
#: The server's and the watcher's clock (a `FakeClock`) at the start: mid-period.
NOW = 1_727_827_201
#: How far the test moves the clock once every plant sleeps on it [clock s].
STEP = PERIOD / 8


def test_cursor_round_trips_through_json_and_refuses_garbage() -> None:
    cursor = Cursor("meter", 1727827199, 600)
    assert Cursor.from_json(cursor.to_json()) == cursor
    assert Cursor.since("inverter", 1727827200) == Cursor(Endpoint.INVERTER, 1727827199)
    for bad in ("{}", "[]", "nope", '{"v":1,"endpoint":"inverter_list","after":1}'):
        with pytest.raises(ValueError, match="not a lacecal cursor"):
            Cursor.from_json(bad)
    with pytest.raises(ValueError, match="interval"):
        Cursor("meter", 5, 0)


def test_a_cursor_advances_past_a_page_to_its_newest_record_and_period() -> None:
    records = PLANT.meter_records(PLANT.first, PLANT.first + 5 * PLANT.interval)
    start = Cursor.since("meter", PLANT.first)
    assert start.advanced(records) == Cursor("meter", records[-1].unix_time, PLANT.interval)
    assert start.advanced(()) is start
    later = Cursor("meter", records[-1].unix_time + 600, 300)
    # an older record moves it no earlier; its period is the one the page last told
    assert later.advanced(records[:2]) == Cursor("meter", later.after, PLANT.interval)


def test_polls_come_after_a_period_closes_at_the_plants_phase() -> None:
    # Period closes at multiples of 600; the offset stays inside the first third.
    when = next_poll(1000.0, 600, grid=0, phase=0.5)
    assert 1200 + 0.17 * 600 <= when <= 1200 + 0.2 * 600
    for _ in range(200):  # whatever the jitter, the next poll is in the next period
        assert 1800 < next_poll(when, 600, grid=0, phase=0.5) < 2400
    assert phase_of("itr-0123456789ab") != phase_of("itr-0123456789ac")
    assert backoff(1, 2) < backoff(3, 2) <= 4 * 2 * 1.25
    assert backoff(50, 2) <= 32 * 2 * 1.25


async def _watch(  # noqa: PLR0917
    client: LacecalClient,
    itrs: list[str],
    cursors: dict[str, Cursor],
    since: int,
    clock: FakeClock,
    done: Callable[[], bool],
) -> list[WatchBatch[Any]]:
    """Follow on `clock`, saving each batch's cursor as it comes, until `done()` holds.

    The clock moves a step only once every plant sleeps on it (caught up and waiting for
    its next poll, or backing off): the schedule is the same however slow the machine is.
    """
    got: list[WatchBatch[Any]] = []
    batches = client.watch(itrs, "meter", since=since, cursors=cursors, clock=clock)

    async def consume() -> None:
        async with contextlib.aclosing(batches):
            async for batch in batches:
                itr, _, cursor = batch
                got.append(batch)
                cursors[itr] = Cursor.from_json(cursor.to_json())  # "saved" with them

    consumer = asyncio.create_task(consume())
    try:
        while not done():
            await wait_until(lambda: done() or consumer.done() or clock.sleepers == len(itrs))
            if consumer.done():
                consumer.result()  # a crash of the watch: raise it here
                raise AssertionError("the watch ended by itself")
            if not done():
                clock.advance(STEP)
                assert clock.now() < since + 100 * PERIOD, "the condition never came"
    finally:
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
    return got


async def test_watch_delivers_every_record_once_across_a_restart() -> None:
    clock = FakeClock(NOW)
    start = NOW // PERIOD * PERIOD - 10 * PERIOD
    plants = make_plants(2, seed=3, start=start, days=1, interval=PERIOD, follow_clock=True)
    async with (
        FakeLacecalServer(plants, rate_limit=None, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(50, 1.0)) as client,
    ):
        itrs = [p.itr for p in plants]
        cursors: dict[str, Cursor] = {}

        def delivered_up_to(when: float) -> Callable[[], bool]:
            return lambda: all(i in cursors and cursors[i].after >= when for i in itrs)

        # Catch up, then follow two more periods; stop (the batches in flight are lost).
        caught_up = plants[0].last_time(NOW)
        first = await _watch(
            client, itrs, cursors, start, clock, delivered_up_to(caught_up + 2 * PERIOD)
        )
        down_from = clock.now()
        clock.advance(3 * PERIOD)  # down for three periods: records keep coming
        second = await _watch(
            client, itrs, cursors, start, clock, delivered_up_to(down_from + 3 * PERIOD)
        )
        for plant in plants:
            seen = [r.unix_time for b in first + second if b.itr == plant.itr for r in b.records]
            assert seen == sorted(set(seen))  # once each, in order
            assert seen == plant.available_times(start, seen[-1] + 1, now=clock.now())
            # Records made while it was down, and after it came back, are there too.
            assert seen[-1] >= down_from + 3 * PERIOD
        assert plants[0].itr not in repr(first[0])


async def test_a_failing_plant_backs_off_and_never_stops_the_others() -> None:
    clock = FakeClock(NOW)
    start = NOW // PERIOD * PERIOD - 4 * PERIOD
    good, bad = make_plants(2, seed=5, start=start, days=1, interval=PERIOD, follow_clock=True)
    bad = attrs.evolve(bad, faults=Faults(always_fail=True, fail_status=503))
    async with (
        FakeLacecalServer([good, bad], rate_limit=None, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(50, 1.0), retries=0) as client,
    ):
        # The bad plant once worked: its cursor knows its period, so backoffs count in it.
        cursors = {bad.itr: Cursor("meter", start + PERIOD - 1, PERIOD)}
        end = NOW + 6 * PERIOD
        got = await _watch(
            client,
            [good.itr, bad.itr],
            cursors,
            start,
            clock,
            lambda: clock.now() >= end and clock.sleepers == 2,
        )
        assert {b.itr for b in got} == {good.itr}
        assert sum(len(b.records) for b in got) >= 5
        # Backing off 1, 2, 4 ... periods (each up to a quarter more), from the first attempt
        # at 0: the second comes at most 1.25 periods later, the third at most 3.75 periods
        # (plus a step each) after it started, the fourth no sooner than 7 periods.
        assert server.stats(bad.itr).requests == 3


async def test_watch_checks_its_arguments() -> None:
    async with LacecalClient(base_url="http://127.0.0.1:9/") as client:
        with pytest.raises(ValueError, match="no cursor"):
            client.watch(["A" * 16], "meter")
        with pytest.raises(ValueError, match="no records per period"):
            client.watch(["A" * 16], "inverter_list", since=0)
        with pytest.raises(ValueError, match="is for inverter"):
            client.watch(["A" * 16], "meter", cursors={"A" * 16: Cursor("inverter", 5)})
        with pytest.raises(ValueError, match="not meter"):
            client.catch_up("A" * 16, "meter", Cursor("inverter", 5))

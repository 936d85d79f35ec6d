"""A record dated after the client's clock is never delivered: catch_up and client.watch."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import attrs
import pytest

from lacecal_async import Cursor, LacecalClient, LacecalClockError, ScaledClock, WatchBatch
from lacecal_async.testing import FakeClock, FakeLacecalServer, Faults, Plant, make_plants
from lacecal_async.watch import CLOCK_SKEW, future_tolerance
from tests.support.checks import wait_until

YEAR = 365 * 86400
PERIOD = 600


def _plant(now: float) -> Plant:
    """A plant whose data follows the clock, started a day before `now`."""
    start = int(now) - 86400
    base = make_plants(1, seed=21, start=start, days=2, interval=PERIOD, follow_clock=True)[0]
    return attrs.evolve(base, gaps=())


async def _pages(client: LacecalClient, itr: str, cursor: Cursor, clock: FakeClock) -> list[int]:
    out: list[int] = []
    async for records, after in client.catch_up(itr, "meter", cursor, clock=clock):
        out.extend(r.unix_time for r in records)
        cursor = after
    return out


def test_the_tolerance_is_one_period_and_some_skew() -> None:
    assert future_tolerance(600) == 600 + CLOCK_SKEW == 900
    assert future_tolerance(None) == future_tolerance(600)
    assert future_tolerance(10**9) == 86400 + CLOCK_SKEW  # a claimed period buys no year


async def test_catch_up_delivers_up_to_now_then_refuses_the_future_record() -> None:
    clock = FakeClock(1_760_000_000)
    plant = _plant(clock.now())
    last = plant.last_time(clock.now())
    async with (
        FakeLacecalServer([plant], rate_limit=None, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as client,
    ):
        server.set_faults(plant.itr, Faults(future_at=last + YEAR))
        cursor = Cursor("meter", last - 5 * PERIOD, PERIOD)
        got: list[int] = []

        async def catch_up() -> None:
            nonlocal cursor
            async for records, after in client.catch_up(plant.itr, "meter", cursor, clock=clock):
                got.extend(r.unix_time for r in records)
                cursor = after

        with pytest.raises(LacecalClockError, match="after this client's clock") as caught:
            await catch_up()
        assert got == [last - i * PERIOD for i in range(4, -1, -1)]  # every believable one
        assert cursor.after == last  # never the future record's
        error = caught.value
        assert (error.future, error.record_time, error.endpoint) == (True, last + YEAR, "meter")
        assert plant.itr not in str(error)
        assert "365.0 d after this client's clock" in str(error)
        # Still glitching, nothing new: the next catch-up yields nothing and says so again.
        with pytest.raises(LacecalClockError, match="after this client's clock"):
            await catch_up()
        assert cursor.after == last
        # A glitch minutes ahead (beyond the tolerance) is one too; a cursor already past
        # the tolerance asks for no page at all.
        server.set_faults(plant.itr, Faults(future_at=last + 2 * PERIOD + 1200))
        asked = server.stats(plant.itr).requests
        with pytest.raises(LacecalClockError, match=r"\d+\.\d min after"):
            await _pages(client, plant.itr, Cursor("meter", last + 3600, PERIOD), clock)
        assert server.stats(plant.itr).requests == asked + 1
        # The logger's clock is fixed: the next catch-up goes on from the cursor.
        server.set_faults(plant.itr, Faults())
        clock.advance(2 * PERIOD)
        assert await _pages(client, plant.itr, cursor, clock) == [last + PERIOD, last + 2 * PERIOD]


async def test_a_latest_record_older_than_the_cursor_is_a_fault_not_nothing_new() -> None:
    clock = FakeClock(1_760_000_000)
    plant = _plant(clock.now())
    last = plant.last_time(clock.now())
    async with (
        FakeLacecalServer([plant], rate_limit=None, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as client,
    ):
        ahead = Cursor("meter", last + PERIOD, PERIOD)  # the server sent a later one before
        with pytest.raises(LacecalClockError, match="clock went back") as caught:
            await _pages(client, plant.itr, ahead, clock)
        assert (caught.value.future, caught.value.record_time) == (False, last)
        # A cursor itself dated after the clock (saved from a glitch) says so.
        future = Cursor("meter", last + YEAR, PERIOD)
        with pytest.raises(LacecalClockError, match="resume from a cursor before it"):
            await _pages(client, plant.itr, future, clock)
        # A cursor made by `since` (no record yet) is no fault: the plant's data starts later.
        assert await _pages(client, plant.itr, Cursor.since("meter", last + 1), clock) == []


async def test_watch_never_yields_a_moving_future_record_and_keeps_polling() -> None:
    period, speed = 2, 4.0
    clock = ScaledClock(time.time(), speed)
    start = int(clock.now()) // period * period - 10 * period
    base = make_plants(1, seed=22, start=start, days=1, interval=period, follow_clock=True)[0]
    plant = attrs.evolve(base, gaps=(), faults=Faults(future_ahead=YEAR))
    got: list[WatchBatch[Any]] = []
    async with (
        FakeLacecalServer([plant], rate_limit=None, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as client,
    ):
        batches = client.watch([plant.itr], "meter", since=start, clock=clock)

        async def consume() -> None:
            async for batch in batches:
                got.append(batch)

        task = asyncio.create_task(consume())
        try:
            # caught up, then three more periods each polled on schedule despite the fault
            newest = start + 13 * period
            await wait_until(lambda: any(b.cursor.after >= newest for b in got))
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await batches.aclose()
        seen = [r.unix_time for b in got for r in b.records]
        assert seen == sorted(set(seen))
        assert max(seen) <= clock.now()  # none from next year
        assert all(b.cursor.after <= clock.now() for b in got)

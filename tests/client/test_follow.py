"""Store-less following: cursors, catch_up and client.follow against the fake server."""

from __future__ import annotations

import asyncio
import contextlib
import time

import attrs
import pytest

from lacecal_async import Cursor, FollowBatch, LacecalClient, ScaledClock
from lacecal_async.endpoints import Endpoint
from lacecal_async.polling import backoff, next_poll, phase_of
from lacecal_async.testing import FakeLacecalServer, Faults, make_plants

PERIOD = 2
#: The server and the follower share a clock running this much faster than real time.
SPEED = 4.0
REAL_PERIOD = PERIOD / SPEED


def test_cursor_round_trips_through_json_and_refuses_garbage() -> None:
    cursor = Cursor("meter", 1727827199, 600)
    assert Cursor.from_json(cursor.to_json()) == cursor
    assert Cursor.since("inverter", 1727827200) == Cursor(Endpoint.INVERTER, 1727827199)
    for bad in ("{}", "[]", "nope", '{"v":1,"endpoint":"inverter_list","after":1}'):
        with pytest.raises(ValueError, match="not a lacecal cursor"):
            Cursor.from_json(bad)
    with pytest.raises(ValueError, match="interval"):
        Cursor("meter", 5, 0)


def test_polls_come_after_a_period_closes_at_the_plants_phase() -> None:
    # Period closes at multiples of 600; the offset stays inside the first third.
    when = next_poll(1000.0, 600, grid=0, phase=0.5)
    assert 1200 + 0.17 * 600 <= when <= 1200 + 0.2 * 600
    for _ in range(200):  # whatever the jitter, the next poll is in the next period
        assert 1800 < next_poll(when, 600, grid=0, phase=0.5) < 2400
    assert phase_of("itr-0123456789ab") != phase_of("itr-0123456789ac")
    assert backoff(1, 2) < backoff(3, 2) <= 4 * 2 * 1.25
    assert backoff(50, 2) <= 32 * 2 * 1.25


async def _collect(  # noqa: PLR0917
    client: LacecalClient,
    itrs: list[str],
    cursors: dict[str, Cursor],
    since: int,
    until: float,
    clock: ScaledClock,
) -> list[FollowBatch]:
    """Follow until `until` (real, monotonic), saving each batch's cursor as it comes."""
    got: list[FollowBatch] = []
    batches = client.follow(itrs, "meter", since=since, cursors=cursors, clock=clock)
    async with contextlib.aclosing(batches):
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(until - time.monotonic()):
                async for batch in batches:
                    itr, _, cursor = batch
                    got.append(batch)
                    cursors[itr] = Cursor.from_json(cursor.to_json())  # "saved" with them
    return got


async def test_follow_delivers_every_record_once_across_a_restart() -> None:
    clock = ScaledClock(time.time(), SPEED)
    now = int(clock.now())
    start = now // PERIOD * PERIOD - 10 * PERIOD
    plants = make_plants(2, seed=3, start=start, days=1, interval=PERIOD, follow_clock=True)
    async with (
        FakeLacecalServer(plants, rate_limit=None, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(50, 1.0)) as client,
    ):
        itrs = [p.itr for p in plants]
        cursors: dict[str, Cursor] = {}
        deadline = time.monotonic() + 3 * REAL_PERIOD
        first = await _collect(client, itrs, cursors, start, deadline, clock)
        down_from = clock.now()
        await asyncio.sleep(3 * REAL_PERIOD)  # down for three periods: records keep coming
        deadline = time.monotonic() + 3 * REAL_PERIOD
        second = await _collect(client, itrs, cursors, start, deadline, clock)
        for plant in plants:
            seen = [r.unix_time for b in first + second if b.itr == plant.itr for r in b.records]
            assert seen == sorted(set(seen))  # once each, in order
            assert seen == plant.available_times(start, seen[-1] + 1, now=clock.now())
            # Records made while it was down, and after it came back, are there too.
            assert seen[-1] >= down_from + 3 * PERIOD
        assert plants[0].itr not in repr(first[0])


async def test_a_failing_plant_backs_off_and_never_stops_the_others() -> None:
    clock = ScaledClock(time.time(), SPEED)
    now = int(clock.now())
    start = now // PERIOD * PERIOD - 4 * PERIOD
    good, bad = make_plants(2, seed=5, start=start, days=1, interval=PERIOD, follow_clock=True)
    bad = attrs.evolve(bad, faults=Faults(always_fail=True, fail_status=503))
    async with (
        FakeLacecalServer([good, bad], rate_limit=None, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(50, 1.0), retries=0) as client,
    ):
        got: list[FollowBatch] = []
        # The bad plant once worked: its cursor knows its period, so backoffs count in it.
        known = {bad.itr: Cursor("meter", start + PERIOD - 1, PERIOD)}
        batches = client.follow([good.itr, bad.itr], Endpoint.METER, start, known, clock=clock)
        async with contextlib.aclosing(batches):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(6 * REAL_PERIOD):
                    async for batch in batches:
                        got.append(batch)
        assert {b.itr for b in got} == {good.itr}
        assert sum(len(b.records) for b in got) >= 5
        # Backing off, in periods: 1, 2, 4 ... so a few attempts in 6 periods, not dozens.
        assert 2 <= server.stats(bad.itr).requests <= 4


async def test_follow_checks_its_arguments() -> None:
    async with LacecalClient(base_url="http://127.0.0.1:9/") as client:
        with pytest.raises(ValueError, match="no cursor"):
            client.follow(["A" * 16], "meter")
        with pytest.raises(ValueError, match="no records to follow"):
            client.follow(["A" * 16], "inverter_list", since=0)
        with pytest.raises(ValueError, match="is for inverter"):
            client.follow(["A" * 16], "meter", cursors={"A" * 16: Cursor("inverter", 5)})
        with pytest.raises(ValueError, match="not meter"):
            client.catch_up("A" * 16, "meter", Cursor("inverter", 5))

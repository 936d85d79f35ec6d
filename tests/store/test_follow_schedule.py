"""When `follow` asks again: each plant at a phase of its own, late data on the repair schedule.

The engine and the fake server share a `JumpClock` (virtual time that jumps once every
plant waits for its next poll), so the schedule a test sees is the engine's exact one
however busy the machine is, and days of 10-minute periods pass in a moment.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import attrs
import pytest

from lacecal_async import LacecalClient
from lacecal_async.endpoints import Endpoint
from lacecal_async.polling import JITTER, POLL_DELAY, POLL_SPREAD, plant_phase
from lacecal_async.sync import REPAIR_AFTER, Cycle, SQLiteStore, follow
from lacecal_async.testing import FakeLacecalServer, Plant, make_plants
from tests.support.checks import wait_until
from tests.support.virtual_clock import JumpClock

T0 = 1727827200  # 2024-10-02 00:00Z
PERIOD = 600


@attrs.frozen
class _Poll:
    """A cycle as the caller saw it: the clock when it ended, and the cycle."""

    at: float
    cycle: Cycle


def _offset(when: float) -> float:
    """How far into its period an instant is, as a fraction of the period."""
    return (when - T0) % PERIOD / PERIOD


async def test_plants_followed_together_poll_each_at_its_own_phase(tmp_path: Path) -> None:
    # Plants whose phases lie far apart (more than the jitter's reach): their polls must
    # too. A plant's phase comes from its identifier (`plant_phase`), never its alias.
    keys = ["west", "roof-d", "roof-b", "north"]
    pool = make_plants(16, seed=31, start=T0, interval=PERIOD, gaps=False, follow_clock=True)
    plants: list[Plant] = []
    for plant in pool:
        if all(
            abs(plant_phase(plant.itr) - plant_phase(other.itr)) * POLL_SPREAD > JITTER
            for other in plants
        ):
            plants.append(plant)
    plants = plants[: len(keys)]
    assert len(plants) == len(keys)
    phases = {key: plant_phase(p.itr) for p, key in zip(plants, keys, strict=True)}
    for a, b in itertools.combinations(keys, 2):
        assert abs(phases[a] - phases[b]) * POLL_SPREAD > JITTER, (a, b)
    now = T0 + 2 * 86400 + 123
    clock = JumpClock(now, sleepers=2 * len(keys))  # each plant's polls and its repairs
    polls: dict[str, list[_Poll]] = {key: [] for key in keys}

    def seen(cycle: Cycle) -> None:
        polls[cycle.plant].append(_Poll(clock.now(), cycle))

    async with (
        FakeLacecalServer(plants, rate_limit=None, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as client,
        SQLiteStore(tmp_path / "spread.db") as store,
    ):
        task = asyncio.create_task(
            follow(
                client,
                store,
                [(p.itr, key) for p, key in zip(plants, keys, strict=True)],
                "meter",
                now - 6 * PERIOD,
                clock=clock,
                on_cycle=seen,
            )
        )
        await wait_until(lambda: all(len(p) >= 6 for p in polls.values()) or task.done())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    for key, seen_polls in polls.items():
        assert all(p.cycle.error is None for p in seen_polls)
        # After catching up, one poll per period, each a record more.
        assert [p.cycle.records for p in seen_polls[2:6]] == [1] * 4
        for before, after in itertools.pairwise(seen_polls):
            assert after.at == before.cycle.next_poll  # it polled when it said it would
        for before, after in itertools.pairwise(seen_polls[1:]):
            assert PERIOD * (1 - JITTER) < after.at - before.at < PERIOD * (1 + JITTER)
        # Every poll lands at the plant's own offset into the period (plus the jitter).
        low = POLL_DELAY + POLL_SPREAD * phases[key]
        offsets = [_offset(p.cycle.next_poll) for p in seen_polls]
        assert all(low <= offset <= low + JITTER for offset in offsets), (key, low, offsets)
    # So the four plants' polls never share a moment: each period, one after the other.
    firsts = sorted(_offset(polls[key][1].at) for key in keys)
    assert all(b - a > 0.01 for a, b in itertools.pairwise(firsts))


async def test_late_data_lands_on_the_repair_schedule(tmp_path: Path) -> None:
    period = 120
    now = T0 + 86400
    start = now - 12 * period
    gap = (now - 8 * period, now - 6 * period)
    # The gap fills in 2 periods from now, well before its first repair (6 periods).
    base = make_plants(1, seed=6, start=start, days=1, interval=period, follow_clock=True)[0]
    plant = attrs.evolve(base, gaps=(), late=((*gap, now + 2 * period),))
    clock = JumpClock(now, sleepers=2)  # the plant's polls and its repairs
    landed: list[float] = []
    polled: list[float] = []
    async with (
        FakeLacecalServer([plant], rate_limit=None, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as client,
        SQLiteStore(tmp_path / "late.db") as store,
    ):

        def watch(cycle: Cycle) -> None:
            polled.append(clock.now())
            if cycle.repaired:
                landed.append(clock.now())

        task = asyncio.create_task(
            follow(
                client, store, [(plant.itr, "late")], "meter", start, clock=clock, on_cycle=watch
            )
        )
        await wait_until(lambda: bool(landed) or task.done())
        seen_at = polled[0]
        # Two periods more: nothing else lands, nor is asked again.
        await wait_until(lambda: clock.now() > landed[0] + 2 * period or task.done())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await store.holes("late", Endpoint.METER) == []
        stored = [
            r.unix_time
            for _, rs in [x async for x in store.read_records(Endpoint.METER)]
            for r in rs
        ]
    assert set(range(*gap, period)) <= set(stored)
    assert stored == sorted(set(stored))
    # At the first poll once the first repair is due (6 periods after the hole was seen).
    assert len(landed) == 1
    due = seen_at + REPAIR_AFTER[0] * period
    assert due <= landed[0] == min(t for t in polled if t >= due)

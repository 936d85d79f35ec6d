"""Follow mode's schedule: jobs run when due, in due order, by a bounded pool of tasks.

On a `FakeClock` (time moves only when the test moves it), so what runs when is exact.
"""

from __future__ import annotations

import asyncio

import pytest

from lacecal_async.sync.schedule import Lot, Schedule
from lacecal_async.testing import FakeClock
from tests.support.checks import wait_until

T0 = 1_700_000_000.0


def _ran() -> list[tuple[str, float]]:
    """Where the jobs note what ran when: (name, clock)."""
    return []


class Recorder:
    """A job that notes the clock when it runs and asks again `every` seconds (None: never)."""

    def __init__(self, clock: FakeClock, name: str, ran: list[tuple[str, float]]) -> None:
        self.clock, self.name, self.ran = clock, name, ran
        self.every: float | None = None
        self.fail: BaseException | None = None
        self.hold: asyncio.Event | None = None
        self.cancelled = False

    async def step(self, action: int) -> float | None:
        self.ran.append((self.name, self.clock.now()))
        if self.hold is not None:
            try:
                await self.hold.wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise
        if self.fail is not None:
            raise self.fail
        return None if self.every is None else self.clock.now() + self.every + action


async def test_jobs_run_in_due_order_each_when_the_clock_reaches_it() -> None:
    clock, ran = FakeClock(T0), _ran()
    async with Schedule(clock, size=2) as schedule:
        lot = Lot()
        for name, due in [("c", 30), ("a", 10), ("d", 40), ("b", 20), ("now", 0)]:
            schedule.add(lot, T0 + due, Recorder(clock, name, ran), 0)
        await wait_until(lambda: len(ran) == 1 and clock.sleepers == 2)
        assert ran == [("now", T0)]
        for step in range(1, 5):
            clock.advance(10)
            await wait_until(lambda step=step: len(ran) == step + 1)  # type: ignore[misc]
        assert ran == [("now", T0), ("a", T0 + 10), ("b", T0 + 20), ("c", T0 + 30), ("d", T0 + 40)]
        assert schedule.waiting == 0  # none asked to run again


async def test_a_job_runs_again_when_it_says() -> None:
    clock, ran = FakeClock(T0), _ran()
    async with Schedule(clock, size=4) as schedule:
        job = Recorder(clock, "p", ran)
        job.every = 600
        schedule.add(Lot(), T0, job, 5)  # the action is handed back: due 605 s later
        for _ in range(3):
            await wait_until(lambda: clock.sleepers == 1)
            clock.advance(605)
        await wait_until(lambda: len(ran) == 4)
    assert [at - T0 for _, at in ran] == [0, 605, 1210, 1815]


async def test_many_waiting_jobs_take_a_bounded_pool_of_tasks() -> None:
    clock, ran = FakeClock(T0), _ran()
    before = len(asyncio.all_tasks())
    async with Schedule(clock, size=3) as schedule:
        lot = Lot()
        for i in range(500):
            job = Recorder(clock, f"j{i}", ran)
            job.every = 600
            schedule.add(lot, T0 + 1 + i, job, 0)
        await wait_until(lambda: clock.sleepers == 3)
        # 500 plants waiting: three tasks, each asleep until one of the three earliest.
        assert schedule.tasks == 3
        assert len(asyncio.all_tasks()) - before <= 3 * 2  # a task and its sleep each
        clock.advance(600)
        await wait_until(lambda: len(ran) == 500)
        assert [name for name, _ in ran] == [f"j{i}" for i in range(500)]
        assert schedule.waiting == 500


async def test_an_earlier_job_added_while_the_pool_sleeps_runs_first() -> None:
    clock, ran = FakeClock(T0), _ran()
    async with Schedule(clock, size=2) as schedule:
        lot = Lot()
        schedule.add(lot, T0 + 100, Recorder(clock, "late1", ran), 0)
        schedule.add(lot, T0 + 200, Recorder(clock, "late2", ran), 0)
        await wait_until(lambda: clock.sleepers == 2)
        schedule.add(lot, T0 + 50, Recorder(clock, "early", ran), 0)
        await wait_until(lambda: clock.sleepers == 2 and schedule.tasks == 2)
        clock.advance(60)
        await wait_until(lambda: len(ran) == 1)
        clock.advance(200)
        await wait_until(lambda: len(ran) == 3)
    assert ran == [("early", T0 + 60), ("late1", T0 + 260), ("late2", T0 + 260)]


async def test_a_failing_job_ends_its_lot_only() -> None:
    clock, ran = FakeClock(T0), _ran()
    async with Schedule(clock, size=4) as schedule:
        broken, healthy = Lot(), Lot()
        bad = Recorder(clock, "bad", ran)
        bad.fail = RuntimeError("a plant's bug")
        sibling, other = Recorder(clock, "sibling", ran), Recorder(clock, "other", ran)
        sibling.every = other.every = 10
        schedule.add(broken, T0 + 5, bad, 0)
        schedule.add(broken, T0 + 1, sibling, 0)
        schedule.add(healthy, T0 + 1, other, 0)
        await wait_until(lambda: clock.sleepers >= 3)
        clock.advance(5)
        with pytest.raises(RuntimeError, match="a plant's bug"):
            await asyncio.wait_for(broken.ended, 30)
        for _ in range(3):
            await wait_until(lambda: clock.sleepers >= 1 and not healthy.running)
            clock.advance(10)
        await wait_until(lambda: [n for n, _ in ran].count("other") >= 4)
        assert not healthy.ended.done()
    # The broken lot's other job never ran again; the healthy lot went on.
    assert [n for n, _ in ran].count("sibling") == 1


async def test_stopping_a_lot_cancels_its_running_job_and_waits_for_it() -> None:
    clock, ran = FakeClock(T0), _ran()
    async with Schedule(clock, size=2) as schedule:
        lot = Lot()
        job = Recorder(clock, "slow", ran)
        job.hold, job.every = asyncio.Event(), 10
        schedule.add(lot, T0, job, 0)
        await wait_until(lambda: bool(ran))
        await asyncio.wait_for(lot.stop(), 30)
        assert job.cancelled
        assert lot.ended.cancelled()
        assert schedule.waiting == 0


async def test_closing_the_schedule_cancels_running_jobs() -> None:
    clock, ran = FakeClock(T0), _ran()
    job = Recorder(clock, "slow", ran)
    job.hold = asyncio.Event()
    schedule = Schedule(clock, size=2)
    schedule.add(Lot(), T0, job, 0)
    schedule.add(Lot(), T0 + 600, Recorder(clock, "asleep", ran), 0)
    await wait_until(lambda: bool(ran) and clock.sleepers == 1)
    await asyncio.wait_for(schedule.close(), 30)
    assert job.cancelled
    assert schedule.tasks == 0
    assert clock.sleepers == 0


def test_a_schedule_needs_a_task() -> None:
    with pytest.raises(ValueError, match="at least one task"):
        Schedule(FakeClock(T0), size=0)


async def test_a_failing_job_cancels_its_lots_other_running_job() -> None:
    clock, ran = FakeClock(T0), _ran()
    async with Schedule(clock, size=4) as schedule:
        lot = Lot()
        slow, bad = Recorder(clock, "slow", ran), Recorder(clock, "bad", ran)
        slow.hold, bad.fail = asyncio.Event(), RuntimeError("broken")
        schedule.add(lot, T0, slow, 0)
        await wait_until(lambda: bool(ran))
        schedule.add(lot, T0, bad, 0)
        with pytest.raises(RuntimeError, match="broken"):
            await asyncio.wait_for(lot.ended, 30)
        await wait_until(lambda: slow.cancelled)
        lot.fail(RuntimeError("again"))  # an ended lot keeps its first error
        with pytest.raises(RuntimeError, match="broken"):
            lot.ended.result()


async def test_a_schedule_run_dry_takes_new_jobs_and_closes() -> None:
    clock, ran = FakeClock(T0), _ran()
    schedule = Schedule(clock, size=2)
    lot = Lot()
    schedule.add(lot, T0, Recorder(clock, "first", ran), 0)
    await wait_until(lambda: bool(ran) and schedule.waiting == 0)
    schedule.add(lot, T0, Recorder(clock, "second", ran), 0)  # an idle task takes it
    await wait_until(lambda: len(ran) == 2 and schedule.waiting == 0)
    assert schedule.tasks == 1
    await asyncio.wait_for(schedule.close(), 30)  # closed while its task waits for work
    assert schedule.tasks == 0
    assert [name for name, _ in ran] == ["first", "second"]


async def test_a_later_job_added_while_the_pool_sleeps_waits_its_turn() -> None:
    clock, ran = FakeClock(T0), _ran()
    async with Schedule(clock, size=1) as schedule:
        lot = Lot()
        schedule.add(lot, T0 + 10, Recorder(clock, "soon", ran), 0)
        await wait_until(lambda: clock.sleepers == 1)
        schedule.add(lot, T0 + 20, Recorder(clock, "later", ran), 0)
        clock.advance(30)
        await wait_until(lambda: len(ran) == 2)
    assert [name for name, _ in ran] == ["soon", "later"]


async def test_a_stopped_lots_sleeping_job_never_runs() -> None:
    clock, ran = FakeClock(T0), _ran()
    async with Schedule(clock, size=2) as schedule:
        stopped, kept = Lot(), Lot()
        schedule.add(stopped, T0 + 10, Recorder(clock, "stopped", ran), 0)
        schedule.add(kept, T0 + 10, Recorder(clock, "kept", ran), 0)
        await wait_until(lambda: clock.sleepers == 2)
        await stopped.stop()
        clock.advance(10)
        await wait_until(lambda: bool(ran) and schedule.waiting == 0)
    assert ran == [("kept", T0 + 10)]


async def test_a_stopped_lots_waiting_job_is_dropped_when_its_turn_comes() -> None:
    clock, ran = FakeClock(T0), _ran()
    async with Schedule(clock, size=1) as schedule:
        stopped, kept = Lot(), Lot()
        schedule.add(stopped, T0 + 10, Recorder(clock, "stopped", ran), 0)
        await wait_until(lambda: clock.sleepers == 1)
        schedule.add(kept, T0 + 5, Recorder(clock, "kept", ran), 0)  # the task takes it instead
        await wait_until(lambda: clock.sleepers == 1 and schedule.tasks == 1)
        await stopped.stop()
        clock.advance(10)
        await wait_until(lambda: bool(ran) and schedule.waiting == 0)
    assert ran == [("kept", T0 + 10)]


async def test_a_job_added_while_the_schedule_closes_never_runs_nor_holds_the_close() -> None:
    # A poll that ends as follow stops schedules its plant's repairs: before, that started
    # a pool task `close()` never cancelled, and it waited for it for ever (a SIGTERMed
    # daemon that never exited).
    clock, ran = FakeClock(T0), _ran()
    schedule = Schedule(clock, size=2)
    lot = Lot()
    late = Recorder(clock, "added while closing", ran)

    class AddsAsItEnds(Recorder):
        async def step(self, action: int) -> float | None:
            try:
                return await super().step(action)
            finally:
                schedule.add(lot, clock.now(), late, 0)

    job = AddsAsItEnds(clock, "ending", ran)
    job.hold = asyncio.Event()
    schedule.add(lot, T0, job, 0)
    await wait_until(lambda: bool(ran))
    await asyncio.wait_for(schedule.close(), 30)
    assert job.cancelled
    assert schedule.tasks == 0
    assert [name for name, _ in ran] == ["ending"]

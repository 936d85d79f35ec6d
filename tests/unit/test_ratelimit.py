"""The per-ITR limiter: the guarantee on a fake clock, then asyncio behaviour on a real one."""

from __future__ import annotations

import asyncio
import heapq
import math
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lacecal_async._ratelimit import ItrLimiter, LimiterRegistry, SlotSchedule, release_margin


def max_in_window(spans: list[tuple[float, float]], period: float) -> int:
    """Most requests a server could see within one window of `period`, arrivals chosen freely.

    A request reaches the server somewhere in [start, end]; a closed window [x, x + period]
    can hold request k iff start_k <= x + period and end_k >= x. The worst x is some end_j.
    """
    return max(
        (sum(1 for s, e in spans if s <= x + period and e >= x) for _, x in spans), default=0
    )


def simulate(
    n: int, period: float, jobs: list[tuple[float, float]], pauses: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Run jobs (wanted start, duration) through a SlotSchedule with an event loop of our own."""
    schedule = SlotSchedule(n, period)
    queue = sorted(jobs)
    pauses = sorted(pauses)
    running: list[float] = []  # end times
    spans: list[tuple[float, float]] = []
    now = 0.0
    while queue or running:
        while pauses and pauses[0][0] <= now:
            at, length = pauses.pop(0)
            schedule.pause(at + length)
        while running and running[0] <= now:
            schedule.finish(heapq.heappop(running))
        if not queue and not running:
            break
        if queue and queue[0][0] <= now and schedule.can_start(now):
            _, duration = queue.pop(0)
            schedule.start(now)
            heapq.heappush(running, now + duration)
            spans.append((now, now + duration))
            continue
        candidates = [t for t in (running[:1] + [p[0] for p in pauses[:1]]) if t > now]
        if queue:
            ready = schedule.next_start()
            candidates.append(max(queue[0][0], ready if ready is not None else math.inf))
        now = max(now, min(candidates))
    return spans


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 8),
    period=st.sampled_from([0.6, 10.0, 60.0]),
    jobs=st.lists(
        st.tuples(st.floats(0, 200, allow_nan=False), st.floats(0, 30, allow_nan=False)),
        max_size=60,
    ),
    pauses=st.lists(
        st.tuples(st.floats(0, 200, allow_nan=False), st.floats(0, 90, allow_nan=False)),
        max_size=3,
    ),
)
@pytest.mark.slow
def test_server_never_sees_more_than_n_in_a_window(
    n: int, period: float, jobs: list[tuple[float, float]], pauses: list[tuple[float, float]]
) -> None:
    spans = simulate(n, period, jobs, pauses)
    assert len(spans) == len(jobs)
    assert max_in_window(spans, period) <= n


def test_a_burst_of_n_starts_at_once_then_waits_a_full_period_after_the_ends() -> None:
    spans = simulate(6, 60.0, [(0.0, 0.5)] * 8, [])
    starts = sorted(s for s, _ in spans)
    assert starts[:6] == [0.0] * 6
    assert starts[6] == pytest.approx(0.5 + 60.0 + release_margin(60.0))


def test_the_leaky_bucket_trap_is_avoided() -> None:
    # aiolimiter.AsyncLimiter(6, 60) lets 11 requests start in the first minute.
    spans = simulate(6, 60.0, [(i * 10.0, 0.1) for i in range(12)], [])
    assert sum(1 for s, _ in spans if s < 60.0) == 6


def test_pause_holds_back_everything() -> None:
    spans = simulate(3, 1.0, [(0.0, 0.0), (0.5, 0.0)], [(0.1, 5.0)])
    assert sorted(s for s, _ in spans) == [0.0, 5.1]


def test_schedule_rejects_misuse() -> None:
    with pytest.raises(ValueError, match="positive"):
        SlotSchedule(0, 1.0)
    with pytest.raises(ValueError, match="positive"):
        SlotSchedule(1, 0.0)
    schedule = SlotSchedule(1, 1.0)
    with pytest.raises(RuntimeError, match="finish without start"):
        schedule.finish(0.0)
    schedule.start(0.0)
    with pytest.raises(RuntimeError, match="no free slot"):
        schedule.start(0.0)
    assert schedule.next_start() is None


# -- asyncio, real time, scaled-down periods ------------------------------------------------


async def test_concurrent_callers_share_one_limiter() -> None:
    loop = asyncio.get_running_loop()
    limiter = ItrLimiter(SlotSchedule(3, 0.2))
    spans: list[tuple[float, float]] = []

    async def call() -> None:
        async with limiter.slot():
            start = loop.time()
            await asyncio.sleep(0.01)
            spans.append((start, loop.time()))

    await asyncio.gather(*(call() for _ in range(9)))
    assert len(spans) == 9
    assert max_in_window(spans, 0.2) <= 3
    starts = sorted(s for s, _ in spans)
    first_end = min(e for _, e in spans)
    # The burst went at once: three started before any request ended; every later one a
    # full period after an end (whatever the machine's speed).
    assert all(s < first_end for s in starts[:3])
    assert all(s >= first_end + 0.2 for s in starts[3:])
    assert "busy=0" in repr(limiter)


async def test_cancelled_waiter_gives_its_turn_away() -> None:
    limiter = ItrLimiter(SlotSchedule(1, 0.1))
    order: list[str] = []

    async def call(name: str) -> None:
        async with limiter.slot():
            order.append(name)

    async with limiter.slot():
        waiting = asyncio.create_task(call("cancelled"))
        after = asyncio.create_task(call("after"))
        await asyncio.sleep(0)
        assert limiter.waiting == 2
        waiting.cancel()
    await after
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert order == ["after"]


async def test_granted_then_cancelled_returns_the_unused_slot() -> None:
    limiter = ItrLimiter(SlotSchedule(1, 30.0))
    loop = asyncio.get_running_loop()
    async with limiter.slot():
        pass
    # The only slot is held for 30 s; a waiter granted and cancelled in the same tick
    # must not push it further out.
    limiter.schedule.pause(loop.time())
    task = asyncio.create_task(limiter.slot().__aenter__())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    ready = limiter.schedule.next_start()
    assert ready is not None
    assert ready <= loop.time() + 30.0 + release_margin(30.0)


async def test_pause_delays_waiting_calls() -> None:
    loop = asyncio.get_running_loop()
    limiter = ItrLimiter(SlotSchedule(5, 0.05))
    limiter.pause(0.15)
    t0 = loop.time()
    async with limiter.slot():
        waited = loop.time() - t0
    assert waited >= 0.15 - 0.005


async def test_registry_remembers_the_itrs_used_within_the_period() -> None:
    registry = LimiterRegistry(2, 60.0)  # no machine is slow enough to let a minute pass
    for i in range(50):
        async with registry.get(f"{i:016d}").slot():
            pass
    assert len(registry) == 50
    assert all(registry.peek(f"{i:016d}") is not None for i in range(50))


async def test_registry_drops_idle_limiters_once_their_period_is_over() -> None:
    period = 0.05
    registry = LimiterRegistry(2, period)
    for i in range(50):
        async with registry.get(f"{i:016d}").slot():
            pass
    # Every request ended before this sleep began: a period and the margin later, the
    # registry has nothing left (a wait for at least that long, however busy the machine).
    await asyncio.sleep(period + release_margin(period) + 0.01)
    assert len(registry) == 0
    assert "itrs=0" in repr(registry)


async def test_registry_keeps_one_limiter_per_itr_while_busy() -> None:
    registry = LimiterRegistry(2, 60.0)
    first = registry.get("A" * 16)
    async with first.slot():
        assert registry.get("A" * 16) is first
    # Done with: what the limit remembers (one slot used) outlives the limiter object.
    again = registry.get("A" * 16)
    assert again is not first
    async with again.slot():
        # The first limiter's idle callback, come late (a stale one), must not drop the
        # limiter now in use, nor the state it took over.
        assert first.on_idle is not None
        first.on_idle(first)
        assert registry.get("A" * 16) is again
    assert registry.get("A" * 16).schedule.free(asyncio.get_running_loop().time()) == 0


def test_the_reprs_show_no_identifier() -> None:
    itr = "Sh0wsN0Identif1r"
    registry = LimiterRegistry(6, 60.0)

    async def use() -> tuple[str, str]:
        async with registry.get(itr).slot():
            return repr(registry), repr(registry.get(itr))

    for text in asyncio.run(use()):
        assert itr not in text
        assert itr[-4:] not in text  # not even the redacted tail: nothing names the ITR


def test_memory_follows_recent_use_not_the_limit() -> None:
    schedule = SlotSchedule(10**9, 1e-3)

    def use(steps: range) -> None:
        for step in steps:
            now = step * 1.0  # every request ends long before the next one starts
            schedule.start(now)
            schedule.finish(now)

    use(range(10))
    tracemalloc.start()
    try:
        use(range(10, 10_010))
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # One slot in recent use: a free time or two, not 10,000 (24 bytes each, and the list).
    assert kept < 2_000, kept
    assert schedule.next_start() == -math.inf
    assert schedule.free(10_010.0) == 10**9

"""One clock, one poll rule: a `FakeClock` drives `sync.follow` and `client.watch` together.

Issue 23, items 3 and 4: the two loops took a plant's phase from different keys (the engine
from the alias, `client.watch` from the identifier's fingerprint), and the testing package
had a clock protocol of its own. Here one `FakeClock` (the library's `Clock`) is the fake
server's, the engine's and the watch's; the test moves it in small steps once every loop
waits on it, and both loops poll the one plant at the phase its identifier gives, whatever
its alias says.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from lacecal_async import Clock, LacecalClient
from lacecal_async.endpoints import Endpoint
from lacecal_async.polling import JITTER, POLL_DELAY, POLL_SPREAD, phase_of, plant_phase
from lacecal_async.sync import Cycle, SQLiteStore, follow
from lacecal_async.testing import FakeClock, FakeLacecalServer, make_plants
from tests.support.checks import wait_until

PERIOD = 2
NOW = 1_727_827_201
#: The clock moves this far at a time [clock s]: a poll is seen at most this late.
STEP = PERIOD / 50
#: Polls watched after the plant is caught up, per loop.
POLLS = 4
#: Sleeps when every loop waits: the watch's plant, the engine's polls and its repairs.
SLEEPERS = 3


class _Polls:
    """The watch's view of the one `FakeClock`, noting when each of its polls ended.

    A poll ends as the watch goes back to sleep, at the instant it polled: the clock moves
    only while every loop sleeps. The batch it queued is taken by the consumer's task later,
    when that task runs, which may be after the test has moved the clock on.
    """

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.ended: list[float] = []

    def now(self) -> float:
        return self.clock.now()

    async def sleep(self, seconds: float) -> None:
        self.ended.append(self.clock.now())
        await self.clock.sleep(seconds)


def _offset(when: float) -> float:
    """How far into its period an instant is, as a fraction (periods start at 0 mod PERIOD)."""
    return when % PERIOD / PERIOD


async def test_one_fake_clock_drives_follow_and_watch_at_the_identifiers_phase(
    tmp_path: Path,
) -> None:
    clock = FakeClock(NOW)
    assert isinstance(clock, Clock)  # the one protocol: `now` and `sleep`
    start = NOW // PERIOD * PERIOD - 6 * PERIOD
    (plant,) = make_plants(1, seed=13, start=start, days=1, interval=PERIOD, follow_clock=True)
    phase = plant_phase(plant.itr)
    # An alias whose own phase is far from the identifier's: polls at the alias's phase
    # (the engine's old rule) fall outside the window the identifier's phase allows.
    alias = next(
        name
        for name in (f"roof-{n}" for n in range(100))
        if abs(phase_of(name) - phase) * POLL_SPREAD > JITTER + 2 * STEP / PERIOD
    )
    cycles: list[Cycle] = []
    batches_taken = 0
    polls = _Polls(clock)

    async with (
        FakeLacecalServer([plant], rate_limit=None, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as client,
        SQLiteStore(tmp_path / "follow.db") as store,
    ):
        engine = asyncio.create_task(
            follow(
                client,
                store,
                [(plant.itr, alias)],
                "meter",
                start,
                clock=clock,
                on_cycle=cycles.append,
            )
        )
        batches = client.watch([plant.itr], "meter", since=start, clock=polls)

        async def consume() -> None:
            nonlocal batches_taken
            async with contextlib.aclosing(batches):
                async for _ in batches:
                    batches_taken += 1

        consumer = asyncio.create_task(consume())
        try:
            while min(len(cycles), batches_taken, len(polls.ended)) < POLLS + 2:
                await wait_until(
                    lambda: clock.sleepers == SLEEPERS or engine.done() or consumer.done()
                )
                for task in (engine, consumer):
                    if task.done():
                        task.result()
                        raise AssertionError("a loop ended by itself")
                clock.advance(STEP)
                assert clock.now() < NOW + 20 * PERIOD, "the polls never came"
        finally:
            for task in (engine, consumer):
                task.cancel()
            for task in (engine, consumer):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    low = POLL_DELAY + POLL_SPREAD * phase
    # The engine: each poll after catching up lands at the identifier's phase, plus jitter.
    assert all(c.error is None and c.endpoint is Endpoint.METER for c in cycles)
    engine_offsets = [_offset(c.next_poll) for c in cycles]
    assert all(low <= o <= low + JITTER for o in engine_offsets), (low, engine_offsets)
    # The watch: its polls after catching up, each at most a step after its instant.
    watch_offsets = [_offset(t) for t in polls.ended[-POLLS:]]
    assert all(low <= o <= low + JITTER + STEP / PERIOD for o in watch_offsets), (
        low,
        watch_offsets,
    )
    async with SQLiteStore(tmp_path / "follow.db") as store:
        state = await store.state(alias, Endpoint.METER)
    assert state is not None
    assert state.latest is not None
    assert state.latest >= start + 6 * PERIOD  # it kept the store up to date meanwhile

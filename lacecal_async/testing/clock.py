"""Clocks that decide which records exist: real, fake (stepped by a test) or sped up.

There is one clock protocol, the library's `lacecal_async.clock.Clock` (``now()`` and
``sleep(seconds)``): the fake server reads ``now()`` to decide which records exist, and
follow mode (``client.watch``, ``sync.follow``) reads and sleeps on the same object.
Only data availability follows these clocks (a plant whose ``latest`` is None ends at the
last complete period before ``now()``); the rate limiter always uses real monotonic time.
`SystemClock` and `ScaledClock` are the library's: a follow-mode engine and a fake server
given the same `ScaledClock` object agree on what time it is. `FakeClock` is one too: its
`sleep` returns only once the test has moved the clock past the sleep's end, so follow
mode runs on it step by step, never on real time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

from lacecal_async.clock import Clock, ScaledClock, SystemClock

__all__ = ["Clock", "FakeClock", "ScaledClock", "SystemClock"]


def _release(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class FakeClock:
    """A clock that moves only when told, so follow-mode tests need not wait 10 minutes.

    A `lacecal_async.Clock`: ``client.watch(..., clock=fake)`` and ``sync.follow(...,
    clock=fake)`` sleep on it, and a sleep ends when `advance` or `set` moves the clock to
    its end (or later). `sleepers` counts the sleeps pending: once it equals the tasks a
    test runs, they all wait for the clock, so nothing changes until the test moves it (a
    state to wait for, not a time).
    """

    def __init__(self, start: float) -> None:
        self._now = float(start)
        #: (when, order, future) of every pending sleep, earliest first.
        self._sleeping: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        """Return the time last set or advanced to."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock reads `seconds` later than now (one loop turn if not positive)."""
        if not seconds > 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleeping, (self._now + seconds, next(self._order), future))
        try:
            await future
        finally:
            future.cancel()  # a cancelled sleep no longer counts (no-op once it has ended)

    @property
    def sleepers(self) -> int:
        """Sleeps waiting for the clock to move."""
        return sum(1 for _, _, future in self._sleeping if not future.done())

    def advance(self, seconds: float) -> float:
        """Move forward by `seconds` (never backward), end the sleeps due, return the time."""
        if seconds < 0:
            raise ValueError("a FakeClock only moves forward; use set() to jump")
        self._now += seconds
        self._wake()
        return self._now

    def set(self, now: float) -> None:
        """Jump to `now` (backward too: a test may replay a window); end the sleeps due."""
        self._now = float(now)
        self._wake()

    def _wake(self) -> None:
        sleeping = self._sleeping
        while sleeping and (sleeping[0][0] <= self._now or sleeping[0][2].done()):
            future = heapq.heappop(sleeping)[2]
            loop = future.get_loop()
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                _release(future)
            elif not loop.is_closed():  # moved from another thread: wake it on its own loop
                loop.call_soon_threadsafe(_release, future)

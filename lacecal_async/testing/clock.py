"""Clocks that decide which records exist: real, fake (stepped by a test) or sped up.

Only data availability follows these clocks (a plant whose ``latest`` is None ends at the
last complete period before ``now()``); the rate limiter always uses real monotonic time.
`SystemClock` and `ScaledClock` are the library's (`lacecal_async.clock`): a follow-mode
engine and a fake server given the same `ScaledClock` object agree on what time it is.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, runtime_checkable

from lacecal_async.clock import ScaledClock, SystemClock

__all__ = ["Clock", "FakeClock", "ScaledClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Anything with ``now()`` returning UNIX seconds."""

    def now(self) -> float:
        """Return the current time [UNIX seconds]."""
        ...


class FakeClock:
    """A clock that moves only when told, so follow-mode tests need not wait 10 minutes.

    It is a `lacecal_async.Clock` too: `sleep` moves it forward at once (the sleeper's
    time passes, nobody waits), so `sync` and `follow` can be given it as their clock.
    """

    def __init__(self, start: float) -> None:
        self._now = float(start)

    def now(self) -> float:
        """Return the time last set or advanced to."""
        return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by `seconds` (never backward) and return the new time."""
        if seconds < 0:
            raise ValueError("a FakeClock only moves forward; use set() to jump")
        self._now += seconds
        return self._now

    def set(self, now: float) -> None:
        """Jump to `now` (backward too: a test may replay a window)."""
        self._now = float(now)

    async def sleep(self, seconds: float) -> None:
        """Move forward by `seconds` (if positive), then let the other tasks run once."""
        self._now += max(seconds, 0.0)
        await asyncio.sleep(0)

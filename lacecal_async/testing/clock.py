"""Clocks that decide which records exist: real, fake (stepped by a test) or sped up.

Only data availability follows these clocks (a plant whose ``latest`` is None ends at the
last complete period before ``now()``); the rate limiter always uses real monotonic time.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FakeClock", "ScaledClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Anything with ``now()`` returning UNIX seconds."""

    def now(self) -> float:
        """Return the current time [UNIX seconds]."""
        ...


class SystemClock:
    """The real wall clock: the latest record advances every real integration period."""

    def now(self) -> float:
        """Return ``time.time()``."""
        return time.time()


class FakeClock:
    """A clock that moves only when told, so follow-mode tests need not wait 10 minutes."""

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


class ScaledClock:
    """Time starting at `start` and running `speed` times faster than real time."""

    def __init__(self, start: float, speed: float = 60.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._start = float(start)
        self._speed = speed
        self._origin = time.monotonic()

    def now(self) -> float:
        """Return `start` plus the real time elapsed since creation times `speed`."""
        return self._start + (time.monotonic() - self._origin) * self._speed

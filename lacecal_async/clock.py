"""Clocks the follow mode runs on: the real one, or one running N times faster.

Follow mode waits for integration periods to close, which takes ten minutes on the real
service. Everything it waits for goes through a `Clock`, so a test or a demo runs the same
code on a `ScaledClock` consistent with a fake server's (``lacecal serve --follow
--speed N`` uses one too): `now` is the clock's time, and `sleep` takes clock seconds.
`Clock` is the only clock protocol: the fake server reads the same one, and the testing
package's `FakeClock` (moved by the test, step by step) implements it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ScaledClock", "SystemClock", "sleep_until"]


@runtime_checkable
class Clock(Protocol):
    """What follow mode (and the fake server) needs of time: now, and a wait in clock seconds."""

    def now(self) -> float:
        """Return the current time [UNIX seconds]."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time (at once if not positive)."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> float:
        """Return ``time.time()``."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep(seconds)``."""
        await asyncio.sleep(max(seconds, 0.0))


class ScaledClock:
    """Time starting at `start` and running `speed` times faster than real time.

    Two processes agree on it when given the same `start` and `speed` at the same instant
    (``lacecal serve --follow --speed N`` prints what it uses).
    """

    def __init__(self, start: float, speed: float = 60.0) -> None:
        if not speed > 0:
            raise ValueError("speed must be positive")
        self._start = float(start)
        self._speed = float(speed)
        self._origin = time.monotonic()

    @property
    def speed(self) -> float:
        """How many clock seconds pass per real second."""
        return self._speed

    def now(self) -> float:
        """Return `start` plus the real time elapsed since creation times `speed`."""
        return self._start + (time.monotonic() - self._origin) * self._speed

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of clock time: ``seconds / speed`` real seconds."""
        await asyncio.sleep(max(seconds, 0.0) / self._speed)


async def sleep_until(clock: Clock, when: float) -> None:
    """Wait until `clock` reads `when` or later."""
    while (left := when - clock.now()) > 0:
        await clock.sleep(left)

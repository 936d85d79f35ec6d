"""A follow engine's clock on virtual time: it jumps once every task running on it sleeps.

The engine waits for its next poll on a `Clock` (``now`` and ``sleep``). `JumpClock` is
one whose time moves only when all of its `sleepers` (the tasks running on it: two per
plant and endpoint `follow` runs, its polls and its hole repairs) are asleep: it then
jumps to the earliest wake-up and wakes those due. Everything between two sleeps (HTTP to
the fake server, the database) takes no clock time, however busy the machine, so a
schedule seen on it is exact, and a test of days of polls runs as fast as the machine
goes. A fake server given the same clock decides by it which records exist.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools


class JumpClock:
    """Virtual time from `start` [UNIX s] that jumps once all `sleepers` tasks sleep on it."""

    def __init__(self, start: float, sleepers: int) -> None:
        if sleepers < 1:
            raise ValueError("a JumpClock needs at least one sleeper")
        self._now = float(start)
        self._sleepers = sleepers
        self._waiting: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        """Return the virtual time."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Wait until the virtual time reaches ``now() + seconds``."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        entry = (self._now + max(seconds, 0.0), next(self._order), done)
        heapq.heappush(self._waiting, entry)
        if len(self._waiting) >= self._sleepers:
            loop.call_soon(self._jump)
        try:
            await done
        finally:
            if entry in self._waiting:  # cancelled before its time came
                self._waiting.remove(entry)
                heapq.heapify(self._waiting)

    def _jump(self) -> None:
        """Move to the earliest wake-up, if every sleeper still sleeps; wake those due."""
        if len(self._waiting) < self._sleepers:
            return
        self._now = max(self._now, self._waiting[0][0])
        while self._waiting and self._waiting[0][0] <= self._now:
            _, _, done = heapq.heappop(self._waiting)
            if not done.done():
                done.set_result(None)

"""Per-ITR rate limiting that holds as the *server* sees it.

The API allows N requests per ITR in any window of P seconds. A request reaches the server
somewhere between the moment we let it go and the moment its reply is in, so a slot is
given back only P seconds (plus a small margin) after the exchange *ends*: two requests
that share a slot are then at least P apart at the server whatever happened in between
(a wait for a pooled connection, a busy event loop, network jitter). A fresh ITR has all N
slots free, so a short fetch goes out at once.

This is a sliding-window log of N slots, not a leaky bucket: ``aiolimiter.AsyncLimiter(6, 60)``
lets 11 requests start in the first minute, and ``AsyncLimiter(1, 10)`` forbids any burst.

A request may ask for a *spare* slot instead (`ItrLimiter.spare_slot(reserve)`): it starts
only while more than `reserve` slots are free, and after every ordinary request waiting, so
background work (a sync's hole repairs) never takes the slots that the ITR's regular
requests (its polls) need.

`SlotSchedule` is the pure bookkeeping (tested on a fake clock); `ItrLimiter` puts asyncio
waiting around it; `LimiterRegistry` holds one limiter per ITR in use, and for an ITR done
with only its recent slots' free times (a small array, no timer) until they pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import math
from array import array
from collections import deque
from collections.abc import Callable
from datetime import datetime

import attrs

from lacecal_async.limits import LimitState

__all__ = ["ItrLimiter", "LimiterRegistry", "SlotSchedule", "release_margin", "snapshot"]


def release_margin(period: float) -> float:
    """Slack added to every slot's hold, so a server that counts whole seconds still agrees.

    One sixtieth of the period: 1 s for the API's 60 s window, 10 ms for a 0.6 s test window.
    """
    return period / 60.0


@attrs.define
class SlotSchedule:
    """The pure state of one ITR's N slots, driven by explicit `now` values (seconds)."""

    max_requests: int
    period: float
    margin: float = attrs.field(
        default=attrs.Factory(lambda self: release_margin(self.period), takes_self=True)
    )
    #: Slots never used (or handed back unused): free, with no time attached. Counting them
    #: instead of listing them keeps memory to the slots in recent use, whatever N is.
    _unused: int = attrs.field(init=False)
    #: When each used, idle slot becomes (or became) free again; a busy slot is absent.
    _free_at: list[float] = attrs.field(init=False, factory=list)
    _busy: int = attrs.field(init=False, default=0)
    _paused_until: float = attrs.field(init=False, default=-math.inf)

    def __attrs_post_init__(self) -> None:
        if self.max_requests < 1 or not self.period > 0:
            raise ValueError("rate_limit needs at least 1 request per a positive period")
        self._unused = self.max_requests

    @property
    def busy(self) -> int:
        """Slots held by requests that have not ended yet."""
        return self._busy

    def next_start(self) -> float | None:
        """Earliest time a new request may start, or None while every slot is busy."""
        if self._unused:
            return self._paused_until
        if not self._free_at:
            return None
        return max(self._free_at[0], self._paused_until)

    def can_start(self, now: float) -> bool:
        """Whether a request may start at `now`."""
        ready = self.next_start()
        return ready is not None and ready <= now

    def spare_start(self, reserve: int) -> float | None:
        """Earliest time a request may start leaving `reserve` slots free, or None for now.

        None while too many slots are busy: one must end first. `reserve` is capped at one
        fewer than the slots (the request needs one).
        """
        need = min(max(reserve, 0), self.max_requests - 1) + 1
        if self._unused >= need:
            return self._paused_until
        k = need - self._unused
        if len(self._free_at) < k:
            return None
        return max(heapq.nsmallest(k, self._free_at)[-1], self._paused_until)

    def can_start_spare(self, now: float, reserve: int) -> bool:
        """Whether a request may start at `now` and leave `reserve` slots free."""
        ready = self.spare_start(reserve)
        return ready is not None and ready <= now

    def start(self, now: float) -> None:
        """Take a slot for a request that starts at `now` (the caller checked `can_start`)."""
        if not self.can_start(now):
            raise RuntimeError("no free slot")
        if self._free_at and self._free_at[0] <= now:
            heapq.heappop(self._free_at)  # reuse a slot whose period is over: the heap stays small
        else:
            self._unused -= 1
        self._busy += 1

    def finish(self, now: float) -> None:
        """End a request at `now`: its slot is free again a full period (plus margin) later."""
        if self._busy <= 0:
            raise RuntimeError("finish without start")
        self._busy -= 1
        heapq.heappush(self._free_at, now + self.period + self.margin)

    def free(self, now: float) -> int:
        """Slots free at `now`: never used, or a full period (plus margin) past their request."""
        return self._unused + sum(1 for at in self._free_at if at <= now)

    def next_free(self, now: float) -> float | None:
        """When a slot is (or was) next free: `now` if one is; None while every slot is busy."""
        if self.free(now):
            return now
        return self._free_at[0] if self._free_at else None

    def paused_until(self) -> float:
        """Until when a 429 holds this ITR back (in the past when it does not)."""
        return self._paused_until

    def fresh_at(self) -> float:
        """When, if nothing new starts, the schedule will be as good as new."""
        return max([self._paused_until, *self._free_at])

    def pause(self, until: float) -> None:
        """Start nothing before `until` (after a 429)."""
        self._paused_until = max(self._paused_until, until)

    def is_idle(self, now: float) -> bool:
        """Tell whether the schedule is indistinguishable from a fresh one at `now`."""
        return self._busy == 0 and self.fresh_at() <= now

    def rest(self, now: float) -> array[float]:
        """Return the compact state of an idle schedule: pause, then future free times.

        Slots free by `now` count as never used; what is left is what the limit remembers.
        """
        if self._busy:
            raise RuntimeError("a busy schedule cannot rest")
        return array("d", [self._paused_until, *(at for at in self._free_at if at > now)])

    def resume(self, state: array[float]) -> None:
        """Take up the state `rest` returned (on a fresh schedule)."""
        self._paused_until = state[0]
        self._free_at = sorted(state[1:])
        self._unused = self.max_requests - len(self._free_at)


@attrs.define(repr=False)
class ItrLimiter:
    """Asyncio waiting around a `SlotSchedule`: FIFO, cancellation-safe, pausable."""

    schedule: SlotSchedule
    #: Called with the limiter once nothing holds or waits for a slot. It must not hold the
    #: limiter itself: a cycle would leave every limiter a registry drops to the collector.
    on_idle: Callable[[ItrLimiter], None] | None = None
    _waiters: deque[asyncio.Future[None]] = attrs.field(init=False, factory=deque)
    #: Waiters for a spare slot, with the slots each leaves free: served after `_waiters`.
    _spare: deque[tuple[asyncio.Future[None], int]] = attrs.field(init=False, factory=deque)
    _timer: asyncio.TimerHandle | None = attrs.field(init=False, default=None)
    _closed: bool = attrs.field(init=False, default=False)

    def __repr__(self) -> str:
        s = self.schedule
        return f"<ItrLimiter {s.max_requests}/{s.period}s busy={s.busy} waiting={self.waiting}>"

    @property
    def waiting(self) -> int:
        """Callers waiting for a slot (a spare one too)."""
        return sum(1 for w in self._waiters if not w.done()) + sum(
            1 for w, _ in self._spare if not w.done()
        )

    def slot(self) -> ItrLimiter:
        """``async with limiter.slot():`` holds a slot for one request (send, reply, body read).

        The limiter is its own context manager (it keeps no state per holder): a generator
        based one costs an async generator, registered with the loop, per request.
        """
        return self

    def spare_slot(self, reserve: int) -> _SpareSlot:
        """``async with limiter.spare_slot(n):`` holds a slot that leaves `n` others free.

        It waits while `n` or fewer are free, and while any ordinary request waits.
        """
        return _SpareSlot(self, reserve)

    async def __aenter__(self) -> None:
        await self._acquire()

    async def __aexit__(self, *_: object) -> None:
        self._release()

    def _release(self) -> None:
        self.schedule.finish(asyncio.get_running_loop().time())
        self._wake()

    def close(self) -> None:
        """Disarm the timer for good, so a closed client leaves nothing scheduled on the loop.

        The waiters are not woken: the client fails their calls (`LacecalClosedError`).
        """
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def pause(self, seconds: float) -> None:
        """Hold back every waiting and future request of this ITR for `seconds`."""
        loop = asyncio.get_running_loop()
        self.schedule.pause(loop.time() + max(0.0, seconds))
        self._wake()

    async def _acquire(self) -> None:
        loop = asyncio.get_running_loop()
        if not self._waiters and self.schedule.can_start(loop.time()):
            self.schedule.start(loop.time())
            return
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        await self._wait(waiter)

    async def _acquire_spare(self, reserve: int) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not (self._waiters or self._spare) and self.schedule.can_start_spare(now, reserve):
            self.schedule.start(now)
            return
        waiter: asyncio.Future[None] = loop.create_future()
        self._spare.append((waiter, reserve))
        await self._wait(waiter)

    async def _wait(self, waiter: asyncio.Future[None]) -> None:
        loop = asyncio.get_running_loop()
        self._wake()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # Granted just as we were cancelled: nothing was sent, hand the slot on.
                self.schedule.finish(loop.time() - self.schedule.period - self.schedule.margin)
            self._wake()
            raise

    def _wake(self) -> None:
        """Grant slots to waiters in order; arm a timer for the next one; report idleness."""
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        self._grant(loop.time())
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._waiters:
            ready = self.schedule.next_start()
        elif self._spare:
            ready = self.schedule.spare_start(self._spare[0][1])
        else:
            ready = None
            if self.schedule.busy == 0 and self.on_idle is not None:
                self.on_idle(self)  # all ended: the registry keeps what the limit remembers
        if ready is not None:
            self._timer = loop.call_at(ready, self._wake)

    def _grant(self, now: float) -> None:
        """Start the waiters that may start at `now`: ordinary ones first, then spare ones."""
        while self._waiters:
            head = self._waiters[0]
            if head.done():  # cancelled while waiting
                self._waiters.popleft()
                continue
            if not self.schedule.can_start(now):
                break
            self._waiters.popleft()
            self.schedule.start(now)
            head.set_result(None)
        while self._spare and not self._waiters:  # spare slots only once no one else waits
            spare, reserve = self._spare[0]
            if spare.done():
                self._spare.popleft()
                continue
            if not self.schedule.can_start_spare(now, reserve):
                break
            self._spare.popleft()
            self.schedule.start(now)
            spare.set_result(None)


@attrs.frozen
class _SpareSlot:
    """The context manager of `ItrLimiter.spare_slot`."""

    limiter: ItrLimiter
    reserve: int

    async def __aenter__(self) -> None:
        await self.limiter._acquire_spare(self.reserve)

    async def __aexit__(self, *_: object) -> None:
        self.limiter._release()


def _fresh_at(state: array[float]) -> float:
    return max(state)


@attrs.define(repr=False)
class LimiterRegistry:
    """One `ItrLimiter` per ITR while it is busy or waited on; a resting state after that.

    An ITR whose requests have all ended keeps only what the limit must remember: when its
    recent slots free again (and a 429's pause), in a small array, until the last of those
    times passes. Expired states are dropped whenever the registry is used (no timers): its
    memory follows the ITRs used within the last period, not the throughput or the input.
    """

    max_requests: int
    period: float
    _limiters: dict[str, ItrLimiter] = attrs.field(init=False, factory=dict)
    _resting: dict[str, array[float]] = attrs.field(init=False, factory=dict)
    #: (when a resting state expires, its ITR): a stale entry (the ITR came back) is skipped.
    _expiry: list[tuple[float, str]] = attrs.field(init=False, factory=list)

    def __repr__(self) -> str:
        return f"<LimiterRegistry {self.max_requests}/{self.period}s itrs={len(self)}>"

    def __len__(self) -> int:
        """ITRs tracked: busy or waited on, or used within the last period."""
        with contextlib.suppress(RuntimeError):  # no running loop: count what is kept
            self._expire(asyncio.get_running_loop().time())
        return len(self._limiters) + len(self._resting)

    def get(self, itr: str) -> ItrLimiter:
        """Return the limiter of `itr` (a validated identifier), created if needed."""
        limiter = self._limiters.get(itr)
        if limiter is None:
            limiter = self._revive(itr)
            limiter.on_idle = functools.partial(self._rest, itr)
            self._limiters[itr] = limiter
        return limiter

    def peek(self, itr: str) -> ItrLimiter | None:
        """Return the limiter of `itr` if it has state now (a copy if resting), creating none."""
        limiter = self._limiters.get(itr)
        if limiter is not None:
            return limiter
        return self._revive(itr, keep=True) if itr in self._resting else None

    def close(self) -> None:
        """Forget every limiter and disarm their timers (the client is closing)."""
        for limiter in self._limiters.values():
            limiter.close()
        self._limiters.clear()
        self._resting.clear()
        self._expiry.clear()

    def _revive(self, itr: str, *, keep: bool = False) -> ItrLimiter:
        self._expire(asyncio.get_running_loop().time())
        schedule = SlotSchedule(self.max_requests, self.period)
        state = self._resting.get(itr) if keep else self._resting.pop(itr, None)
        if state is not None:
            schedule.resume(state)
        return ItrLimiter(schedule)

    def _rest(self, itr: str, limiter: ItrLimiter) -> None:
        if self._limiters.get(itr) is not limiter:
            return  # a stale callback must not touch another limiter of the ITR
        del self._limiters[itr]
        now = asyncio.get_running_loop().time()
        self._expire(now)
        if limiter.schedule.is_idle(now):
            return  # as good as new: nothing to remember
        state = limiter.schedule.rest(now)
        self._resting[itr] = state
        heapq.heappush(self._expiry, (_fresh_at(state), itr))

    def _expire(self, now: float) -> None:
        expiry, resting = self._expiry, self._resting
        while expiry and expiry[0][0] <= now:
            _, itr = heapq.heappop(expiry)
            state = resting.get(itr)
            if state is not None and _fresh_at(state) <= now:
                del resting[itr]


def snapshot(
    limiter: ItrLimiter | None,
    max_requests: int,
    period: float,
    *,
    now: float,
    wall: datetime,
) -> LimitState:
    """Return the `LimitState` of an ITR's limiter at loop time `now` (wall clock `wall`).

    No limiter (an ITR never used, or idle long enough to be dropped): every slot free.
    """
    if limiter is None:
        return LimitState(max_requests, period, max_requests, 0, 0, 0.0, 0.0, 0.0, wall)
    schedule = limiter.schedule
    next_free = schedule.next_free(now)
    busy = schedule.busy
    return LimitState(
        max_requests,
        period,
        free=schedule.free(now),
        busy=busy,
        waiting=limiter.waiting,
        next_free_in=None if next_free is None else max(0.0, next_free - now),
        paused_for=max(0.0, schedule.paused_until() - now),
        all_free_in=None if busy else max(0.0, schedule.fresh_at() - now),
        taken_at=wall,
    )

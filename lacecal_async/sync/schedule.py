"""Follow mode's schedule: a plant waiting for its next poll is an entry in a heap, not a task.

Two sleeping tasks per followed plant (its polls, its repairs) cost about 11 KB each idle
plant: 100,000 plants took over 1 GiB doing nothing. Here each waiting job is a tuple in
one heap, ``(due, order, stepper, action, lot)``, and a bounded pool of tasks runs the jobs
when due: an idle pool task takes the earliest entry, sleeps on the clock until it is due
and runs it, in a task of its own (so a plant can be stopped alone); the job returns when
it wants to run again (None: never), and the entry goes back in the heap.

The pool grows to at most `size` tasks and never beyond the jobs it holds, so a few plants
get one pool task per job, each asleep on the clock until its job is due: a test clock
that counts sleepers sees the same count as with a task per job. The entries the pool's
tasks sleep on are always the earliest: one added earlier than any of them wakes the one
sleeping on the latest, which puts its entry back and takes the earliest.

A `Lot` is a set of jobs that stop together: all of follow's plants, or one fleet plant.
A job that raises ends its lot (`Lot.ended` holds the error, its other jobs are
cancelled); the schedule and the other lots go on.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from types import TracebackType
from typing import Protocol, Self

from lacecal_async.clock import Clock, sleep_until

__all__ = ["Lot", "Schedule", "Stepper"]


class Stepper(Protocol):
    """What a schedule runs: ``await stepper.step(action)``, returning when to run it again."""

    async def step(self, action: int) -> float | None:
        """Do the job `action`; return when it is due again (None: not again)."""
        ...


class Lot:
    """Jobs that end together; `ended` is done once they do (its exception: why)."""

    __slots__ = ("ended", "running")

    def __init__(self) -> None:
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        #: The lot's jobs running now, each in its own task.
        self.running: set[asyncio.Task[float | None]] = set()

    def fail(self, error: BaseException) -> None:
        """End the lot with `error`: its jobs running now are cancelled, none starts again."""
        if not self.ended.done():
            self.ended.set_exception(error)
        for task in self.running:
            task.cancel()

    async def stop(self) -> None:
        """End the lot; return once its running jobs have ended (a commit in flight lands)."""
        if not self.ended.done():
            self.ended.cancel()
        jobs = list(self.running)
        for task in jobs:
            task.cancel()
        if jobs:
            await asyncio.wait(jobs)


#: A waiting job: when it is due, the order it was added in (ties), what runs it, the lot.
_Entry = tuple[float, int, Stepper, int, Lot]


class Schedule:
    """``async with Schedule(clock, size) as schedule``: jobs run when due by <= size tasks.

    Leaving the block cancels the pool and the jobs running, and waits for them to end.
    """

    def __init__(self, clock: Clock, size: int) -> None:
        if size < 1:
            raise ValueError("a schedule needs at least one task")
        self._clock = clock
        self._size = size
        self._heap: list[_Entry] = []
        self._order = itertools.count()
        #: Entries not ended: waiting in the heap, slept on, or running.
        self._jobs = 0
        self._pool: set[asyncio.Task[None]] = set()
        #: Pool tasks with nothing to take, each waiting on its future.
        self._idle: list[asyncio.Future[None]] = []
        #: Each pool task's sleep until its entry is due, and that entry.
        self._naps: dict[asyncio.Task[None], _Entry] = {}
        #: ``(due, order)`` of the entries slept on, earliest first (`due_by`); those no
        #: longer slept on (their order not in `_napping`) are dropped when met.
        self._nap_dues: list[tuple[float, int]] = []
        self._napping: set[int] = set()
        #: Set by `close`: a job added after it never runs (no task is started for it).
        self._closed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def waiting(self) -> int:
        """Jobs in the schedule (waiting, sleeping until due, or running)."""
        return self._jobs

    @property
    def tasks(self) -> int:
        """The pool's tasks now."""
        return len(self._pool)

    def due_by(self, when: float) -> bool:
        """Whether a job waiting (in the heap, or slept on) is due by `when`."""
        if self._heap and self._heap[0][0] <= when:
            return True
        dues, napping = self._nap_dues, self._napping
        while dues and dues[0][1] not in napping:
            heapq.heappop(dues)
        return bool(dues) and dues[0][0] <= when

    def add(self, lot: Lot, due: float, stepper: Stepper, action: int) -> None:
        """Run ``stepper.step(action)`` for `lot` once the clock reads `due`, then as it says.

        Once the schedule closes, nothing: a job that ends as it closes may still add one
        (a plant's first poll schedules its repairs).
        """
        if self._closed:
            return
        entry = (due, next(self._order), stepper, action, lot)
        heapq.heappush(self._heap, entry)
        self._jobs += 1
        if self._idle:
            waiter = self._idle.pop()
            if not waiter.done():
                waiter.set_result(None)
        elif len(self._pool) < min(self._size, self._jobs):
            task = asyncio.create_task(self._work())
            self._pool.add(task)
        elif self._heap[0] is entry and self._naps:
            latest = max(self._naps, key=lambda nap: self._naps[nap][:2])
            if self._naps[latest][:2] > entry[:2]:
                del self._naps[latest]  # its entry goes back: the earliest is taken instead
                latest.cancel()

    async def close(self) -> None:
        """Cancel the pool (and so the jobs running); return once all of it has ended.

        Jobs added meanwhile (by a job that ends) never run: before, such a job started a
        task this did not cancel, and it waited for that task for ever.
        """
        self._closed = True
        for task in self._pool:
            task.cancel()
        while self._pool:
            done, _ = await asyncio.wait(list(self._pool))
            self._pool.difference_update(done)

    async def _take(self) -> _Entry:
        """Return the earliest entry once it is due; wait for one if there is none."""
        heap = self._heap
        while True:
            while heap and heap[0][4].ended.done():
                heapq.heappop(heap)
                self._jobs -= 1
            if not heap:
                waiter = asyncio.get_running_loop().create_future()
                self._idle.append(waiter)
                try:
                    await waiter
                finally:
                    if waiter in self._idle:
                        self._idle.remove(waiter)
                continue
            entry = heapq.heappop(heap)
            if entry[0] > self._clock.now():
                nap = asyncio.create_task(sleep_until(self._clock, entry[0]))
                self._naps[nap] = entry
                self._napped(entry)
                try:
                    await asyncio.wait((nap,))
                finally:
                    self._naps.pop(nap, None)
                    self._napping.discard(entry[1])
                    nap.cancel()
                if nap.cancelled():  # an earlier entry came: back in the heap
                    heapq.heappush(heap, entry)
                    continue
            if entry[4].ended.done():
                self._jobs -= 1
                continue
            return entry

    def _napped(self, entry: _Entry) -> None:
        """Note an entry slept on (`due_by`), keeping the notes to about the naps."""
        self._napping.add(entry[1])
        if len(self._nap_dues) > 2 * len(self._naps) + 64:
            self._nap_dues = [napped[:2] for napped in self._naps.values()]
            heapq.heapify(self._nap_dues)
        heapq.heappush(self._nap_dues, entry[:2])

    async def _work(self) -> None:
        """One task of the pool: take the earliest due entry, run it, put it back."""
        while True:
            entry = await self._take()
            _, _, stepper, action, lot = entry
            job = asyncio.create_task(stepper.step(action))
            lot.running.add(job)
            try:
                await asyncio.wait((job,))
            finally:
                if not job.done():  # the pool is cancelled: the job ends first
                    job.cancel()
                    await asyncio.wait((job,))
                lot.running.discard(job)
                # Retrieved even when its lot has ended or the pool is cancelled: else asyncio
                # logs "Task exception was never retrieved" for each job that failed with it.
                error = job.exception() if job.done() and not job.cancelled() else None
            if job.cancelled() or lot.ended.done():
                self._jobs -= 1
                continue
            if error is not None:
                self._jobs -= 1
                lot.fail(error)
                continue
            again = job.result()
            if again is None:
                self._jobs -= 1
            else:  # this task takes the earliest next: no other task need wake
                heapq.heappush(self._heap, (again, next(self._order), stepper, action, lot))

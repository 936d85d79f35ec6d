"""Tasks producing into a bounded queue, and the one loop that hands their items to a consumer.

`stream_many` (`fanout`) and `client.watch` (`watch`) both run tasks that put items into a
bounded queue, drained by an async generator: the consumer's pace holds the producers back.
Both stop the same way: leaving the iterator (``aclose()``) or a cancellation from outside
cancels every task and waits for them; the client's close cancels them at once, even while
the consumer is suspended between two items (`Producers.halt`, a close hook), and the
iterator's next step raises `LacecalClosedError`. A bug in a task (not a `LacecalError`)
travels through the queue as a `Crash` and is raised to the consumer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

import attrs

from lacecal_async._transport import Transport
from lacecal_async.errors import LacecalClosedError

__all__ = ["Crash", "Producers", "consume", "reported"]

T = TypeVar("T")


@attrs.define
class Crash:
    """A bug (not a LacecalError) in a producing task, or in the caller's input."""

    error: BaseException


async def reported(work: Awaitable[None], queue: asyncio.Queue[Any]) -> None:
    """Await a producer's `work`; a bug in it goes to the consumer as a `Crash`.

    The client closing ends it quietly: the consumer's own wait fails with it.
    """
    try:
        await work
    except LacecalClosedError:
        pass
    except Exception as exc:  # noqa: BLE001 - a bug or a bad argument: surface it
        await queue.put(Crash(exc))


@attrs.define
class Producers(Generic[T]):
    """The tasks feeding one consumer, and the bounded queue they feed (None: no more)."""

    queue: asyncio.Queue[T | Crash | None]
    tasks: set[asyncio.Task[None]] = attrs.field(factory=set)
    #: Set by `halt` or `stop`: the cancellations from then on are ours.
    stopping: bool = False
    #: One of our tasks was cancelled from outside: the consumer raises CancelledError.
    interrupted: bool = False
    #: The consumer's task while it waits for an item.
    waiter: asyncio.Task[Any] | None = None

    def start(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `work` as one of our tasks."""
        task = asyncio.create_task(work)
        self.watch(task)
        return task

    def watch(self, task: asyncio.Task[None]) -> None:
        """Track a task of ours; a cancellation it did not get from us stops everything."""
        self.tasks.add(task)
        task.add_done_callback(self._ended)

    def halt(self) -> None:
        """Cancel every task of ours at once (the client is closing): none produces on."""
        self.stopping = True
        for task in tuple(self.tasks):
            task.cancel()

    def _ended(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if task.cancelled() and not self.stopping:
            self.interrupted = True
            if self.waiter is not None:
                self.waiter.cancel()

    async def stop(self) -> None:
        """Cancel every task of ours, and wait until they are all gone.

        A cancellation of the caller meanwhile is kept and raised once they are gone.
        """
        self.stopping = True
        tasks = set(self.tasks)
        for task in tasks:
            task.cancel()
        interrupted = False
        while pending := {task for task in tasks if not task.done()}:
            try:
                await asyncio.wait(pending)
            except asyncio.CancelledError:
                interrupted = True
        if interrupted:
            raise asyncio.CancelledError


async def consume(
    transport: Transport,
    producers: Producers[T],
    begin: Callable[[], object],
    taken: Callable[[T], object] | None = None,
) -> AsyncGenerator[T]:
    """Yield the items `producers` queue until one is None; `begin()` starts their tasks.

    A closed client fails before `begin` is called. `taken(item)` runs as each item is
    taken, before it is yielded (the fan-out gives its credits back there).
    """
    async with transport.guard():  # a closed client fails here, before any task
        pass
    begin()
    transport.on_close.add(producers.halt)
    try:
        while True:
            if producers.interrupted:
                raise asyncio.CancelledError
            producers.waiter = asyncio.current_task()
            try:
                async with transport.guard():  # close() fails this wait
                    item = await producers.queue.get()
            finally:
                producers.waiter = None
            if item is None:
                break
            if isinstance(item, Crash):
                raise item.error
            if taken is not None:
                taken(item)
            yield item
            del item  # not held while waiting for the next one
    finally:
        transport.on_close.discard(producers.halt)
        await producers.stop()

"""Fetching from many ITRs at once: events as pages arrive (`stream`), or all results (`collect`).

At most `max_active` ITRs are in progress, each in a task of its own paced only by its own
limiter; an ITR backing off to retry lends its place to the next one (up to `max_active`
back off at once, `_Place`); the input is read only as places free (an async input one
item ahead), so tasks (at most twice `max_active`) and memory follow that bound, not the
input's length. A credit admits
one exchange and travels with its page until the consumer takes it: never held during a
backoff, a wait for the ITR's turn, or a reply with nothing to deliver. Credits number
`buffer` plus the places in flight, which bounds the pages fetched and not yet consumed.
Events pass through a bounded queue: a slow consumer stalls the producers.

Leaving the iterator (``aclose()``), a cancellation from outside, or the client's close
cancels every task of the fan-out and waits for them before the iterator ends. The client's
close cancels them at once, even while the consumer is suspended between two events: the
input is never read after it, and the iterator's next step raises `LacecalClosedError`
(the tasks and the queue's drain are `lacecal_async._producers`, as `client.watch`'s are).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, Iterable
from datetime import datetime
from typing import Any, cast

import attrs

from lacecal_async._paging import replies
from lacecal_async._producers import Crash, Producers, consume, reported
from lacecal_async._protocol import validate_range
from lacecal_async._transport import Transport
from lacecal_async.endpoints import Endpoint
from lacecal_async.errors import LacecalClosedError, LacecalError
from lacecal_async.events import (
    FetchResult,
    ItrDone,
    ItrFailed,
    LatestResult,
    PageEvent,
    Progress,
    StreamEvent,
)
from lacecal_async.itr import validate_itr

__all__ = [
    "DEFAULT_BUFFER",
    "DEFAULT_MAX_ACTIVE",
    "FetchResult",
    "ItrDone",
    "ItrFailed",
    "Job",
    "LatestResult",
    "PageEvent",
    "Progress",
    "StreamEvent",
    "collect",
    "latest",
    "stream",
]

#: Events buffered between the fetching tasks and a consumer of `stream_many`.
DEFAULT_BUFFER = 64
#: ITRs in progress at once. At the API's 6 requests per minute per ITR, 1000 active ITRs
#: keep 100 requests a second going; each costs a task and a page or two of memory.
DEFAULT_MAX_ACTIVE = 1000


@attrs.frozen
class Job:
    """What every ITR of one fan-out fetches, checked before anything starts."""

    endpoint: Endpoint
    start: int | None
    end: int | None
    #: Bound on requests in flight (None: the client's pool size).
    max_in_flight: int | None
    #: Events waiting for the consumer, at most.
    buffer: int
    #: ITRs in progress at once, at most.
    max_active: int

    @classmethod
    def of(
        cls,
        endpoint: Endpoint | str,
        start: datetime | int | None,
        end: datetime | int | None,
        *,
        max_in_flight: int | None,
        buffer: int,
        max_active: int,
    ) -> Job:
        """Check the arguments of `stream_many`/`fetch_many` (ValueError, TypeError)."""
        endpoint = Endpoint(endpoint)
        start_t, end_t = validate_range(start, end)
        if endpoint is Endpoint.INVERTER_LIST and (start_t is not None or end_t is not None):
            raise ValueError("inverter_list takes no start or end")
        if buffer < 1:
            raise ValueError("buffer must be at least 1")
        if max_in_flight is not None and max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        if max_active < 1:
            raise ValueError("max_active must be at least 1")
        return cls(endpoint, start_t, end_t, max_in_flight, buffer, max_active)


@attrs.define
class _Place:
    """An ITR's working place (one of `max_active`), lent out while it backs off to retry.

    A backoff moves the ITR to one of `max_active` waiting places, so the next ITR of the
    input can start meanwhile; after it the ITR takes a working place again before giving
    up its waiting one. With every waiting place taken it backs off where it is: tasks stay
    within twice `max_active`, and a full waiting set cannot deadlock (no working place is
    held while waiting for a waiting one).
    """

    active: asyncio.Semaphore
    waiting: asyncio.Semaphore
    held: bool = True

    async def backoff(self, delay: float) -> None:
        if self.waiting.locked():
            await asyncio.sleep(delay)
            return
        await self.waiting.acquire()  # free: no wait
        self.give_back()
        try:
            await asyncio.sleep(delay)
            await self.active.acquire()
            self.held = True
        finally:
            self.waiting.release()

    def give_back(self) -> None:
        if self.held:
            self.held = False
            self.active.release()


@attrs.define
class _Credit:
    """One ITR's admission to the exchange it is about to make (the transport's `Admission`).

    Taken once the ITR's slot is granted; given back at once if the attempt fails or brings
    nothing to deliver, else handed over with the page (the consumer gives it back). The
    turn to decode (`handoff`, one at a time) is taken once the reply is in and travels the
    same way: a page is decoded only once the consumer has taken the one decoded before it.
    """

    credits: asyncio.Semaphore
    in_flight: asyncio.Semaphore | None
    place: _Place
    handoff: asyncio.Semaphore
    held: bool = False
    decoding: bool = False

    async def enter(self) -> None:
        await self.credits.acquire()
        self.held = True
        if self.in_flight is not None:
            await self.in_flight.acquire()

    def leave(self, *, ok: bool) -> None:
        if self.in_flight is not None:
            self.in_flight.release()
        if not ok:
            self.give_back()  # a backoff or an error follows: hold nothing through it

    async def before_decode(self) -> None:
        await self.handoff.acquire()
        self.decoding = True

    async def backoff(self, delay: float) -> None:
        await self.place.backoff(delay)

    def hand_over(self) -> None:
        """Let the credit and the turn travel with a page: the consumer gives them back."""
        self.held = self.decoding = False

    def give_back(self) -> None:
        """Return a credit, and a turn to decode, that no page took."""
        if self.held:
            self.held = False
            self.credits.release()
        if self.decoding:
            self.decoding = False
            self.handoff.release()


@attrs.define
class _Fanout:
    """The tasks of one `stream` call and the bounded queue they feed."""

    transport: Transport
    job: Job
    #: The fetching tasks (and the feeder), and the queue of events they fill.
    producers: Producers[StreamEvent[Any]]
    in_flight: asyncio.Semaphore | None
    credits: asyncio.Semaphore
    active: asyncio.Semaphore
    #: Places for ITRs backing off to retry, beside the `active` ones (as many).
    waiting: asyncio.Semaphore
    #: The turn to decode a reply: one page decoded and not yet taken by the consumer at a
    #: time. Pages decoded in one turn of the event loop would otherwise all wait for the
    #: consumer (it runs after every task the same replies woke), outlive collections and
    #: make the cyclic garbage collector's older generations grow (see `Admission`).
    #: Bounded: a turn given back twice raises instead of lifting the bound silently.
    handoff: asyncio.Semaphore = attrs.field(factory=lambda: asyncio.BoundedSemaphore(1))
    running: int = 0
    feeding: bool = True
    seen: set[object] = attrs.field(factory=set)

    async def feed(self, itrs: Iterable[object] | AsyncIterable[object]) -> None:
        """Start a task per distinct identifier, reading `itrs` as places free (see above)."""
        try:
            if isinstance(itrs, AsyncIterable):
                # The next item first, then a place: an input that waits (for another ITR's
                # result, say) holds no place a retrying ITR needs back (one read ahead).
                source = aiter(itrs)
                while True:
                    try:
                        itr = await anext(source)
                    except StopAsyncIteration:
                        break
                    await self.active.acquire()
                    self._spawn(itr)
            else:
                items = iter(itrs)
                while True:
                    await self.active.acquire()
                    try:
                        itr = next(items)
                    except StopIteration:
                        self.active.release()
                        break
                    self._spawn(itr)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - the caller's iterable failed: tell the consumer
            self.feeding = False
            await self.producers.queue.put(Crash(exc))
            return
        self.feeding = False
        if self.running == 0:
            await self.producers.queue.put(None)

    def _spawn(self, itr: object) -> None:
        try:
            duplicate = itr in self.seen
            if not duplicate:
                self.seen.add(itr)
        except TypeError:  # unhashable: cannot repeat a valid identifier; it fails validation
            duplicate = False
        if duplicate:
            self.active.release()
            return
        self.running += 1
        self.producers.start(self._run(itr))

    async def _run(self, itr: object) -> None:
        """Fetch one ITR; the last task to end tells the consumer there is no more."""
        place = _Place(self.active, self.waiting)
        try:
            await reported(self._one(itr, place), self.producers.queue)
        finally:
            self.running -= 1
            place.give_back()
        if self.running == 0 and not self.feeding:
            await self.producers.queue.put(None)

    async def _one(self, itr: object, place: _Place) -> None:
        job, transport = self.job, self.transport
        key = cast("str", itr)  # as given, possibly not a valid identifier at all
        progress = Progress()
        emit = self.producers.queue.put
        credit = _Credit(self.credits, self.in_flight, place, self.handoff)
        try:
            valid = validate_itr(itr)
            if job.start is None:  # the inverter list, or the latest record only
                records = await transport.request(job.endpoint, valid, admission=credit)
                credit.hand_over()
                progress = Progress(1, len(records), 1, 1)
                await emit(PageEvent(key, records, progress))
            else:
                pages = replies(
                    transport, job.endpoint, valid, job.start, job.end, admission=credit
                )
                async with contextlib.aclosing(pages):
                    async for reply in pages:
                        pages_so_far, records_so_far = progress.pages, progress.records
                        if reply.records:
                            pages_so_far += 1
                            records_so_far += len(reply.records)
                        progress = Progress(
                            pages_so_far,
                            records_so_far,
                            reply.requests_so_far,
                            reply.expected_pages,
                        )
                        if not reply.records:  # a lookup or a probe: nothing to deliver
                            credit.give_back()
                            continue
                        credit.hand_over()
                        await emit(PageEvent(key, reply.records, progress))
                        del reply  # not held while the next page is fetched
        except LacecalClosedError:
            raise
        except LacecalError as exc:
            failure = ItrFailed(key, exc, progress)
        else:
            await emit(ItrDone(key, progress))
            return
        finally:
            credit.give_back()
        await emit(failure)  # outside the handler: no chained context rides along


def stream(
    transport: Transport, itrs: Iterable[object] | AsyncIterable[object], job: Job
) -> AsyncGenerator[StreamEvent[Any]]:
    """Yield `PageEvent`s as pages arrive, and one `ItrDone` or `ItrFailed` per ITR."""
    in_flight = job.max_in_flight if job.max_in_flight is not None else transport.pool_size
    bound = asyncio.Semaphore(in_flight) if in_flight < transport.pool_size else None
    fanout = _Fanout(
        transport,
        job,
        Producers(asyncio.Queue(job.buffer)),
        bound,
        # Enough credits to keep every place in flight busy while `buffer` pages wait.
        credits=asyncio.Semaphore(job.buffer + in_flight),
        active=asyncio.Semaphore(job.max_active),
        waiting=asyncio.Semaphore(job.max_active),
    )

    def taken(event: StreamEvent[Any]) -> None:
        if isinstance(event, PageEvent):
            fanout.credits.release()  # taken: its ITR may fetch another page
            fanout.handoff.release()  # and the next reply may be decoded

    return consume(
        transport, fanout.producers, lambda: fanout.producers.start(fanout.feed(itrs)), taken
    )


async def collect(
    transport: Transport, itrs: Iterable[object] | AsyncIterable[object], job: Job
) -> dict[str, FetchResult[Any]]:
    """Fetch every ITR's records; one bad ITR's error is recorded, never raised."""
    pages: dict[Any, list[Any]] = {}
    results: dict[str, FetchResult[Any]] = {}
    events = stream(transport, itrs, job)
    async with contextlib.aclosing(events):
        async for event in events:
            if isinstance(event, PageEvent):
                pages.setdefault(event.itr_id, []).extend(event.records)
            else:
                records = tuple(pages.pop(event.itr_id, ()))
                error = event.error if isinstance(event, ItrFailed) else None
                results[event.itr_id] = FetchResult[Any](event.itr_id, records, error)
    return results


async def latest(
    transport: Transport, itrs: Iterable[object] | AsyncIterable[object], job: Job
) -> dict[str, LatestResult[Any]]:
    """Fetch every ITR's latest record (one request each); None where a plant has no data."""
    if not job.endpoint.is_timed or job.start is not None or job.end is not None:
        raise ValueError("latest_many takes the meter or inverter endpoint, without a range")
    return {
        itr: LatestResult[Any](itr, result.records[-1] if result.records else None, result.error)
        for itr, result in (await collect(transport, itrs, job)).items()
    }

"""Fetching from many ITRs at once: `stream_many` (events as pages arrive) and `fetch_many`.

Every ITR runs in a task of its own, paced only by its own limiter, so a slow or failing
plant never holds another back; requests in flight are bounded by the client's pool (and
optionally tighter by `max_in_flight`). Events pass through a bounded queue: a slow
consumer stalls the producers instead of letting memory grow. Leaving the loop early, or
cancelling it, cancels every task before the iterator returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncGenerator, AsyncIterable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import attrs

from lacecal_async._pagination import MAX_PAGE
from lacecal_async._protocol import validate_range
from lacecal_async.endpoints import Endpoint
from lacecal_async.errors import LacecalError
from lacecal_async.itr import redact, validate_itr

if TYPE_CHECKING:
    from lacecal_async.client import LacecalClient

__all__ = ["FetchResult", "ItrDone", "ItrFailed", "PageEvent", "Progress", "StreamEvent"]

#: Events buffered between the fetching tasks and a consumer of `stream_many`.
DEFAULT_BUFFER = 64


def _redacted(value: object) -> str:
    return repr(redact(value))


@attrs.frozen
class Progress:
    """How far one ITR has got: what a progress bar needs.

    pages / records: pages and records delivered so far; requests: requests made (retries
    not counted); expected_pages: the total number of pages once the integration period is
    known and the range is bounded (an estimate when the data has gaps), else None.
    """

    pages: int = 0
    records: int = 0
    requests: int = 0
    expected_pages: int | None = None


@attrs.frozen
class PageEvent:
    """A page of records from one ITR, in time order within that ITR."""

    itr_id: str = attrs.field(repr=_redacted)
    records: tuple[Any, ...] = attrs.field(repr=lambda r: f"<{len(r)} records>")
    progress: Progress


@attrs.frozen
class ItrDone:
    """An ITR finished: every record of its range has been delivered."""

    itr_id: str = attrs.field(repr=_redacted)
    progress: Progress


@attrs.frozen
class ItrFailed:
    """An ITR failed after its retries; pages delivered before the failure stand."""

    itr_id: str = attrs.field(repr=_redacted)
    error: LacecalError
    progress: Progress


StreamEvent = PageEvent | ItrDone | ItrFailed


@attrs.frozen
class FetchResult:
    """Everything fetched for one ITR by `fetch_many`: its records, or its error."""

    itr_id: str = attrs.field(repr=_redacted)
    records: tuple[Any, ...] = attrs.field(repr=lambda r: f"<{len(r)} records>")
    error: LacecalError | None = None

    @property
    def ok(self) -> bool:
        """Whether the ITR's fetch completed without error."""
        return self.error is None


def _expected_pages(start: int, end: int | None, interval: int | None) -> int | None:
    if end is None or interval is None:
        return None
    return max(1, math.ceil(math.ceil((end - start) / interval) / MAX_PAGE))


@attrs.define
class _Crash:
    """A bug (not a LacecalError) in a fetching task, carried to the consumer."""

    error: BaseException


@attrs.frozen
class _Job:
    """What every ITR of one fan-out fetches."""

    client: LacecalClient
    endpoint: Endpoint
    start: int | None
    end: int | None
    #: Optional bound on requests in flight, tighter than the client's pool.
    in_flight: asyncio.Semaphore | None
    #: Pages fetched (or being fetched) and not yet taken by the consumer, at most.
    pages_ahead: int


@attrs.define
class _Credit:
    """One ITR's admission to send a request.

    A credit from the fan-out's pool, held until its page reaches the consumer, plus a place
    in flight for the duration of each request.

    It is entered only after the ITR's rate-limit slot is granted, so an ITR waiting for its
    turn never holds a credit another ITR could use; a retry reuses the credit it holds.
    """

    credits: asyncio.Semaphore
    in_flight: asyncio.Semaphore | None
    held: bool = False

    async def __aenter__(self) -> None:
        if not self.held:
            await self.credits.acquire()
            self.held = True
        if self.in_flight is not None:
            await self.in_flight.acquire()

    async def __aexit__(self, *exc: object) -> None:
        if self.in_flight is not None:
            self.in_flight.release()

    def hand_over(self) -> None:
        """Let the credit travel with a page: the consumer gives it back on taking it."""
        self.held = False

    def give_back(self) -> None:
        """Return a credit no page took (the ITR ended, failed or was cancelled)."""
        if self.held:
            self.held = False
            self.credits.release()


@attrs.define
class _Fanout:
    """The tasks of one `stream_many` call and the bounded queue they feed."""

    job: _Job
    queue: asyncio.Queue[StreamEvent | _Crash | None]
    tasks: set[asyncio.Task[None]] = attrs.field(factory=set)
    running: int = 0
    feeding: bool = True
    seen: set[object] = attrs.field(factory=set)
    credits: asyncio.Semaphore = attrs.field(init=False)
    stopping: bool = False

    def __attrs_post_init__(self) -> None:
        self.credits = asyncio.Semaphore(self.job.pages_ahead)

    async def feed(self, itrs: Iterable[object] | AsyncIterable[object]) -> None:
        """Start a task per distinct identifier, reading `itrs` lazily."""
        try:
            if isinstance(itrs, AsyncIterable):
                async for itr in itrs:
                    self._spawn(itr)
            else:
                for itr in itrs:
                    self._spawn(itr)
        except BaseException as exc:  # the caller's iterable failed: tell the consumer
            self.feeding = False
            if self.stopping:  # our own cancel() at teardown
                raise
            await self.queue.put(_Crash(exc))
            return
        self.feeding = False
        if self.running == 0:
            await self.queue.put(None)

    def _spawn(self, itr: object) -> None:
        try:
            if itr in self.seen:
                return
            self.seen.add(itr)
        except TypeError:  # unhashable: cannot repeat a valid identifier; it fails validation
            pass
        self.running += 1
        task = asyncio.create_task(self._run(itr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, itr: object) -> None:
        """Fetch one ITR; the last task to end tells the consumer there is no more."""
        try:
            await self._one(itr)
        except BaseException as exc:
            if self.stopping:  # our own cancel() at teardown
                raise
            await self.queue.put(_Crash(exc))  # a bug, not a LacecalError: surface it
        finally:
            self.running -= 1
        if self.running == 0 and not self.feeding:
            await self.queue.put(None)

    async def _one(self, itr: object) -> None:
        job = self.job
        key = cast("str", itr)  # as given, possibly not a valid identifier at all
        progress = Progress()
        emit = self.queue.put
        credit = _Credit(self.credits, job.in_flight)
        try:
            valid = validate_itr(itr)
            if job.endpoint is Endpoint.INVERTER_LIST or job.start is None:
                records = await job.client._fetch(job.endpoint, valid, admission=credit)
                credit.hand_over()
                progress = Progress(1, len(records), 1, 1)
                await emit(PageEvent(key, records, progress))
            else:
                pages = job.client.iter_pages(
                    job.endpoint, valid, job.start, job.end, admission=credit
                )
                async with contextlib.aclosing(pages):
                    async for page in pages:
                        credit.hand_over()
                        progress = Progress(
                            progress.pages + 1,
                            progress.records + len(page.records),
                            page.requests,
                            _expected_pages(job.start, job.end, page.interval),
                        )
                        await emit(PageEvent(key, tuple(page.records), progress))
        except LacecalError as exc:
            failure = ItrFailed(key, exc, progress)
        else:
            await emit(ItrDone(key, progress))
            return
        finally:
            credit.give_back()
        await emit(failure)  # outside the handler: no chained context rides along

    async def cancel(self, feeder: asyncio.Task[None]) -> None:
        """Cancel the feeder and every fetching task, and wait until they are gone."""
        self.stopping = True
        feeder.cancel()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(feeder, *self.tasks, return_exceptions=True)


def stream_many(
    client: LacecalClient,
    itrs: Iterable[str] | AsyncIterable[str],
    endpoint: Endpoint | str,
    start: datetime | int | None = None,
    end: datetime | int | None = None,
    *,
    max_in_flight: int | None = None,
    buffer: int = DEFAULT_BUFFER,
) -> AsyncGenerator[StreamEvent]:
    """Yield `PageEvent`s as pages arrive, and one `ItrDone` or `ItrFailed` per ITR.

    A duplicate identifier is fetched once. `max_in_flight` bounds the requests in flight
    (default: the client's pool size); `buffer` bounds the events waiting for the consumer,
    and pages fetched but not yet consumed never exceed `buffer + max_in_flight`.
    """
    endpoint = Endpoint(endpoint)
    start_t, end_t = validate_range(start, end)
    if endpoint is Endpoint.INVERTER_LIST and (start_t is not None or end_t is not None):
        raise ValueError("inverter_list takes no start or end")
    if buffer < 1:
        raise ValueError("buffer must be at least 1")
    if max_in_flight is not None and max_in_flight < 1:
        raise ValueError("max_in_flight must be at least 1")
    bound = None
    if max_in_flight is not None and max_in_flight < client.pool_size:
        bound = asyncio.Semaphore(max_in_flight)
    # Enough credits to keep every place in flight busy while `buffer` pages wait.
    ahead = buffer + (client.pool_size if max_in_flight is None else max_in_flight)
    return _stream(_Job(client, endpoint, start_t, end_t, bound, ahead), itrs, buffer)


async def _stream(
    job: _Job, itrs: Iterable[object] | AsyncIterable[object], buffer: int
) -> AsyncGenerator[StreamEvent]:
    fanout = _Fanout(job, asyncio.Queue(buffer))
    feeder = asyncio.create_task(fanout.feed(itrs))
    try:
        while (event := await fanout.queue.get()) is not None:
            if isinstance(event, _Crash):
                raise event.error
            if isinstance(event, PageEvent):
                fanout.credits.release()  # taken: its ITR may fetch another page
            yield event
    finally:
        await fanout.cancel(feeder)


async def fetch_many(
    client: LacecalClient,
    itrs: Iterable[str] | AsyncIterable[str],
    endpoint: Endpoint | str,
    start: datetime | int | None = None,
    end: datetime | int | None = None,
    *,
    max_in_flight: int | None = None,
) -> dict[str, FetchResult]:
    """Fetch every ITR's records; one bad ITR's error is recorded, never raised.

    The result is keyed by the identifiers as given, so they must be hashable.
    """
    pages: dict[Any, list[Any]] = {}
    results: dict[str, FetchResult] = {}
    events = stream_many(client, itrs, endpoint, start, end, max_in_flight=max_in_flight)
    async with contextlib.aclosing(events):
        async for event in events:
            if isinstance(event, PageEvent):
                pages.setdefault(event.itr_id, []).extend(event.records)
            else:
                records = tuple(pages.pop(event.itr_id, ()))
                error = event.error if isinstance(event, ItrFailed) else None
                results[event.itr_id] = FetchResult(event.itr_id, records, error)
    return results

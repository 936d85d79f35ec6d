"""`LacecalClient`: the facade. Typed per-endpoint calls over the layers below it.

`_transport` makes each exchange (limiter, pool, timeout, retries, close), `_paging` walks
a range page by page, `fanout` runs many ITRs at once; this module only checks arguments
and picks the layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Mapping,
)
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, Self

import aiohttp

from lacecal_async import fanout
from lacecal_async import watch as watch_mod
from lacecal_async._paging import Reply, replies
from lacecal_async._protocol import validate_range
from lacecal_async._transport import MAX_BODY_BYTES, Transport, check_base_url
from lacecal_async._version import VERSION
from lacecal_async.clock import Clock
from lacecal_async.endpoints import (
    Endpoint,
    Records,
    RecordT,
    WireFormat,
    endpoint_of,
)
from lacecal_async.events import FetchResult, LatestResult, StreamEvent
from lacecal_async.fanout import DEFAULT_BUFFER, DEFAULT_MAX_ACTIVE
from lacecal_async.itr import validate_itr
from lacecal_async.limits import LimitState
from lacecal_async.records import Inverter, InverterRecord, MeterRecord
from lacecal_async.telemetry import Listener
from lacecal_async.watch import Cursor, WatchBatch

__all__ = ["DEFAULT_BASE_URL", "MAX_BODY_BYTES", "LacecalClient"]

DEFAULT_BASE_URL = "https://itr.lacecal.es/APIv1/"

#: Identifiers for the fan-out: any iterable, or async iterable, of str.
Itrs = Iterable[str] | AsyncIterable[str]


def _check_rate(name: str, rate: tuple[int, float]) -> tuple[int, float]:
    count, period = rate
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"{name}[0] must be an int number of requests")
    if count < 1 or not period > 0:
        raise ValueError(f"{name} needs at least 1 request per a positive period")
    return count, float(period)


#: Printable ASCII, no leading or trailing space: what a User-Agent header may carry.
_USER_AGENT_RE = re.compile(r"[!-~](?:[ -~]*[!-~])?", re.ASCII)
_USER_AGENT_MAX = 200


def _user_agent_header(extra: str | None) -> str:
    """Return the User-Agent sent: ``lacecal_async/VERSION``, then `extra` if given.

    `extra` (e.g. ``worker/host-123``) is printable ASCII of at most 200 characters, so a
    server's log can tell workers apart; ValueError otherwise.
    """
    base = f"lacecal_async/{VERSION}"
    if extra is None:
        return base
    if (
        not isinstance(extra, str)
        or not _USER_AGENT_RE.fullmatch(extra)
        or (len(extra) > _USER_AGENT_MAX)
    ):
        raise ValueError(
            f"user_agent is printable ASCII without surrounding spaces, at most "
            f"{_USER_AGENT_MAX} characters"
        )
    return f"{base} {extra}"


def _check_options(retries: int, timeout: float) -> None:
    if not timeout > 0:
        raise ValueError("timeout must be positive")
    if retries < 0:
        raise ValueError("retries must be zero or more")


class LacecalClient:
    """Async client for the LACECAL ITR 2.0 Web API, rate-limited per ITR.

    `rate_limit` is (requests, seconds) per ITR; `timeout` bounds each exchange, body read
    included; `retries` is the number of extra attempts after the first, spent only on what
    may pass (connection errors, timeouts, 408, 429, 5xx but 501/505). `base_url` must be
    http(s) without credentials or query (ValueError). A session passed in is used and never
    closed; otherwise one is created on first use and closed by `close()`, which also fails
    every pending call with `LacecalClosedError`.

    `max_rate` (N, T), optional, caps requests across all ITRs with a leaky bucket
    (`aiolimiter.AsyncLimiter`): a burst of N, then N per T, so at most 2N start in any
    window of T. `on_event` is called with each `RequestDone`, `RetryScheduled` and
    `RateLimited` (see `add_listener`). `user_agent` is added to the ``User-Agent`` sent
    (``lacecal_async/VERSION user_agent``), e.g. to name the worker of a fleet.
    """

    _is_view = False

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        wire_format: Literal["json", "xml"] = "json",
        rate_limit: tuple[int, float] = (6, 60.0),
        timeout: float = 30.0,
        retries: int = 3,
        max_rate: tuple[int, float] | None = None,
        on_event: Listener | None = None,
        user_agent: str | None = None,
    ) -> None:
        limit = _check_rate("rate_limit", rate_limit)
        agent = _user_agent_header(user_agent)
        cap = None if max_rate is None else _check_rate("max_rate", max_rate)
        _check_options(retries, timeout)
        self._transport = Transport(
            session,
            base_url=check_base_url(base_url),
            wire_format=WireFormat(wire_format),
            rate_limit=limit,
            timeout=float(timeout),
            retries=retries,
            max_rate=cap,
            user_agent=agent,
        )
        if on_event is not None:
            self.add_listener(on_event)

    def __repr__(self) -> str:
        t = self._transport
        n, p = t.rate_limit
        return (
            f"<LacecalClient {t.base_url} {t.wire_format.value} rate={n}/{p:g}s "
            f"timeout={t.timeout:g}s retries={t.retries} tracked={self.tracked_itrs}"
            f"{' view' if self._is_view else ''}{' closed' if t.closed else ''}>"
        )

    # -- life cycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Fail every pending call with `LacecalClosedError` and close an owned session.

        Calls waiting for a slot, a backoff, a connection or a reply end at once; later
        calls raise it without a request. Nothing is left scheduled. Safe to call twice.
        On a view (`with_options`) it does nothing: the client it came from owns the
        session, and closing that one closes every view of it.
        """
        if not self._is_view:
            await self._transport.close()

    async def wait_closed(self) -> None:
        """Wait until the client is closed, then raise `LacecalClosedError` (at once if it is).

        For a loop that sleeps between calls (the sync engine's `follow`): run it beside
        the loop, and `close()` ends the loop's wait as it ends a pending call, not at the
        loop's next call. A view waits for the client it came from.
        """
        async with self._transport.guard():
            await asyncio.get_running_loop().create_future()  # only close() ends this wait

    def with_options(
        self,
        *,
        retries: int | None = None,
        timeout: float | None = None,
        leave_free: int | None = None,
    ) -> LacecalClient:
        """Return a view of this client with other `retries`, `timeout` and/or `leave_free`.

        The view shares the session, the per-ITR limiters, the pool, the `max_rate` cap and
        the listeners, so the API's limit holds across the client and all its views. For a
        call that must answer quickly (a configuration check): ``client.with_options(
        retries=0, timeout=10)``. Its `close()` does nothing; closing this client fails the
        view's pending calls too.

        `leave_free` N makes the view's requests background work: each takes an ITR's slot
        only while more than N of them are free (at most all but one), and only once no
        other request waits for the ITR; meanwhile it waits. The sync engine repairs holes
        through such a view, so a plant's polls always find the slots they need.
        """
        t = self._transport
        retries = t.retries if retries is None else retries
        timeout = t.timeout if timeout is None else timeout
        _check_options(retries, timeout)
        if leave_free is not None and (isinstance(leave_free, bool) or leave_free < 0):
            raise ValueError("leave_free is a number of slots, zero or more")
        view = LacecalClient.__new__(LacecalClient)
        view._transport = t.derive(retries=retries, timeout=float(timeout), leave_free=leave_free)
        view._is_view = True
        return view

    def with_gate(self, gate: Callable[[], float]) -> LacecalClient:
        """Return a view of this client that asks `gate()` right before sending each request.

        It is asked once per attempt, synchronously, after every wait (the ITR's rate
        limiter, the pool, `max_rate`): a process stopped during a wait is asked when it
        wakes. Raise to refuse: the call fails with that exception, no request is made,
        and it is not retried. Else return how long [s] the request may still take to leave:
        getting its connection (a pooled one, or resolving, connecting and TLS) is cut off
        after that, and the attempt fails as a `LacecalConnectionError` without sending
        (on a kept-alive connection the request is written at once). A fleet worker gates
        each plant's requests on its lease: it sends nothing for a plant it cannot prove it
        still holds. A view of a gated view asks both gates. Like `with_options`, the view
        shares everything else with this client, and its `close()` does nothing.
        """
        view = LacecalClient.__new__(LacecalClient)
        view._transport = self._transport.gated(gate)
        view._is_view = True
        return view

    def add_listener(self, listener: Listener) -> None:
        """Call `listener` with every `RequestDone`, `RetryScheduled` and `RateLimited`.

        Called on the event loop, synchronously: keep it quick. An exception it raises is
        logged and never reaches the request. Views share their client's listeners.
        """
        self._transport.listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling `listener` (ValueError if it was not added)."""
        self._transport.listeners.remove(listener)

    def hide_identifiers(self, itrs: Iterable[str]) -> None:
        """Hide these identifiers, too, in every string taken from a reply of any plant.

        A server may echo an identifier: in an error body, or in an inverter's name. Every
        such string the client gives (records' strings, error messages) has each identifier
        it was asked about hidden (``...WXYZ``), in any case, width, escape or spacing. Give
        it the identifiers of the rest of a run up front, so that a reply for one plant
        hides another's before that one is asked about (`sync` and `follow` do). Views
        share the set. `InvalidITRError` for an invalid identifier (none is added then).
        """
        self._transport.hide([validate_itr(itr) for itr in itrs])

    def limit_state(self, itr: str) -> LimitState:
        """Return where `itr` stands against the rate limit now (call it on the event loop).

        Free slots, when the next one frees, any 429 pause left: a poller picks its next
        time from `ready_in`. An ITR never used (or idle for a period) has every slot free;
        asking creates no state for it.
        """
        return self._transport.limit_state(validate_itr(itr))

    @property
    def tracked_itrs(self) -> int:
        """ITRs whose rate-limit state the client keeps: in use, or used within the last period.

        What the limiter's memory follows (a small array per ITR, dropped once its period is
        over), for a service to show as a gauge; read it on the event loop. Views share it.
        """
        return len(self._transport.limiters)

    @property
    def rate_limit(self) -> tuple[int, float]:
        """Requests per ITR per period [s]."""
        return self._transport.rate_limit

    @property
    def max_rate(self) -> tuple[int, float] | None:
        """The client-wide cap across all ITRs (requests per period [s]), or None."""
        return self._transport.max_rate

    @property
    def timeout(self) -> float:
        """Seconds each exchange may take, body read included."""
        return self._transport.timeout

    @property
    def retries(self) -> int:
        """Extra attempts after the first, for what retrying may fix."""
        return self._transport.retries

    @property
    def pool_size(self) -> int:
        """Most requests in flight at once (the connection pool's size)."""
        return self._transport.pool_size

    # -- one ITR ---------------------------------------------------------------------------

    async def inverters(self, itr: str) -> tuple[Inverter, ...]:
        """Return the plant's inverters."""
        records: tuple[Inverter, ...] = await self._transport.request(
            Endpoint.INVERTER_LIST, validate_itr(itr)
        )
        return records

    async def inverter_records(
        self, itr: str, start: datetime | int | None = None, end: datetime | int | None = None
    ) -> tuple[InverterRecord, ...]:
        """Inverter production records in ``[start, end)``; `start` None: the latest only."""
        return await self._collect(Endpoint.INVERTER, itr, start, end)

    async def meter_records(
        self, itr: str, start: datetime | int | None = None, end: datetime | int | None = None
    ) -> tuple[MeterRecord, ...]:
        """Meter records in ``[start, end)``; `start` None: the latest record only."""
        return await self._collect(Endpoint.METER, itr, start, end)

    async def latest_meter_record(self, itr: str) -> MeterRecord | None:
        """Return the plant's latest meter record, or None when it has no data yet."""
        records: tuple[MeterRecord, ...] = await self._transport.request(
            Endpoint.METER, validate_itr(itr)
        )
        return records[-1] if records else None

    async def latest_inverter_record(self, itr: str) -> InverterRecord | None:
        """Return the plant's latest inverter record, or None when it has no data yet."""
        records: tuple[InverterRecord, ...] = await self._transport.request(
            Endpoint.INVERTER, validate_itr(itr)
        )
        return records[-1] if records else None

    def iter_inverter_records(
        self, itr: str, start: datetime | int, end: datetime | int | None = None
    ) -> AsyncIterator[InverterRecord]:
        """Yield inverter records from `start` to `end` (or the latest) as pages arrive.

        Fetches a page only when the previous one is consumed; ``aclose()`` it (or use
        ``contextlib.aclosing``) to stop at once after a ``break``.
        """
        return self._iter_records(Endpoint.INVERTER, itr, start, end)

    def iter_meter_records(
        self, itr: str, start: datetime | int, end: datetime | int | None = None
    ) -> AsyncIterator[MeterRecord]:
        """Yield meter records from `start` to `end` (or the latest) as pages arrive.

        Fetches a page only when the previous one is consumed; ``aclose()`` it (or use
        ``contextlib.aclosing``) to stop at once after a ``break``.
        """
        return self._iter_records(Endpoint.METER, itr, start, end)

    # -- many ITRs -------------------------------------------------------------------------

    async def fetch_many(
        self,
        itrs: Itrs,
        endpoint: Records[RecordT] | Endpoint | str,
        start: datetime | int | None = None,
        end: datetime | int | None = None,
        *,
        max_in_flight: int | None = None,
        max_active: int = DEFAULT_MAX_ACTIVE,
    ) -> dict[str, FetchResult[RecordT]]:
        """Fetch many ITRs concurrently; each result holds its records, or its error.

        `endpoint` is `METER`, `INVERTER` or `INVERTER_LIST` (``lacecal_async``), which type
        the records; an `Endpoint` or its name works too, typed `Any`. `itrs` is any iterable
        (or async iterable) of identifiers, keyed in the result as given (a duplicate is
        fetched once).
        After a failure a result holds the error and the records fetched before it. The
        options are those of `stream_many`.
        """
        job = fanout.Job.of(
            endpoint,
            start,
            end,
            max_in_flight=max_in_flight,
            buffer=DEFAULT_BUFFER,
            max_active=max_active,
        )
        return await fanout.collect(self._transport, itrs, job)

    async def latest_many(
        self,
        itrs: Itrs,
        endpoint: Records[RecordT] | Endpoint | str,
        *,
        max_active: int = DEFAULT_MAX_ACTIVE,
    ) -> dict[str, LatestResult[RecordT]]:
        """Fetch the latest record of many ITRs at once, one request each.

        Bounded like `fetch_many` (at most `max_active` in progress, each paced by its own
        limiter). `endpoint` is `METER` or `INVERTER` (ValueError otherwise). Each `LatestResult`
        holds the record, None with no error when the plant has no data yet, or the
        ITR's error: one failing plant never fails the others.
        """
        job = fanout.Job.of(
            endpoint,
            None,
            None,
            max_in_flight=None,
            buffer=DEFAULT_BUFFER,
            max_active=max_active,
        )
        return await fanout.latest(self._transport, itrs, job)

    def stream_many(
        self,
        itrs: Itrs,
        endpoint: Records[RecordT] | Endpoint | str,
        start: datetime | int | None = None,
        end: datetime | int | None = None,
        *,
        max_in_flight: int | None = None,
        buffer: int = DEFAULT_BUFFER,
        max_active: int = DEFAULT_MAX_ACTIVE,
    ) -> AsyncGenerator[StreamEvent[RecordT]]:
        """Yield a `PageEvent` per page as it arrives and an `ItrDone`/`ItrFailed` per ITR.

        `endpoint` is taken as by `fetch_many`. At most `max_active` ITRs (default 1000) are
        in progress at once; `itrs` is read only as they finish. `max_in_flight` bounds
        requests in flight (default: the pool size); `buffer` bounds the events waiting for
        the consumer (a slow consumer slows the fetching). A failing ITR holds no credit
        while it backs off, so it never holds a healthy one back. A duplicate identifier is
        fetched once.

        Use ``contextlib.aclosing`` (or call ``aclose()``) to stop every task at once after
        a ``break``; a cancellation from outside stops them before it propagates.
        """
        job = fanout.Job.of(
            endpoint,
            start,
            end,
            max_in_flight=max_in_flight,
            buffer=buffer,
            max_active=max_active,
        )
        return fanout.stream(self._transport, itrs, job)

    # -- watching ----------------------------------------------------------------------------

    def catch_up(
        self,
        itr: str,
        endpoint: Records[RecordT] | Endpoint | str,
        cursor: Cursor,
        *,
        clock: Clock | None = None,
    ) -> AsyncGenerator[tuple[tuple[RecordT, ...], Cursor]]:
        """Yield ``(records, cursor)`` per page after `cursor` up to the plant's latest record.

        Start with ``Cursor.since(endpoint, start)``; save each page's records with its
        cursor to resume exactly after a crash. One request when nothing is new.
        A latest record dated more than `future_tolerance` after `clock` (default: the
        system's) is never yielded: the records before it are, then `LacecalClockError`
        is raised; so it is when the latest record is older than the cursor's.
        """
        if cursor.endpoint is not endpoint_of(endpoint):
            raise ValueError(f"the cursor is for {cursor.endpoint.value}, not {endpoint}")
        return watch_mod.catch_up(self._transport, validate_itr(itr), cursor, clock=clock)

    def watch(
        self,
        itrs: Iterable[str],
        endpoint: Records[RecordT] | Endpoint | str,
        since: datetime | int | None = None,
        cursors: Mapping[str, Cursor] | None = None,
        *,
        clock: Clock | None = None,
        buffer: int = DEFAULT_BUFFER,
    ) -> AsyncGenerator[WatchBatch[RecordT]]:
        """Yield ``(itr, records, cursor)`` batches of every plant's new records, forever.

        Each plant starts after its cursor in `cursors` (keyed by identifier), else at
        `since`; it catches up page by page, then is asked once per integration period,
        shortly after each period closes (a phase of its own plus jitter). A failing plant
        backs off (logged, identifier redacted) and is retried, never dropped. Save each
        batch's records and cursor in one transaction: after a restart, pass the saved
        cursors back and every record comes exactly once. `clock` (default: the real one)
        decides when to poll, and what is the future: a record dated after it (beyond
        `future_tolerance`) is never yielded, and the plant keeps its schedule, logging
        the `LacecalClockError`. ``aclose()`` it, cancel its consumer, or close the client
        to stop: every task it runs ends at once (the next step raises `LacecalClosedError`).
        (To keep plants in a store instead, `lacecal_async.sync.follow`.)
        """
        return watch_mod.watch(
            self._transport, itrs, endpoint, since, cursors, clock=clock, buffer=buffer
        )

    # -- paging ----------------------------------------------------------------------------

    async def _collect(
        self, endpoint: Endpoint, itr: str, start: object, end: object
    ) -> tuple[Any, ...]:
        itr = validate_itr(itr)
        start_t, end_t = validate_range(start, end)
        if start_t is None:
            return await self._transport.request(endpoint, itr)
        out: list[Any] = []
        pages = replies(self._transport, endpoint, itr, start_t, end_t)
        async with contextlib.aclosing(pages):
            async for reply in pages:
                out.extend(reply.records)
        return tuple(out)

    def _iter_records(
        self, endpoint: Endpoint, itr: str, start: object, end: object
    ) -> AsyncIterator[Any]:
        itr = validate_itr(itr)
        start_t, end_t = validate_range(start, end)
        if start_t is None:
            raise ValueError("start is required to iterate; use *_records() for the latest")
        return _flatten(replies(self._transport, endpoint, itr, start_t, end_t))


async def _flatten(pages: AsyncGenerator[Reply]) -> AsyncIterator[Any]:
    async with contextlib.aclosing(pages):
        async for reply in pages:
            for record in reply.records:
                yield record

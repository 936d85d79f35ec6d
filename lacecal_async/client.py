"""`LacecalClient`: the facade. Typed per-endpoint calls over the layers below it.

`_transport` makes each exchange (limiter, pool, timeout, retries, close), `_paging` walks
a range page by page, `fanout` runs many ITRs at once; this module only checks arguments
and picks the layer.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, Self

import aiohttp

from lacecal_async import fanout
from lacecal_async import follow as follow_mod
from lacecal_async._paging import Reply, replies
from lacecal_async._protocol import validate_range
from lacecal_async._transport import MAX_BODY_BYTES, Transport, check_base_url
from lacecal_async.clock import Clock
from lacecal_async.endpoints import Endpoint, WireFormat
from lacecal_async.events import FetchResult, StreamEvent
from lacecal_async.fanout import DEFAULT_BUFFER, DEFAULT_MAX_ACTIVE
from lacecal_async.follow import Cursor, FollowBatch
from lacecal_async.itr import validate_itr
from lacecal_async.records import Inverter, InverterRecord, MeterRecord

__all__ = ["DEFAULT_BASE_URL", "MAX_BODY_BYTES", "LacecalClient"]

DEFAULT_BASE_URL = "https://itr.lacecal.es/APIv1/"


class LacecalClient:
    """Async client for the LACECAL ITR 2.0 Web API, rate-limited per ITR.

    `rate_limit` is (requests, seconds) per ITR; `timeout` bounds each exchange, body read
    included; `retries` is the number of extra attempts after the first, spent only on what
    may pass (connection errors, timeouts, 408, 429, 5xx but 501/505). `base_url` must be
    http(s) without credentials or query (ValueError). A session passed in is used and never
    closed; otherwise one is created on first use and closed by `close()`, which also fails
    every pending call with `LacecalClosedError`.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        wire_format: Literal["json", "xml"] = "json",
        rate_limit: tuple[int, float] = (6, 60.0),
        timeout: float = 30.0,
        retries: int = 3,
    ) -> None:
        max_requests, period = rate_limit
        if isinstance(max_requests, bool) or not isinstance(max_requests, int):
            raise TypeError("rate_limit[0] must be an int number of requests")
        if max_requests < 1 or not period > 0:
            raise ValueError("rate_limit needs at least 1 request per a positive period")
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        if retries < 0:
            raise ValueError("retries must be zero or more")
        self._transport = Transport(
            session,
            base_url=check_base_url(base_url),
            wire_format=WireFormat(wire_format),
            rate_limit=(max_requests, float(period)),
            timeout=float(timeout),
            retries=retries,
        )

    def __repr__(self) -> str:
        t = self._transport
        n, p = t.rate_limit
        return (
            f"<LacecalClient {t.base_url} {t.wire_format.value} rate={n}/{p:g}s "
            f"timeout={t.timeout:g}s retries={t.retries} tracked={len(t.limiters)}"
            f"{' closed' if t.closed else ''}>"
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
        """
        await self._transport.close()

    @property
    def rate_limit(self) -> tuple[int, float]:
        """Requests per ITR per period [s]."""
        return self._transport.rate_limit

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
        itrs: Iterable[str] | AsyncIterable[str],
        endpoint: Endpoint | str,
        start: datetime | int | None = None,
        end: datetime | int | None = None,
        *,
        max_in_flight: int | None = None,
        max_active: int = DEFAULT_MAX_ACTIVE,
    ) -> dict[str, FetchResult]:
        """Fetch many ITRs concurrently; each result holds its records, or its error.

        `endpoint` is "inverter_list", "inverter" or "meter"; `itrs` any iterable (or async
        iterable) of identifiers, keyed in the result as given (a duplicate is fetched once).
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

    def stream_many(
        self,
        itrs: Iterable[str] | AsyncIterable[str],
        endpoint: Endpoint | str,
        start: datetime | int | None = None,
        end: datetime | int | None = None,
        *,
        max_in_flight: int | None = None,
        buffer: int = DEFAULT_BUFFER,
        max_active: int = DEFAULT_MAX_ACTIVE,
    ) -> AsyncGenerator[StreamEvent]:
        """Yield a `PageEvent` per page as it arrives and an `ItrDone`/`ItrFailed` per ITR.

        At most `max_active` ITRs (default 1000) are in progress at once; `itrs` is read
        only as they finish. `max_in_flight` bounds requests in flight (default: the pool
        size); `buffer` bounds the events waiting for the consumer (a slow consumer slows
        the fetching). A failing ITR holds no credit while it backs off, so it never holds
        a healthy one back. A duplicate identifier is fetched once.

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

    # -- following ---------------------------------------------------------------------------

    def catch_up(
        self, itr: str, endpoint: Endpoint | str, cursor: Cursor
    ) -> AsyncGenerator[tuple[tuple[Any, ...], Cursor]]:
        """Yield ``(records, cursor)`` per page after `cursor` up to the plant's latest record.

        Start with ``Cursor.since(endpoint, start)``; save each page's records with its
        cursor to resume exactly after a crash. One request when nothing is new.
        """
        if cursor.endpoint is not Endpoint(endpoint):
            raise ValueError(f"the cursor is for {cursor.endpoint.value}, not {endpoint}")
        return follow_mod.catch_up(self._transport, validate_itr(itr), cursor)

    def follow(
        self,
        itrs: Iterable[str],
        endpoint: Endpoint | str,
        since: datetime | int | None = None,
        cursors: Mapping[str, Cursor] | None = None,
        *,
        clock: Clock | None = None,
        buffer: int = DEFAULT_BUFFER,
    ) -> AsyncGenerator[FollowBatch]:
        """Yield ``(itr, records, cursor)`` batches of every plant's new records, forever.

        Each plant starts after its cursor in `cursors` (keyed by identifier), else at
        `since`; it catches up page by page, then is asked once per integration period,
        shortly after each period closes (a phase of its own plus jitter). A failing plant
        backs off (logged, identifier redacted) and is retried, never dropped. Save each
        batch's records and cursor in one transaction: after a restart, pass the saved
        cursors back and every record comes exactly once. `clock` (default: the real one)
        decides when to poll. ``aclose()`` it, or cancel its consumer, to stop.
        """
        return follow_mod.follow(
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

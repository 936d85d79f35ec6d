"""`LacecalClient`: the async session manager, the only code that speaks HTTP.

Each call plans its pages with the pure `Pager`, waits for its ITR's turn in the shared
per-ITR limiter, performs one GET with the whole exchange inside `timeout`, and hands the
bytes to the pure decoder. Retries pass through the limiter again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, Self

import aiohttp
import attrs
from yarl import URL

from lacecal_async._pagination import Pager, PageRequest
from lacecal_async._protocol import (
    backoff_delay,
    build_params,
    classify_reply,
    is_retryable,
    validate_range,
)
from lacecal_async._ratelimit import LimiterRegistry
from lacecal_async._redaction import hide, printable
from lacecal_async.endpoints import Endpoint, WireFormat
from lacecal_async.errors import (
    LacecalConnectionError,
    LacecalError,
    LacecalParseError,
    LacecalRateLimitError,
)
from lacecal_async.fanout import DEFAULT_BUFFER, FetchResult, StreamEvent, fetch_many, stream_many
from lacecal_async.itr import redact, validate_itr
from lacecal_async.records import Inverter, InverterRecord, MeterRecord

__all__ = ["DEFAULT_BASE_URL", "LacecalClient"]

DEFAULT_BASE_URL = "https://itr.lacecal.es/APIv1/"
#: Connections (and so requests in flight) of a session the client creates itself.
DEFAULT_POOL_SIZE = 100
#: A range ending less than this before now is taken to reach the head of the data [s].
_PRESENT_HORIZON = 86_400
#: Longest pause a 429's Retry-After may impose, in rate-limit periods.
_MAX_PAUSE_PERIODS = 10
#: Largest reply body read, after decompression [bytes]; a 144-record XML meter page is ~0.2 MB.
MAX_BODY_BYTES = 16 << 20

_logger = logging.getLogger("lacecal_async")
_NO_BOUND = contextlib.nullcontext()


@attrs.define
class Page:
    """One page of an ITR's records, with the pager's progress after it (for fan-out)."""

    records: Sequence[Any]
    requests: int
    interval: int | None


class LacecalClient:
    """Async client for the LACECAL ITR 2.0 Web API, rate-limited per ITR.

    `rate_limit` is (requests, seconds) per ITR; `timeout` bounds each exchange, body read
    included; `retries` is the number of extra attempts after the first. A session passed in
    is used and never closed; otherwise one is created on first use and closed by `close()`.
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
        self._session = session
        self._owns_session = session is None
        self._base_url = URL(base_url if base_url.endswith("/") else base_url + "/")
        self._wire_format = WireFormat(wire_format)
        self._rate_limit = (max_requests, float(period))
        self._timeout = float(timeout)
        self._retries = retries
        self._limiters = LimiterRegistry(max_requests, float(period))
        pool = DEFAULT_POOL_SIZE
        if session is not None and session.connector is not None and session.connector.limit:
            pool = session.connector.limit
        self._pool_size = pool
        self._in_flight = asyncio.Semaphore(pool)
        self._rng = random.Random()  # noqa: S311 - jitter, not cryptography
        self._closed = False

    def __repr__(self) -> str:
        n, p = self._rate_limit
        return (
            f"<LacecalClient {self._base_url} {self._wire_format.value} rate={n}/{p:g}s "
            f"timeout={self._timeout:g}s retries={self._retries} tracked={len(self._limiters)}>"
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
        """Close the session if the client created it; safe to call twice."""
        self._closed = True
        self._limiters.close()
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    @property
    def rate_limit(self) -> tuple[int, float]:
        """Requests per ITR per period [s]."""
        return self._rate_limit

    @property
    def pool_size(self) -> int:
        """Most requests in flight at once (the connection pool's size)."""
        return self._pool_size

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("LacecalClient is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                timeout=aiohttp.ClientTimeout(total=None),
                headers={"User-Agent": "lacecal_async"},
            )
            # aiohttp silently re-sends an idempotent request once when a kept-alive
            # connection drops; that second copy would escape the limiter and `retries`.
            if hasattr(self._session, "_retry_connection"):
                self._session._retry_connection = False
        return self._session

    # -- public calls ----------------------------------------------------------------------

    async def inverters(self, itr: str) -> tuple[Inverter, ...]:
        """Return the plant's inverters."""
        records: tuple[Inverter, ...] = await self._fetch(Endpoint.INVERTER_LIST, validate_itr(itr))
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
        """Yield inverter records from `start` to `end` (or the latest) as pages arrive."""
        return self._iter_records(Endpoint.INVERTER, itr, start, end)

    def iter_meter_records(
        self, itr: str, start: datetime | int, end: datetime | int | None = None
    ) -> AsyncIterator[MeterRecord]:
        """Yield meter records from `start` to `end` (or the latest) as pages arrive."""
        return self._iter_records(Endpoint.METER, itr, start, end)

    async def fetch_many(
        self,
        itrs: Iterable[str] | AsyncIterable[str],
        endpoint: Endpoint | str,
        start: datetime | int | None = None,
        end: datetime | int | None = None,
        *,
        max_in_flight: int | None = None,
    ) -> dict[str, FetchResult]:
        """Fetch many ITRs concurrently; each result holds its records or its error.

        `endpoint` is "inverter_list", "inverter" or "meter"; `itrs` any iterable (or async
        iterable) of identifiers, keyed in the result as given (a duplicate is fetched once).
        """
        return await fetch_many(self, itrs, endpoint, start, end, max_in_flight=max_in_flight)

    def stream_many(
        self,
        itrs: Iterable[str] | AsyncIterable[str],
        endpoint: Endpoint | str,
        start: datetime | int | None = None,
        end: datetime | int | None = None,
        *,
        max_in_flight: int | None = None,
        buffer: int = DEFAULT_BUFFER,
    ) -> AsyncGenerator[StreamEvent]:
        """Yield a `PageEvent` per page as it arrives and an `ItrDone`/`ItrFailed` per ITR.

        Buffering is bounded by `buffer` events (a slow consumer slows the fetching);
        leaving the loop early or cancelling it stops all work.
        """
        return stream_many(
            self, itrs, endpoint, start, end, max_in_flight=max_in_flight, buffer=buffer
        )

    # -- paging ----------------------------------------------------------------------------

    async def _collect(
        self, endpoint: Endpoint, itr: str, start: object, end: object
    ) -> tuple[Any, ...]:
        itr = validate_itr(itr)
        start_t, end_t = validate_range(start, end)
        if start_t is None:
            return await self._fetch(endpoint, itr)
        out: list[Any] = []
        async for page in self.iter_pages(endpoint, itr, start_t, end_t):
            out.extend(page.records)
        return tuple(out)

    def _iter_records(
        self, endpoint: Endpoint, itr: str, start: object, end: object
    ) -> AsyncIterator[Any]:
        itr = validate_itr(itr)
        start_t, end_t = validate_range(start, end)
        if start_t is None:
            raise ValueError("start is required to iterate; use *_records() for the latest")
        return self._flatten(self.iter_pages(endpoint, itr, start_t, end_t))

    @staticmethod
    async def _flatten(pages: AsyncGenerator[Page]) -> AsyncIterator[Any]:
        async with contextlib.aclosing(pages):
            async for page in pages:
                for record in page.records:
                    yield record

    async def iter_pages(
        self,
        endpoint: Endpoint,
        itr: str,
        start: int,
        end: int | None,
        *,
        admission: AbstractAsyncContextManager[object] | None = None,
    ) -> AsyncGenerator[Page]:
        """Yield the pages of ``[start, end)`` for a validated ITR (the fan-out's building block).

        Pages that hold no record of the range (a probe across a gap) are not yielded.
        `admission` is entered around each request once the ITR's slot is granted (the
        fan-out bounds requests in flight and pages not yet consumed with it).
        """
        reaches_present = end is None or end > time.time() - _PRESENT_HORIZON
        pager = Pager(start, end, endpoint.value, reaches_present=reaches_present)
        while (request := pager.next_request()) is not None:
            records = await self._fetch(endpoint, itr, request, admission=admission)
            kept = pager.feed(request, records)
            if kept:
                yield Page(kept, pager.requests, pager.interval)

    # -- one request, with retries ---------------------------------------------------------

    async def _fetch(
        self,
        endpoint: Endpoint,
        itr: str,
        request: PageRequest | None = None,
        *,
        admission: AbstractAsyncContextManager[object] | None = None,
    ) -> tuple[Any, ...]:
        params = build_params(
            itr,
            self._wire_format,
            t=None if request is None else request.t,
            n=None if request is None or request.t is None else request.n,
        )
        attempt = 0
        while True:
            outcome = await self._attempt(endpoint, itr, params, admission)
            if not isinstance(outcome, LacecalError):
                return outcome
            if attempt >= self._retries or not is_retryable(outcome):
                raise outcome
            attempt += 1
            if not isinstance(outcome, LacecalRateLimitError):
                delay = backoff_delay(
                    attempt - 1, self._rate_limit[1], self._rate_limit[0], self._rng
                )
                _logger.debug(
                    "retrying %s for ITR %s in %.3fs (attempt %d of %d): %s",
                    endpoint.path,
                    redact(itr),
                    delay,
                    attempt + 1,
                    self._retries + 1,
                    outcome,
                )
                await asyncio.sleep(delay)

    async def _attempt(
        self,
        endpoint: Endpoint,
        itr: str,
        params: dict[str, str],
        admission: AbstractAsyncContextManager[object] | None = None,
    ) -> tuple[Any, ...] | LacecalError:
        """One exchange through the ITR's limiter; errors are returned, never raised.

        Returning them lets the caller raise outside any ``except`` block, so no chained
        aiohttp exception (whose URL holds the identifier) rides along.
        """
        session = self._get_session()
        url = self._base_url / endpoint.path
        limiter = self._limiters.get(itr)
        # The ITR's slot first, then a place in flight: a request waiting for its ITR's turn
        # must not hold a connection other ITRs could use. Slots are given back a period
        # after the exchange ends, so the wait for a place cannot bunch requests up.
        async with limiter.slot(), admission or _NO_BOUND, self._in_flight:
            loop = asyncio.get_running_loop()
            started = loop.time()
            error: LacecalError | None = None
            try:
                async with (
                    asyncio.timeout(self._timeout),
                    # raise_for_status=False: a passed-in session may raise for 4xx/5xx,
                    # which would turn every HTTP error into a (retried) connection error.
                    session.get(
                        url, params=params, allow_redirects=False, raise_for_status=False
                    ) as response,
                ):
                    chunks = bytearray()
                    async for chunk in response.content.iter_any():
                        chunks += chunk
                        if len(chunks) > MAX_BODY_BYTES:
                            break
                    body = bytes(chunks)
                    status, reason = response.status, response.reason or ""
                    headers = response.headers
            except TimeoutError:
                error = LacecalConnectionError(
                    f"{endpoint.path} for ITR {redact(itr)}: no complete reply "
                    f"within {self._timeout:g}s"
                )
            except (aiohttp.ClientError, OSError) as exc:
                detail = printable(hide(str(exc), (itr,)))  # aiohttp quotes URLs and replies
                error = LacecalConnectionError(
                    f"{endpoint.path} for ITR {redact(itr)}: {type(exc).__name__}: {detail}"
                )
            elapsed = loop.time() - started
            if error is None and len(body) > MAX_BODY_BYTES:
                error = LacecalParseError(
                    f"reply larger than {MAX_BODY_BYTES} bytes",
                    endpoint=endpoint.value,
                    body=body,
                    wire_format=self._wire_format.value,
                    hide=(itr,),
                )
            if error is not None:
                _logger.debug(
                    "GET %s itr=%s failed in %.3fs: %s", endpoint.path, redact(itr), elapsed, error
                )
                return error
            _logger.debug(
                "GET %s itr=%s t=%s n=%s -> %d in %.3fs (%d bytes)",
                endpoint.path,
                redact(itr),
                params.get("t", "-"),
                params.get("n", "-"),
                status,
                elapsed,
                len(body),
            )
            try:
                return classify_reply(
                    endpoint,
                    itr,
                    self._wire_format,
                    status=status,
                    reason=reason,
                    headers=headers,
                    body=body,
                )
            except LacecalRateLimitError as exc:
                period = self._rate_limit[1]
                pause = period if exc.retry_after is None else exc.retry_after
                pause = min(max(pause, 0.0), _MAX_PAUSE_PERIODS * period)
                _logger.warning(
                    "ITR %s is over the rate limit (HTTP 429): pausing it for %.3fs",
                    redact(itr),
                    pause,
                )
                limiter.pause(pause)
                return exc
            except LacecalError as exc:
                return exc

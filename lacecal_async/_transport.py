"""One exchange with the API: session, per-ITR limiter, pool, timeout, classification, retries.

`Transport.request(endpoint, itr, t, n)` is the only code that speaks HTTP. It waits for the
ITR's turn, performs one GET with the whole exchange (body read included) inside `timeout`,
hands the bytes to the pure classifier, and retries what retrying can fix, passing through
the limiter again each time. `close()` fails every pending call with `LacecalClosedError`
at once: callers waiting for a slot, a backoff, a connection or a reply.

`derive()` makes a view with its own `retries`, `timeout` and `leave_free` over the same
session, per-ITR limiters, pool, cap, listeners and close: the API's limit holds across a
client and its views. A view with `leave_free` N takes an ITR's slot only while more than N
are free, after every other request waiting for it (background work: hole repairs).
`gated()` makes a view whose every attempt asks a `Gate` last, once every wait is over and
just before the request is sent: a fleet worker refuses to ask for a plant whose lease it
cannot prove it still holds.
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import logging
import math
import random
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, cast

import aiohttp
import attrs
from aiolimiter import AsyncLimiter
from yarl import URL

from lacecal_async._protocol import (
    backoff_delay,
    build_params,
    check_status,
    decode_reply,
    is_retryable,
)
from lacecal_async._ratelimit import ItrLimiter, LimiterRegistry, release_margin, snapshot
from lacecal_async.endpoints import Endpoint, WireFormat
from lacecal_async.errors import (
    LacecalClosedError,
    LacecalConnectionError,
    LacecalError,
    LacecalParseError,
    LacecalRateLimitError,
)
from lacecal_async.itr import fingerprint, redact
from lacecal_async.limits import LimitState
from lacecal_async.redaction import Hider, hide, printable
from lacecal_async.telemetry import (
    ClientEvent,
    Listener,
    RateLimited,
    RequestDone,
    RetryScheduled,
)

__all__ = [
    "DEFAULT_POOL_SIZE",
    "MAX_BODY_BYTES",
    "Admission",
    "Gate",
    "Transport",
    "check_base_url",
]

#: Connections (and so requests in flight) of a session the client creates itself.
DEFAULT_POOL_SIZE = 100
#: Longest pause a 429's Retry-After may impose, in rate-limit periods.
_MAX_PAUSE_PERIODS = 10
#: Largest reply body read, after decompression [bytes]; a 144-record XML meter page is ~0.2 MB.
MAX_BODY_BYTES = 16 << 20
#: The shortest connect a gate's answer allows [s]: aiohttp reads 0 as "no limit".
_MIN_CONNECT = 0.001

#: Asked right before each attempt is sent: raise to refuse it, or return how many seconds
#: it may still take to leave (getting a connection included).
Gate = Callable[[], float]

_logger = logging.getLogger("lacecal_async")


def check_base_url(base_url: str) -> URL:
    """Return the API's base URL, or raise ValueError for one no retry could make work.

    It must be http(s) with a host, and carry no whitespace or control characters (a pasted
    newline would end up in the request line), no credentials and no query (the library
    sends its own). Plain http to a host other than loopback logs one WARNING: every
    request carries an ITR identifier, a secret, and it would travel in clear.
    """
    if any(char.isspace() or not char.isprintable() for char in base_url):
        raise ValueError("base_url must not hold whitespace or control characters")
    url = URL(base_url if base_url.endswith("/") else base_url + "/")
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("base_url must be an http:// or https:// URL with a host")
    if url.user is not None or url.password is not None:
        raise ValueError("base_url must not hold credentials (user or password)")
    if url.query_string or url.fragment:
        raise ValueError("base_url must not have a query or fragment: the client sends its own")
    if url.scheme == "http" and not _is_loopback(url.host):
        _logger.warning(
            "base_url %s is plain http to a remote host: ITR identifiers would travel in clear",
            url,
        )
    return url


def _is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":  # "localhost." is the same name, qualified
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is IPv4's loopback
    return address.is_loopback


class Admission(Protocol):
    """What a caller may add around each attempt, once the ITR's slot is granted.

    `enter` may wait (the fan-out's credits); `leave` says whether the attempt brought a
    good reply back (the caller keeps what it took with the page) or failed (give it back
    now); `before_decode` may wait, after the slot and the pool are given back, until the
    caller can take the records at once; `backoff` waits out the pause before a retry,
    holding what it chooses.
    """

    async def enter(self) -> None: ...

    def leave(self, *, ok: bool) -> None: ...

    async def before_decode(self) -> None:
        """Wait until the records can go to their consumer as soon as they are decoded.

        Records that wait for a busy consumer outlive garbage collections and are promoted
        to older generations, whose collections then cost more and come more often; a body
        waiting undecoded is one bytes object the collector never looks at.
        """

    async def backoff(self, delay: float) -> None:
        """Wait `delay` seconds before a retry (the fan-out lends the ITR's place meanwhile)."""


@attrs.define
class _Shared:
    """What a transport and its views share beyond the objects they both hold.

    The session (created on first use), whether it is closed, the listeners, what
    `close()` must stop besides the pending calls (a fan-out's tasks waiting on its queue),
    and the identifiers every string taken from a reply hides.
    """

    session: aiohttp.ClientSession | None
    owns_session: bool
    closed: bool = False
    listeners: list[Listener] = attrs.Factory(list)
    on_close: set[Callable[[], None]] = attrs.Factory(set)
    #: Every identifier asked about or given (`Transport.hide`): hidden in every reply's text.
    hider: Hider = attrs.Factory(Hider)


@attrs.frozen
class _Try:
    """Which attempt of a request this is, and how long it waited for the limiters [s]."""

    number: int
    waited: float


@attrs.frozen
class _Reply:
    """A 2xx reply's body, decoded only when its caller can take the records."""

    body: bytes
    status: int
    elapsed: float
    attempt: _Try


@attrs.frozen
class _Failure:
    """An attempt's error, and whether another attempt could fix it."""

    error: LacecalError
    retryable: bool
    #: How long a 429 paused the ITR [s] (None: not a 429).
    pause: float | None = None


class _CloseGuard:
    """Registers the calling task while it waits on the transport, so `close()` can fail it.

    A cancellation that `close()` made comes out as `LacecalClosedError`; any other one
    (``task.cancel()``, ``asyncio.timeout``, a TaskGroup) stays a cancellation.
    """

    __slots__ = ("_task", "_transport")

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._task = cast("asyncio.Task[Any]", asyncio.current_task())

    async def __aenter__(self) -> None:
        if self._transport.closed:
            raise LacecalClosedError("the LacecalClient is closed")
        self._transport.pending.add(self._task)

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        task, transport = self._task, self._transport
        transport.pending.discard(task)
        if task not in transport.cancelled_by_close:
            return
        transport.cancelled_by_close.discard(task)
        cancelled = exc_type is not None and issubclass(exc_type, asyncio.CancelledError)
        if cancelled and task.uncancel() == 0:  # nobody else asked for a cancellation
            raise LacecalClosedError("the LacecalClient was closed during the call")


#: aiohttp's private switch of its one silent re-send of an idempotent request when a
#: kept-alive connection drops (aiohttp >= 3.11): that copy would escape the limiter and
#: `retries`, so a session the client makes turns it off.
_RESEND_SWITCH = "_retry_connection"


def _check_resend_switch() -> None:
    """Raise unless aiohttp still has the switch: renamed, turning it off would do nothing."""
    if _RESEND_SWITCH not in aiohttp.ClientSession.ATTRS:
        raise RuntimeError(
            f"aiohttp {aiohttp.__version__} has no ClientSession.{_RESEND_SWITCH}: its silent "
            "re-send of a request would escape the rate limiter; lacecal_async needs an update "
            "for this aiohttp (or pass a session of your own)"
        )


class Transport:
    """The HTTP side of a client: one `request` per page (or list), with retries."""

    def __init__(
        self,
        session: aiohttp.ClientSession | None,
        *,
        base_url: URL,
        wire_format: WireFormat,
        rate_limit: tuple[int, float],
        timeout: float,
        retries: int,
        max_rate: tuple[int, float] | None = None,
        user_agent: str = "lacecal_async",
    ) -> None:
        if session is None:
            _check_resend_switch()
        self._shared = _Shared(session, owns_session=session is None)
        #: Sent with every request (a passed-in session's own default is overridden).
        self.headers = {"User-Agent": user_agent}
        self.base_url = base_url
        #: Each endpoint's URL, joined once (yarl's join costs ~10 us a request).
        self._urls = {endpoint: base_url / endpoint.path for endpoint in Endpoint}
        self.wire_format = wire_format
        self.rate_limit = rate_limit
        self.timeout = timeout
        self.retries = retries
        self.limiters = LimiterRegistry(*rate_limit)
        pool = DEFAULT_POOL_SIZE
        if session is not None and session.connector is not None and session.connector.limit:
            pool = session.connector.limit
        self.pool_size = pool
        self._in_flight = asyncio.Semaphore(pool)
        self._rng = random.Random()  # noqa: S311 - jitter, not cryptography
        #: The client-wide cap across all ITRs (a leaky bucket: a burst of N, then N per T).
        self.max_rate = max_rate
        self._cap = None
        if max_rate is not None:
            # Drained over T plus the per-ITR limiter's margin (1/60): its bound of 2N in
            # any window of T then holds at the server too when network delays vary by a
            # few tens of milliseconds (a burst opens new connections, later requests reuse
            # them), where the exact leaky bucket reaches 2N at the edge of the window.
            count, period = max_rate
            self._cap = AsyncLimiter(count, period + release_margin(period))
        #: None: any free slot. N: a spare slot only, leaving N of the ITR's slots free.
        self.leave_free: int | None = None
        #: Asked just before each attempt is sent (`gated`); None: nothing to ask.
        self.gate: Gate | None = None
        #: Tasks waiting on the transport (one wait each at a time), failed by `close()`.
        self.pending: set[asyncio.Task[Any]] = set()
        self.cancelled_by_close: set[asyncio.Task[Any]] = set()

    @property
    def closed(self) -> bool:
        """Whether `close()` was called (on this transport or the one it derives from)."""
        return self._shared.closed

    @property
    def listeners(self) -> list[Listener]:
        """The callables every event goes to (shared with derived views)."""
        return self._shared.listeners

    def derive(self, *, retries: int, timeout: float, leave_free: int | None = None) -> Transport:
        """Return a view with its own `retries`, `timeout`, `leave_free`; all else shared.

        A shallow copy: the session, close state and listeners live in `_Shared`; the
        limiters, pool, cap, pending calls and jitter are the same objects in both.
        """
        view = copy.copy(self)
        view.retries = retries
        view.timeout = timeout
        view.leave_free = leave_free
        return view

    def gated(self, gate: Gate) -> Transport:
        """Return a view that asks `gate` before each attempt, and this view's gate if any.

        The gates run synchronously after the waits for the ITR's slot, the admission, a
        place in flight and the cap, so a process stopped during a wait (SIGSTOP, a frozen
        VM) is asked again when it wakes. A gate that raises fails the call with that error:
        no request, no retry. The shortest time a gate returns bounds getting a connection
        (waiting for a pooled one, resolving, connecting, TLS): an attempt that could not
        leave in time fails as a `LacecalConnectionError` before sending anything. On a
        kept-alive connection the request is written in the same step of the event loop.
        """
        view = copy.copy(self)
        first = self.gate
        view.gate = gate if first is None else lambda: min(first(), gate())
        return view

    def limit_state(self, itr: str) -> LimitState:
        """Return the rate-limit state of a valid identifier, creating no limiter for it."""
        loop = asyncio.get_running_loop()
        return snapshot(
            self.limiters.peek(itr), *self.rate_limit, now=loop.time(), wall=datetime.now(UTC)
        )

    def _emit(self, event: ClientEvent) -> None:
        for listener in tuple(self._shared.listeners):
            try:
                listener(event)
            except Exception:
                # A listener's bug must not fail the request it observes; the event's repr
                # shows the identifier redacted only.
                _logger.exception("a listener of lacecal_async events raised on %r", event)

    @property
    def on_close(self) -> set[Callable[[], None]]:
        """Callbacks `close()` calls once, synchronously (a fan-out cancels its tasks)."""
        return self._shared.on_close

    def hide(self, itrs: Iterable[str]) -> None:
        """Hide these identifiers in the text of every reply, whichever plant it is for."""
        self._shared.hider.add(itrs)

    def guard(self) -> _CloseGuard:
        """Wrap a wait of the calling task (a request, a fan-out's queue) so close() ends it."""
        return _CloseGuard(self)

    async def close(self) -> None:
        """Fail every pending call with `LacecalClosedError`, then close an owned session."""
        if self.closed:
            return
        self._shared.closed = True
        current = asyncio.current_task()
        for task in list(self.pending):
            if task is not current and not task.done():
                self.cancelled_by_close.add(task)
                task.cancel()
        for stop in tuple(self._shared.on_close):
            stop()
        self._shared.on_close.clear()
        self.limiters.close()
        session, self._shared.session = self._shared.session, None
        if session is not None and self._shared.owns_session:
            await session.close()
        # Let the failed calls run their cleanup before close() returns.
        await asyncio.sleep(0)

    def _get_session(self) -> aiohttp.ClientSession:
        session = self._shared.session
        if session is None:
            session = self._shared.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.pool_size),
                timeout=aiohttp.ClientTimeout(total=None),
            )
            session._retry_connection = False  # `_RESEND_SWITCH`, checked when made
        return session

    async def request(
        self,
        endpoint: Endpoint,
        itr: str,
        t: int | None = None,
        n: int | None = None,
        *,
        admission: Admission | None = None,
    ) -> tuple[Any, ...]:
        """Return the records of one GET (`t` None: the latest only), retrying what may pass.

        Raises the last `LacecalError` once retries are spent, at once for errors no retry
        can fix, and `LacecalClosedError` if the client is (or gets) closed.
        """
        params = build_params(itr, self.wire_format, t=t, n=None if t is None else n)
        if itr not in self._shared.hider:  # from now on hidden in every reply, any plant's
            self._shared.hider.add((itr,))
        async with self.guard():
            attempt = 0
            while True:
                outcome = await self._attempt(endpoint, itr, params, admission, number=attempt + 1)
                if isinstance(outcome, _Reply):
                    if admission is not None:
                        try:
                            await admission.before_decode()
                        except asyncio.CancelledError:
                            # Left before its turn (the stream closed or cancelled): the
                            # request was made all the same. Not decoded: a close stays quick.
                            self._report(
                                endpoint,
                                itr,
                                outcome.attempt,
                                status=outcome.status,
                                elapsed=outcome.elapsed,
                                outcome=None,
                            )
                            raise
                    records = self._decode(endpoint, itr, outcome)
                    if isinstance(records, _Failure):
                        raise records.error  # the same body would come back: no retry
                    return records
                error = outcome.error
                if attempt >= self.retries or not outcome.retryable:
                    raise error
                attempt += 1
                paused = isinstance(error, LacecalRateLimitError)  # the limiter paused it
                delay = 0.0
                if not paused:
                    delay = backoff_delay(
                        attempt - 1, self.rate_limit[1], self.rate_limit[0], self._rng
                    )
                if self._shared.listeners:
                    self._emit(
                        RetryScheduled(
                            redact(itr),
                            fingerprint(itr),
                            endpoint,
                            attempt,
                            type(error).__name__,
                            delay,
                        )
                    )
                if not paused:
                    _logger.debug(
                        "retrying %s for ITR %s in %.3fs (attempt %d of %d): %s",
                        endpoint.path,
                        redact(itr),
                        delay,
                        attempt + 1,
                        self.retries + 1,
                        error,
                    )
                    await (asyncio.sleep(delay) if admission is None else admission.backoff(delay))

    async def _attempt(
        self,
        endpoint: Endpoint,
        itr: str,
        params: dict[str, str],
        admission: Admission | None,
        *,
        number: int,
    ) -> _Reply | _Failure:
        """One exchange through the ITR's limiter; errors are returned, never raised.

        Returning them lets the caller raise outside any ``except`` block, so no chained
        aiohttp exception (whose URL holds the identifier) rides along.
        """
        session = self._get_session()
        limiter = self.limiters.get(itr)
        loop = asyncio.get_running_loop()
        asked = loop.time()
        # The ITR's slot first, then admission, then a place in flight, then the client-wide
        # cap: a request waiting for its ITR's turn holds nothing other ITRs could use, and
        # the cap's token is taken last, just before sending, so no wait after it can bunch
        # requests up beyond the cap's bound. Slots are given back a period after the
        # exchange ends, so the waits after the slot cannot bunch one ITR's requests either.
        slot = limiter.slot() if self.leave_free is None else limiter.spare_slot(self.leave_free)
        async with slot:
            waited = loop.time() - asked
            ok = False
            if admission is not None:
                await admission.enter()
            try:
                async with self._in_flight:
                    if self._cap is not None:
                        capped = loop.time()
                        await self._cap.acquire()
                        waited += loop.time() - capped
                    # Last, after every wait: from here to the send, nothing waits but
                    # the connection, which the gate's answer bounds.
                    connect = None if self.gate is None else self.gate()
                    outcome = await self._exchange(
                        session,
                        endpoint,
                        itr,
                        params,
                        limiter,
                        attempt=_Try(number, waited),
                        connect=connect,
                    )
                ok = not isinstance(outcome, _Failure)
            finally:
                if admission is not None:
                    admission.leave(ok=ok)
            return outcome

    async def _exchange(
        self,
        session: aiohttp.ClientSession,
        endpoint: Endpoint,
        itr: str,
        params: dict[str, str],
        limiter: ItrLimiter,
        *,
        attempt: _Try,
        connect: float | None = None,
    ) -> _Reply | _Failure:
        """One GET; `connect` [s], if given, bounds getting a connection for it."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        failure: _Failure | None = None
        extra: dict[str, Any] = {}
        limit = None
        if connect is not None:
            # The session's own timeouts, but the connection's bounded (and not rounded up
            # to a whole second, which aiohttp does above its `ceil_threshold`).
            own = session.timeout
            limit = max(connect, _MIN_CONNECT)
            if own.connect is not None:
                limit = min(limit, own.connect)
            extra["timeout"] = aiohttp.ClientTimeout(
                total=own.total,
                connect=limit,
                sock_read=own.sock_read,
                sock_connect=own.sock_connect,
                ceil_threshold=math.inf,
            )
        try:
            async with (
                asyncio.timeout(self.timeout),
                # raise_for_status=False: a passed-in session may raise for 4xx/5xx,
                # which would turn every HTTP error into a (retried) connection error.
                session.get(
                    self._urls[endpoint],
                    params=params,
                    headers=self.headers,
                    allow_redirects=False,
                    raise_for_status=False,
                    **extra,
                ) as response,
            ):
                # Chunks joined once (one chunk is not copied at all), as `read()` does,
                # but no more than the bound.
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.content.iter_any():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        break
                body = b"".join(chunks)
                status, reason = response.status, response.reason or ""
                headers = response.headers
        except asyncio.CancelledError:  # the caller left mid-exchange: the server saw it
            elapsed = loop.time() - started
            self._report(endpoint, itr, attempt, status=None, elapsed=elapsed, outcome=None)
            raise
        except TimeoutError as exc:
            what = f"no complete reply within {self.timeout:g}s"
            if limit is not None and isinstance(exc, aiohttp.ServerTimeoutError):
                what = f"no connection within the {limit:.3g}s its gate left"
            failure = _Failure(
                LacecalConnectionError(f"{endpoint.path} for ITR {redact(itr)}: {what}"),
                retryable=True,
            )
        except (aiohttp.ClientError, OSError) as exc:
            # aiohttp quotes URLs and replies
            detail = printable(hide(str(exc), self._shared.hider))
            # A certificate nobody trusts stays untrusted: do not spend the ITR's slots on it.
            certificate = isinstance(exc, aiohttp.ClientConnectorCertificateError)
            failure = _Failure(
                LacecalConnectionError(
                    f"{endpoint.path} for ITR {redact(itr)}: {type(exc).__name__}: {detail}"
                ),
                retryable=not certificate,
            )
        elapsed = loop.time() - started
        if failure is None and len(body) > MAX_BODY_BYTES:
            failure = _Failure(
                LacecalParseError(
                    f"reply larger than {MAX_BODY_BYTES} bytes",
                    endpoint=endpoint.value,
                    body=body,
                    wire_format=self.wire_format.value,
                    hide=self._shared.hider,
                ),
                retryable=False,
            )
        if failure is not None:
            _logger.debug(
                "GET %s itr=%s failed in %.3fs: %s",
                endpoint.path,
                redact(itr),
                elapsed,
                failure.error,
            )
            self._report(endpoint, itr, attempt, status=None, elapsed=elapsed, outcome=failure)
            return failure
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
        failure = self._check(
            endpoint, itr, limiter, status=status, reason=reason, headers=headers, body=body
        )
        if failure is None:
            return _Reply(body, status, elapsed, attempt)  # reported once decoded
        self._report(endpoint, itr, attempt, status=status, elapsed=elapsed, outcome=failure)
        if self._shared.listeners and failure.pause is not None:
            retry_after = cast("LacecalRateLimitError", failure.error).retry_after
            self._emit(
                RateLimited(redact(itr), fingerprint(itr), endpoint, retry_after, failure.pause)
            )
        return failure

    def _decode(self, endpoint: Endpoint, itr: str, reply: _Reply) -> tuple[Any, ...] | _Failure:
        outcome: tuple[Any, ...] | _Failure
        try:
            outcome = decode_reply(
                endpoint, itr, self.wire_format, reply.body, hide=self._shared.hider
            )
        except LacecalError as exc:
            outcome = _Failure(exc, retryable=False)
        self._report(
            endpoint,
            itr,
            reply.attempt,
            status=reply.status,
            elapsed=reply.elapsed,
            outcome=outcome,
        )
        return outcome

    def _report(
        self,
        endpoint: Endpoint,
        itr: str,
        attempt: _Try,
        *,
        status: int | None,
        elapsed: float,
        outcome: tuple[Any, ...] | _Failure | None,
    ) -> None:
        """Emit `RequestDone`; outcome None: the caller stopped waiting, or `close()` stopped it."""
        if not self._shared.listeners:
            return
        error, records, newest = None, 0, None
        if outcome is None:  # abandoned: by `close()` (the caller gets that error), or a cancel
            error = "LacecalClosedError" if self.closed else "CancelledError"
        elif isinstance(outcome, _Failure):
            error = type(outcome.error).__name__
        else:
            records = len(outcome)
            newest = getattr(outcome[-1], "unix_time", None) if outcome else None
        self._emit(
            RequestDone(
                redact(itr),
                fingerprint(itr),
                endpoint,
                attempt.number,
                status,
                error,
                records,
                elapsed,
                attempt.waited,
                newest,
            )
        )

    def _check(
        self,
        endpoint: Endpoint,
        itr: str,
        limiter: ItrLimiter,
        *,
        status: int,
        reason: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> _Failure | None:
        """Return the failure a reply that is not a 2xx stands for (a 429 pauses the ITR)."""
        try:
            check_status(
                endpoint,
                itr,
                status=status,
                reason=reason,
                headers=headers,
                body=body,
                hide=self._shared.hider,
            )
        except LacecalRateLimitError as exc:
            period = self.rate_limit[1]
            pause = period if exc.retry_after is None else exc.retry_after
            pause = min(max(pause, 0.0), _MAX_PAUSE_PERIODS * period)
            _logger.warning(
                "ITR %s is over the rate limit (HTTP 429): pausing it for %.3fs",
                redact(itr),
                pause,
            )
            limiter.pause(pause)
            return _Failure(exc, retryable=True, pause=pause)
        except LacecalError as exc:
            return _Failure(exc, retryable=is_retryable(exc))
        return None

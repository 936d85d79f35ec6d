"""What a client reports as it works: one event per request, per retry and per 429.

Listeners (``LacecalClient(on_event=...)`` or ``client.add_listener``) get these frozen
values on the event loop, synchronously, after the fact (`RequestDone` says when): enough
for a progress display, a log of one's own, or a Prometheus exporter. The ITR is shown redacted
(``...WXYZ``), never whole; `plant` is its fingerprint (``itr-`` and 12 hex digits, see
`lacecal_async.fingerprint`), a stable key for per-plant metrics or a join with a store.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from lacecal_async.endpoints import Endpoint

__all__ = ["ClientEvent", "Listener", "RateLimited", "RequestDone", "RetryScheduled"]


@attrs.frozen
class RequestDone:
    """One attempt of one request ended, with a reply or without one.

    itr: the identifier redacted (``...WXYZ``). plant: its fingerprint. attempt: 1 for the
    first, 2 for the first retry. status: the HTTP status, None when no reply came
    (connection error, timeout).
    error: None on success; else the name of the exception class that ended the attempt: a
    `LacecalError` subclass's (``"LacecalParseError"`` for a 200 that did not decode), or
    ``"CancelledError"`` (below). records: records in a good reply.
    duration: seconds from sending the request to the end of the body. limiter_wait: seconds
    this attempt waited for its ITR's slot and for the client-wide `max_rate` cap.
    newest: the start of the last record in a good reply of timed records [UNIX s] (None:
    no record, or the inverter list): a progress display learns where a backfill ends.

    When: a failed attempt is reported as it ends; a good reply once its body is decoded,
    after the ITR's slot is given back. In `stream_many`/`fetch_many` that decoding waits
    until the consumer has taken the page before it, so a slow consumer delays the event
    (not its `duration`). An attempt abandoned mid-exchange or before its body was decoded
    is reported with 0 records (`status` the reply's, if it had come) and
    ``error="LacecalClosedError"`` when `close()` abandoned it (what its caller got), else
    ``"CancelledError"`` (its caller stopped waiting: a stream closed or cancelled, a
    cancelled call).
    """

    itr: str
    plant: str
    endpoint: Endpoint
    attempt: int
    status: int | None
    error: str | None
    records: int
    duration: float
    limiter_wait: float
    newest: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the attempt brought records (possibly none) back."""
        return self.error is None


@attrs.frozen
class RetryScheduled:
    """A failed attempt will be retried: `attempt` failed with `error`, the next one follows.

    delay: the backoff before the next attempt waits for its slot [s]; 0.0 after a 429,
    whose pause the ITR's limiter applies (see `RateLimited`).
    """

    itr: str
    plant: str
    endpoint: Endpoint
    attempt: int
    error: str
    delay: float


@attrs.frozen
class RateLimited:
    """The server answered 429: every call of this ITR is held back for `pause` seconds.

    retry_after: the server's Retry-After [s] if it sent one; `pause` is it clamped to
    0..10 periods, or one period without it.
    """

    itr: str
    plant: str
    endpoint: Endpoint
    retry_after: float | None
    pause: float


ClientEvent = RequestDone | RetryScheduled | RateLimited
#: A listener: called on the event loop with each event; it must not block. An exception
#: it raises is logged (logger ``lacecal_async``) and never reaches the request.
Listener = Callable[[ClientEvent], None]

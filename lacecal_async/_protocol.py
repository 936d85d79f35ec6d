"""Sans-I/O rules of the exchange: request parameters, reply classification, retry timing.

Everything here is pure, so the client's I/O layer stays a thin loop around it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from lacecal_async import redaction
from lacecal_async.decoding import decode
from lacecal_async.endpoints import Endpoint, WireFormat
from lacecal_async.errors import (
    BODY_EXCERPT_BYTES,
    LacecalConnectionError,
    LacecalError,
    LacecalParseError,
    LacecalRateLimitError,
    LacecalResponseError,
)
from lacecal_async.itr import redact

__all__ = [
    "backoff_delay",
    "build_params",
    "check_status",
    "decode_reply",
    "is_retryable",
    "parse_retry_after",
    "to_unix",
    "validate_range",
]


def build_params(
    itr: str, wire_format: WireFormat, t: int | None = None, n: int | None = None
) -> dict[str, str]:
    """Query parameters of one request; `t` (UNIX time) always, never the local-time `d`."""
    params = {"out": wire_format.value, "id": itr}
    if t is not None:
        params["t"] = str(t)
    if n is not None:
        params["n"] = str(n)
    return params


#: Longest reason phrase a message shows (after hiding the identifier in it).
_MAX_REASON = 100


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds, decimal, or HTTP-date).

    Returns None when absent or unreadable; never negative.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        reference = now if now is not None else datetime.now(when.tzinfo)
        seconds = (when - reference).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _response_error(
    endpoint: Endpoint,
    itr: str,
    status: int,
    reason: str,
    body: bytes,
    *,
    content_type: str | None,
    hide: Iterable[str] | redaction.Hider,
) -> str:
    # The body as text (its charset, or sniffed), the identifiers hidden in any echoed form
    # (there and in the reason phrase), and only then cut.
    shown = redaction.excerpt(body, BODY_EXCERPT_BYTES, hide, content_type=content_type)
    reason = redaction.printable(redaction.cut(redaction.hide(reason, hide), _MAX_REASON))
    return f"{endpoint.path} for ITR {redact(itr)}: HTTP {status} {reason}; body {shown}"


def check_status(
    endpoint: Endpoint,
    itr: str,
    *,
    status: int,
    reason: str,
    headers: Mapping[str, str],
    body: bytes,
    hide: Iterable[str] | redaction.Hider | None = None,
) -> None:
    """Raise the typed error a reply that is not a 2xx stands for (429: with Retry-After).

    `hide`: the identifiers the message hides (default: `itr`); a client gives every one
    it knows.
    """
    if 200 <= status < 300:
        return
    content_type = headers.get("Content-Type")
    hidden = (itr,) if hide is None else hide
    message = _response_error(
        endpoint, itr, status, reason, body, content_type=content_type, hide=hidden
    )
    if status == 429:
        raise LacecalRateLimitError(
            message, retry_after=parse_retry_after(headers.get("Retry-After"))
        )
    raise LacecalResponseError(message, status=status)


def decode_reply(
    endpoint: Endpoint,
    itr: str,
    wire_format: WireFormat,
    body: bytes,
    *,
    hide: Iterable[str] | redaction.Hider | None = None,
) -> tuple[Any, ...]:
    """Decode a 2xx reply's body into records, or raise `LacecalParseError` (no chained cause).

    The body is decoded whatever its Content-Type says (PHP often labels JSON ``text/html``);
    a reply that is not what was asked for is a `LacecalParseError`. The identifiers in
    `hide` (default: `itr`) are hidden in the error, and in the strings of an inverter list.
    """
    try:
        return decode(endpoint, body, wire_format, hide=(itr,) if hide is None else hide)
    except LacecalParseError as exc:
        # The message hides the identifier in any form (the decoder quotes decoded values
        # and tags); the chained cause quotes them whole, so it goes.
        error = exc
    error.__cause__ = error.__context__ = None
    raise error  # outside the handler: no chained exception that shows the identifier


#: Statuses that say the request itself is wrong or unsupported: the same request fails again.
_PERMANENT_5XX = frozenset({501, 505})
#: 4xx statuses that say "not now" rather than "never".
_TRANSIENT_4XX = frozenset({408, 429})


def is_retryable(error: LacecalError) -> bool:
    """Tell whether an error is worth another try.

    Yes: connection errors and timeouts, 408, 429 and 5xx. No: other 4xx, 501 and 505
    (the request itself is wrong or unsupported), and replies that do not parse.
    """
    if isinstance(error, LacecalConnectionError):
        return True
    if not isinstance(error, LacecalResponseError):
        return False
    if error.status >= 500:
        return error.status not in _PERMANENT_5XX
    return error.status in _TRANSIENT_4XX


def backoff_delay(attempt: int, period: float, max_requests: int, rng: random.Random) -> float:
    """Exponential backoff with full jitter, on the scale of the rate limit.

    The base is half the limit's steady spacing (5 s for 6 per minute), doubled per attempt
    and capped at one period; the jitter keeps many failing ITRs from retrying in step.
    """
    base = period / max_requests / 2
    try:
        delay = min(period, math.ldexp(base, attempt))
    except OverflowError:  # ldexp never gives inf: a thousand attempts, or a huge period
        delay = period
    return delay * (0.5 + rng.random() / 2)


def to_unix(value: object, name: str) -> int:
    """UNIX seconds from an aware datetime or an int (rounded up: `start` and `end` agree)."""
    if isinstance(value, bool) or not isinstance(value, int | datetime):
        raise TypeError(f"{name} must be an aware datetime or an int of UNIX seconds")
    if isinstance(value, int):
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} is a naive datetime; give it a tzinfo (e.g. UTC)")
    return math.ceil(value.timestamp())


def validate_range(start: object, end: object) -> tuple[int | None, int | None]:
    """Check `start`/`end` before any request: ``[start, end)``, `end` needs a `start`."""
    start_t = None if start is None else to_unix(start, "start")
    end_t = None if end is None else to_unix(end, "end")
    if end_t is not None and start_t is None:
        raise ValueError("end needs a start (start=None means only the latest record)")
    if start_t is not None and end_t is not None and end_t < start_t:
        raise ValueError("end is before start")
    return start_t, end_t

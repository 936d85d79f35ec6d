"""The exception tree: every failure the library raises is a `LacecalError`.

Messages never carry a whole ITR identifier (it is a secret: whoever has it reads the
plant); they show the redacted form from `lacecal_async.itr.redact`.
"""

from __future__ import annotations

__all__ = [
    "InvalidITRError",
    "LacecalClosedError",
    "LacecalConnectionError",
    "LacecalError",
    "LacecalParseError",
    "LacecalRateLimitError",
    "LacecalResponseError",
]

#: How much of an offending body a `LacecalParseError` message shows.
BODY_EXCERPT_BYTES = 200
#: How much of a `LacecalParseError` reason (which may quote a bad value) is kept.
REASON_MAX_CHARS = 300


class LacecalError(Exception):
    """Base of every error raised by lacecal_async."""


class InvalidITRError(LacecalError, ValueError):
    """An ITR identifier that is not 16 ASCII letters and digits; no request was made."""


class LacecalParseError(LacecalError):
    """A reply that is not valid JSON/XML, or does not fit the records.

    `endpoint` names the endpoint, `path` the field that failed (e.g. ``$[3].GRID_meter.RST``)
    when one is known, and `excerpt` the first 200 bytes of the body.
    """

    def __init__(
        self,
        reason: str,
        *,
        endpoint: str,
        body: bytes = b"",
        path: str | None = None,
    ) -> None:
        if len(reason) > REASON_MAX_CHARS:  # a reason quotes the offending value: keep it short
            reason = reason[:REASON_MAX_CHARS] + "..."
        self.reason = reason
        self.endpoint = endpoint
        self.path = path
        self.excerpt = body[:BODY_EXCERPT_BYTES]
        where = f" at {path}" if path else ""
        more = "..." if len(body) > BODY_EXCERPT_BYTES else ""
        super().__init__(
            f"{endpoint}: {reason}{where}; body starts {self.excerpt!r}{more}"
            if body
            else f"{endpoint}: {reason}{where}; empty body"
        )


class LacecalResponseError(LacecalError):
    """The server answered with a non-2xx status; `status` holds it."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class LacecalRateLimitError(LacecalResponseError):
    """HTTP 429: the ITR's request budget is spent; `retry_after` is the server's hint [s]."""

    def __init__(self, message: str, *, retry_after: float | None, status: int = 429) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class LacecalConnectionError(LacecalError):
    """The exchange failed below HTTP: connection refused or dropped, or a timeout."""


class LacecalClosedError(LacecalError):
    """The client was closed: by `close()` or on leaving ``async with``, before or during the call.

    Every call still pending when the client closes fails with it at once, and so does any
    call made afterwards (without sending a request).
    """

"""The exception tree: every failure the library raises is a `LacecalError`.

Messages never carry a whole ITR identifier (it is a secret: whoever has it reads the
plant); they show the redacted form from `lacecal_async.itr.redact`.
"""

from __future__ import annotations

from collections.abc import Iterable

from lacecal_async import redaction

__all__ = [
    "InvalidITRError",
    "LacecalClockError",
    "LacecalClosedError",
    "LacecalConnectionError",
    "LacecalError",
    "LacecalParseError",
    "LacecalRateLimitError",
    "LacecalResponseError",
]

#: How many characters of an offending body's text a `LacecalParseError` message shows.
BODY_EXCERPT_CHARS = 200
BODY_EXCERPT_BYTES = BODY_EXCERPT_CHARS  # the name before 0.1.0; excerpts are text now
#: How much of a `LacecalParseError` reason (which may quote a bad value) is kept.
REASON_MAX_CHARS = 300


class LacecalError(Exception):
    """Base of every error raised by lacecal_async."""


class InvalidITRError(LacecalError, ValueError):
    """An ITR identifier that is not 16 ASCII letters and digits; no request was made."""


class LacecalParseError(LacecalError):
    """A reply that is not valid JSON/XML, or does not fit the records.

    `endpoint` names the endpoint, `path` the field that failed (e.g. ``$[3].GRID_meter.RST``)
    when one is known, and `excerpt` the body's first 200 characters as text (decoded as
    `wire_format` says), or a description when it is not text. Every identifier in `hide`
    is hidden in the reason, path and excerpt, in any echoed form, before they are cut.
    """

    def __init__(
        self,
        reason: str,
        *,
        endpoint: str,
        body: bytes = b"",
        path: str | None = None,
        wire_format: str | None = None,
        hide: Iterable[str] | redaction.Hider = (),
    ) -> None:
        hider = redaction.Hider.of(hide)
        # Hide first, cut after: a reason quotes the offending value, which may be long.
        self.reason = redaction.cut(hider(reason[: redaction.SCAN_CHARS]), REASON_MAX_CHARS)
        self.endpoint = endpoint
        self.path = None if path is None else hider(path)
        text = redaction.body_text(body, wire_format)
        if text is None:
            self.excerpt = f"<{len(body)} bytes that are not text>"
            shown = self.excerpt
        else:
            hidden = hider(text[: redaction.SCAN_CHARS])
            self.excerpt = hidden[:BODY_EXCERPT_CHARS]
            shown = repr(self.excerpt) + ("..." if len(hidden) > BODY_EXCERPT_CHARS else "")
        where = f" at {self.path}" if self.path else ""
        super().__init__(
            f"{endpoint}: {self.reason}{where}; body starts {shown}"
            if body
            else f"{endpoint}: {self.reason}{where}; empty body"
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


class LacecalClockError(LacecalError):
    """A plant's records disagree with the client's clock: nothing of the offending record is kept.

    `future` True: the server's latest record starts more than its period (at most a day)
    and five minutes of clock skew after the client's clock (a logger's clock glitch); the
    records before it were delivered, it was not, and the cursor never moves past it.
    `future` False: the server's latest record is older than one already delivered (its
    clock went back, or it lost data): nothing newer can be fetched until it passes it.
    `record_time` is the offending record's start and `reference` the clock's time (future)
    or the start of the newest record delivered (older) [UNIX s]; `endpoint` names it.
    """

    def __init__(
        self, message: str, *, endpoint: str, record_time: int, reference: float, future: bool
    ) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.record_time = record_time
        self.reference = reference
        self.future = future

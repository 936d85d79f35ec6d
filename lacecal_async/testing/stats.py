"""What the fake server saw, per ITR, for tests to assert on (requests, 429s, parameters)."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["ItrStats", "RequestLog"]


@attrs.frozen
class RequestLog:
    """One request to a configured ITR.

    time: ``time.monotonic()`` when it arrived.  endpoint: e.g. ``"meter"``.
    params: its query parameters.  status: the HTTP status sent (0: connection dropped).
    user_agent: its User-Agent header ("" if none), which tells a fleet's workers apart.
    """

    time: float
    endpoint: str
    params: dict[str, str]
    status: int
    user_agent: str = ""

    def to_json(self, origin: float) -> dict[str, Any]:
        """Return the entry as `/_fake/stats` shows it, `time` relative to `origin`."""
        return {
            "time": self.time - origin,
            "endpoint": self.endpoint,
            "params": self.params,
            "status": self.status,
            "user_agent": self.user_agent,
        }


@attrs.frozen
class ItrStats:
    """A snapshot of one ITR's counters: all requests (rejected ones too), 429s, the log."""

    requests: int
    rejections: int
    log: list[RequestLog]

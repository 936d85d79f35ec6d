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
    """

    time: float
    endpoint: str
    params: dict[str, str]
    status: int

    def to_json(self, origin: float) -> dict[str, Any]:
        """Return the entry as `/_fake/stats` shows it, `time` relative to `origin`."""
        return {
            "time": self.time - origin,
            "endpoint": self.endpoint,
            "params": self.params,
            "status": self.status,
        }


@attrs.frozen
class ItrStats:
    """A snapshot of one ITR's counters: all requests (rejected ones too), 429s, the log."""

    requests: int
    rejections: int
    log: list[RequestLog]

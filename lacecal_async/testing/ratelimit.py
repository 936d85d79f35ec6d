"""The service's per-ITR request budget: at most N requests in any sliding window of P s.

Only admitted requests occupy the window: a client hammering through 429s is not punished
further (the real service's policy is unknown; this is the kinder reading of the spec).
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ["SlidingWindow", "format_retry_after"]


def format_retry_after(seconds: float) -> str:
    """Format a ``Retry-After`` value: whole seconds as an integer, else up to 3 decimals.

    Rounded *up* to the millisecond, so a client that waits exactly this long is admitted.
    HTTP allows only integers; with limits scaled below a second the fake needs decimals,
    so clients should parse the header as a float.
    """
    millis = max(math.ceil(round(seconds * 1000, 6)), 0)
    if millis % 1000 == 0:
        return str(millis // 1000)
    return f"{millis / 1000:.3f}".rstrip("0")


class SlidingWindow:
    """Admit a request iff fewer than `limit` admitted requests arrived in the last `period` s."""

    def __init__(self, limit: int, period: float) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("rate limit must be at least 1 request per positive period")
        self.limit = limit
        self.period = period
        self._arrivals: deque[float] = deque()

    def admit(self, now: float) -> float | None:
        """Record an arrival at `now` (monotonic s): None if admitted, else seconds to wait."""
        arrivals = self._arrivals
        while arrivals and arrivals[0] <= now - self.period:
            arrivals.popleft()
        if len(arrivals) < self.limit:
            arrivals.append(now)
            return None
        return arrivals[0] + self.period - now

"""`LimitState`: where one ITR stands against the API's rate limit, for a poller to plan by.

A snapshot, not a live view: free slots at the moment it was taken, and the waits that
follow from then, in seconds from `taken_at` and as wall-clock datetimes (the limiter runs
on the event loop's monotonic clock, which means nothing outside the process).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

__all__ = ["LimitState"]


@attrs.frozen
class LimitState:
    """One ITR's rate-limit state when `taken_at` (an aware UTC datetime) was read.

    max_requests / period: the client's limit (requests per period [s]).
    free: slots a request could take at once (a 429 pause aside): never used, or used more
    than a period ago. busy: this ITR's requests in flight. waiting: its calls queued for a
    slot (a new call queues behind them). next_free_in: seconds until a slot is free, 0.0
    when one is, None while every slot is held by a request in flight (it frees a period
    after that request ends). paused_for: seconds left of a 429 pause, 0.0 when none.
    all_free_in: seconds until every slot is free again (the ITR as good as unused), None
    while a request is in flight.
    """

    max_requests: int
    period: float
    free: int
    busy: int
    waiting: int
    next_free_in: float | None
    paused_for: float
    all_free_in: float | None
    taken_at: datetime

    @property
    def ready_in(self) -> float | None:
        """Seconds until a request could start (slot free and no pause); None: unknown yet."""
        if self.next_free_in is None:
            return None
        return max(self.next_free_in, self.paused_for)

    @property
    def ready_at(self) -> datetime | None:
        """`ready_in` as a wall-clock time (UTC), or None."""
        ready = self.ready_in
        return None if ready is None else self.taken_at + timedelta(seconds=ready)

    @property
    def next_free_at(self) -> datetime | None:
        """`next_free_in` as a wall-clock time (UTC), or None."""
        free = self.next_free_in
        return None if free is None else self.taken_at + timedelta(seconds=free)

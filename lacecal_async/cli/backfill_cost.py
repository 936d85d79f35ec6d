"""What a backfill costs under the API's rate limit: requests, and the time they take.

Both endpoints of a plant share one limiter (N requests per period per ITR, 6 a minute on
the real service), and a request brings at most 144 records. A range of a plant's endpoint
costs one request for its latest record plus one per page of 144 periods; ``--endpoint
all`` adds the other endpoint and one request for the inverter list. A slot is given
back one period (and a sixtieth of it) after its exchange ends, so a long backfill runs at
N requests per period plus that margin and the exchange time. ``lacecal sync`` computes
its ETA with this model; docs/explanation/timing.md tabulates it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lacecal_async.endpoints import MAX_PAGE, expected_pages

__all__ = [
    "YEAR",
    "backfill_requests",
    "effective_period",
    "endpoint_requests",
    "hours_per_plant_year",
    "table",
]

#: A plant-year [s].
YEAR = 365 * 86400


def endpoint_requests(start: float, now: float, interval: int, *, asked_latest: bool) -> int:
    """Return the requests one endpoint's backfill from `start` to `now` still takes.

    One for the latest record (unless `asked_latest`), then a page per 144 periods; none
    when no period after `start` has closed.
    """
    latest = 0 if asked_latest else 1
    if now <= start + interval:
        return latest
    return latest + expected_pages(int(start), int(now), interval)


def backfill_requests(span: float, interval: int, endpoints: int, *, inventory: bool) -> int:
    """Return the requests a plant's backfill of `span` seconds at `interval` takes.

    Per endpoint: one for the latest record, then the pages of the range; `inventory`: the
    inverter list's one request.
    """
    each = endpoint_requests(0, span, interval, asked_latest=False)
    return endpoints * each + (1 if inventory else 0)


def effective_period(period: float, exchange: float = 0.0) -> float:
    """Seconds one slot of the limiter is held: the period, its margin, the exchange time."""
    return period + period / 60.0 + exchange


def hours_per_plant_year(
    interval: int, endpoints: int, rate: tuple[int, float] = (6, 60.0)
) -> float:
    """Hours a year of one plant takes to backfill at `rate` (requests, period [s])."""
    pages = math.ceil(YEAR / interval / MAX_PAGE)
    requests = endpoints * pages
    count, period = rate
    return requests / count * period / 3600.0


def table(intervals: Sequence[int] = (300, 600, 900, 3600)) -> list[tuple[int, float, float]]:
    """Rows of ``(interval, hours with one endpoint, hours with both)`` per plant-year."""
    return [(i, hours_per_plant_year(i, 1), hours_per_plant_year(i, 2)) for i in intervals]

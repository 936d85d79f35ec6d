"""The retry backoff stays within one period whatever the attempt count or the period.

`math.ldexp` raises OverflowError rather than returning inf: a client with a thousand or
more retries (or a huge rate-limit period) failed its request with that instead of waiting
a period and trying again.
"""

from __future__ import annotations

import random

import pytest

from lacecal_async._protocol import backoff_delay


@pytest.mark.parametrize(
    ("attempt", "period", "count"),
    [(1100, 60.0, 6), (5000, 0.1, 1), (3, 1e308, 1), (2000, 1e308, 1), (0, 60.0, 6)],
)
def test_the_backoff_is_at_most_one_period(attempt: int, period: float, count: int) -> None:
    rng = random.Random(1)
    delays = [backoff_delay(attempt, period, count, rng) for _ in range(50)]
    assert all(0 <= delay <= period for delay in delays)
    if attempt >= 1000:
        assert min(delays) >= period / 2  # capped at the period, then jittered down by half

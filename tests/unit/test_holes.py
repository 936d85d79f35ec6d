"""Holes and their repair schedule, pure: small intervals, no database."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lacecal_async.sync.holes import (
    REPAIR_AFTER,
    Gap,
    Hole,
    attempted,
    find_gaps,
    next_attempt,
    reconcile,
)


def test_contiguous_periods_have_no_gap() -> None:
    assert find_gaps([(10, 2), (12, 2), (14, 2)]) == []
    assert find_gaps([]) == []
    assert find_gaps([(10, 2)]) == []


def test_gaps_lie_between_stored_periods_only() -> None:
    # Stored 10, 12, then 18, 20, then 26: missing 14..18 and 22..26.
    periods = [(10, 2), (12, 2), (18, 2), (20, 2), (26, 2)]
    assert find_gaps(periods) == [Gap(14, 18, 2), Gap(22, 26, 2)]
    assert [g.periods for g in find_gaps(periods)] == [2, 2]


def test_a_gap_takes_the_interval_of_the_record_before_it() -> None:
    # A plant moving from 600 s to 300 s periods: 600 + 600 = 1200 is where the gap starts.
    assert find_gaps([(600, 600), (1500, 300)]) == [Gap(1200, 1500, 600)]
    assert Gap(1200, 1500, 600).periods == 1  # a partial period still counts as one
    # Overlapping periods (a longer period before a shorter one) are no gap.
    assert find_gaps([(0, 3600), (600, 600)]) == []


@settings(deadline=None)  # a busy machine may stall one example: no speed test
@given(
    st.sets(st.integers(0, 60), min_size=1),
    st.sampled_from([1, 2, 5]),
)
def test_gaps_are_exactly_the_missing_periods(stored: set[int], interval: int) -> None:
    times = sorted(t * interval for t in stored)
    gaps = find_gaps([(t, interval) for t in times])
    missing = {t for g in gaps for t in range(g.start, g.end, interval)}
    expected = set(range(times[0], times[-1], interval)) - set(times)
    assert missing == expected
    assert sum(g.periods for g in gaps) == len(expected)


def test_schedule_is_counted_in_periods_since_first_seen() -> None:
    interval, seen = 2, 100.0
    dues = [seen + n * interval for n in REPAIR_AFTER]
    assert REPAIR_AFTER == (6, 36, 144, 1008)
    assert next_attempt(seen, interval, now=seen) == dues[0]
    assert next_attempt(seen, interval, now=dues[0]) == dues[1]  # strictly after now
    assert next_attempt(seen, interval, now=dues[0] - 0.5) == dues[0]
    assert next_attempt(seen, interval, now=dues[2] + 1) == dues[3]  # missed ones are skipped
    assert next_attempt(seen, interval, now=dues[3]) is None  # given up
    assert next_attempt(seen, 600, now=seen, after=(1, 2)) == seen + 600


def test_each_attempt_moves_to_the_next_step_then_gives_up() -> None:
    hole = Hole(20, 30, 2, first_seen=100.0, next_attempt=112.0)
    steps = []
    now = 112.0
    while hole.next_attempt is not None:
        hole = attempted(hole, now)
        steps.append(hole.next_attempt)
        now = hole.next_attempt or now
    assert steps == [172.0, 388.0, 2116.0, None]
    assert hole.attempts == 4
    assert (hole.start, hole.end, hole.first_seen) == (20, 30, 100.0)  # still listed as it was


def test_reconcile_keeps_the_schedule_of_the_hole_a_gap_is_part_of() -> None:
    known = [Hole(20, 30, 2, first_seen=50.0, attempts=1, next_attempt=122.0)]
    # Late records landed at 24 and 26: the hole split in two; a new gap appeared at 40.
    found = [Gap(20, 24, 2), Gap(28, 30, 2), Gap(40, 44, 2)]
    holes = reconcile(found, known, now=90.0)
    assert holes == [
        Hole(20, 24, 2, first_seen=50.0, attempts=1, next_attempt=122.0),
        Hole(28, 30, 2, first_seen=50.0, attempts=1, next_attempt=122.0),
        Hole(40, 44, 2, first_seen=90.0, attempts=0, next_attempt=90.0 + 6 * 2),
    ]
    assert reconcile([], known, now=90.0) == []  # filled: gone


@pytest.mark.parametrize("interval", [2, 600])
def test_hole_periods(interval: int) -> None:
    assert Hole(0, 5 * interval, interval, first_seen=0.0).periods == 5

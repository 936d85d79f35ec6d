"""Property: rolling a range up in overlapping windows, continued, equals one rollup of it.

Any split of a range (around Madrid's autumn DST change, with random holes and values)
into windows that overlap, each continuing every statistic's sum from the last row
exported so far, gives the same rows as one rollup of the whole range: the same energies,
counts and completeness, and the same running sums, to the bit, where windows overlap too.
"""

from __future__ import annotations

import random
from datetime import datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from lacecal_async.records import EnergyMeter, GridMeter, GridTotals, MeterRecord
from lacecal_async.stats import StatsRow, rollup
from lacecal_async.stats_buckets import Bucket, bucket_end
from lacecal_async.stats_sums import SumAnchor, SumRow, running_sums
from lacecal_async.testing import local_start

MADRID = ZoneInfo("Europe/Madrid")
START = int(datetime(2024, 10, 26, tzinfo=MADRID).timestamp())
END = int(datetime(2024, 10, 29, tzinfo=MADRID).timestamp())
QUANTITIES = ("grid_imported_kwh", "grid_exported_kwh", "grid_q1_kvarh", "load_kwh")


def value(rng: random.Random) -> float:
    """An energy as the service writes one: up to five decimals, zero now and then."""
    return 0.0 if rng.random() < 0.2 else rng.randrange(0, 5_000_000) / 100_000


def records(interval: int, holes: list[tuple[int, int]], rng: random.Random) -> list[MeterRecord]:
    found = []
    for index, when in enumerate(range(START, END, interval)):
        if any(first <= index < first + length for first, length in holes):
            continue
        grid = GridMeter(GridTotals(value(rng), value(rng), value(rng), 0.0, 0.0, 0.0))
        found.append(MeterRecord(when, local_start(when), interval, grid, EnergyMeter(value(rng))))
    return found


def starts(bucket: Bucket) -> list[int]:
    found = [START]
    while found[-1] < END:
        found.append(bucket_end(found[-1], bucket, MADRID))
    return found  # the last is END


def sums(rows: list[StatsRow], anchors: dict[str, SumAnchor]) -> dict[str, list[SumRow]]:
    return {q: running_sums(rows, q, anchors.get(q)) for q in QUANTITIES}


@settings(max_examples=60, deadline=None)
@given(
    interval=st.sampled_from([900, 1800, 3600]),
    bucket=st.sampled_from(["hour", "day"]),
    holes=st.lists(st.tuples(st.integers(0, 300), st.integers(1, 40)), max_size=4),
    seed=st.integers(0, 2**32),
    data=st.data(),
)
def test_overlapping_windows_continued_equal_one_rollup(
    interval: int,
    bucket: Bucket,
    holes: list[tuple[int, int]],
    seed: int,
    data: st.DataObject,
) -> None:
    found = records(interval, holes, random.Random(seed))
    whole = rollup({"p": found}, bucket, MADRID, start=START, end=END)
    whole_sums = sums(whole, {})
    edges = starts(bucket)
    merged: dict[datetime, StatsRow] = {}
    merged_sums: dict[str, dict[datetime, SumRow]] = {q: {} for q in QUANTITIES}
    end = START
    while end < END:
        last = max(merged) if merged else None
        # A window starts at or before the last row exported (its anchor), ends past it.
        low_choices = [e for e in edges[:-1] if last is None or e <= last.timestamp()]
        low = data.draw(st.sampled_from(low_choices if last is not None else [START]))
        high = data.draw(st.sampled_from([e for e in edges if e > max(end, low)]))
        rows = rollup({"p": found}, bucket, MADRID, start=low, end=high)
        anchors = {}
        if last is not None:
            anchors = {q: merged_sums[q][last].anchor() for q in QUANTITIES}
        window_sums = sums(rows, anchors)
        for row in rows:
            if row.start in merged:  # the overlap: the same row, sums included
                assert merged[row.start] == row
            merged[row.start] = row
        for quantity, quantity_rows in window_sums.items():
            for sum_row in quantity_rows:
                earlier = merged_sums[quantity].get(sum_row.start)
                assert earlier in (None, sum_row)
                merged_sums[quantity][sum_row.start] = sum_row
        end = high
    assert [merged[start] for start in sorted(merged)] == whole
    for quantity in QUANTITIES:
        got = merged_sums[quantity]
        assert [got[start] for start in sorted(got)] == whole_sums[quantity]

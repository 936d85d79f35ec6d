"""The zone the records' offsets make, and buckets in any zone: agree with zoneinfo where they can.

`RecordOffsets` observed along every period of a Madrid year must map every instant and
every wall time (repeated and skipped ones too) as ``ZoneInfo("Europe/Madrid")`` does; a
hole across a DST change moves the change to the first record after it, as documented.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from lacecal_async.stats import rollup
from lacecal_async.stats_buckets import bucket_end, bucket_start, check_bucket
from lacecal_async.stats_zone import RecordOffsets
from lacecal_async.testing import local_start, make_plants

MADRID = ZoneInfo("Europe/Madrid")
YEAR = (
    int(datetime(2024, 1, 1, tzinfo=MADRID).timestamp()),
    int(datetime(2025, 1, 1, tzinfo=MADRID).timestamp()),
)


def observed(start: int, end: int, step: int = 900, skip: range = range(0)) -> RecordOffsets:
    zone = RecordOffsets()
    for when in range(start, end, step):
        if when not in skip:
            offset = MADRID.utcoffset(datetime.fromtimestamp(when, MADRID))
            assert offset is not None
            zone.observe(when, int(offset.total_seconds()))
    return zone


def test_a_year_of_records_is_madrid() -> None:
    zone = observed(*YEAR)
    for when in range(YEAR[0], YEAR[1], 1800):
        mine, theirs = datetime.fromtimestamp(when, zone), datetime.fromtimestamp(when, MADRID)
        assert mine.replace(tzinfo=None) == theirs.replace(tzinfo=None)
        assert mine.fold == theirs.fold
        assert mine.utcoffset() == theirs.utcoffset()
        assert mine.timestamp() == when  # the wall time maps back to the same instant
    for wall in ("2024-03-31T02:30", "2024-10-27T02:30", "2024-07-01T12:00"):  # skipped, twice
        for fold in (0, 1):
            naive = datetime.fromisoformat(wall).replace(fold=fold)
            assert (
                naive.replace(tzinfo=zone).timestamp() == naive.replace(tzinfo=MADRID).timestamp()
            )
    assert zone.tzname(datetime(2024, 7, 1, tzinfo=zone)) == "UTC+02:00"
    assert zone.dst(datetime(2024, 7, 1, tzinfo=zone)) is None
    assert zone.utcoffset(None) is None
    assert zone.tzname(None) is None
    assert "RecordOffsets(" in repr(zone)


@pytest.mark.parametrize("bucket", ["hour", "day", "month"])
def test_buckets_in_the_records_zone_are_madrids(bucket: str) -> None:
    zone = observed(*YEAR)
    kind = check_bucket(bucket)
    start = YEAR[0]
    while start < YEAR[1] - 86400:
        end = bucket_end(start, kind, zone)
        assert end == bucket_end(start, kind, MADRID)
        assert bucket_start(end - 1, kind, zone) == start == bucket_start(end - 1, kind, MADRID)
        start = end if kind != "hour" else start + 7 * 3600  # hours: a sample


def test_a_hole_across_the_change_moves_it_to_the_first_record_after() -> None:
    change = int(datetime(2024, 10, 27, 1, tzinfo=UTC).timestamp())
    zone = observed(change - 86400, change + 86400, skip=range(change - 3600, change + 3 * 3600))
    late = change + 3 * 3600
    assert zone.offset_at(change + 3600) == 7200  # still summer: nothing seen yet
    assert zone.offset_at(late) == 3600
    assert zone.offset_at(change - 10**9) == 7200  # before the first record: its offset
    assert datetime.fromtimestamp(late - 1, zone).utcoffset() == timedelta(hours=2)


def test_observing_needs_time_order_and_an_offset_needs_a_record() -> None:
    zone = RecordOffsets()
    with pytest.raises(ValueError, match="no record observed"):
        zone.offset_at(0)
    with pytest.raises(ValueError, match="no record observed"):
        datetime(2024, 1, 1, tzinfo=zone).timestamp()
    with pytest.raises(ValueError, match="no record observed"):
        datetime.fromtimestamp(0, zone)
    assert zone.observe(100, 3600) is False  # the first offset is no change
    assert zone.observe(200, 7200) is True
    assert zone.observe(300, 7200) is False
    with pytest.raises(ValueError, match="time order"):
        zone.observe(250, 7200)


def test_a_zone_with_half_hour_shifts_has_no_hourly_buckets() -> None:
    lord_howe = ZoneInfo("Australia/Lord_Howe")  # moves its clocks by 30 minutes
    change = int(datetime(2024, 4, 7, 1, 30, tzinfo=lord_howe).timestamp())
    start = bucket_start(change - 1, "hour", lord_howe)
    with pytest.raises(ValueError, match="part of an hour"):
        bucket_end(start, "hour", lord_howe)
    assert bucket_end(bucket_start(change, "day", lord_howe), "day", lord_howe) > change


def test_a_constant_half_hour_offset_has_local_hours() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    start = bucket_start(
        int(datetime(2024, 5, 1, 10, 45, tzinfo=kolkata).timestamp()), "hour", kolkata
    )
    assert datetime.fromtimestamp(start, kolkata).strftime("%H:%M") == "10:00"
    assert bucket_end(start, "hour", kolkata) == start + 3600


def test_without_a_zone_records_with_a_fixed_offset_bucket_there() -> None:
    plant = make_plants(1, seed=2, days=2, gaps=False)[0]
    records = plant.meter_records(plant.first, plant.first + 86400)
    shifted = [
        type(r)(r.unix_time, r.start.astimezone(timezone(timedelta(hours=-5))), r.interval, r.grid)
        for r in records
    ]
    rows = rollup({"p": shifted}, "day")
    assert {row.start.utcoffset() for row in rows} == {timedelta(hours=-5)}
    assert all(row.start.hour == 0 for row in rows)
    assert local_start(records[0].unix_time).utcoffset() == timedelta(hours=2)

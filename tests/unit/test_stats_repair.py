"""A hole is marked, never zero-filled; repairing it changes exactly the rows from its bucket on.

The rollup's rows change in the hole's bucket only; the running sums (and Home Assistant's
rows) change from that bucket on, each by the repaired energy, and the rows before it
stay as they were. `HaStatistic.resume` stops before the hole, so the next export, from
there, carries the correction.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lacecal_async.records import MeterRecord
from lacecal_async.stats import rollup
from lacecal_async.stats_ha import ha_statistics
from lacecal_async.stats_sums import running_sums
from lacecal_async.testing import make_plants

MADRID = ZoneInfo("Europe/Madrid")
FIRST = int(datetime(2024, 10, 26, tzinfo=MADRID).timestamp())
LAST = int(datetime(2024, 10, 29, tzinfo=MADRID).timestamp())  # three local days: 72 + 1 hours
PLANT = make_plants(1, seed=9, start=FIRST, days=4, gaps=False)[0]
ALL = PLANT.meter_records(FIRST, LAST)
#: Two periods missing in the hour 2024-10-26 13:00 (local): 13:10 and 13:20.
HOLE = {FIRST + 13 * 3600 + 600, FIRST + 13 * 3600 + 1200}
HOLED = [r for r in ALL if r.unix_time not in HOLE]


def repaired_imports() -> float:
    """The grid import of the two periods the repair brings."""
    return sum(r.grid.rst.imported for r in ALL if r.unix_time in HOLE and r.grid is not None)


@pytest.mark.parametrize("bucket", ["hour", "day"])
def test_a_hole_is_marked_and_not_zero_filled(bucket: str) -> None:
    rows = rollup({"roof": HOLED}, bucket, MADRID)  # type: ignore[arg-type]
    holed = [row for row in rows if not row.complete]
    (row,) = holed
    assert row.start <= datetime.fromtimestamp(min(HOLE), MADRID) < row.end
    assert row.expected - row.periods == 2
    assert set(row.reported.values()) == {row.periods}
    full = {r.start: r for r in rollup({"roof": ALL}, bucket, MADRID)}  # type: ignore[arg-type]
    assert row.energy["grid_imported_kwh"] < full[row.start].energy["grid_imported_kwh"]
    assert [r.start for r in rows] == list(full)  # the holed bucket is a row, not skipped


def test_a_bucket_with_no_period_between_two_is_a_row() -> None:
    gap = range(FIRST + 5 * 3600, FIRST + 8 * 3600)  # three whole hours missing
    records = [r for r in ALL if r.unix_time not in gap]
    rows = rollup({"roof": records}, "hour", MADRID)
    empty = [row for row in rows if row.periods == 0]
    assert [row.start.hour for row in empty] == [5, 6, 7]
    assert all(row.energy == {} and row.expected == 6 and not row.complete for row in empty)
    assert [row.start for row in rows] == [
        rows[0].start + timedelta(hours=i) for i in range(len(rows))
    ]


def test_a_repair_changes_the_rollup_in_its_bucket_only() -> None:
    before = rollup({"roof": HOLED}, "hour", MADRID)
    after = rollup({"roof": ALL}, "hour", MADRID)
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert [after[i].start.hour for i in changed] == [13]
    assert after[changed[0]].complete
    assert not before[changed[0]].complete


def test_a_repair_changes_the_sums_from_its_bucket_on() -> None:
    before = rollup({"roof": HOLED}, "hour", MADRID)
    after = rollup({"roof": ALL}, "hour", MADRID)
    old = running_sums(before, "grid_imported_kwh")
    new = running_sums(after, "grid_imported_kwh")
    hole_at = next(i for i, row in enumerate(after) if row.start.hour == 13)
    assert old[:hole_at] == new[:hole_at]
    added = repaired_imports()
    assert added > 0
    for a, b in zip(old[hole_at:], new[hole_at:], strict=True):
        assert b.sum == pytest.approx(a.sum + added, abs=1e-9)
        assert b.sum != a.sum
    assert [a.state == b.state for a, b in zip(old, new, strict=True)].count(False) == 1


def test_resume_stops_before_the_hole_and_the_next_export_corrects_every_row_after() -> None:
    hours = rollup({"roof": HOLED}, "hour", MADRID)
    first = {s.statistic_id: s for s in ha_statistics(hours)}
    imported = first["lacecal:roof_grid_imported"]
    assert imported.resume is not None
    assert imported.resume.start == datetime(2024, 10, 26, 12, tzinfo=MADRID)
    # The repair lands; export from the resume point, anchored on it.
    since = imported.resume.start
    anchors = {sid: s.resume for sid, s in first.items() if s.resume is not None}
    again = rollup({"roof": ALL}, "hour", MADRID, start=since)
    second = {s.statistic_id: s for s in ha_statistics(again, anchors=anchors)}
    whole = {s.statistic_id: s for s in ha_statistics(rollup({"roof": ALL}, "hour", MADRID))}
    for sid, statistic in second.items():
        assert statistic.stats == [row for row in whole[sid].stats if row["start"] >= since]
        old = {row["start"]: row for row in first[sid].stats}
        hole = datetime(2024, 10, 26, 13, tzinfo=MADRID)
        added = statistic.stats[1]["state"] - old[hole]["state"]
        assert statistic.stats[0] == old[since]  # the anchor's own row is unchanged
        assert statistic.stats[1]["start"] == hole
        for row in statistic.stats[1:]:  # every row from the hole's on moves by its repair
            assert row["sum"] == pytest.approx(old[row["start"]]["sum"] + added, abs=1e-9)
    hole = datetime(2024, 10, 26, 13, tzinfo=MADRID)
    repaired = second["lacecal:roof_grid_imported"].stats[1]
    holed = next(row for row in imported.stats if row["start"] == hole)
    assert repaired["start"] == hole
    assert repaired["state"] > holed["state"]


def test_whole_day_rows_before_the_hole_stay_equal_across_the_repair() -> None:
    old = rollup({"roof": HOLED}, "day", MADRID)
    new = rollup({"roof": ALL}, "day", MADRID)
    assert old[0] != new[0]  # the 26th holds the hole
    assert old[1:] == new[1:]
    assert old[0].start.date() == date(2024, 10, 26)


def test_records_are_whole_periods_of_the_fake_plant() -> None:
    assert all(isinstance(r, MeterRecord) for r in ALL)
    assert len(ALL) == 3 * 144 + 6  # the 27th has 25 hours

"""The rollup's contract at its edges: windows, where rows begin and end, and bad input.

Windows widen to whole buckets; without a start a plant's rows begin at its first record
(the periods before it are not expected), with one every period from its bucket is; the
last bucket counts whole. Records out of order, repeated, mixed or holding a value that is
not a number are refused with the plant and period named.
"""

from __future__ import annotations

import functools
import math
import operator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest

from lacecal_async.records import (
    EnergyMeter,
    GridMeter,
    GridTotals,
    InverterEnergy,
    InverterRecord,
    MeterRecord,
)
from lacecal_async.stats import (
    METER_QUANTITIES,
    TOTAL_ENERGY,
    PlantRollup,
    as_unix,
    quantity_rank,
    rollup,
    total,
    unit_of,
)
from lacecal_async.stats_buckets import check_bucket
from lacecal_async.testing import local_start, make_plants

MADRID = ZoneInfo("Europe/Madrid")
DAY = int(datetime(2024, 6, 10, tzinfo=MADRID).timestamp())


def meter(when: int, imported: float | None = 1.0, interval: int = 600) -> MeterRecord:
    grid = None if imported is None else GridMeter(GridTotals(imported, 0.5, 0, 0, 0, 0))
    return MeterRecord(when, local_start(when), interval, grid, EnergyMeter(2.0))


def day_of(start: int, count: int, interval: int = 600) -> list[MeterRecord]:
    return [meter(start + i * interval, interval=interval) for i in range(count)]


def test_without_a_start_rows_begin_at_the_first_record() -> None:
    records = day_of(DAY + 10 * 3600 + 1200, 6)  # 10:20 .. 11:10
    rows = rollup({"p": records}, "hour", MADRID)
    assert [(r.start.hour, r.periods, r.expected, r.complete) for r in rows] == [
        (10, 4, 4, True),  # 10:00 and 10:10 come before the plant's first record
        (11, 2, 6, False),  # the last hour counts whole: it is in progress
    ]
    (day,) = rollup({"p": records}, "day", MADRID)
    assert (day.periods, day.expected) == (6, (24 - 10) * 6 - 2)  # from 10:20 on


def test_with_a_start_every_period_of_its_bucket_is_expected() -> None:
    records = day_of(DAY + 10 * 3600 + 1200, 6)
    rows = rollup({"p": records}, "hour", MADRID, start=DAY + 9 * 3600)
    assert [(r.start.hour, r.periods, r.expected) for r in rows] == [
        (9, 0, 6),
        (10, 4, 6),
        (11, 2, 6),
    ]
    assert rows[0].energy == {}
    assert not rows[0].complete


def test_the_window_widens_to_whole_buckets() -> None:
    records = day_of(DAY, 144)
    rows = rollup(
        {"p": records}, "hour", MADRID, start=DAY + 3 * 3600 + 1500, end=DAY + 5 * 3600 + 1
    )
    assert [(r.start.hour, r.periods, r.complete) for r in rows] == [
        (3, 6, True),
        (4, 6, True),
        (5, 6, True),
    ]
    aware = datetime(2024, 6, 10, 3, 25, tzinfo=MADRID)
    assert rollup({"p": records}, "hour", MADRID, start=aware, end=DAY + 5 * 3600 + 1) == rows
    before = rollup({"p": records}, "day", MADRID, end=DAY + 1)
    assert len(before) == 1
    assert before[0].complete
    assert rollup({"p": records}, "hour", MADRID, start=DAY + 86400) == []


def test_records_before_the_window_and_a_window_with_none() -> None:
    records = day_of(DAY - 7200, 12)  # 22:00 .. 23:50 the day before
    assert rollup({"p": records}, "day", MADRID, start=DAY) == []
    held = day_of(DAY + 3600, 3)  # the window starts mid-hour: those records are in it
    (row,) = rollup({"p": held}, "hour", MADRID, start=DAY + 3600 + 900)
    assert (row.start.hour, row.periods, row.expected) == (1, 3, 6)


@pytest.mark.parametrize(
    ("records", "match"),
    [
        ([meter(DAY + 600), meter(DAY)], "time order"),
        ([meter(DAY), meter(DAY)], "each once"),
        ([meter(DAY), meter(DAY + 600, math.nan)], r"p: grid_imported_kwh .* nan"),
        ([meter(DAY), meter(DAY + 600, math.inf)], r"p: grid_imported_kwh .* inf"),
        ([meter(DAY, interval=0)], "positive int"),
    ],
)
def test_bad_records_are_refused_with_the_plant_named(
    records: list[MeterRecord], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        rollup({"p": records}, "hour", MADRID)


def test_a_bad_value_of_a_plant_with_every_meter_is_named_too() -> None:
    plant = make_plants(1, seed=2, start=DAY, days=1, gaps=False)[0]
    records = plant.meter_records(DAY, DAY + 3600)
    assert records[3].grid is not None
    bad = attrs.evolve(records[3].grid.rst, q2=math.nan)
    records[3] = attrs.evolve(records[3], grid=attrs.evolve(records[3].grid, rst=bad))
    with pytest.raises(ValueError, match=rf"p: grid_q2_kvarh of the period at {DAY + 1800} is nan"):
        rollup({"p": records}, "hour", MADRID)
    engine = PlantRollup("p", "hour", MADRID)
    with pytest.raises(ValueError, match=r"p: load_kwh of the period at \d+ is 'x'"):
        engine.add(DAY, 7200, 600, [("load_kwh", "x")])  # type: ignore[list-item]


def test_meter_and_inverter_records_do_not_mix() -> None:
    inverter = InverterRecord(DAY + 600, local_start(DAY + 600), 600, 1.0, ())
    with pytest.raises(ValueError, match="meter and inverter"):
        rollup({"p": [meter(DAY), inverter]}, "hour", MADRID)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="meter or inverter records"):
        rollup({"p": ["nope"]}, "hour", MADRID)  # type: ignore[arg-type]


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="bucket must be one of hour, day, month"):
        rollup({"p": []}, "week", MADRID)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="end must be after start"):
        rollup({"p": []}, "hour", MADRID, start=DAY, end=DAY)
    with pytest.raises(ValueError, match="aware datetime"):
        rollup({"p": []}, "hour", MADRID, start=datetime(2024, 1, 1))
    with pytest.raises(TypeError, match="UNIX seconds"):
        as_unix(True)
    assert as_unix(datetime(2024, 1, 1, 0, 0, 0, 500, tzinfo=UTC)) == 1704067201  # rounded up
    assert check_bucket("month") == "month"


def test_a_meter_missing_from_some_periods_makes_its_bucket_incomplete() -> None:
    records = day_of(DAY, 6)
    records[2] = meter(DAY + 1200, None)  # the grid meter did not report this period
    (row,) = rollup({"p": records}, "hour", MADRID)
    assert (row.periods, row.expected) == (6, 6)
    assert row.reported["grid_imported_kwh"] == 5
    assert row.reported["load_kwh"] == 6
    assert row.energy["grid_imported_kwh"] == 5.0  # what was reported, nothing invented
    assert not row.complete
    assert row.quantity_complete("load_kwh")
    assert not row.quantity_complete("grid_imported_kwh")


def test_a_single_phase_plant_has_no_phase_quantities() -> None:
    plant = make_plants(5, seed=15, days=1)
    single = next(p for p in plant if not p.three_phase)
    records = single.meter_records(single.first, single.first + 86400)
    rows = rollup({"p": records}, "day", MADRID)
    assert all("grid_r_imported_kwh" not in row.energy for row in rows)
    assert all(list(row.energy) == [q for q in METER_QUANTITIES if q in row.energy] for row in rows)


def test_inverters_are_listed_by_id_after_the_total() -> None:
    record = InverterRecord(
        DAY, local_start(DAY), 600, 3.0, (InverterEnergy(12, 1.0), InverterEnergy(3, 2.0))
    )
    (row,) = rollup({"p": [record]}, "hour", MADRID)
    assert list(row.energy) == [TOTAL_ENERGY, "inverter_3_kwh", "inverter_12_kwh"]
    assert sorted(["b", "inverter_2_kwh", "a", "load_kwh"], key=quantity_rank) == [
        "load_kwh", "inverter_2_kwh", "a", "b",
    ]  # fmt: skip
    assert unit_of("grid_q3_kvarh") == "kVArh"
    assert unit_of("inverter_3_kwh") == "kWh"


def test_periods_longer_than_a_bucket_count_in_the_bucket_they_start_in() -> None:
    records = [meter(DAY + i * 7200, interval=7200) for i in range(6)]
    rows = rollup({"p": records}, "hour", MADRID)
    assert [(r.periods, r.expected) for r in rows] == [(1, 1), (0, 0)] * 5 + [(1, 1)]
    assert all(r.complete for r in rows)


def test_total_is_exact_over_rows() -> None:
    records = [meter(DAY + i * 600, 0.1) for i in range(30)]
    rows = rollup({"p": records}, "hour", MADRID)
    assert total(rows, "grid_imported_kwh") == 3.0  # 30 x 0.1: exactly, unlike naive addition
    # Left-to-right float addition drifts; Python 3.12's sum() compensates, so add by hand.
    assert functools.reduce(operator.add, [0.1] * 30) != 3.0
    assert total(rows, "renewable_kwh") is None


def test_plants_come_out_in_order_each_in_time_order() -> None:
    a, b = day_of(DAY, 12), day_of(DAY + 3600, 6)
    rows = rollup([("a", a[:6]), ("b", b), ("a", a[6:])], "hour", MADRID)
    assert [(r.plant, r.start.hour) for r in rows] == [("a", 0), ("a", 1), ("b", 1)]


def test_meter_rows_and_named_values_of_one_bucket_add_up() -> None:
    engine = PlantRollup("p", "hour", MADRID)
    engine.add_records([meter(DAY)])  # by position, as a store's rows come
    engine.add(DAY + 600, 7200, 600, [("load_kwh", 0.25), ("grid_imported_kwh", 1.5)])
    engine.add_records([meter(DAY + 1200)])
    (row,) = engine.finish()
    assert row.energy["load_kwh"] == 4.25
    assert row.energy["grid_imported_kwh"] == 3.5
    assert row.reported["load_kwh"] == 3
    assert row.reported["grid_exported_kwh"] == 2
    assert list(row.energy) == [q for q in METER_QUANTITIES if q in row.energy]


def test_a_finished_rollup_takes_nothing_more() -> None:
    engine = PlantRollup("p", "hour", MADRID)
    assert engine.add_records(day_of(DAY, 3)) == []
    (row,) = engine.finish()
    assert row.periods == 3
    assert engine.finish() == []
    with pytest.raises(ValueError, match="finished"):
        engine.add_records(day_of(DAY + 3600, 1))
    with pytest.raises(TypeError, match="ints"):
        PlantRollup("p", "hour").add_meter_row(("p", "x", None, 0, 600))
    with pytest.raises(TypeError, match="interval_s is an int"):
        PlantRollup("p", "hour").add_meter_row(("p", 0, None, 0, "600"))
    with pytest.raises(ValueError, match="a meter row has 25 columns, not 6"):
        PlantRollup("p", "hour").add_meter_row(("p", 0, None, 0, 600, 1.0))


def test_records_after_the_end_are_left_out() -> None:
    records = day_of(DAY, 144 * 2)
    rows = rollup({"p": records}, "day", MADRID, end=DAY + 86400)
    assert len(rows) == 1
    assert rows[0].periods == 144
    later = [attrs.evolve(r, interval=600) for r in records]
    assert rollup({"p": later}, "day", MADRID, start=DAY, end=DAY + 86400) == rows
    assert rows[0].end - rows[0].start == timedelta(days=1)

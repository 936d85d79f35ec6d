"""Rollups across Europe/Madrid's DST changes: 23- and 25-hour days, two 02:00 hours in October.

The reference is computed here, independently of the rollup: each record's local day or
hour from ``datetime.fromtimestamp(..., ZoneInfo)``, its values summed as the decimals
the service wrote (``Decimal(repr(value))``) and rounded to a float once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from lacecal_async.records import InverterRecord, MeterRecord
from lacecal_async.stats import METER_QUANTITIES, TOTAL_ENERGY, StatsRow, rollup
from lacecal_async.stats_buckets import Bucket
from lacecal_async.tables import METER
from lacecal_async.testing import make_plants

MADRID = ZoneInfo("Europe/Madrid")
SPRING = date(2024, 3, 31)  # last Sunday of March: 02:00 -> 03:00
AUTUMN = date(2024, 10, 27)  # last Sunday of October: 03:00 -> 02:00


def midnight(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=MADRID).timestamp())


def meter_records(day: date, interval: int) -> list[MeterRecord]:
    """Three local days of a plant's meter records around `day`, every period there."""
    first = midnight(day - timedelta(days=1))
    plant = make_plants(1, seed=3, start=first, days=4, interval=interval, gaps=False)[0]
    return plant.meter_records(midnight(day - timedelta(days=1)), midnight(day + timedelta(days=2)))


def reference(
    records: Sequence[MeterRecord], key: Callable[[MeterRecord], object]
) -> dict[object, dict[str, float]]:
    """Each group's exact decimal sum of every meter quantity, rounded once."""
    sums: dict[object, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for record in records:
        group = key(record)
        row = METER.rows("p", [record])[0]
        for name, value in zip(METER_QUANTITIES, row[5:], strict=True):
            if value is not None:
                sums[group][name] += Decimal(repr(value))
    return {g: {n: float(v) for n, v in q.items()} for g, q in sums.items()}


def local_day(record: MeterRecord | InverterRecord) -> date:
    return datetime.fromtimestamp(record.unix_time, MADRID).date()


def day_rows(rows: list[StatsRow], day: date) -> list[StatsRow]:
    return [row for row in rows if row.start.astimezone(MADRID).date() == day]


@pytest.mark.parametrize("tz", [MADRID, None], ids=["zoneinfo", "record-offsets"])
@pytest.mark.parametrize("interval", [300, 600, 900, 3600])
def test_hourly_buckets_are_23_and_25_on_the_change_days(
    tz: ZoneInfo | None, interval: int
) -> None:
    for day, hours in ((SPRING, 23), (AUTUMN, 25)):
        records = meter_records(day, interval)
        rows = day_rows(rollup({"p": records}, "hour", tz), day)
        assert len(rows) == hours
        assert all(row.complete and row.expected == 3600 // interval for row in rows)
        assert all(row.end - row.start == timedelta(hours=1) for row in rows)
        assert [row.start for row in rows] == [
            rows[0].start + timedelta(hours=i) for i in range(hours)
        ]  # instants one hour apart: no hour skipped, none twice
        wall = [row.start.strftime("%H%z") for row in rows]
        if day == SPRING:
            assert wall[1:3] == ["01+0100", "03+0200"]  # 02:00 does not exist
        else:
            assert wall[2:4] == ["02+0200", "02+0100"]  # 02:00 twice: two buckets
        want = reference(records, lambda r: r.unix_time // 3600)  # Madrid's hours: UTC's
        for row in rows:
            assert row.energy == want[int(row.start.timestamp()) // 3600]


@pytest.mark.parametrize("tz", [MADRID, None], ids=["zoneinfo", "record-offsets"])
def test_daily_energy_is_the_sum_of_its_periods(tz: ZoneInfo | None) -> None:
    for day, hours in ((SPRING, 23), (AUTUMN, 25)):
        records = meter_records(day, 600)
        rows = rollup({"p": records}, "day", tz)
        assert [row.start.astimezone(MADRID).date() for row in rows] == [
            day - timedelta(days=1),
            day,
            day + timedelta(days=1),
        ]
        want = reference(records, local_day)
        for row in rows:
            local = row.start.astimezone(MADRID)
            assert (local.hour, local.minute) == (0, 0)
            assert row.energy == want[local.date()]
            length = hours if local.date() == day else 24
            assert row.end - row.start == timedelta(hours=length)
            assert row.periods == row.expected == length * 6
            assert row.reported == dict.fromkeys(row.energy, length * 6)
            assert row.complete


def test_inverter_days_and_months_sum_every_period_and_inverter() -> None:
    plant = make_plants(1, seed=5, start=midnight(date(2024, 10, 20)), days=14, gaps=False)[0]
    records = plant.inverter_records(plant.first, (plant.latest or 0) + 1)
    keys: dict[Bucket, Callable[[InverterRecord], date]] = {
        "day": local_day,
        "month": lambda r: local_day(r).replace(day=1),
    }
    for bucket, key in keys.items():
        rows = rollup({"p": records}, bucket, MADRID)
        want: dict[object, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        for record in records:
            group = want[key(record)]
            group[TOTAL_ENERGY] += Decimal(repr(record.total_energy))
            for inverter in record.inverters:
                group[f"inverter_{inverter.id}_kwh"] += Decimal(repr(inverter.energy))
        assert len(rows) == len(want)
        for row in rows:
            group = want[row.start.astimezone(MADRID).date()]
            assert row.energy == {name: float(value) for name, value in group.items()}
            assert next(iter(row.energy)) == TOTAL_ENERGY  # then the inverters by id
    months = rollup({"p": records}, "month", MADRID)
    assert [m.start.isoformat() for m in months] == [
        "2024-10-01T00:00:00+02:00",
        "2024-11-01T00:00:00+01:00",
    ]
    october = months[0]
    # The plant's data begins on the 20th: the days before are not missing, 31 days
    # less 19, plus the repeated hour.
    assert october.expected == october.periods == (12 * 24 + 1) * 3600 // plant.interval
    assert october.complete


def test_a_month_across_the_spring_change_is_an_hour_short() -> None:
    plant = make_plants(
        1, seed=1, start=midnight(date(2024, 3, 1)), days=33, interval=3600, gaps=False
    )[0]
    found = plant.meter_records(plant.first, (plant.latest or 0) + 1)
    start, end = datetime(2024, 3, 1, tzinfo=MADRID), midnight(date(2024, 4, 1))
    (march,) = rollup({"p": found}, "month", MADRID, start=start, end=end)
    assert march.end - march.start == timedelta(days=31, hours=-1)
    assert march.expected == march.periods == 31 * 24 - 1

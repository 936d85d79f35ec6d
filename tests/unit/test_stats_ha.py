"""Home Assistant statistics: ids, metadata, hourly rows and where the next export resumes.

What ``async_add_external_statistics`` checks is checked here on our output, written from
its documented rules (not imported): an id ``<domain>:<object>`` of lowercase slugs, the
source equal to the domain, every ``start`` aware and on the top of an hour.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lacecal_async import fingerprint
from lacecal_async.stats import StatsRow, rollup
from lacecal_async.stats_ha import ha_metadata, ha_statistics, object_id, statistic_id
from lacecal_async.stats_sums import SumAnchor, running_sums
from lacecal_async.testing import make_plants

MADRID = ZoneInfo("Europe/Madrid")
START = int(datetime(2024, 10, 26, 22, tzinfo=MADRID).timestamp())
PLANTS = make_plants(2, seed=4, start=START, days=1)
SLUG = re.compile(r"[a-z0-9]+(_[a-z0-9]+)*")
METADATA_KEYS = {
    "mean_type", "has_sum", "name", "source", "statistic_id", "unit_class", "unit_of_measurement",
}  # fmt: skip


def hours(plant_index: int = 0, key: str = "roof", **window: int) -> list[StatsRow]:
    plant = PLANTS[plant_index]
    records = plant.meter_records(plant.first, (plant.latest or 0) + 1)
    return rollup({key: records}, "hour", MADRID, **window)


def test_statistics_have_valid_ids_metadata_and_hourly_rows() -> None:
    found = ha_statistics(hours())
    assert len(found) == 20  # every meter quantity the plant reports
    for statistic in found:
        metadata = statistic.metadata
        assert set(metadata) == METADATA_KEYS
        domain, _, obj = metadata["statistic_id"].partition(":")
        assert SLUG.fullmatch(domain)
        assert SLUG.fullmatch(obj)
        assert metadata["source"] == domain == "lacecal"
        assert metadata["has_sum"] is True
        assert metadata["mean_type"] == 0
        assert metadata["name"].startswith("roof ")
        for row in statistic.stats:
            assert set(row) == {"start", "state", "sum"}
            assert row["start"].utcoffset() is not None
            assert (row["start"].minute, row["start"].second, row["start"].microsecond) == (0, 0, 0)
            assert row["start"].astimezone(UTC).minute == 0
        sums = [row["sum"] for row in statistic.stats]
        assert sums == sorted(sums)  # energies are not negative: the sum never goes down
    units = {s.metadata["statistic_id"]: s.metadata for s in found}
    imported = units["lacecal:roof_grid_imported"]
    assert (imported["unit_of_measurement"], imported["unit_class"]) == ("kWh", "energy")
    reactive = units["lacecal:roof_grid_q1"]
    assert (reactive["unit_of_measurement"], reactive["unit_class"]) == ("kvarh", "reactive_energy")
    assert units["lacecal:roof_grid_r_imported"]["name"] == "roof grid R imported"
    assert units["lacecal:roof_grid_q4"]["name"] == "roof grid Q4"


def test_the_repeated_hour_is_two_rows_of_one_statistic() -> None:
    (imported,) = [s for s in ha_statistics(hours()) if s.statistic_id.endswith("grid_imported")]
    starts = [row["start"] for row in imported.stats]
    assert len(starts) == len(set(starts)) == 24  # a day of instants: 22:00 to 21:00, local
    assert [s.isoformat() for s in starts if s.astimezone(MADRID).hour == 2] == [
        "2024-10-27T02:00:00+02:00",
        "2024-10-27T02:00:00+01:00",
    ]
    assert starts == [starts[0] + timedelta(hours=i) for i in range(24)]


def test_ids_use_the_alias_or_fingerprint_never_an_identifier() -> None:
    itr = PLANTS[0].itr
    key = fingerprint(itr)
    found = ha_statistics(hours(key=key))
    assert all(s.statistic_id.startswith(f"lacecal:{key.replace('-', '_')}_") for s in found)
    text = json.dumps([s.as_json() for s in found])
    assert itr not in text
    assert itr.lower() not in text
    with pytest.raises(ValueError, match="could be an identifier"):
        ha_statistics(hours(key=itr))
    assert object_id("Cádiz Norte 2") == "cadiz_norte_2"
    assert statistic_id("roof", "inverter_7_kwh", source="my_solar") == "my_solar:roof_inverter_7"
    with pytest.raises(ValueError, match="no ASCII letter"):
        object_id("☀️")
    with pytest.raises(ValueError, match="source must be a slug"):
        statistic_id("roof", "load_kwh", source="My Solar")
    assert ha_metadata("roof", "total_energy_kwh")["name"] == "roof inverters total"


@pytest.mark.parametrize(
    ("release", "keys"),
    [
        ("2024.12.5", {"has_mean"}),  # before mean_type: a key more is a TypeError there
        ("2025.4.0", {"mean_type"}),
        ("2025.10.4", {"mean_type"}),
        ("2025.11", {"mean_type", "unit_class"}),
        ("2026.1.0.dev0", {"mean_type", "unit_class"}),
    ],
)
def test_the_metadata_has_the_keys_of_the_release(release: str, keys: set[str]) -> None:
    common = {"has_sum", "name", "source", "statistic_id", "unit_of_measurement"}
    (statistic, *_) = ha_statistics(hours(), release=release)
    assert set(statistic.metadata) == common | keys
    assert statistic.metadata.get("has_mean", False) is False
    assert set(ha_metadata("roof", "load_kwh", release=release)) == common | keys
    with pytest.raises(ValueError, match=r"YEAR\.MONTH"):
        ha_statistics(hours(), release="latest")


def test_two_plants_whose_ids_collide_are_refused() -> None:
    rows = hours(0, "Roof") + hours(1, "roof")
    with pytest.raises(ValueError, match="would share statistic ids"):
        ha_statistics(rows)


def test_only_hours_on_utc_hours() -> None:
    plant = PLANTS[0]
    records = plant.meter_records(plant.first, plant.first + 86400)
    with pytest.raises(ValueError, match="hourly statistics, not daily"):
        ha_statistics(rollup({"roof": records}, "day", MADRID))
    kolkata = rollup({"roof": records}, "hour", ZoneInfo("Asia/Kolkata"))
    with pytest.raises(ValueError, match="top of a UTC hour"):
        ha_statistics(kolkata)


def test_hours_without_a_value_have_no_row_and_the_sum_carries_over() -> None:
    plant = PLANTS[0]
    records = plant.meter_records(plant.first, (plant.latest or 0) + 1)
    gap = range(START + 3 * 3600, START + 5 * 3600)
    rows = rollup({"roof": [r for r in records if r.unix_time not in gap]}, "hour", MADRID)
    (imported,) = [s for s in ha_statistics(rows) if s.statistic_id.endswith("grid_imported")]
    starts = [row["start"] for row in imported.stats]
    assert len(starts) == 24 - 2
    before, after = imported.stats[2], imported.stats[3]
    assert after["start"] - before["start"] == timedelta(hours=3)
    assert after["sum"] == pytest.approx(before["sum"] + after["state"], abs=1e-9)
    assert imported.resume is not None
    assert imported.resume.start == before["start"]  # the last row before the hole


def test_resume_moves_past_settled_holes_and_back_to_the_anchor() -> None:
    plant = PLANTS[0]
    records = plant.meter_records(plant.first, (plant.latest or 0) + 1)
    gap = {START + 3600}
    kept = [r for r in records[:-2] if r.unix_time not in gap]  # the last hour in progress
    rows = rollup({"roof": kept}, "hour", MADRID)
    last = rows[-1]
    assert last.complete is False  # the plant's data ends in the middle of its last hour
    (open_hole,) = [s for s in ha_statistics(rows) if s.statistic_id.endswith("_load")]
    assert open_hole.resume == SumAnchor(rows[0].start, open_hole.stats[0]["sum"])
    settled = ha_statistics(rows, settled=rows[2].end)
    (moved,) = [s for s in settled if s.statistic_id.endswith("_load")]
    assert moved.resume is not None
    assert moved.resume.start == rows[-2].start
    anchor = SumAnchor(rows[1].start, 1000.0)
    (continued,) = [
        s
        for s in ha_statistics(rows[1:], anchors={"lacecal:roof_load": anchor})
        if s.statistic_id.endswith("_load")
    ]
    assert continued.stats[0]["sum"] == 1000.0
    assert continued.resume == anchor  # the first hour is still incomplete: keep the anchor
    assert continued.as_json()["resume"] == {"start": rows[1].start.isoformat(), "sum": 1000.0}


def test_running_sums_refuse_what_they_cannot_continue() -> None:
    rows = hours()
    with pytest.raises(ValueError, match="not among the rows"):
        running_sums(rows[3:], "load_kwh", SumAnchor(rows[1].start, 5.0))
    with pytest.raises(ValueError, match=r"not among the rows \(none\)"):
        running_sums([], "load_kwh", SumAnchor(0, 5.0))
    with pytest.raises(ValueError, match="skip from"):
        running_sums([rows[0], rows[2]], "load_kwh")
    with pytest.raises(ValueError, match="one plant's rows"):
        running_sums([rows[0], *hours(1, "other")[1:2]], "load_kwh")
    with pytest.raises(ValueError, match="not a finite number"):
        running_sums(rows, "load_kwh", SumAnchor(rows[0].start, float("nan")))
    assert running_sums([], "load_kwh") == []
    backwards = running_sums(rows, "load_kwh", SumAnchor(int(rows[-1].start.timestamp()), 100.0))
    assert backwards[-1].sum == 100.0
    assert backwards[0].sum == pytest.approx(100.0 - sum(r.energy["load_kwh"] for r in rows[1:]))

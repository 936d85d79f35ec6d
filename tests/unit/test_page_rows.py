"""A page's rows as the stores send them: those `METER.rows` gives, built faster, each key once."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import attrs

from lacecal_async.endpoints import Endpoint
from lacecal_async.records import EnergyMeter, GridMeter, GridPhase
from lacecal_async.sync.dialect import SQLITE
from lacecal_async.sync.postgres_page import page_arguments
from lacecal_async.sync.table_rows import meter_rows
from lacecal_async.tables import INVERTERS, METER, PERIODS
from tests.support.stores import PLANT

SPAN = (PLANT.first, PLANT.first + 30 * PLANT.interval)


def test_meter_columns_are_the_meter_rows_of_every_shape_of_record() -> None:
    records = PLANT.meter_records(*SPAN)
    berlin = ZoneInfo("Europe/Berlin")  # an offset that changes with the date
    shapes = [
        attrs.evolve(records[0], grid=None, load=None, renewable=None),
        attrs.evolve(
            records[1],
            grid=GridMeter(records[1].grid.rst) if records[1].grid else None,
            load=EnergyMeter(1.5),
            renewable=EnergyMeter(2.0, 0.5, None, 1.0),
        ),
        attrs.evolve(
            records[2],
            grid=GridMeter(
                records[2].grid.rst if records[2].grid else None,  # type: ignore[arg-type]
                GridPhase(1.0, 2.0),
                None,
                GridPhase(3.0, 4.0),
            ),
        ),
        attrs.evolve(records[3], start=datetime(2026, 1, 10, 12, tzinfo=berlin)),
        attrs.evolve(records[4], start=datetime(2026, 7, 10, 12, tzinfo=berlin)),
        attrs.evolve(records[5], start=datetime(2026, 7, 10, 10, tzinfo=UTC)),
        *records[6:],
    ]
    assert meter_rows("p", shapes) == METER.rows("p", shapes)
    at = METER.names.index("utc_offset_s")
    assert [row[at] for row in meter_rows("p", shapes)[3:6]] == [3600, 7200, 0]
    assert meter_rows("p", []) == []
    # SQLite's rows: the start as text, as the dialect would turn it, in the same one pass
    assert meter_rows("p", shapes, iso=True) == SQLITE.rows_in(METER, METER.rows("p", shapes))


def test_a_period_given_twice_is_sent_once_with_its_last_record() -> None:
    records = PLANT.meter_records(*SPAN)
    changed = attrs.evolve(records[1], load=EnergyMeter(9.5))
    arrays = page_arguments(Endpoint.METER, "p", [records[0], records[1], changed])
    assert arrays == [meter_rows("p", [records[0], changed])]
    periods = PLANT.inverter_records(*SPAN)[:3]
    twice = [*periods, attrs.evolve(periods[1], total_energy=7.0)]
    arrays = page_arguments(Endpoint.INVERTER, "p", twice)
    kept = [periods[0], twice[3], periods[2]]
    assert arrays == [PERIODS.rows("p", kept), INVERTERS.rows("p", kept)]

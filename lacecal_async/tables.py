"""The flat tables of records: their columns (type, unit, null when), rows, and back.

One schema for every place records land flat, so the command's exports (CSV, JSON Lines,
Parquet) and the sync store's tables have the same columns, names, units and types:
``start`` is the UTC instant of ``unix_time`` (a timezone-aware timestamp in Parquet, ISO
8601 text with the plant's offset in CSV, JSON Lines and SQLite), and the plant's offset
then is ``utc_offset_s``. Inverter data is two tables so that no column repeats a value per
row: ``inverter`` (one row per inverter and period) and ``periods`` (one row per period,
with the plant's total). Rows lose nothing, so `meter_record` and `inverter_record` give
back the records a store's rows came from. The docs' schema tables
(docs/reference/schema.md) are checked against this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

import attrs

from lacecal_async.endpoints import Endpoint
from lacecal_async.records import (
    EnergyMeter,
    GridMeter,
    GridPhase,
    GridTotals,
    Inverter,
    InverterEnergy,
    InverterRecord,
    MeterRecord,
)

__all__ = [
    "INVERTERS",
    "INVERTER_LIST",
    "METER",
    "PERIODS",
    "Column",
    "Kind",
    "Row",
    "Table",
    "Value",
    "inverter_record",
    "meter_record",
    "tables",
    "utc_offset",
]

Kind = Literal["string", "int64", "float64", "timestamp", "bool"]
Value = str | int | float | datetime | None
Row = tuple[Value, ...]


@attrs.frozen
class Column:
    """One column: its name, type, unit ("" when none) and when it is empty."""

    name: str
    kind: Kind
    unit: str = ""
    null_when: str = "never"


@attrs.frozen
class Table:
    """A flat table: its columns and how a batch of one plant's records becomes rows.

    `per_period`: one row per integration period, so the last ``unix_time`` of a plant is
    where a resumed fetch continues. `key`: the columns that tell its rows apart (a store's
    primary key).
    """

    name: str
    columns: tuple[Column, ...]
    rows: Callable[[str, Sequence[Any]], list[Row]]
    per_period: bool
    key: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        """The column names, in order."""
        return [column.name for column in self.columns]


def utc_offset(start: datetime) -> int:
    """Return the plant's offset from UTC at `start` [s] (7200 in CEST, 3600 in CET)."""
    offset = start.utcoffset()
    return 0 if offset is None else int(offset.total_seconds())


_TIME = (
    Column("plant", "string"),
    Column("unix_time", "int64", "s"),
    Column("start", "timestamp"),
    Column("utc_offset_s", "int64", "s"),
    Column("interval_s", "int64", "s"),
)
_NO_GRID = "the reply has no grid meter"
_ONE_PHASE = "single-phase plant"


def _energy_columns(meter: str, missing: str) -> tuple[Column, ...]:
    return (
        Column(f"{meter}_kwh", "float64", "kWh", missing),
        *(
            Column(f"{meter}_{phase}_kwh", "float64", "kWh", f"{missing}, or {_ONE_PHASE}")
            for phase in "rst"
        ),
    )


_METER_COLUMNS = (
    *_TIME,
    Column("grid_imported_kwh", "float64", "kWh", _NO_GRID),
    Column("grid_exported_kwh", "float64", "kWh", _NO_GRID),
    *(Column(f"grid_q{q}_kvarh", "float64", "kVArh", _NO_GRID) for q in range(1, 5)),
    *(
        Column(f"grid_{phase}_{way}_kwh", "float64", "kWh", f"{_NO_GRID}, or {_ONE_PHASE}")
        for phase in "rst"
        for way in ("imported", "exported")
    ),
    *_energy_columns("load", "the plant has no load meter"),
    *_energy_columns("renewable", "the plant has no renewable meter"),
)


def _head(plant: str, record: MeterRecord | InverterRecord) -> Row:
    return (plant, record.unix_time, record.start, utc_offset(record.start), record.interval)


def _phase(phase: GridPhase | None) -> tuple[float | None, float | None]:
    return (None, None) if phase is None else (phase.imported, phase.exported)


def _energy(meter: EnergyMeter | None) -> tuple[float | None, ...]:
    return (None,) * 4 if meter is None else (meter.rst, meter.r, meter.s, meter.t)


def _meter_row(plant: str, record: MeterRecord) -> Row:
    grid = record.grid
    totals: tuple[float | None, ...] = (None,) * 12
    if grid is not None:
        rst = grid.rst
        totals = (rst.imported, rst.exported, rst.q1, rst.q2, rst.q3, rst.q4)
        totals += (*_phase(grid.r), *_phase(grid.s), *_phase(grid.t))
    return (*_head(plant, record), *totals, *_energy(record.load), *_energy(record.renewable))


def _meter_rows(plant: str, records: Sequence[MeterRecord]) -> list[Row]:
    return [_meter_row(plant, record) for record in records]


def _inverter_rows(plant: str, records: Sequence[InverterRecord]) -> list[Row]:
    return [
        (*_head(plant, record), inverter.id, inverter.energy)
        for record in records
        for inverter in record.inverters
    ]


def _period_rows(plant: str, records: Sequence[InverterRecord]) -> list[Row]:
    return [
        (*_head(plant, record), record.total_energy, len(record.inverters)) for record in records
    ]


def _inverter_list_rows(plant: str, inverters: Sequence[Inverter]) -> list[Row]:
    return [(plant, i.id, i.name, i.manufacturer, i.model, i.serial_number) for i in inverters]


#: ``lacecal fetch --endpoint meter``: one row per plant and period.
METER = Table("meter", _METER_COLUMNS, _meter_rows, per_period=True, key=("plant", "unix_time"))
#: ``lacecal fetch --endpoint inverter``: one row per plant, period and inverter; no total.
INVERTERS = Table(
    "inverter",
    (
        *_TIME,
        Column("inverter_id", "int64"),
        Column("inverter_energy_kwh", "float64", "kWh"),
    ),
    _inverter_rows,
    per_period=False,
    key=("plant", "unix_time", "inverter_id"),
)
#: ``lacecal fetch --endpoint inverter``, beside it: one row per plant and period, with the total.
PERIODS = Table(
    "periods",
    (
        *_TIME,
        Column("total_energy_kwh", "float64", "kWh"),
        Column("inverter_count", "int64"),
    ),
    _period_rows,
    per_period=True,
    key=("plant", "unix_time"),
)
#: ``lacecal inverters -o FILE``: one row per plant and inverter.
INVERTER_LIST = Table(
    "inverters",
    (
        Column("plant", "string"),
        Column("inverter_id", "int64"),
        Column("name", "string"),
        Column("manufacturer", "string"),
        Column("model", "string"),
        Column("serial_number", "string", "", "the plant does not report it"),
    ),
    _inverter_list_rows,
    per_period=False,
    key=("plant", "inverter_id"),
)


def tables(endpoint: Endpoint) -> tuple[Table, ...]:
    """Return the flat tables of an endpoint's records: the first is the main file's."""
    if endpoint is Endpoint.METER:
        return (METER,)
    if endpoint is Endpoint.INVERTER:
        return (INVERTERS, PERIODS)
    return (INVERTER_LIST,)


# -- rows back to records: a store's rows, in the columns' order, with `start` a datetime --
def _float(value: Value) -> float:
    if not isinstance(value, int | float):
        raise TypeError(f"expected a number, not {type(value).__name__}")
    return float(value)


def _optional(value: Value) -> float | None:
    return None if value is None else _float(value)


def _int(value: Value) -> int:
    if not isinstance(value, int):
        raise TypeError(f"expected an int, not {type(value).__name__}")
    return value


def _time(row: Row) -> tuple[int, datetime, int]:
    start = row[2]
    if not isinstance(start, datetime):
        raise TypeError(f"expected start as a datetime, not {type(start).__name__}")
    return _int(row[1]), start, _int(row[4])


def _grid_phase(imported: Value, exported: Value) -> GridPhase | None:
    return None if imported is None else GridPhase(_float(imported), _float(exported))


def _energy_meter(cells: Row) -> EnergyMeter | None:
    if cells[0] is None:
        return None
    return EnergyMeter(_float(cells[0]), *(_optional(cell) for cell in cells[1:]))


def meter_record(row: Row) -> MeterRecord:
    """Return the record a `METER` row was made from (the inverse of its flattening)."""
    cells = row[5:]
    grid = None
    if cells[0] is not None:
        totals = GridTotals(*(_float(cell) for cell in cells[:6]))
        phases = (_grid_phase(cells[i], cells[i + 1]) for i in (6, 8, 10))
        grid = GridMeter(totals, *phases)
    load, renewable = _energy_meter(cells[12:16]), _energy_meter(cells[16:20])
    return MeterRecord(*_time(row), grid=grid, load=load, renewable=renewable)


def inverter_record(period: Row, inverters: Sequence[Row]) -> InverterRecord:
    """Return the record a `PERIODS` row and its `INVERTERS` rows were made from.

    The inverters come in the order given (a store gives them by id).
    """
    energies = tuple(InverterEnergy(_int(row[5]), _float(row[6])) for row in inverters)
    return InverterRecord(*_time(period), _float(period[5]), energies)

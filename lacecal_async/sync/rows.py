"""The flat rows of records: the columns of the command's CSV export, for every store.

One function per endpoint turns records into rows, so the SQLite store, a PostgreSQL store
and the exporter share one definition of names and units (energies in kWh, reactive
energies in kVArh, ``interval_s`` in seconds, ``start`` as ISO 8601 with the plant's offset).
A primary key cannot hold NULL, so an inverter record with no inverter becomes one row
whose ``inverter_id`` is `NO_INVERTER` (the CSV shows an empty cell there).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from lacecal_async.endpoints import Endpoint
from lacecal_async.records import EnergyMeter, GridPhase, InverterRecord, MeterRecord

__all__ = [
    "INVERTER_COLUMNS",
    "METER_COLUMNS",
    "NO_INVERTER",
    "Kind",
    "Row",
    "columns",
    "endpoint_rows",
    "inverter_rows",
    "meter_rows",
]

Kind = Literal["str", "int", "float"]
Row = tuple[str | int | float | None, ...]

#: ``inverter_id`` of the one row stored for a period whose record lists no inverter.
NO_INVERTER = -1

_TIME_COLUMNS: tuple[tuple[str, Kind], ...] = (
    ("plant", "str"),
    ("unix_time", "int"),
    ("start", "str"),
    ("interval_s", "int"),
)
METER_COLUMNS: tuple[tuple[str, Kind], ...] = (
    *_TIME_COLUMNS,
    ("grid_imported_kwh", "float"),
    ("grid_exported_kwh", "float"),
    ("grid_q1_kvarh", "float"),
    ("grid_q2_kvarh", "float"),
    ("grid_q3_kvarh", "float"),
    ("grid_q4_kvarh", "float"),
    *((f"grid_{phase}_{way}_kwh", "float") for phase in "rst" for way in ("imported", "exported")),
    ("load_kwh", "float"),
    *((f"load_{phase}_kwh", "float") for phase in "rst"),
    ("renewable_kwh", "float"),
    *((f"renewable_{phase}_kwh", "float") for phase in "rst"),
)
INVERTER_COLUMNS: tuple[tuple[str, Kind], ...] = (
    *_TIME_COLUMNS,
    ("total_energy_kwh", "float"),
    ("inverter_id", "int"),
    ("inverter_energy_kwh", "float"),
)


def columns(endpoint: Endpoint) -> tuple[tuple[str, Kind], ...]:
    """Return the flat columns of a timed endpoint's records, in row order."""
    if endpoint is Endpoint.METER:
        return METER_COLUMNS
    if endpoint is Endpoint.INVERTER:
        return INVERTER_COLUMNS
    raise ValueError(f"{endpoint} has no records per period")


def _phase(phase: GridPhase | None) -> tuple[float | None, float | None]:
    return (None, None) if phase is None else (phase.imported, phase.exported)


def _energy(meter: EnergyMeter | None) -> tuple[float | None, ...]:
    return (None,) * 4 if meter is None else (meter.rst, meter.r, meter.s, meter.t)


def _meter_row(plant: str, record: MeterRecord) -> Row:
    grid = record.grid
    totals: tuple[float | None, ...] = (None,) * 12
    if grid is not None:
        rst = grid.rst
        totals = (
            rst.imported,
            rst.exported,
            rst.q1,
            rst.q2,
            rst.q3,
            rst.q4,
            *_phase(grid.r),
            *_phase(grid.s),
            *_phase(grid.t),
        )
    return (
        plant,
        record.unix_time,
        record.start.isoformat(),
        record.interval,
        *totals,
        *_energy(record.load),
        *_energy(record.renewable),
    )


def meter_rows(plant: str, records: Iterable[MeterRecord]) -> list[Row]:
    """Return one row per meter record (None where the plant has no such meter)."""
    return [_meter_row(plant, record) for record in records]


def inverter_rows(plant: str, records: Iterable[InverterRecord]) -> list[Row]:
    """Return one row per inverter and period, the period's total repeated on each."""
    out: list[Row] = []
    for record in records:
        head = (plant, record.unix_time, record.start.isoformat(), record.interval)
        total = record.total_energy
        if record.inverters:
            out.extend(
                (*head, total, inverter.id, inverter.energy) for inverter in record.inverters
            )
        else:
            out.append((*head, total, NO_INVERTER, None))
    return out


def endpoint_rows(
    endpoint: Endpoint, plant: str, records: Sequence[MeterRecord] | Sequence[InverterRecord]
) -> list[Row]:
    """Return the rows of a page of `endpoint`'s records; TypeError for another kind of record.

    The check keeps a page of one endpoint from landing in the other's table.
    """
    if endpoint is Endpoint.METER:
        meters = [r for r in records if isinstance(r, MeterRecord)]
        if len(meters) == len(records):
            return meter_rows(plant, meters)
    elif endpoint is Endpoint.INVERTER:
        inverters = [r for r in records if isinstance(r, InverterRecord)]
        if len(inverters) == len(records):
            return inverter_rows(plant, inverters)
    else:
        raise ValueError(f"{endpoint} has no records per period")
    raise TypeError(f"a page of {endpoint} records holds another kind of record")

"""The flat tables of rollups, for CSV, JSON Lines and Parquet: a row per plant and bucket.

They are `lacecal_async.tables.Table`s, so ``lacecal stats`` writes them with the writers
of ``lacecal export``. `STATS_METER` holds every meter quantity in its own column, named as
in the meter export. An inverter rollup is two tables, as an inverter export is:
`STATS_INVERTER` (the plant's total per bucket) and, beside it, `STATS_INVERTERS` (one row
per plant, bucket and inverter, with the periods that reported it). `stats_object` is a
row as one nested JSON object (every quantity, and the periods that reported each).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from lacecal_async.endpoints import Endpoint
from lacecal_async.stats import METER_QUANTITIES, TOTAL_ENERGY, StatsRow, as_unix, unit_of
from lacecal_async.tables import Column, Row, Table, utc_offset

__all__ = ["STATS_INVERTER", "STATS_INVERTERS", "STATS_METER", "stats_object", "stats_tables"]

_NOT_REPORTED: Final = "no period of the bucket reported it"
_WHEN = (
    Column("plant", "string"),
    Column("unix_time", "int64", "s"),
    Column("start", "timestamp"),
    Column("utc_offset_s", "int64", "s"),
)
_HEAD = (
    *_WHEN,
    Column("end", "timestamp"),
    Column("interval_s", "int64", "s"),
    Column("periods", "int64"),
    Column("expected", "int64"),
    Column("complete", "bool"),
)


def _when(row: StatsRow) -> Row:
    return (row.plant, as_unix(row.start), row.start, utc_offset(row.start))


def _head(row: StatsRow) -> Row:
    return (*_when(row), row.end, row.interval, row.periods, row.expected, row.complete)


def _meter_rows(_plant: str, rows: Sequence[StatsRow]) -> list[Row]:
    return [(*_head(row), *(row.energy.get(q) for q in METER_QUANTITIES)) for row in rows]


def _inverter_rows(_plant: str, rows: Sequence[StatsRow]) -> list[Row]:
    return [(*_head(row), row.energy.get(TOTAL_ENERGY)) for row in rows]


def _per_inverter_rows(_plant: str, rows: Sequence[StatsRow]) -> list[Row]:
    out: list[Row] = []
    for row in rows:
        head = _when(row)
        for name, energy in row.energy.items():
            if name != TOTAL_ENERGY:
                inverter = int(name.removeprefix("inverter_").removesuffix("_kwh"))
                out.append((*head, inverter, row.reported[name], energy))
    return out


#: ``lacecal stats`` of meter records: one row per plant and bucket, a column per quantity.
STATS_METER = Table(
    "stats",
    (*_HEAD, *(Column(q, "float64", unit_of(q), _NOT_REPORTED) for q in METER_QUANTITIES)),
    _meter_rows,
    per_period=False,
    key=("plant", "unix_time"),
)
#: ``lacecal stats --endpoint inverter``: one row per plant and bucket, the plant's total.
STATS_INVERTER = Table(
    "stats",
    (*_HEAD, Column(TOTAL_ENERGY, "float64", "kWh", _NOT_REPORTED)),
    _inverter_rows,
    per_period=False,
    key=("plant", "unix_time"),
)
#: Beside `STATS_INVERTER`: one row per plant, bucket and inverter some period reported.
STATS_INVERTERS = Table(
    "inverters",
    (
        *_WHEN,
        Column("inverter_id", "int64"),
        Column("reported", "int64"),
        Column("energy_kwh", "float64", "kWh"),
    ),
    _per_inverter_rows,
    per_period=False,
    key=("plant", "unix_time", "inverter_id"),
)


def stats_tables(endpoint: Endpoint) -> tuple[Table, ...]:
    """Return the tables of an endpoint's rollup: the first is the main file's."""
    if endpoint is Endpoint.METER:
        return (STATS_METER,)
    if endpoint is Endpoint.INVERTER:
        return (STATS_INVERTER, STATS_INVERTERS)
    raise ValueError(f"{endpoint} has no periods to roll up: meter or inverter")


def stats_object(row: StatsRow) -> dict[str, Any]:
    """Return a row as one JSON-ready object: the head's columns, ``energy``, ``reported``."""
    names = [column.name for column in _HEAD]
    return dict(zip(names, _head(row), strict=True)) | {
        "energy": dict(row.energy),
        "reported": dict(row.reported),
    }

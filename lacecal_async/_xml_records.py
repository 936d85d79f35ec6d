"""XML's plain dicts (text leaves) to records on the valid path, by hand-written constructors.

The counterpart of `lacecal_async._json_records` for text: a number is decimal text in
ASCII digits. ``float()`` and ``int()`` also take ``1_0``, non-ASCII digits and (float)
``nan``, ``inf`` and ``1e999``, so a leaf is converted only when it is ASCII and holds no
``_``, and a float must then be finite (``x - x`` is 0.0). That accepts exactly what
`lacecal_async._converter`'s XML hooks accept, and gives the same values. A start is read
and checked by `lacecal_async._dates.start`.

Anything unexpected raises (ValueError, TypeError, LookupError, ...), and `decoding` then
runs the element-tree path and `_converter.DETAILED`, which decide and name the field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from lacecal_async import _dates
from lacecal_async._converter import as_list
from lacecal_async.endpoints import Endpoint
from lacecal_async.records import (
    EnergyMeter,
    GridMeter,
    GridPhase,
    GridTotals,
    InverterEnergy,
    InverterRecord,
    MeterRecord,
)

__all__ = ["PAGES"]

_start = _dates.start
_DAY: Final = 86_400

Page = Callable[[list[Any]], tuple[Any, ...]]


class _NotDecimalError(ValueError):
    """Not plain decimal text, or an interval out of range: the reference explains."""


def _number(text: Any) -> float:  # noqa: ANN401 - a parsed leaf
    """Read a finite number from decimal text in ASCII digits."""
    if text.isascii() and "_" not in text:
        value = float(text)
        if value - value == 0.0:
            return value
    raise _NotDecimalError


def _integer(text: Any) -> int:  # noqa: ANN401 - a parsed leaf
    """Read an integer from decimal text in ASCII digits."""
    if text.isascii() and "_" not in text:
        return int(text)
    raise _NotDecimalError


def _phase(p: Any) -> GridPhase | None:  # noqa: ANN401 - plain data
    return None if p is None else GridPhase(_number(p["Eimp"]), _number(p["Eexp"]))


def _block(b: Any) -> float | None:  # noqa: ANN401
    return None if b is None else _number(b["E"])


def _grid(g: Any) -> GridMeter | None:  # noqa: ANN401
    if g is None:
        return None
    t = g["RST"]
    totals = GridTotals(
        _number(t["Eimp"]),
        _number(t["Eexp"]),
        _number(t["Q1"]),
        _number(t["Q2"]),
        _number(t["Q3"]),
        _number(t["Q4"]),
    )
    return GridMeter(totals, _phase(g.get("R")), _phase(g.get("S")), _phase(g.get("T")))


def _meter(m: Any) -> EnergyMeter | None:  # noqa: ANN401
    if m is None:
        return None
    return EnergyMeter(
        _number(m["RST"]["E"]), _block(m.get("R")), _block(m.get("S")), _block(m.get("T"))
    )


def _when(r: Any) -> tuple[int, Any, int]:  # noqa: ANN401
    """Read a record's unix_time, start (checked against it) and interval."""
    unix_time, interval, date = _integer(r["unix_time"]), _integer(r["interval"]), r["date"]
    if not 0 < interval <= _DAY:
        raise _NotDecimalError
    return unix_time, _start(date, unix_time), interval


def meter_page(rows: list[Any]) -> tuple[MeterRecord, ...]:
    """Meter records from a parsed page."""
    out = []
    for r in rows:
        unix_time, start, interval = _when(r)
        grid, load, reno = r.get("GRID_meter"), r.get("LOAD_meter"), r.get("RENO_meter")
        out.append(MeterRecord(unix_time, start, interval, _grid(grid), _meter(load), _meter(reno)))
    return tuple(out)


def inverter_page(rows: list[Any]) -> tuple[InverterRecord, ...]:
    """Inverter records from a parsed page."""
    out = []
    for r in rows:
        unix_time, start, interval = _when(r)
        inverters = r["Inverters"]
        if type(inverters) is not list:
            inverters = as_list(inverters)
        energies = tuple([InverterEnergy(_integer(i["id"]), _number(i["E"])) for i in inverters])
        out.append(InverterRecord(unix_time, start, interval, _number(r["Esum"]), energies))
    return tuple(out)


#: Endpoint -> the constructor of its records. Inverter lists (one short page per plant)
#: take `_converter.DETAILED` over `lacecal_async._xml_plain`'s dicts.
PAGES: Final[Mapping[Endpoint, Page]] = {
    Endpoint.METER: meter_page,
    Endpoint.INVERTER: inverter_page,
}

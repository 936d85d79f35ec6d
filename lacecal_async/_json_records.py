"""Parsed JSON pages to records on the valid path, at the cost of hand-written constructors.

cattrs' generated functions call a hook per number and build keyword dicts for the optional
meters: they reached 0.77x (meter) and 0.83x (inverter) of a hand-written constructor of the
same records even with no checks at all (measured). This module is that constructor plus the
checks `lacecal_async._converter` makes, done inline where a value is already right: an
energy is a finite float (``type(x) is float`` and ``x - x`` is 0.0, false for inf and NaN),
anything else goes through the same hooks as the converter (an int becomes a float; a
string, a bool or an overflow is refused).

Anything unexpected raises (ValueError, TypeError, LookupError, ...), and `decoding` then
runs `_converter.DETAILED`, which accepts the same values, takes the liberal shapes this
path does not (a bare object where a list belongs, null lists) and names a failing field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from lacecal_async import _dates
from lacecal_async._converter import INT_LIMIT, json_number, text
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

__all__ = ["PAGES"]

_start = _dates.start
_fromisoformat = datetime.fromisoformat
_number = json_number
_LIMIT: Final = INT_LIMIT
_SUFFIXES: Final = _dates.SUFFIXES
_EPOCH: Final = _dates.EPOCH


def _phase(p: Any) -> GridPhase | None:  # noqa: ANN401 - parsed JSON
    if p is None:
        return None
    a, b = p["Eimp"], p["Eexp"]
    if type(a) is not float or a - a:  # not a float, or inf or NaN (x - x is NaN, truthy)
        a = _number(a)
    if type(b) is not float or b - b:
        b = _number(b)
    return GridPhase(a, b)


def _grid(g: Any) -> GridMeter | None:  # noqa: ANN401
    if g is None:
        return None
    t = g["RST"]
    a, b, c, d, e, f = t["Eimp"], t["Eexp"], t["Q1"], t["Q2"], t["Q3"], t["Q4"]
    if type(a) is not float or a - a:
        a = _number(a)
    if type(b) is not float or b - b:
        b = _number(b)
    if type(c) is not float or c - c:
        c = _number(c)
    if type(d) is not float or d - d:
        d = _number(d)
    if type(e) is not float or e - e:
        e = _number(e)
    if type(f) is not float or f - f:
        f = _number(f)
    totals = GridTotals(a, b, c, d, e, f)
    return GridMeter(totals, _phase(g.get("R")), _phase(g.get("S")), _phase(g.get("T")))


def _energy(block: Any) -> float | None:  # noqa: ANN401
    if block is None:
        return None
    x = block["E"]
    if type(x) is not float or x - x:
        x = _number(x)
    return x


def _meter(m: Any) -> EnergyMeter | None:  # noqa: ANN401
    if m is None:
        return None
    total = _energy(m["RST"])
    if total is None:
        raise ValueError("RST is null")
    return EnergyMeter(total, _energy(m.get("R")), _energy(m.get("S")), _energy(m.get("T")))


def meter_page(rows: list[Any]) -> tuple[MeterRecord, ...]:
    """Meter records from a parsed page (a list of objects)."""
    out = []
    for r in rows:
        unix_time, interval, date = r["unix_time"], r["interval"], r["date"]
        if type(unix_time) is not int or type(interval) is not int or not 0 < interval <= 86_400:
            raise ValueError("unix_time or interval")
        # _dates.start, inlined: the local time read naive, the offset known from its text
        known = _SUFFIXES.get(date[19:])
        since = _fromisoformat(date[:19]) - _EPOCH
        if (
            known is None
            or since.days * 86_400 + since.seconds - known[0] != unix_time
            or since.microseconds
        ):
            start = _start(date, unix_time)
        else:
            start = known[1] + since
        out.append(
            MeterRecord(
                unix_time,
                start,
                interval,
                _grid(r.get("GRID_meter")),
                _meter(r.get("LOAD_meter")),
                _meter(r.get("RENO_meter")),
            )
        )
    return tuple(out)


def inverter_page(rows: list[Any]) -> tuple[InverterRecord, ...]:
    """Inverter records from a parsed page (a list of objects)."""
    out = []
    for r in rows:
        unix_time, interval, total, date = r["unix_time"], r["interval"], r["Esum"], r["date"]
        if type(unix_time) is not int or type(interval) is not int or not 0 < interval <= 86_400:
            raise ValueError("unix_time or interval")
        if type(total) is not float or total - total:
            total = _number(total)
        energies = []
        for item in r["Inverters"]:
            ident, energy = item["id"], item["E"]
            if type(ident) is not int or not -_LIMIT <= ident < _LIMIT:
                raise ValueError("id")
            if type(energy) is not float or energy - energy:
                energy = _number(energy)
            energies.append(InverterEnergy(ident, energy))
        known = _SUFFIXES.get(date[19:])  # _dates.start, inlined as in meter_page
        since = _fromisoformat(date[:19]) - _EPOCH
        if (
            known is None
            or since.days * 86_400 + since.seconds - known[0] != unix_time
            or since.microseconds
        ):
            start = _start(date, unix_time)
        else:
            start = known[1] + since
        out.append(InverterRecord(unix_time, start, interval, total, tuple(energies)))
    return tuple(out)


def inverter_list_page(rows: list[Any]) -> tuple[Inverter, ...]:
    """Inverters from a parsed ``inverter_list`` reply (a list of objects)."""
    out = []
    for r in rows:
        ident, serial = r["id"], r.get("nserie")
        if type(ident) is not int or not -_LIMIT <= ident < _LIMIT:
            raise ValueError("id")
        if serial is not None and type(serial) is not str:
            raise ValueError("nserie")
        fields = text(r["nombre"], str), text(r["fabricante"], str), text(r["modelo"], str)
        out.append(Inverter(ident, *fields, serial))
    return tuple(out)


#: Endpoint -> the constructor of its page; each takes a list and raises on anything else.
PAGES: Final[Mapping[Endpoint, Callable[[list[Any]], tuple[Any, ...]]]] = {
    Endpoint.METER: meter_page,
    Endpoint.INVERTER: inverter_page,
    Endpoint.INVERTER_LIST: inverter_list_page,
}

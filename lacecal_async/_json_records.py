"""Parsed JSON pages to records on the valid path, at the cost of hand-written constructors.

cattrs' generated functions call a hook per number and build keyword dicts for the optional
meters: they reached 0.77x (meter) and 0.83x (inverter) of a hand-written constructor of the
same records even with no checks at all (measured). This module is that constructor plus the
checks `lacecal_async._converter` makes, done inline where a value is already right: an
energy is a finite float (``type(x) is float``, and ``x - x`` is 0.0, false for inf and
NaN), anything else goes through the same hooks as the converter (an int becomes a float; a
string, a bool or an overflow is refused). (Skipping ``x - x`` after orjson, which never
returns an infinite float, earned 2-3%: under the 10% a second path must earn, so it went.)
A start is read and checked against ``unix_time`` by `lacecal_async._dates`' cheap path,
inlined.

Anything unexpected raises (ValueError, TypeError, LookupError, ...), and `decoding` then
runs `_converter.DETAILED`, which accepts the same values, takes the liberal shapes this
path does not (a bare object where a list belongs, null lists) and names a failing field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
_DAYS: Final = _dates.DAYS
_TIMES: Final = _dates.TIMES
_LOW: Final = -INT_LIMIT
_HIGH: Final = INT_LIMIT
_DAY: Final = 86_400

Page = Callable[[list[Any]], tuple[Any, ...]]


def _pages() -> Mapping[Endpoint, Page]:  # noqa: PLR0915 - unrolled on purpose
    """Build the page constructors (closures: their constants are fast local lookups)."""
    number = json_number
    days, times = _DAYS, _TIMES

    def grid(g: Any) -> GridMeter | None:  # noqa: ANN401, PLR0912 - parsed JSON
        # Phases are unrolled, not called or looped over: either costs ~4% of a meter record.
        if g is None:
            return None
        t, r, s, u = g["RST"], g.get("R"), g.get("S"), g.get("T")
        a, b, c, d, e, f = t["Eimp"], t["Eexp"], t["Q1"], t["Q2"], t["Q3"], t["Q4"]
        if type(a) is not float or a - a:  # x - x is NaN for inf and NaN
            a = number(a)
        if type(b) is not float or b - b:
            b = number(b)
        if type(c) is not float or c - c:
            c = number(c)
        if type(d) is not float or d - d:
            d = number(d)
        if type(e) is not float or e - e:
            e = number(e)
        if type(f) is not float or f - f:
            f = number(f)
        totals = GridTotals(a, b, c, d, e, f)
        if r is not None:
            a, b = r["Eimp"], r["Eexp"]
            if type(a) is not float or a - a:
                a = number(a)
            if type(b) is not float or b - b:
                b = number(b)
            r = GridPhase(a, b)
        if s is not None:
            a, b = s["Eimp"], s["Eexp"]
            if type(a) is not float or a - a:
                a = number(a)
            if type(b) is not float or b - b:
                b = number(b)
            s = GridPhase(a, b)
        if u is not None:
            a, b = u["Eimp"], u["Eexp"]
            if type(a) is not float or a - a:
                a = number(a)
            if type(b) is not float or b - b:
                b = number(b)
            u = GridPhase(a, b)
        return GridMeter(totals, r, s, u)

    def meter(m: Any) -> EnergyMeter | None:  # noqa: ANN401
        if m is None:
            return None
        a, r, s, u = m["RST"]["E"], m.get("R"), m.get("S"), m.get("T")  # null RST: TypeError
        if type(a) is not float or a - a:
            a = number(a)
        if r is not None:
            r = r["E"]
            if type(r) is not float or r - r:
                r = number(r)
        if s is not None:
            s = s["E"]
            if type(s) is not float or s - s:
                s = number(s)
        if u is not None:
            u = u["E"]
            if type(u) is not float or u - u:
                u = number(u)
        return EnergyMeter(a, r, s, u)

    def meter_page(rows: list[Any]) -> tuple[MeterRecord, ...]:
        """Meter records from a parsed page (a list of objects)."""
        out = []
        for r in rows:
            unix_time, interval, date = r["unix_time"], r["interval"], r["date"]
            if type(unix_time) is not int or type(interval) is not int or not 0 < interval <= _DAY:
                raise ValueError("unix_time or interval")
            try:  # _dates.start's cheap path: both halves of the text seen before
                day, time = days[date[:11]], times[date[11:]]
            except LookupError:
                start = _start(date, unix_time)
            else:
                same = day[0] + time[0] == unix_time
                start = time[1] + day[1] if same else _start(date, unix_time)
            out.append(
                MeterRecord(
                    unix_time,
                    start,
                    interval,
                    grid(r.get("GRID_meter")),
                    meter(r.get("LOAD_meter")),
                    meter(r.get("RENO_meter")),
                )
            )
        return tuple(out)

    def inverter_page(rows: list[Any]) -> tuple[InverterRecord, ...]:
        """Inverter records from a parsed page (a list of objects)."""
        low, high = _LOW, _HIGH
        out = []
        for r in rows:
            unix_time, interval, total, date = r["unix_time"], r["interval"], r["Esum"], r["date"]
            if type(unix_time) is not int or type(interval) is not int or not 0 < interval <= _DAY:
                raise ValueError("unix_time or interval")
            if type(total) is not float or total - total:
                total = number(total)
            energies = []
            for item in r["Inverters"]:
                ident, e = item["id"], item["E"]
                if type(ident) is not int or not low <= ident < high:
                    raise ValueError("id")
                if type(e) is not float or e - e:
                    e = number(e)
                energies.append(InverterEnergy(ident, e))
            try:  # as in meter_page
                day, time = days[date[:11]], times[date[11:]]
            except LookupError:
                start = _start(date, unix_time)
            else:
                same = day[0] + time[0] == unix_time
                start = time[1] + day[1] if same else _start(date, unix_time)
            out.append(InverterRecord(unix_time, start, interval, total, tuple(energies)))
        return tuple(out)

    return {
        Endpoint.METER: meter_page,
        Endpoint.INVERTER: inverter_page,
        Endpoint.INVERTER_LIST: inverter_list_page,
    }


def inverter_list_page(rows: list[Any]) -> tuple[Inverter, ...]:
    """Inverters from a parsed ``inverter_list`` reply (a list of objects)."""
    out = []
    for r in rows:
        ident, serial = r["id"], r.get("nserie")
        if type(ident) is not int or not _LOW <= ident < _HIGH:
            raise ValueError("id")
        if serial is not None and type(serial) is not str:
            raise ValueError("nserie")
        fields = text(r["nombre"], str), text(r["fabricante"], str), text(r["modelo"], str)
        out.append(Inverter(ident, *fields, serial))
    return tuple(out)


#: Endpoint -> the constructor of its page; each takes a list and raises on anything else.
PAGES: Final = _pages()

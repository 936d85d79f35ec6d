"""The floor `decode` is measured against: hand-written constructors of the same attrs records.

What a competent engineer writes in an afternoon for valid pages, with no checks at all: the
parser's dicts straight into the records, the date read by ``datetime.fromisoformat``,
``float()`` on every energy (so that a whole one, ``"Q3":0``, is a float as in the records
`decode` returns); for XML a defused expat parser fills plain dicts, and the constructor
turns their text into numbers with ``int()`` and ``float()``. `decode` does more
(finite numbers, types, the date checked against ``unix_time``, one shared tzinfo per
offset, errors with a field path), so the ratio to this floor is what its checks cost.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn
from xml.parsers import expat

from defusedxml.common import EntitiesForbidden, ExternalReferenceForbidden, NotSupportedError

from lacecal_async.records import (
    EnergyMeter,
    GridMeter,
    GridPhase,
    GridTotals,
    InverterEnergy,
    InverterRecord,
    MeterRecord,
)

__all__ = ["json_inverter", "json_meter", "xml_inverter", "xml_meter", "xml_plain"]

_date = datetime.fromisoformat

# -- JSON: numbers are already numbers; float() makes the whole ones (``"Q3":0``) floats ------


def _phase(p: Any) -> GridPhase | None:  # noqa: ANN401 - plain data
    return None if p is None else GridPhase(float(p["Eimp"]), float(p["Eexp"]))


def _e(b: Any) -> float | None:  # noqa: ANN401
    return None if b is None else float(b["E"])


def _grid(g: Any) -> GridMeter | None:  # noqa: ANN401
    if g is None:
        return None
    t = g["RST"]
    totals = GridTotals(
        float(t["Eimp"]),
        float(t["Eexp"]),
        float(t["Q1"]),
        float(t["Q2"]),
        float(t["Q3"]),
        float(t["Q4"]),
    )
    return GridMeter(totals, _phase(g.get("R")), _phase(g.get("S")), _phase(g.get("T")))


def _energy(m: Any) -> EnergyMeter | None:  # noqa: ANN401
    if m is None:
        return None
    return EnergyMeter(float(m["RST"]["E"]), _e(m.get("R")), _e(m.get("S")), _e(m.get("T")))


def json_meter(rows: Any) -> tuple[MeterRecord, ...]:  # noqa: ANN401
    """Meter records from ``json.loads``/``orjson.loads`` output."""
    return tuple(
        [
            MeterRecord(
                r["unix_time"],
                _date(r["date"]),
                r["interval"],
                _grid(r.get("GRID_meter")),
                _energy(r.get("LOAD_meter")),
                _energy(r.get("RENO_meter")),
            )
            for r in rows
        ]
    )


def json_inverter(rows: Any) -> tuple[InverterRecord, ...]:  # noqa: ANN401
    """Inverter records from ``json.loads``/``orjson.loads`` output."""
    return tuple(
        [
            InverterRecord(
                r["unix_time"],
                _date(r["date"]),
                r["interval"],
                float(r["Esum"]),
                tuple([InverterEnergy(i["id"], float(i["E"])) for i in r["Inverters"]]),
            )
            for r in rows
        ]
    )


# -- XML: text to numbers ----------------------------------------------------------------------


def _xphase(p: Any) -> GridPhase | None:  # noqa: ANN401
    return None if p is None else GridPhase(float(p["Eimp"]), float(p["Eexp"]))


def _xe(b: Any) -> float | None:  # noqa: ANN401
    return None if b is None else float(b["E"])


def _xgrid(g: Any) -> GridMeter | None:  # noqa: ANN401
    if g is None:
        return None
    t = g["RST"]
    totals = GridTotals(
        float(t["Eimp"]),
        float(t["Eexp"]),
        float(t["Q1"]),
        float(t["Q2"]),
        float(t["Q3"]),
        float(t["Q4"]),
    )
    return GridMeter(totals, _xphase(g.get("R")), _xphase(g.get("S")), _xphase(g.get("T")))


def _xenergy(m: Any) -> EnergyMeter | None:  # noqa: ANN401
    if m is None:
        return None
    return EnergyMeter(float(m["RST"]["E"]), _xe(m.get("R")), _xe(m.get("S")), _xe(m.get("T")))


def _xml_meter_rows(rows: Any) -> tuple[MeterRecord, ...]:  # noqa: ANN401
    return tuple(
        [
            MeterRecord(
                int(r["unix_time"]),
                _date(r["date"]),
                int(r["interval"]),
                _xgrid(r.get("GRID_meter")),
                _xenergy(r.get("LOAD_meter")),
                _xenergy(r.get("RENO_meter")),
            )
            for r in rows
        ]
    )


def _xml_inverter_rows(rows: Any) -> tuple[InverterRecord, ...]:  # noqa: ANN401
    return tuple(
        [
            InverterRecord(
                int(r["unix_time"]),
                _date(r["date"]),
                int(r["interval"]),
                float(r["Esum"]),
                tuple([InverterEnergy(int(i["id"]), float(i["E"])) for i in r["Inverters"]]),
            )
            for r in rows
        ]
    )


def _refuse_entity(*_: object) -> NoReturn:
    raise EntitiesForbidden(None, None, None, None, None, None)


def _refuse_dtd(*_: object) -> NoReturn:
    raise NotSupportedError("DTD")


def _refuse_external(*_: object) -> NoReturn:
    raise ExternalReferenceForbidden(None, None, None, None)


def xml_plain(body: bytes) -> list[Any]:
    """Defused expat into plain dicts: the root's and ``Inverters``' children form lists."""
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_external
    parser.buffer_text = True
    root: list[Any] = []
    stack: list[Any] = []
    text: list[str] = []

    def start(tag: str, _: object) -> None:
        text.clear()
        stack.append([] if not stack or tag == "Inverters" else {})

    def end(tag: str) -> None:
        value = stack.pop()
        if not value:
            value = "".join(text) or None
        text.clear()
        if not stack:
            root.append(value)
        elif type(stack[-1]) is list:
            stack[-1].append(value)
        else:
            stack[-1][tag] = value

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text.append
    parser.Parse(body, True)
    return root[0] or []


def _xml(rows: Callable[[Any], tuple[Any, ...]]) -> Callable[[bytes], tuple[Any, ...]]:
    def run(body: bytes) -> tuple[Any, ...]:
        return rows(xml_plain(body))

    return run


xml_meter = _xml(_xml_meter_rows)
xml_inverter = _xml(_xml_inverter_rows)

"""Encode records the way the LACECAL service does: JSON or XML bytes, with the wire names.

This is the inverse of `lacecal_async.decode`, used by the fake server and by tests that
build replies by hand (round-trip properties, hostile variants of a valid reply).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from lacecal_async.endpoints import Endpoint, WireFormat
from lacecal_async.records import (
    EnergyMeter,
    GridMeter,
    GridPhase,
    Inverter,
    InverterRecord,
    MeterRecord,
)

__all__ = [
    "XML_TAGS",
    "assemble",
    "encode",
    "encode_item",
    "encode_plain",
    "format_date",
    "to_wire",
]

#: Root and item element names per endpoint in XML replies.
XML_TAGS: Mapping[Endpoint, tuple[str, str]] = {
    Endpoint.INVERTER_LIST: ("Inverters", "Inverter"),
    Endpoint.INVERTER: ("InvertersRecords", "InvertersRecord"),
    Endpoint.METER: ("MetersRecords", "MetersRecord"),
}
#: Elements whose children form a list (not a mapping) inside a record.
_XML_LIST_ITEMS = {"Inverters": "Inverter"}

Record = Inverter | InverterRecord | MeterRecord


def format_date(start: datetime) -> str:
    """Format the service's ``date`` text: local time and offset (``2017-06-05 13:00:00 +0200``)."""
    return start.strftime("%Y-%m-%d %H:%M:%S %z")


def _number(value: float) -> int | float:
    """Whole energies go on the wire as integers (``"Q3":0``), as the service prints them."""
    return int(value) if value.is_integer() else value


def _phase(phase: GridPhase) -> dict[str, Any]:
    return {"Eimp": _number(phase.imported), "Eexp": _number(phase.exported)}


def _grid(grid: GridMeter) -> dict[str, Any]:
    rst = grid.rst
    out: dict[str, Any] = {
        "RST": {
            "Eimp": _number(rst.imported),
            "Eexp": _number(rst.exported),
            "Q1": _number(rst.q1),
            "Q2": _number(rst.q2),
            "Q3": _number(rst.q3),
            "Q4": _number(rst.q4),
        }
    }
    for key, phase in (("R", grid.r), ("S", grid.s), ("T", grid.t)):
        if phase is not None:
            out[key] = _phase(phase)
    return out


def _energy(meter: EnergyMeter) -> dict[str, Any]:
    out: dict[str, Any] = {"RST": {"E": _number(meter.rst)}}
    for key, value in (("R", meter.r), ("S", meter.s), ("T", meter.t)):
        if value is not None:
            out[key] = {"E": _number(value)}
    return out


def to_wire(record: Record) -> dict[str, Any]:
    """One record as the plain mapping the service's JSON holds (wire names, wire order)."""
    if isinstance(record, Inverter):
        out: dict[str, Any] = {
            "id": record.id,
            "nombre": record.name,
            "fabricante": record.manufacturer,
            "modelo": record.model,
        }
        if record.serial_number is not None:
            out["nserie"] = record.serial_number
        return out
    out = {
        "unix_time": record.unix_time,
        "date": format_date(record.start),
        "interval": record.interval,
    }
    if isinstance(record, InverterRecord):
        out["Esum"] = _number(record.total_energy)
        out["Inverters"] = [{"id": i.id, "E": _number(i.energy)} for i in record.inverters]
        return out
    if record.grid is not None:
        out["GRID_meter"] = _grid(record.grid)
    if record.load is not None:
        out["LOAD_meter"] = _energy(record.load)
    if record.renewable is not None:
        out["RENO_meter"] = _energy(record.renewable)
    return out


def _xml_value(tag: str, value: object, parts: list[str]) -> None:
    parts.append(f"<{tag}>")
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _xml_value(key, inner, parts)
    elif isinstance(value, list):
        item = _XML_LIST_ITEMS[tag]
        for inner in value:
            _xml_value(item, inner, parts)
    else:
        parts.append(escape(str(value)))
    parts.append(f"</{tag}>")


def encode_plain(
    endpoint: Endpoint | str,
    items: Sequence[Mapping[str, Any]],
    wire_format: WireFormat | str = WireFormat.JSON,
    *,
    encoding: str = "utf-8",
    xml_declaration: bool = True,
) -> bytes:
    """Serialize wire-shaped mappings (as `to_wire` makes them) to a reply body."""
    endpoint = Endpoint(endpoint)
    if WireFormat(wire_format) is WireFormat.JSON:
        # PHP's json_encode escapes non-ASCII by default, and so does json.dumps.
        return json.dumps(list(items), separators=(",", ":")).encode("ascii")
    root, item = XML_TAGS[endpoint]
    parts = [f'<?xml version="1.0" encoding="{encoding}"?>\n'] if xml_declaration else []
    parts.append(f"<{root}>")
    for mapping in items:
        _xml_value(item, mapping, parts)
    parts.append(f"</{root}>")
    return "".join(parts).encode(encoding, errors="xmlcharrefreplace")


def encode(
    endpoint: Endpoint | str,
    records: Iterable[Record],
    wire_format: WireFormat | str = WireFormat.JSON,
    *,
    encoding: str = "utf-8",
    xml_declaration: bool = True,
) -> bytes:
    r"""Serialize records to a reply body as the service would send it.

    XML carries an XML declaration naming `encoding` (``ISO-8859-1`` works too); JSON is
    always ASCII with ``\u`` escapes, as PHP's ``json_encode`` writes it.
    """
    return encode_plain(
        endpoint,
        [to_wire(record) for record in records],
        wire_format,
        encoding=encoding,
        xml_declaration=xml_declaration,
    )


def encode_item(
    endpoint: Endpoint | str, record: Record, wire_format: WireFormat | str = WireFormat.JSON
) -> bytes:
    """Serialize one record as it appears inside a UTF-8 reply (a JSON object, an XML element).

    A server caches these per period and joins them with `assemble`, which gives the same
    bytes as `encode` without re-serializing records it has already sent.
    """
    endpoint = Endpoint(endpoint)
    mapping = to_wire(record)
    if WireFormat(wire_format) is WireFormat.JSON:
        return json.dumps(mapping, separators=(",", ":")).encode("ascii")
    parts: list[str] = []
    _xml_value(XML_TAGS[endpoint][1], mapping, parts)
    return "".join(parts).encode("utf-8", errors="xmlcharrefreplace")


def assemble(
    endpoint: Endpoint | str,
    items: Sequence[bytes],
    wire_format: WireFormat | str = WireFormat.JSON,
    *,
    xml_declaration: bool = True,
) -> bytes:
    """Join `encode_item` fragments into a UTF-8 reply body, byte for byte like `encode`."""
    if WireFormat(wire_format) is WireFormat.JSON:
        return b"[" + b",".join(items) + b"]"
    root = XML_TAGS[Endpoint(endpoint)][0].encode("ascii")
    head = b'<?xml version="1.0" encoding="utf-8"?>\n' if xml_declaration else b""
    return b"".join((head, b"<", root, b">", *items, b"</", root, b">"))

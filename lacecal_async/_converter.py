"""The cattrs converter that turns plain decoded data into records; the wire names live here.

"Plain" is what ``json.loads`` gives: lists, dicts and str/int/float/None leaves. XML is
walked into the same shape (text leaves, None for an empty element), so one set of hooks
serves both formats. Where cattrs' default (calling the type) is wrong, a hook says what is
right: an int is never a bool, a float or "1.5"; text is never a number or "None"; a date
must carry its UTC offset. An energy is a finite number: a JSON number (never a string,
a bool, NaN or an overflow to infinity), or decimal text in ASCII digits in XML (never
``nan``, ``inf``, ``1e999``, ``1_0`` or Arabic-Indic digits, all of which ``float()`` takes).

`DETAILED` (cattrs' detailed validation) is built per wire format: its error tree names the
failing field, which `wire_path` spells as the wire does (``[3].GRID_meter.RST.Eimp``).
It is the reference, and the path for inverter lists and for anything the valid paths
(`lacecal_async._json_records`, `lacecal_async._xml_records`: hand-written constructors
that accept the same values) refuse. Dates are read in one shared zone per offset
(`lacecal_async._dates`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final, get_args

from cattrs import Converter
from cattrs.errors import (
    AttributeValidationNote,
    BaseValidationError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, override

from lacecal_async import _dates
from lacecal_async._dates import DateMismatchError
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
    "DETAILED",
    "INT_LIMIT",
    "WIRE_NAMES",
    "DateMismatchError",
    "as_list",
    "json_number",
    "text",
    "wire_path",
]

#: Decimal text as XML carries numbers: ASCII digits, an optional sign, point and exponent.
_DECIMAL: Final = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*", re.ASCII)
#: Integers beyond int64 are refused (orjson reads them as floats, the stdlib as ints).
INT_LIMIT: Final = 1 << 63

Hook = Callable[[Any, Any], Any]

#: Record field -> wire key, where they differ; every other field keeps its own name.
WIRE_NAMES: Final[Mapping[type, Mapping[str, str]]] = {
    Inverter: {
        "name": "nombre",
        "manufacturer": "fabricante",
        "model": "modelo",
        "serial_number": "nserie",
    },
    InverterEnergy: {"energy": "E"},
    InverterRecord: {"start": "date", "total_energy": "Esum", "inverters": "Inverters"},
    GridTotals: {
        "imported": "Eimp",
        "exported": "Eexp",
        "q1": "Q1",
        "q2": "Q2",
        "q3": "Q3",
        "q4": "Q4",
    },
    GridPhase: {"imported": "Eimp", "exported": "Eexp"},
    GridMeter: {"rst": "RST", "r": "R", "s": "S", "t": "T"},
    EnergyMeter: {"rst": "RST", "r": "R", "s": "S", "t": "T"},
    MeterRecord: {
        "start": "date",
        "grid": "GRID_meter",
        "load": "LOAD_meter",
        "renewable": "RENO_meter",
    },
}


def _show(value: object) -> str:
    """Name a bad value briefly: its type, and its repr when that is short."""
    text = repr(value)
    return f"{type(value).__name__} {text}" if len(text) <= 40 else type(value).__name__


def _int(value: object, _: object) -> int:
    """Take integer text from XML; never "1.5", "1_0" or non-ASCII digits."""
    # ASCII digits only: int() alone would also take "1_0" and Arabic-Indic digits.
    if type(value) is str and value.isascii() and value.strip().lstrip("+-").isdigit():
        return int(value)  # and still refuses "--1"
    raise ValueError(f"expected an integer, got {_show(value)}")


def _json_int(value: object, _: object) -> int:
    """Take a JSON integer only: never a bool, a float, a string or one beyond int64."""
    if type(value) is int and -INT_LIMIT <= value < INT_LIMIT:
        return value
    raise ValueError(f"expected a JSON integer, got {_show(value)}")


def json_number(value: object, _: object = None) -> float:
    """Take a finite JSON number: not a bool, a string, NaN or infinity (stdlib: 1e400)."""
    if type(value) is float and value - value == 0.0:  # false for inf and NaN
        return value
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:
            pass
    raise ValueError(f"expected a finite JSON number, got {_show(value)}")


def _xml_number(value: object, _: object = None) -> float:
    """Take finite decimal text in ASCII digits (`DETAILED`), as XML carries a number."""
    if type(value) is str and _DECIMAL.fullmatch(value):
        number = float(value)
        if math.isfinite(number):
            return number
    raise ValueError(f"expected a finite decimal number, got {_show(value)}")


def text(value: object, _: object) -> str:
    """Take text as it is; an empty XML element (None) is empty text, a number is refused."""
    if type(value) is str:
        return value
    if value is None:
        return ""
    raise ValueError(f"expected text, got {_show(value)}")


def _energy_hooks(number: Hook) -> tuple[Hook, Hook]:
    """Hooks for an energy meter's blocks: ``{"E": 8.14}`` is the number 8.14."""

    def energy(value: Any, _: object) -> float:  # noqa: ANN401 - plain data
        reading = value["E"]
        if type(reading) is float and reading - reading == 0.0:  # a JSON number: no 2nd call
            return reading
        result: float = number(reading, float)
        return result

    def optional_energy(value: Any, _: object) -> float | None:  # noqa: ANN401 - plain data
        return None if value is None else energy(value, _)

    return energy, optional_energy


def _optional(hook: Hook) -> Hook:
    """``X | None``: null (and an empty XML element) is None; an absent key is the default."""

    def structure_optional(value: object, kind: object) -> object:
        return None if value is None else hook(value, kind)

    return structure_optional


def as_list(value: object) -> list[Any]:
    """Where a list is expected: a list as is, a bare object as a list of one, null as none."""
    if type(value) is list:
        return value
    if type(value) is dict:
        return [value]
    if value is None or (type(value) is str and value.isspace()):
        return []  # JSON null, or an empty XML list container (pretty-printed: whitespace)
    raise ValueError(f"expected a list, got {_show(value)}")


def _tuple_of(hook: Hook, item: type) -> Hook:
    """``tuple[X, ...]`` from `as_list`, noting the index of a failing item."""

    def structure(value: object, kind: type) -> tuple[Any, ...]:
        out = []
        for index, element in enumerate(as_list(value)):
            try:
                out.append(hook(element, item))
            except (
                BaseValidationError,
                ValueError,
                TypeError,
                LookupError,
                ArithmeticError,
            ) as exc:
                exc.add_note(IterableValidationNote(f"@ index {index}", index, item))
                raise IterableValidationError("While structuring a list", [exc], kind) from None
        return tuple(out)

    return structure


def _timed_record(hook: Hook) -> Hook:
    """Check that `start` is the instant of `unix_time` (the wire carries both)."""

    def structure_record(value: Any, kind: object) -> InverterRecord | MeterRecord:  # noqa: ANN401
        if type(value) is not dict:
            raise ValueError(f"expected a record (an object), got {_show(value)}")
        record: InverterRecord | MeterRecord = hook(value, kind)
        if not 0 < record.interval <= 86_400:
            raise ValueError(f"interval must be 1..86400 s, got {record.interval}")
        _dates.check(record.start, record.unix_time, value["date"])
        return record

    return structure_record


def _build(*, xml: bool) -> Converter:
    """Register the hooks leaves first, so each generated function finds its fields' hooks."""
    conv = Converter(detailed_validation=True)
    conv.register_structure_hook(int, _int if xml else _json_int)
    conv.register_structure_hook(str, text)
    conv.register_structure_hook(datetime, lambda value, _: _dates.aware(value))
    number: Hook = _xml_number if xml else json_number
    conv.register_structure_hook(float, number)

    def optional_factory(kind: object) -> Hook:
        inner = next(arg for arg in get_args(kind) if arg is not type(None))
        return _optional(conv.get_structure_hook(inner))

    conv.register_structure_hook_factory(
        lambda kind: type(None) in get_args(kind) and len(get_args(kind)) == 2,
        optional_factory,
    )

    def tuple_factory(kind: object) -> Hook:
        item = get_args(kind)[0]
        return _tuple_of(conv.get_structure_hook(item), item)

    conv.register_structure_hook_factory(
        lambda kind: getattr(kind, "__origin__", None) is tuple and get_args(kind)[1:] == (...,),
        tuple_factory,
    )

    energy, optional_energy = _energy_hooks(number)
    field_hooks: dict[str, Hook | None] = {"rst": energy, "r": optional_energy}
    field_hooks |= {"s": optional_energy, "t": optional_energy}
    for cls in (InverterEnergy, GridTotals, GridPhase, EnergyMeter, GridMeter, Inverter):
        hooks = field_hooks if cls is EnergyMeter else {}
        renames = {
            name: override(rename=wire, struct_hook=hooks.get(name))
            for name, wire in WIRE_NAMES[cls].items()
        }
        conv.register_structure_hook(cls, make_dict_structure_fn(cls, conv, **renames))  # type: ignore[arg-type]
    for record in (InverterRecord, MeterRecord):
        renames = {name: override(rename=wire) for name, wire in WIRE_NAMES[record].items()}
        generated = make_dict_structure_fn(record, conv, **renames)  # type: ignore[arg-type]
        checked = _timed_record(generated)
        conv.register_structure_hook(record, checked)
    return conv


#: The converters by wire format.
DETAILED: Final = {"json": _build(xml=False), "xml": _build(xml=True)}


def wire_path(exc: BaseException) -> str:
    """Spell where a `DETAILED` error tree points, below ``$``: ``[3].GRID_meter.RST.Eimp``."""
    path = ""
    while isinstance(exc, BaseValidationError):
        inner = exc.exceptions[0]
        for note in getattr(inner, "__notes__", ()):
            if isinstance(note, AttributeValidationNote):
                path += "." + WIRE_NAMES.get(exc.cl, {}).get(note.name, note.name)
            elif isinstance(note, IterableValidationNote):
                path += f"[{note.index}]"
        exc = inner
    if isinstance(exc, DateMismatchError):
        path += ".date"
    return path

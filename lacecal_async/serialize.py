"""Records to JSON-ready data, so a service can return one from a web endpoint as it is.

A cattrs converter of its own (the decoder's converter speaks the wire's Spanish names, this
one the records' English ones), with cattrs' JSON presets: nested dicts keyed by attribute
name, tuples as lists, datetimes as ISO 8601 text with the plant's UTC offset, and None kept,
so every record of a kind has the same keys.
"""

from __future__ import annotations

from typing import Any, Final

from cattrs.preconf.json import make_converter

from lacecal_async.records import Inverter, InverterRecord, MeterRecord

__all__ = ["to_dict"]

_CONVERTER: Final = make_converter()


def to_dict(record: MeterRecord | InverterRecord | Inverter) -> dict[str, Any]:
    """Return the record as plain data that `json.dumps` takes, e.g. for a web response.

    >>> to_dict(record)["start"]
    '2017-06-05T13:00:00+02:00'
    """
    data: dict[str, Any] = _CONVERTER.unstructure(record)
    return data

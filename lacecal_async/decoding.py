"""Sans-I/O decoding of reply bodies into records: bytes in, a tuple of attrs records out.

JSON is read by JSON rules (UTF-8/16/32 detected as ``json.loads`` does), XML by its
declaration and only through defusedxml; both become the same plain shape, which one
cattrs converter turns into records (see `lacecal_async._converter`).

Liberal where the service is unspecified: an empty or whitespace-only body, JSON ``null``
and an XML root without children are zero records; a bare JSON object where a list is
expected is a list of one. Strict about everything else: a body that is not well-formed, or
is well-formed but not this endpoint's document (an HTML maintenance page, another
endpoint's reply), raises `LacecalParseError` naming the endpoint, the failing field
(``$[3].GRID_meter.RST.Eimp``) and the body's first 200 characters, and no other exception
escapes. An energy must be a finite number in ASCII digits (see `lacecal_async._converter`).

Given identifiers to hide, every string taken from the reply hides them: the error's text,
and an inverter list's names, manufacturers, models and serial numbers (a name may echo
the plant's identifier). Meter and inverter pages hold no strings: they cost nothing more.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, ParamSpec, TypeVar
from xml.etree.ElementTree import ParseError
from xml.parsers.expat import ExpatError

import attrs
from cattrs.errors import BaseValidationError
from defusedxml import DefusedXmlException

from lacecal_async import _converter, _json, _json_records, _xml, _xml_plain, _xml_records
from lacecal_async.endpoints import Endpoint, Records, RecordT, WireFormat, endpoint_of
from lacecal_async.errors import LacecalParseError
from lacecal_async.records import Inverter, InverterRecord, MeterRecord
from lacecal_async.redaction import Hider

__all__ = ["decode"]

_PAGES: Final[Mapping[Endpoint, Any]] = {
    Endpoint.INVERTER_LIST: tuple[Inverter, ...],
    Endpoint.INVERTER: tuple[InverterRecord, ...],
    Endpoint.METER: tuple[MeterRecord, ...],
}
#: What malformed or wrong-shaped data makes the parsers and hooks raise (UnicodeDecodeError
#: and JSONDecodeError are ValueErrors; OverflowError an ArithmeticError).
_DATA_ERRORS: Final = (ValueError, TypeError, LookupError, ArithmeticError, RecursionError)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _unchained(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Given identifiers to hide, raise `LacecalParseError` with no cause or context.

    The parsers' own errors quote the offending value whole, and a traceback prints them.
    """

    @functools.wraps(function)
    def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return function(*args, **kwargs)
        except LacecalParseError as exc:
            if not kwargs.get("hide"):
                raise
            error = exc
        error.__cause__ = error.__context__ = None
        raise error  # outside the handler: nothing is chained again

    return call


@_unchained
def decode(
    endpoint: Records[RecordT] | Endpoint | str,
    body: bytes,
    wire_format: WireFormat | str = "json",
    *,
    hide: Iterable[str] | Hider = (),
) -> tuple[RecordT, ...]:
    """Decode a reply body of `endpoint` (`METER`, `INVERTER`, `INVERTER_LIST`, or a name).

    Returns a tuple of `MeterRecord`, `InverterRecord` or `Inverter`. Raises ValueError for
    an unknown endpoint or wire format (a programming error), `LacecalParseError` for a body
    that is not the endpoint's reply. The identifiers in `hide` (a `Hider`, or identifiers)
    are hidden in its message and in an inverter list's strings (``...WXYZ``).
    """
    name = endpoint_of(endpoint)
    wire_format = WireFormat(wire_format)
    if not isinstance(hide, Hider):
        hide = tuple(hide)
    records = _records(name, body, wire_format, hide)
    if name is Endpoint.INVERTER_LIST and records and hide:
        records = _hidden(records, Hider.of(hide))
    return records


def _records(
    endpoint: Endpoint, body: bytes, wire_format: WireFormat, hide: tuple[str, ...] | Hider
) -> tuple[Any, ...]:
    if not body or body.isspace():
        return ()
    if wire_format is WireFormat.JSON:
        plain = _load_json(endpoint, body, hide)
        try:
            if type(plain) is list:
                return _json_records.PAGES[endpoint](plain)
        except (*_DATA_ERRORS, AttributeError):
            pass  # DETAILED below fails too and names the field, or takes a liberal shape
    else:
        plain = _plain_xml(endpoint, body)
        try:
            if plain is not None and endpoint in _xml_records.PAGES:
                return _xml_records.PAGES[endpoint](plain)
        except (*_DATA_ERRORS, AttributeError):
            plain = None  # as for JSON, and the element tree names a misplaced element
        if plain is None:
            plain = _load_xml(endpoint, body, hide)
    page = _PAGES[endpoint]
    try:
        return _converter.DETAILED[wire_format.value].structure(plain, page)
    except (BaseValidationError, *_DATA_ERRORS) as exc:
        leaf = _leaf(exc)
        reason = f"missing field {leaf}" if isinstance(leaf, KeyError) else str(leaf)
        path = "$" + _converter.wire_path(exc)
        raise _error(reason, endpoint, body, wire_format, hide, path=path) from exc


def _hidden(inverters: tuple[Inverter, ...], hider: Hider) -> tuple[Inverter, ...]:
    """Return `inverters` with every identifier hidden in their strings (rare: a list is)."""
    out = []
    for served in inverters:
        texts = (served.name, served.manufacturer, served.model, served.serial_number or "")
        name, manufacturer, model, serial = hider.fields(texts)
        if (name, manufacturer, model, serial) == texts:
            out.append(served)
            continue
        out.append(
            attrs.evolve(
                served,
                name=name,
                manufacturer=manufacturer,
                model=model,
                serial_number=None if served.serial_number is None else serial,
            )
        )
    return tuple(out)


def _error(
    reason: str,
    endpoint: Endpoint,
    body: bytes,
    wire_format: WireFormat,
    hide: tuple[str, ...] | Hider,
    *,
    path: str | None = None,
) -> LacecalParseError:
    return LacecalParseError(
        reason, endpoint=endpoint, body=body, path=path, wire_format=wire_format.value, hide=hide
    )


def _load_json(endpoint: Endpoint, body: bytes, hide: tuple[str, ...] | Hider) -> object:
    try:
        return _json.loads(body)
    except _DATA_ERRORS as exc:
        raise _error(f"not valid JSON: {exc}", endpoint, body, WireFormat.JSON, hide) from exc


def _plain_xml(endpoint: Endpoint, body: bytes) -> list[Any] | None:
    """XML's valid path (`_xml_plain`), or None: the element-tree path then decides."""
    try:
        return _xml_plain.parse_plain(body, endpoint)
    except (_xml_plain.NotPlainError, ExpatError, DefusedXmlException, *_DATA_ERRORS):
        return None  # `_load_xml` refuses it, explains it, or reads it


def _load_xml(endpoint: Endpoint, body: bytes, hide: tuple[str, ...] | Hider) -> list[object]:
    xml = WireFormat.XML
    try:
        root = _xml.parse(body)
    except DefusedXmlException as exc:
        raise _error(
            f"refused XML with a DTD or entities: {exc!r}", endpoint, body, xml, hide
        ) from exc
    except (ParseError, *_DATA_ERRORS) as exc:  # LookupError: an encoding expat lacks
        raise _error(f"not valid XML: {exc}", endpoint, body, xml, hide) from exc
    try:
        return _xml.to_plain(root, endpoint)
    except _xml.XmlShapeError as exc:
        path = _xml.element_path(root, exc.element)
        raise _error(str(exc), endpoint, body, xml, hide, path=path) from exc


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc

"""Properties of `decode`: any records survive the wire both ways; any bad body is a parse error.

The encoder in `lacecal_async.testing.wire` writes what the service writes, so a record
that does not come back equal is a decoder bug (or an encoder one).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lacecal_async import (
    Inverter,
    InverterRecord,
    LacecalParseError,
    MeterRecord,
    decode,
)
from lacecal_async.testing import wire
from tests.support.records import (
    ENDPOINTS,
    FORMATS,
    RECORDS,
    inverter_records,
    meter_records,
    stdlib_json,
)
from tests.support.samples import SAMPLES

QUICK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decode_or_parse_error(endpoint: str, body: bytes, wire_format: str) -> tuple[Any, ...] | None:
    """Decode, with orjson and without; None for a LacecalParseError. Anything else fails."""
    try:
        result = decode(endpoint, body, wire_format)
    except LacecalParseError as exc:
        endpoint_named = exc.endpoint
        result = None
        assert endpoint_named == endpoint
    if wire_format == "json":
        with stdlib_json():
            try:
                stdlib = decode(endpoint, body, wire_format)
            except LacecalParseError:
                stdlib = None
        assert (stdlib is None) == (result is None)
    return result


@pytest.mark.slow
@settings(QUICK, max_examples=200)
@given(data=st.data(), endpoint=ENDPOINTS, fmt=FORMATS)
def test_any_records_survive_the_wire(data: st.DataObject, endpoint: str, fmt: Any) -> None:
    wire_format, encoding = fmt
    records = data.draw(st.lists(RECORDS[endpoint], max_size=4))
    body = wire.encode(endpoint, records, wire_format, encoding=encoding)
    decoded = decode(endpoint, body, wire_format)
    assert decoded == tuple(records)
    for got, want in zip(decoded, records, strict=True):
        if not isinstance(want, Inverter):
            # == on aware datetimes compares instants only: check the offset too
            assert got.start.utcoffset() == want.start.utcoffset()
            assert got.start.timestamp() == got.unix_time
    if wire_format == "json":
        with stdlib_json():
            assert decode(endpoint, body, wire_format) == tuple(records)


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.iterdir()))
def test_every_truncation_of_a_sample_is_a_parse_error(sample: str) -> None:
    endpoint, wire_format = sample.split(".")
    body = (SAMPLES / sample).read_bytes()
    for end in range(1, len(body)):
        prefix = body[:end]
        if prefix.isspace() or body[end:].isspace():
            continue  # blank is zero records; the whole body without its newline is valid
        if wire_format == "json" and end % 7:
            continue  # the stdlib pass below is slow: every 7th prefix is plenty there
        assert decode_or_parse_error(endpoint, prefix, wire_format) is None, prefix


@settings(max_examples=150, deadline=None)
@given(endpoint=ENDPOINTS, wire_format=st.sampled_from(["json", "xml"]), body=st.binary())
def test_garbage_is_a_parse_error_or_nothing(endpoint: str, wire_format: str, body: bytes) -> None:
    result = decode_or_parse_error(endpoint, body, wire_format)
    assert result is None or result == ()


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a plain shape: dict keys and list indices."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*prefix, key)
            yield from _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield (*prefix, index)
            yield from _paths(inner, (*prefix, index))


def _parent(shape: Any, path: Sequence[Any]) -> Any:
    for step in path[:-1]:
        shape = shape[step]
    return shape


WRONG = st.sampled_from(["x", "", [], {}, [[1.5]], True, None, 1.5, {"E": 1}])


@QUICK
@given(data=st.data(), endpoint=ENDPOINTS)
def test_mutated_shapes_decode_or_raise_parse_error(data: st.DataObject, endpoint: str) -> None:
    records = data.draw(st.lists(RECORDS[endpoint], min_size=1, max_size=3))
    shape = [wire.to_wire(record) for record in records]
    path = data.draw(st.sampled_from(list(_paths(shape))))
    parent = _parent(shape, path)
    if data.draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(WRONG)
    # decode_or_parse_error fails the test on any other exception, or if the parsers disagree
    decode_or_parse_error(endpoint, json.dumps(shape).encode(), "json")
    try:
        xml = wire.encode_plain(endpoint, shape, "xml")
    except KeyError:  # the encoder writes lists only where the wire has them
        return
    decode_or_parse_error(endpoint, xml, "xml")


REQUIRED = {
    "inverter_list": ["id", "nombre", "fabricante", "modelo"],
    "inverter": ["unix_time", "date", "interval", "Esum", "Inverters"],
    "meter": ["unix_time", "date", "interval"],
}


@QUICK
@given(data=st.data(), endpoint=ENDPOINTS, wire_format=st.sampled_from(["json", "xml"]))
def test_a_missing_required_key_names_its_path(
    data: st.DataObject, endpoint: str, wire_format: str
) -> None:
    records = data.draw(st.lists(RECORDS[endpoint], min_size=1, max_size=3))
    shape = [wire.to_wire(record) for record in records]
    index = data.draw(st.integers(0, len(shape) - 1))
    key = data.draw(st.sampled_from(REQUIRED[endpoint]))
    del shape[index][key]
    body = wire.encode_plain(endpoint, shape, wire_format)
    with pytest.raises(LacecalParseError) as caught:
        decode(endpoint, body, wire_format)
    assert caught.value.path == f"$[{index}].{key}"
    assert f"at $[{index}].{key}" in str(caught.value)


NUMBER_PATHS = {
    "inverter": [("Esum",), ("interval",), ("unix_time",)],
    "meter": [("interval",), ("unix_time",)],
    "inverter_list": [("id",)],
}


@QUICK
@given(
    data=st.data(),
    endpoint=ENDPOINTS,
    bad=st.sampled_from(["x", "1.5", [], {}, True, None, "nan"]),
)
def test_a_wrong_number_names_its_path(data: st.DataObject, endpoint: str, bad: Any) -> None:
    records = data.draw(st.lists(RECORDS[endpoint], min_size=1, max_size=3))
    shape = [wire.to_wire(record) for record in records]
    index = data.draw(st.integers(0, len(shape) - 1))
    (key,) = data.draw(st.sampled_from(NUMBER_PATHS[endpoint]))
    if bad in ("1.5", "nan") and key == "Esum":
        bad = "x"  # numeric text is a fine float
    shape[index][key] = bad
    with pytest.raises(LacecalParseError) as caught:
        decode(endpoint, json.dumps(shape).encode(), "json")
    assert caught.value.path == f"$[{index}].{key}"


@QUICK
@given(record=meter_records(), wire_format=st.sampled_from(["json", "xml"]))
def test_a_wrong_energy_deep_in_a_meter_names_its_path(
    record: MeterRecord, wire_format: str
) -> None:
    assume(record.grid is not None)
    shape = [wire.to_wire(record)]
    shape[0]["GRID_meter"]["RST"]["Eimp"] = "kWh"
    with pytest.raises(LacecalParseError) as caught:
        decode("meter", wire.encode_plain("meter", shape, wire_format), wire_format)
    assert caught.value.path == "$[0].GRID_meter.RST.Eimp"


@QUICK
@given(record=inverter_records())
def test_a_date_that_is_not_unix_time_is_a_parse_error(record: InverterRecord) -> None:
    shape = [wire.to_wire(record)]
    shape[0]["unix_time"] += 3600  # the same text an hour later: a plant offset gone wrong
    for wire_format in ("json", "xml"):
        with pytest.raises(LacecalParseError, match="unix_time") as caught:
            decode("inverter", wire.encode_plain("inverter", shape, wire_format), wire_format)
        assert caught.value.path == "$[0].date"

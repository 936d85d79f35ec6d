"""The valid paths take exactly what the reference decoder takes, and give the same records.

`decode` reads a page through hand-written constructors (`_json_records`, and for XML
`_xml_plain` + `_xml_records`) and falls back to the reference on anything they refuse: the
element tree (XML) and cattrs with detailed validation (`_converter.DETAILED`), which names
a failing field. A valid path that accepted what the reference refuses, or read a value
differently, would be a silent hole in the hostile-input rules: these tests mutate valid
pages (leaves replaced by hostile values, elements repeated, renamed or dropped, comments
and character references slipped in) and compare the two, records and offsets included.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lacecal_async import (
    InverterRecord,
    LacecalParseError,
    MeterRecord,
    _converter,
    _xml,
    decode,
)
from lacecal_async import _json as json_module
from lacecal_async.endpoints import Endpoint
from lacecal_async.testing import wire
from tests.support.records import RECORDS, stdlib_json
from tests.support.samples import INVERTER_RECORDS, METER_RECORDS

MANY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PAGE_TYPES: dict[str, Any] = {
    "inverter": tuple[InverterRecord, ...],
    "meter": tuple[MeterRecord, ...],
}
#: The spec's example records: a three-phase plant with every meter, and two inverters.
SAMPLE: dict[str, Any] = {"inverter": INVERTER_RECORDS, "meter": METER_RECORDS}
# Leaf texts around the edges of what float() and int() take.
XML_TEXTS = (
    [
        "1_0", "nan", "-inf", "Infinity", "1e999", "-1e400", " 7 ", "+7", "-0", "7.0", "1.5",
        ".5", "5.", "1e5", "0x10", "\u0661\u0662", "7\u00a0", "", " ", "1.5e", "--1",
        "9" * 30, "-" + "9" * 30, "2017-06-05 13:00:00 +0200", "&#95;", "1&#95;0", "&#49;",
        "<![CDATA[1.5]]>", "1<!--c-->2", "<?pi x?>3", "<x>1</x>", "<E>1</E><E>2</E>",
    ]
)  # fmt: skip
XML_LEAVES = st.sampled_from(XML_TEXTS)
JSON_TEXTS = (
    [
        "1", "-1", "1.5", "1e400", "-1e400", "1" * 30, "-" + "1" * 30, "9223372036854775807",
        "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "true", "false",
        "null", '"1.5"', '"7"', "[]", "{}", "[1.5]", '{"E":1.5}', "0.0", "-0.0", "1E2",
        '"2017-06-05 13:00"',
    ]
)  # fmt: skip
JSON_LEAVES = st.sampled_from(JSON_TEXTS)
_XML_LEAF = re.compile(rb"<([A-Za-z_]+)>([^<]*)</\1>")
_XML_ELEMENT = re.compile(rb"<([A-Za-z_]+)>.*?</\1>", re.DOTALL)
_JSON_LEAF = re.compile(rb'(?<=:)(-?[0-9.eE+]+|"[^"]*"|null|true|false)')


def reference(endpoint: str, body: bytes, wire_format: str) -> str | None:
    """The records as the reference decoder reads them (repr: offsets too), None if refused."""
    try:
        if wire_format == "json":
            plain: Any = json_module.loads_stdlib(body)
        else:
            plain = _xml.to_plain(_xml.parse(body), Endpoint(endpoint))
        records = _converter.DETAILED[wire_format].structure(plain, PAGE_TYPES[endpoint])
    except Exception:
        return None
    return repr(records)


def decoded(endpoint: str, body: bytes, wire_format: str) -> str | None:
    try:
        return repr(decode(endpoint, body, wire_format))
    except LacecalParseError:
        return None


def _one_page(endpoint: str, wire_format: str) -> bytes:
    """The spec's example page of `endpoint`."""
    return wire.encode(endpoint, SAMPLE[endpoint], wire_format)


@pytest.mark.parametrize("text", XML_TEXTS)
def test_every_xml_leaf_takes_a_hostile_text_as_the_reference_does(text: str) -> None:
    for endpoint in PAGE_TYPES:
        body = _one_page(endpoint, "xml")
        for leaf in list(_XML_LEAF.finditer(body))[:40]:
            mutated = body[: leaf.start(2)] + text.encode() + body[leaf.end(2) :]
            assert decoded(endpoint, mutated, "xml") == reference(endpoint, mutated, "xml"), leaf


@pytest.mark.parametrize("text", JSON_TEXTS)
def test_every_json_leaf_takes_a_hostile_value_as_the_reference_does(text: str) -> None:
    for endpoint in PAGE_TYPES:
        body = _one_page(endpoint, "json")
        for leaf in list(_JSON_LEAF.finditer(body))[:40]:
            mutated = body[: leaf.start()] + text.encode() + body[leaf.end() :]
            want = reference(endpoint, mutated, "json")
            assert decoded(endpoint, mutated, "json") == want, leaf
            with stdlib_json():
                assert decoded(endpoint, mutated, "json") == want, leaf


def _page(data: st.DataObject, endpoint: str, wire_format: str) -> bytes:
    records = data.draw(st.lists(RECORDS[endpoint], min_size=1, max_size=3))
    return wire.encode(endpoint, records, wire_format)


def _mutate_xml(data: st.DataObject, body: bytes) -> bytes:
    """Replace, repeat, rename or drop one element, or slip a comment between two."""
    how = data.draw(st.sampled_from(["leaf", "leaf", "repeat", "rename", "drop", "comment"]))
    leaves = list(_XML_LEAF.finditer(body))
    opened = (m.start() for m in re.finditer(rb"<[A-Za-z]", body))
    elements = [m for start in opened if (m := _XML_ELEMENT.match(body, start))]
    if not leaves or not elements:
        return body  # a record already dropped
    if how == "leaf":
        leaf = data.draw(st.sampled_from(leaves))
        text = data.draw(XML_LEAVES).encode()
        return body[: leaf.start(2)] + text + body[leaf.end(2) :]
    if how == "comment":
        cut = data.draw(st.sampled_from([m.start() for m in re.finditer(rb"<[A-Za-z]", body)]))
        return body[:cut] + b"<!--x-->" + body[cut:]
    element = data.draw(st.sampled_from(elements))
    start, end, tag = element.start(), element.end(), element.group(1)
    if how == "repeat":
        return body[:end] + body[start:end] + body[end:]
    if how == "rename":
        renamed = body[start:end].replace(b"<" + tag + b">", b"<Other>", 1)
        renamed = renamed[: -len(tag) - 3] + b"</Other>"
        return body[:start] + renamed + body[end:]
    return body[:start] + body[end:]


@pytest.mark.slow
@MANY
@given(data=st.data(), endpoint=st.sampled_from(sorted(PAGE_TYPES)))
def test_xml_valid_path_agrees_with_the_reference(data: st.DataObject, endpoint: str) -> None:
    body = _page(data, endpoint, "xml")
    for _ in range(data.draw(st.integers(1, 2))):
        body = _mutate_xml(data, body)
    assert decoded(endpoint, body, "xml") == reference(endpoint, body, "xml")


@pytest.mark.slow
@MANY
@given(data=st.data(), endpoint=st.sampled_from(sorted(PAGE_TYPES)), orjson=st.booleans())
def test_json_valid_path_agrees_with_the_reference(
    data: st.DataObject, endpoint: str, orjson: bool
) -> None:
    body = _page(data, endpoint, "json")
    leaf = data.draw(st.sampled_from(list(_JSON_LEAF.finditer(body))))
    body = body[: leaf.start()] + data.draw(JSON_LEAVES).encode() + body[leaf.end() :]
    if orjson:
        got = decoded(endpoint, body, "json")
    else:
        with stdlib_json():
            got = decoded(endpoint, body, "json")
    assert got == reference(endpoint, body, "json")


@pytest.mark.slow
@MANY
@given(data=st.data(), endpoint=st.sampled_from(sorted(PAGE_TYPES)))
def test_valid_pages_decode_as_the_reference_reads_them(data: st.DataObject, endpoint: str) -> None:
    """Unmutated pages: both paths give the same records (not both refuse)."""
    for wire_format in ("json", "xml"):
        body = _page(data, endpoint, wire_format)
        got = decoded(endpoint, body, wire_format)
        assert got is not None
        assert got == reference(endpoint, body, wire_format)


XML_EDITS = [
    (b"<MetersRecords>", b"<Other>", b"</MetersRecords>", b"</Other>"),
    (b"<InvertersRecords>", b"<Other>", b"</InvertersRecords>", b"</Other>"),
    (b"<MetersRecord>", b"<Other>", b"</MetersRecord>", b"</Other>"),
    (b"<InvertersRecord>", b"<Other>", b"</InvertersRecord>", b"</Other>"),
    (b"<Inverter>", b"<Other>", b"</Inverter>", b"</Other>"),
    (b"<Esum>", b"<Esum>1</Esum><Esum>", b"", b""),
    (b"<RST>", b"<RST><E>1</E></RST><RST>", b"", b""),
    (b"<unix_time>", b"<!--x--><unix_time>", b"", b""),
    (b"<Inverters>", b"<Inverters/><Other>", b"</Inverters>", b"</Other>"),
    (b"<Inverters>", b"<Inverters> </Inverters><Other>", b"</Inverters>", b"</Other>"),
    (b"<interval>", b"<?pi x?><interval>", b"", b""),
    (b"<GRID_meter>", b"<GRID_meter/><Other>", b"</GRID_meter>", b"</Other>"),
    (b"<LOAD_meter>", b"<LOAD_meter> </LOAD_meter><Other>", b"</LOAD_meter>", b"</Other>"),
]


@pytest.mark.parametrize("edit", XML_EDITS)
def test_misplaced_xml_elements_are_read_as_the_reference_does(edit: tuple[bytes, ...]) -> None:
    """A wrong root or item, a repeated tag, a comment, an empty list or meter."""
    old_start, new_start, old_end, new_end = edit
    for endpoint in PAGE_TYPES:
        body = _one_page(endpoint, "xml").replace(old_start, new_start, 1)
        body = body.replace(old_end, new_end, 1) if old_end else body
        assert decoded(endpoint, body, "xml") == reference(endpoint, body, "xml")


@pytest.mark.parametrize("endpoint", sorted(PAGE_TYPES))
def test_elements_nested_deep_inside_an_ignored_one_are_read_by_both(endpoint: str) -> None:
    """Deeper than the recursion limit: the reference once refused what the valid path read."""
    deep = b"<x>" * 1200 + b"</x>" * 1200
    item = b"<MetersRecord>" if endpoint == "meter" else b"<Inverter>"
    body = _one_page(endpoint, "xml").replace(item, item + deep, 1)
    got = decoded(endpoint, body, "xml")
    assert got is not None
    assert got == reference(endpoint, body, "xml")
    assert got == repr(SAMPLE[endpoint])

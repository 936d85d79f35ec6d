"""Named cases of `decode`: plants without some meters, the liberal rules, hostile XML, messages."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from lacecal_async import (
    Endpoint,
    EnergyMeter,
    GridMeter,
    GridTotals,
    Inverter,
    InverterEnergy,
    InverterRecord,
    LacecalParseError,
    MeterRecord,
    WireFormat,
    decode,
)
from lacecal_async import _json as json_module
from lacecal_async._xml import XML_TAGS
from lacecal_async.testing import wire
from tests.support.samples import SAMPLES

CET = timezone(timedelta(hours=1))
START = datetime(2024, 1, 15, 10, 0, tzinfo=CET)
UNIX = int(START.timestamp())
BOTH = pytest.mark.parametrize("wire_format", ["json", "xml"])


def meter(**kwargs: object) -> MeterRecord:
    fields: dict[str, object] = {"grid": GridMeter(GridTotals(1.5, 2.0, 3.0, 4.0, 0.0, 0.0))}
    fields.update(kwargs)
    return MeterRecord(UNIX, START, 600, **fields)  # type: ignore[arg-type]


def parse_error(endpoint: str, body: bytes, wire_format: str = "json") -> LacecalParseError:
    with pytest.raises(LacecalParseError) as caught:
        decode(endpoint, body, wire_format)
    return caught.value


@BOTH
def test_single_phase_plant_without_load_or_renewable_meters(wire_format: str) -> None:
    record = meter(load=EnergyMeter(3.25))
    body = wire.encode("meter", [record], wire_format)
    assert b"LOAD_meter" in body
    assert b"RENO_meter" not in body
    assert b'"R"' not in body
    assert b"<R>" not in body
    (decoded,) = decode("meter", body, wire_format)
    assert decoded == record
    assert decoded.grid is not None
    assert (decoded.grid.r, decoded.grid.s, decoded.grid.t) == (None, None, None)
    assert decoded.load == EnergyMeter(3.25, None, None, None)
    assert decoded.renewable is None


@BOTH
def test_a_missing_grid_meter_is_none(wire_format: str) -> None:
    body = wire.encode("meter", [meter(grid=None)], wire_format)
    assert b"GRID_meter" not in body
    (decoded,) = decode("meter", body, wire_format)
    assert decoded.grid is None


def test_json_null_blocks_are_none() -> None:
    shape = [wire.to_wire(meter())]
    shape[0] |= {"LOAD_meter": None, "RENO_meter": None}
    shape[0]["GRID_meter"] |= {"R": None}
    (decoded,) = decode("meter", json.dumps(shape).encode())
    assert decoded == meter()


def test_one_element_xml_lists_are_tuples_of_one() -> None:
    record = InverterRecord(UNIX, START, 600, 2.5, (InverterEnergy(6, 2.5),))
    body = wire.encode("inverter", [record], "xml")
    assert decode("inverter", body, "xml") == (record,)
    one = Inverter(1, "a", "b", "c")
    assert decode("inverter_list", wire.encode("inverter_list", [one], "xml"), "xml") == (one,)


@BOTH
def test_empty_lists_are_empty_tuples(wire_format: str) -> None:
    record = InverterRecord(UNIX, START, 600, 0.0, ())
    body = wire.encode("inverter", [record], wire_format)
    (decoded,) = decode("inverter", body, wire_format)
    assert decoded.inverters == ()
    for endpoint in Endpoint:
        assert decode(endpoint, wire.encode(endpoint, [], wire_format), wire_format) == ()


def test_a_pretty_printed_empty_xml_list_is_empty() -> None:
    body = wire.encode("inverter", [InverterRecord(UNIX, START, 600, 0.0, ())], "xml")
    body = body.replace(b"<Inverters></Inverters>", b"<Inverters>\n  </Inverters>")
    assert decode("inverter", body, "xml")[0].inverters == ()


@pytest.mark.parametrize(
    ("body", "wire_format"),
    [
        (b"", "json"),
        (b" \r\n\t", "json"),
        (b"null", "json"),
        (b"  \n", "xml"),
        (b"<MetersRecords/>", "xml"),
        (b'<?xml version="1.0"?>\n<MetersRecords>\n</MetersRecords>\n', "xml"),
        (b"[]", "json"),
    ],
)
def test_liberal_bodies_are_zero_records(body: bytes, wire_format: str) -> None:
    assert decode("meter", body, wire_format) == ()


def test_a_bare_object_is_a_list_of_one() -> None:
    record = meter()
    body = json.dumps(wire.to_wire(record)).encode()
    assert decode("meter", body) == (record,)
    inverter = {"unix_time": UNIX, "date": wire.format_date(START), "interval": 600}
    inverter |= {"Esum": 1, "Inverters": {"id": 3, "E": 1}}
    assert decode("inverter", json.dumps(inverter).encode())[0].inverters == (
        InverterEnergy(3, 1.0),
    )


def test_iso_8859_1_declared_xml_decodes_by_its_declaration() -> None:
    body = wire.encode(
        "inverter_list", [Inverter(6, "Año", "Ñoño", "€ X")], "xml", encoding="ISO-8859-1"
    )
    assert "Año".encode("latin-1") in body  # one byte, 0xF1: not UTF-8
    assert decode("inverter_list", body, "xml") == (Inverter(6, "Año", "Ñoño", "€ X"),)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32-be"])
def test_json_encoding_is_detected_by_json_rules(
    encoding: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = json.dumps(
        [{"id": 6, "nombre": "Año", "fabricante": "S", "modelo": "M"}], ensure_ascii=False
    )
    body = text.encode(encoding)
    expected = (Inverter(6, "Año", "S", "M"),)
    assert decode("inverter_list", body) == expected
    monkeypatch.setattr(json_module, "fast_loads", None)
    assert decode("inverter_list", body) == expected


def test_an_empty_xml_element_is_empty_text_or_no_serial() -> None:
    body = b"<Inverters><Inverter><id>6</id><nombre/><fabricante>S</fabricante>"
    body += b"<modelo>M</modelo><nserie></nserie></Inverter></Inverters>"
    assert decode("inverter_list", body, "xml") == (Inverter(6, "", "S", "M", None),)


def test_maintenance_html_page_is_a_parse_error_not_empty() -> None:
    page = (
        b"<html><head><title>Mantenimiento</title></head><body><p>Volvemos pronto</p></body></html>"
    )
    error = parse_error("meter", page, "xml")
    assert error.path == "$"
    assert "<MetersRecords>" in error.reason
    assert "<html>" in error.reason
    assert "not valid JSON" in parse_error("meter", page, "json").reason


@pytest.mark.parametrize("endpoint", ["inverter", "meter"])
def test_another_endpoints_json_is_a_parse_error(endpoint: str) -> None:
    body = (SAMPLES / "inverter_list.json").read_bytes()
    error = parse_error(endpoint, body)
    assert error.endpoint == endpoint
    assert error.path == "$[0].unix_time"


@pytest.mark.parametrize("sample", ["inverter_list", "inverter"])
def test_another_endpoints_xml_root_is_a_parse_error(sample: str) -> None:
    error = parse_error("meter", (SAMPLES / f"{sample}.xml").read_bytes(), "xml")
    assert error.path == "$"
    assert "expected root <MetersRecords>" in error.reason


@pytest.mark.parametrize(
    ("endpoint", "body", "path"),
    [
        ("meter", b'"text"', "$"),
        ("meter", b"42", "$"),
        ("meter", b"[1]", "$[0]"),
        ("meter", b"[[{}]]", "$[0]"),
        ("inverter_list", b'[{"id":true,"nombre":"a","fabricante":"b","modelo":"c"}]', "$[0].id"),
        ("inverter_list", b'[{"id":6,"nombre":5,"fabricante":"b","modelo":"c"}]', "$[0].nombre"),
        ("inverter_list", b'[{"id":6.0,"nombre":"a","fabricante":"b","modelo":"c"}]', "$[0].id"),
        ("inverter", b'[{"unix_time":1,"date":"2017-06-05 13:00:00","interval":1}]', "$[0].date"),
        ("inverter", b'[{"unix_time":1,"date":7,"interval":1}]', "$[0].date"),
        (
            "inverter",
            b'[{"unix_time":1,"date":"x","interval":1,"Esum":1,"Inverters":"x"}]',
            "$[0].date",
        ),
    ],
)
def test_wrong_shapes_name_their_path(endpoint: str, body: bytes, path: str) -> None:
    assert parse_error(endpoint, body).path == path


def test_a_unix_time_out_of_range_is_a_parse_error(monkeypatch: pytest.MonkeyPatch) -> None:
    body = b'[{"unix_time":10000000000000000000000,"date":"2017-06-05 13:00:00 +0200",'
    body += b'"interval":1,"Esum":1,"Inverters":[]}]'
    # orjson reads so large an integer as a float, the stdlib as an int: both are refused
    assert parse_error("inverter", body).path == "$[0].unix_time"
    monkeypatch.setattr(json_module, "fast_loads", None)
    assert parse_error("inverter", body).path == "$[0].unix_time"


def test_a_json_bool_is_no_number_even_inside_names() -> None:
    shape = [wire.to_wire(meter())]
    shape[0]["GRID_meter"]["RST"]["Q3"] = False
    error = parse_error("meter", json.dumps(shape).encode())
    assert error.path == "$[0].GRID_meter.RST.Q3"
    assert "bool" in error.reason
    named = Inverter(1, "truest", "false", "m")  # bool-looking text takes the careful path
    assert decode("inverter_list", wire.encode("inverter_list", [named])) == (named,)


def test_a_record_with_a_bad_item_deep_in_a_list_names_the_index() -> None:
    record = InverterRecord(UNIX, START, 600, 2.0, (InverterEnergy(1, 1.0), InverterEnergy(2, 1.0)))
    shape = [wire.to_wire(record), wire.to_wire(record)]
    del shape[1]["Inverters"][1]["E"]
    for wire_format in ("json", "xml"):
        error = parse_error(
            "inverter", wire.encode_plain("inverter", shape, wire_format), wire_format
        )
        assert error.path == "$[1].Inverters[1].E"
        assert error.reason == "missing field 'E'"


def test_an_energy_meter_block_without_e_names_the_block() -> None:
    shape = [wire.to_wire(meter(load=EnergyMeter(1.0, 2.0)))]
    shape[0]["LOAD_meter"]["R"] = {"X": 1}
    assert parse_error("meter", json.dumps(shape).encode()).path == "$[0].LOAD_meter.R"


@pytest.mark.parametrize(
    ("body", "path", "reason"),
    [
        (
            b"<MetersRecords><Other/></MetersRecords>",
            "$[0]",
            "expected <MetersRecord>, got <Other>",
        ),
        (
            b"<MetersRecords><MetersRecord/><MetersRecord><unix_time>1</unix_time>"
            b"<GRID_meter><RST/><RST/></GRID_meter></MetersRecord></MetersRecords>",
            "$[1].GRID_meter.RST",
            "<RST> appears more than once",
        ),
        (
            b"<InvertersRecords><InvertersRecord><Inverters><Inverter/><Bad/></Inverters>"
            b"</InvertersRecord></InvertersRecords>",
            "$[0].Inverters[1]",
            "expected <Inverter>, got <Bad>",
        ),
    ],
)
def test_xml_of_the_wrong_shape_names_the_element(body: bytes, path: str, reason: str) -> None:
    endpoint = "inverter" if b"Inverters" in body else "meter"
    error = parse_error(endpoint, body, "xml")
    assert (error.path, error.reason) == (path, reason)


def test_xml_numbers_must_be_numbers() -> None:
    body = (SAMPLES / "inverter.xml").read_bytes()
    error = parse_error("inverter", body.replace(b"<id>7</id>", b"<id>1.5</id>", 1), "xml")
    assert error.path == "$[0].Inverters[1].id"
    assert "'1.5'" in error.reason
    error = parse_error("inverter", body.replace(b"<id>7</id>", b"<id>\xd9\xa1</id>", 1), "xml")
    assert error.path == "$[0].Inverters[1].id"
    assert (
        decode("inverter", body.replace(b"<id>7</id>", b"<id> 7 </id>", 1), "xml")[0]
        .inverters[1]
        .id
        == 7
    )


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<MetersRecords>&lol3;</MetersRecords>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Inverters><Inverter><id>1</id><nombre>&xxe;</nombre></Inverter></Inverters>"""
EXTERNAL_DTD = b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/x.dtd"><Inverters/>'
PARAMETER_ENTITY = b'<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p">%p;]><Inverters/>'
BARE_DOCTYPE = b"<!DOCTYPE Inverters><Inverters/>"


@pytest.mark.parametrize(
    "body", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD, PARAMETER_ENTITY, BARE_DOCTYPE]
)
def test_hostile_xml_is_refused_never_expanded(body: bytes) -> None:
    error = parse_error("inverter_list", body, "xml")
    assert error.reason.startswith("refused XML with a DTD or entities")
    assert "lollol" not in str(error)
    assert "root:" not in str(error)


def test_an_undefined_entity_is_a_parse_error() -> None:
    assert (
        "not valid XML" in parse_error("meter", b"<MetersRecords>&x;</MetersRecords>", "xml").reason
    )


@pytest.mark.parametrize(
    ("body", "wire_format"),
    [
        (b"[" * 50_000, "json"),
        (b"[" * 50_000 + b"]" * 50_000, "json"),
        (
            b"<MetersRecords><MetersRecord>"
            + b"<a>" * 50_000
            + b"</a>" * 50_000
            + b"</MetersRecord></MetersRecords>",
            "xml",
        ),
        (b'[{"unix_time":1e400}]', "json"),
        (b"[NaN]", "json"),
        (b"\xff\xfe\x00garbage", "json"),
        (b"<a>\xff</a>", "xml"),
        (b'<?xml version="1.0" encoding="x-unknown"?><a/>', "xml"),
    ],
)
def test_hostile_and_malformed_bodies_are_parse_errors(
    body: bytes, wire_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    error = parse_error("meter", body, wire_format)
    assert error.endpoint == "meter"
    monkeypatch.setattr(json_module, "fast_loads", None)
    assert parse_error("meter", body, wire_format).reason


def test_the_message_names_endpoint_and_path_and_shows_at_most_200_bytes() -> None:
    records = [meter() for _ in range(5)]
    shape = [wire.to_wire(record) for record in records]
    shape[3]["GRID_meter"]["RST"]["Eimp"] = "oops"
    body = json.dumps(shape).encode()
    assert len(body) > 400
    error = parse_error("meter", body)
    message = str(error)
    assert message.startswith("meter: ")
    assert "$[3].GRID_meter.RST.Eimp" in message
    assert "'oops'" in message
    assert error.excerpt == body[:200].decode()
    assert repr(body[:200].decode()) in message
    assert body[:201].decode() not in message
    assert isinstance(error.__cause__, Exception)


def test_unknown_endpoint_or_format_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="meters"):
        decode("meters", b"[]")
    with pytest.raises(ValueError, match="yaml"):
        decode("meter", b"[]", "yaml")
    with pytest.raises(ValueError, match="JSON"):
        decode("meter", b"[]", "JSON")  # the values are lower case, as the API spells them


def test_enum_members_are_accepted() -> None:
    body = (SAMPLES / "meter.xml").read_bytes()
    assert decode(Endpoint.METER, body, WireFormat.XML) == decode("meter", body, "xml")


def test_xml_tags_agree_with_the_encoder() -> None:
    assert dict(XML_TAGS) == dict(wire.XML_TAGS)


@pytest.mark.parametrize("interval", [0, -600, 86_401])
def test_an_impossible_interval_is_a_parse_error(interval: int) -> None:
    body = (
        b'[{"unix_time":1496660400,"date":"2017-06-05 13:00:00 +0200","interval":%d,'
        b'"Esum":1.5,"Inverters":[]}]' % interval
    )
    with pytest.raises(LacecalParseError, match="interval"):
        decode("inverter", body)


def test_a_bool_in_utf16_json_is_no_number() -> None:
    text = (
        '[{"unix_time":1496660400,"date":"2017-06-05 13:00:00 +0200","interval":600,'
        '"Esum":true,"Inverters":[]}]'
    )
    with pytest.raises(LacecalParseError, match="bool"):
        decode("inverter", text.encode("utf-16"))

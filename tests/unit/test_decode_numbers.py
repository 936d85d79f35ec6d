"""Energies are finite numbers in ASCII digits, in both wire formats, with or without orjson.

``float()`` takes ``"nan"``, ``"inf"``, ``"1_0"`` and Arabic-Indic digits, and the stdlib
JSON parser reads ``1e400`` as infinity; a sum of energies with one NaN in it is NaN. The
spec's examples carry energies as JSON numbers, never as strings.
"""

from __future__ import annotations

import json
import sys

import pytest

from lacecal_async import LacecalParseError, decode
from lacecal_async import _json as json_module
from tests.support import processes

RECORD_HEAD = '{"unix_time":1496660400,"date":"2017-06-05 13:00:00 +0200","interval":600,'
XML_HEAD = (
    "<InvertersRecords><InvertersRecord><unix_time>1496660400</unix_time>"
    "<date>2017-06-05 13:00:00 +0200</date><interval>600</interval>"
)
XML_TAIL = "</InvertersRecord></InvertersRecords>"
METER_HEAD = '[{"unix_time":1496660400,"date":"2017-06-05 13:00:00 +0200","interval":600,'


@pytest.fixture(params=["orjson", "stdlib"])
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with orjson (when installed) and with the stdlib parser."""
    if request.param == "stdlib":
        monkeypatch.setattr(json_module, "fast_loads", None)
    elif json_module.fast_loads is None:  # pragma: no cover - orjson is in the test extra
        pytest.skip("orjson is not installed")
    return str(request.param)


def json_inverter(esum: str, energy: str = "1.5") -> bytes:
    inverters = f'[{{"id":1,"E":{energy}}}]'
    return f'[{RECORD_HEAD}"Esum":{esum},"Inverters":{inverters}}}]'.encode()


def xml_inverter(esum: str, energy: str = "1.5") -> bytes:
    inverters = f"<Inverters><Inverter><id>1</id><E>{energy}</E></Inverter></Inverters>"
    return f"{XML_HEAD}<Esum>{esum}</Esum>{inverters}{XML_TAIL}".encode()


JSON_BAD = [
    '"NaN"',
    '"-Infinity"',
    '"inf"',
    "1e400",
    "-1E+999",
    "1" * 400 + ".5",
    "1" + "0" * 400,  # an integer no float holds
    '"1_0"',
    '"\u0661\u0662"',  # Arabic-Indic 12
    '"3.8"',  # a string where the spec's examples have a number
    "true",
    "null",
]
XML_BAD = [
    "nan",
    "NaN",
    "inf",
    "-Infinity",
    "1e999",
    "1_0",
    "\u0661\u0662",
    "&#x661;&#x662;",  # the same digits as character references
    "0x10",
    "",
    " ",
]


@pytest.mark.parametrize("value", JSON_BAD)
def test_json_energy_that_is_not_a_finite_number_is_refused(value: str, loader: str) -> None:
    with pytest.raises(LacecalParseError) as caught:
        decode("inverter", json_inverter(value))
    assert caught.value.path == "$[0].Esum"
    with pytest.raises(LacecalParseError) as nested:
        decode("inverter", json_inverter("1.5", value))
    assert nested.value.path == "$[0].Inverters[0].E"


@pytest.mark.parametrize("value", XML_BAD)
def test_xml_energy_that_is_not_finite_decimal_text_is_refused(value: str) -> None:
    with pytest.raises(LacecalParseError) as caught:
        decode("inverter", xml_inverter(value), "xml")
    assert caught.value.path == "$[0].Esum"
    with pytest.raises(LacecalParseError) as nested:
        decode("inverter", xml_inverter("1.5", value), "xml")
    assert nested.value.path == "$[0].Inverters[0].E"


@pytest.mark.parametrize("value", ['"NaN"', "1e400", '"1_0"', '"7"'])
def test_meter_energy_blocks_are_checked_too(value: str, loader: str) -> None:
    body = f'{METER_HEAD}"LOAD_meter":{{"RST":{{"E":{value}}}}}}}]'.encode()
    with pytest.raises(LacecalParseError) as caught:
        decode("meter", body)
    assert caught.value.path == "$[0].LOAD_meter.RST"


@pytest.mark.parametrize(
    ("json_value", "xml_value", "expected"),
    [
        ("0", "0", 0.0),
        ("-0.0", "-0.0", -0.0),
        ("7.625", " 7.625 ", 7.625),
        ("1.5e3", "1.5E3", 1500.0),
        ("1e308", "1e308", 1e308),
        ("123456789012345678901234567890", "+.5", None),
    ],
)
def test_finite_numbers_in_ascii_digits_are_read(
    json_value: str, xml_value: str, expected: float | None, loader: str
) -> None:
    (from_json,) = decode("inverter", json_inverter(json_value))
    (from_xml,) = decode("inverter", xml_inverter(xml_value), "xml")
    if expected is not None:
        assert from_json.total_energy == from_xml.total_energy == expected
        assert type(from_json.total_energy) is float
    else:
        assert from_json.total_energy == pytest.approx(1.2345678901234568e29)
        assert from_xml.total_energy == 0.5


@pytest.mark.parametrize("value", ['"6"', "6.0", "true", "9223372036854775808"])
def test_a_json_integer_field_takes_json_integers_only(value: str, loader: str) -> None:
    body = f'[{{"id":{value},"nombre":"A","fabricante":"B","modelo":"C"}}]'.encode()
    with pytest.raises(LacecalParseError) as caught:
        decode("inverter_list", body)
    assert caught.value.path == "$[0].id"


def test_without_orjson_importable_the_same_bodies_decode_the_same() -> None:
    # A fresh interpreter where `import orjson` fails, as without the `fast` extra.
    bodies = [json_inverter(v).decode() for v in ("1e400", '"NaN"', "7.5", "1" * 400 + ".5")]
    script = (
        "import sys, json; sys.modules['orjson'] = None\n"
        "from lacecal_async import decode, LacecalParseError, _json\n"
        "assert _json.fast_loads is None\n"
        "out = []\n"
        "for body in json.loads(sys.argv[1]):\n"
        "    try:\n"
        "        out.append([r.total_energy for r in decode('inverter', body.encode())])\n"
        "    except LacecalParseError as exc:\n"
        "        out.append(exc.path)\n"
        "print(json.dumps(out))\n"
    )
    done = processes.run([sys.executable, "-c", script, json.dumps(bodies)])
    assert done.returncode == 0, done.stderr
    expected: list[object] = []
    for body in bodies:
        try:
            expected.append([r.total_energy for r in decode("inverter", body.encode())])
        except LacecalParseError as exc:
            expected.append(exc.path)
    assert json.loads(done.stdout) == expected == ["$[0].Esum", "$[0].Esum", [7.5], "$[0].Esum"]

"""Records with the same UTC offset share one tzinfo object, in every wire format and path."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lacecal_async import LacecalParseError, decode
from lacecal_async import _json as json_module
from lacecal_async.testing import wire


def _inverter(unix_time: int, date: str) -> str:
    return (
        f'{{"unix_time":{unix_time},"date":"{date}","interval":600,'
        '"Esum":1.5,"Inverters":[{"id":1,"E":1.5}]}'
    )


SUMMER = [_inverter(1496660400 + 600 * k, f"2017-06-05 13:{k}0:00 +0200") for k in range(3)]
WINTER = _inverter(1512475200, "2017-12-05 13:00:00 +0100")


@pytest.mark.parametrize("loads", ["orjson", "stdlib"])
def test_records_with_the_same_offset_share_one_tzinfo(
    loads: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if loads == "stdlib":
        monkeypatch.setattr(json_module, "fast_loads", None)
    body = ("[" + ",".join([*SUMMER, WINTER, SUMMER[0]]) + "]").encode()
    records = decode("inverter", body)
    zones = [record.start.tzinfo for record in records]
    assert zones[0] is zones[1] is zones[2] is zones[4]
    assert zones[3] is not zones[0]
    assert records[0].start.utcoffset() == timedelta(hours=2)
    assert records[3].start.utcoffset() == timedelta(hours=1)
    assert [r.unix_time for r in records] == [
        1496660400,
        1496661000,
        1496661600,
        1512475200,
        1496660400,
    ]
    assert records[1].start.isoformat() == "2017-06-05T13:10:00+02:00"


def test_xml_and_json_records_share_the_zone_across_pages() -> None:
    page = "[" + SUMMER[0] + "]"
    from_json = decode("inverter", page.encode())
    from_xml = decode("inverter", wire.encode("inverter", from_json, "xml"), "xml")
    again = decode("inverter", page.encode())
    assert from_json == from_xml == again
    assert from_json[0].start.tzinfo is from_xml[0].start.tzinfo is again[0].start.tzinfo


@pytest.mark.parametrize(
    "date",
    [
        "2017-06-05 13:00:00.5 +0200",  # a fraction: not the instant of unix_time
        "2017-06-05 13:00:00 +0300",  # the right local time in the wrong offset
        "2017-06-05 14:00:00 +0200",
        "2017-06-05T13:00:00+0200x",
    ],
)
def test_a_date_that_is_not_unix_time_is_refused_after_the_offset_is_known(date: str) -> None:
    decode("inverter", ("[" + SUMMER[0] + "]").encode())  # the +0200 suffix is now known
    body = ("[" + _inverter(1496660400, date) + "]").encode()
    with pytest.raises(LacecalParseError, match=r"\$\[0\]\.date"):
        decode("inverter", body)


def test_other_iso_shapes_with_an_offset_are_read_as_before() -> None:
    for date in ("2017-06-05T13:00:00+02:00", "2017-06-05 11:00:00Z", "2017-06-05 11:00:00 +0000"):
        (record,) = decode("inverter", ("[" + _inverter(1496660400, date) + "]").encode())
        assert record.start.timestamp() == 1496660400
        assert record.start.strftime("%z") == ("+0200" if "13:" in date else "+0000")

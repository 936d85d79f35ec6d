"""Records with the same UTC offset share one tzinfo object, in every wire format and path."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

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


def _page(dates: list[tuple[int, str]]) -> bytes:
    return ("[" + ",".join(_inverter(unix_time, date) for unix_time, date in dates) + "]").encode()


def test_every_minute_offset_decodes_to_its_instant_in_both_formats() -> None:
    # More distinct offsets than the shared-zone table keeps: the rest get zones of their own.
    dates = []
    for minutes in range(-23 * 60 - 59, 24 * 60, 1):
        moment = datetime(2017, 6, 5, 13, tzinfo=timezone(timedelta(minutes=minutes)))
        dates.append((int(moment.timestamp()), moment.strftime("%Y-%m-%d %H:%M:%S %z")))
    body = _page(dates)
    xml = wire.encode("inverter", decode("inverter", body), "xml")
    for wire_format, page in (("json", body), ("xml", xml)):
        records = decode("inverter", page, wire_format)
        assert [r.unix_time for r in records] == [u for u, _ in dates]
        assert [r.start.timestamp() for r in records] == [u for u, _ in dates]
        assert [r.start.strftime("%Y-%m-%d %H:%M:%S %z") for r in records] == [d for _, d in dates]


@pytest.mark.slow
def test_a_backfill_of_many_years_of_days_decodes_every_start() -> None:
    # More distinct days than the date caches keep (they start over): each start still right.
    first = datetime(1931, 1, 1, 12, tzinfo=timezone(timedelta(hours=1)))
    dates = []
    for day in range(20_000):
        moment = first + timedelta(days=day)
        dates.append((int(moment.timestamp()), moment.strftime("%Y-%m-%d %H:%M:%S %z")))
    for _ in range(2):  # the second time, what the caches kept reads the same
        records = decode("inverter", _page(dates))
        assert [r.start for r in records] == [first + timedelta(days=d) for d in range(20_000)]
        assert records[-1].start.isoformat() == "1985-10-03T12:00:00+01:00"


@pytest.mark.parametrize(
    "date",
    [
        "2017-06-05 13:00:00.000+02:00",
        "2017-06-05T13:00:00.000000+02:00",
        "2017-06-05 11:00:00+00:00:00",
    ],
)
def test_shapes_the_service_does_not_send_are_read_every_time(date: str) -> None:
    for _ in range(2):
        (record,) = decode("inverter", _page([(1496660400, date)]))
        assert record.start.timestamp() == 1496660400
    with pytest.raises(LacecalParseError, match=r"\$\[0\]\.date"):
        decode("inverter", _page([(1496660401, date)]))


def test_a_date_of_the_wrong_day_is_refused_once_both_halves_are_known() -> None:
    decode("inverter", _page([(1496660400, "2017-06-05 13:00:00 +0200")]))
    decode("inverter", _page([(1496746800, "2017-06-06 13:00:00 +0200")]))
    with pytest.raises(LacecalParseError, match=r"\$\[0\]\.date"):
        decode("inverter", _page([(1496660400, "2017-06-06 13:00:00 +0200")]))
    xml = (
        "<InvertersRecords><InvertersRecord><unix_time>1496660400</unix_time>"
        "<date>2017-06-06 13:00:00 +0200</date><interval>600</interval><Esum>1.5</Esum>"
        "<Inverters/></InvertersRecord></InvertersRecords>"
    )
    with pytest.raises(LacecalParseError, match=r"\$\[0\]\.date"):
        decode("inverter", xml.encode(), "xml")


def test_a_day_of_five_second_periods_decodes_every_start() -> None:
    # More distinct times of day than the time cache keeps (it starts over).
    first = datetime(2017, 6, 5, tzinfo=timezone(timedelta(hours=2)))
    moments = [first + timedelta(seconds=5 * k) for k in range(17_000)]
    body = _page([(int(m.timestamp()), m.strftime("%Y-%m-%d %H:%M:%S %z")) for m in moments])
    assert [r.start for r in decode("inverter", body)] == moments


@pytest.mark.parametrize(
    ("unix_time", "date"),
    [
        (1496660400, 1496660400),  # a number where the date belongs
        (1496660400, "2017-06-05 13:00:00"),  # no UTC offset
        (10**15, "2017-06-05 13:00:00 +0200"),  # no datetime is that unix_time
    ],
)
def test_a_date_that_is_no_instant_of_unix_time_names_the_date(
    unix_time: int, date: object
) -> None:
    body = _page([(unix_time, "X")]).replace(b'"X"', json.dumps(date).encode())
    with pytest.raises(LacecalParseError, match=r"\$\[0\]\.date"):
        decode("inverter", body)

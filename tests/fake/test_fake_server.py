"""The fake server driven with plain aiohttp: shapes, d/t/n semantics, gaps, DST, clock, stats."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import attrs
import pytest
from defusedxml import ElementTree

from lacecal_async.records import Inverter
from lacecal_async.testing import (
    FakeClock,
    FakeLacecalServer,
    Plant,
    make_plants,
)
from lacecal_async.testing.wire import encode

PLANTS = make_plants(12, seed=0)
PLAIN = PLANTS[0]
SINGLE = next(p for p in PLANTS if not p.three_phase)
NO_LOAD = next(p for p in PLANTS if not p.load or not p.renewable)
# 2017-06-05 00:00 +0200, as in the spec's examples, with the spec's inverter ids.
SPEC_PLANT = Plant(
    itr="SpecExample00001",
    inverters=(
        Inverter(6, "Inversor A", "SMA", "STP 25000TL", "0000000001"),
        Inverter(7, "Inversor Año Ñ", "SMA", "STP 25000TL"),
    ),
    first=1496613600,
    latest=1496613600 + 2 * 86400,
    gaps=((1496660400 + 1200, 1496660400 + 3000),),  # 13:20 to 13:50 local: 3 periods
)
LATEST = PLANTS[0].latest or 0
PERIODS_PLANT = attrs.evolve(SPEC_PLANT, itr="SpecExample00002", n_counts="periods")


async def get(
    session: aiohttp.ClientSession, server: FakeLacecalServer, endpoint: str, **params: object
) -> tuple[int, str, bytes]:
    async with session.get(
        server.base_url + endpoint, params={k: str(v) for k, v in params.items()}
    ) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.read()


async def get_json(
    session: aiohttp.ClientSession, server: FakeLacecalServer, endpoint: str, **params: object
) -> Any:
    status, content_type, body = await get(session, server, endpoint, out="json", **params)
    assert status == 200, body
    assert content_type == "application/json"
    return json.loads(body)


async def get_xml(
    session: aiohttp.ClientSession, server: FakeLacecalServer, endpoint: str, **params: object
) -> Any:
    status, content_type, body = await get(session, server, endpoint, out="xml", **params)
    assert status == 200, body
    assert content_type.startswith("application/xml")
    return ElementTree.fromstring(body)


@pytest.fixture
async def server() -> AsyncIterator[FakeLacecalServer]:
    async with FakeLacecalServer([*PLANTS, SPEC_PLANT, PERIODS_PLANT], rate_limit=None) as fake:
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


# -- shapes, as in the spec's examples ----------------------------------------------------
async def test_base_url_is_loopback_with_trailing_slash(server: FakeLacecalServer) -> None:
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server.base_url.endswith("/APIv1/")
    assert set(server.plants) == {p.itr for p in [*PLANTS, SPEC_PLANT, PERIODS_PLANT]}


async def test_inverter_list_json(
    server: FakeLacecalServer, session: aiohttp.ClientSession
) -> None:
    items = await get_json(session, server, "inverter_list.php", id=SPEC_PLANT.itr)
    assert items == [
        {
            "id": 6,
            "nombre": "Inversor A",
            "fabricante": "SMA",
            "modelo": "STP 25000TL",
            "nserie": "0000000001",
        },
        {"id": 7, "nombre": "Inversor Año Ñ", "fabricante": "SMA", "modelo": "STP 25000TL"},
    ]


async def test_inverter_list_xml(server: FakeLacecalServer, session: aiohttp.ClientSession) -> None:
    root = await get_xml(session, server, "inverter_list.php", id=SPEC_PLANT.itr)
    assert root.tag == "Inverters"
    assert [child.tag for child in root] == ["Inverter", "Inverter"]
    assert [e.tag for e in root[0]] == ["id", "nombre", "fabricante", "modelo", "nserie"]
    assert [e.tag for e in root[1]] == ["id", "nombre", "fabricante", "modelo"]
    assert root[1].findtext("nombre") == "Inversor Año Ñ"
    assert root[0].findtext("id") == "6"


async def test_inverter_json_matches_spec_example_shape(
    server: FakeLacecalServer, session: aiohttp.ClientSession
) -> None:
    items = await get_json(
        session, server, "inverter.php", id=SPEC_PLANT.itr, d="201706051300", n=2
    )
    assert [i["unix_time"] for i in items] == [1496660400, 1496661000]
    assert [i["date"] for i in items] == ["2017-06-05 13:00:00 +0200", "2017-06-05 13:10:00 +0200"]
    for item in items:
        assert list(item) == ["unix_time", "date", "interval", "Esum", "Inverters"]
        assert item["interval"] == 600
        assert [list(i) for i in item["Inverters"]] == [["id", "E"], ["id", "E"]]
        assert [i["id"] for i in item["Inverters"]] == [6, 7]
        assert item["Esum"] == pytest.approx(sum(i["E"] for i in item["Inverters"]), abs=1e-9)
        assert item["Esum"] > 0  # early afternoon in June
    expected = json.loads(encode("inverter", [SPEC_PLANT.inverter_record(1496660400)]))
    assert items[0] == expected[0]


async def test_inverter_xml_matches_spec_example_shape(
    server: FakeLacecalServer, session: aiohttp.ClientSession
) -> None:
    root = await get_xml(session, server, "inverter.php", id=SPEC_PLANT.itr, d="201706051300", n=2)
    assert root.tag == "InvertersRecords"
    assert [r.tag for r in root] == ["InvertersRecord"] * 2
    first = root[0]
    assert [e.tag for e in first] == ["unix_time", "date", "interval", "Esum", "Inverters"]
    assert first.findtext("date") == "2017-06-05 13:00:00 +0200"
    assert [e.tag for e in first.find("Inverters")] == ["Inverter", "Inverter"]
    assert [e.tag for e in first.find("Inverters")[0]] == ["id", "E"]
    record = SPEC_PLANT.inverter_record(1496660400)
    assert float(first.findtext("Esum")) == record.total_energy
    assert float(first.find("Inverters")[1].findtext("E")) == record.inverters[1].energy


async def test_meter_json_three_phase(
    server: FakeLacecalServer, session: aiohttp.ClientSession
) -> None:
    items = await get_json(session, server, "meter.php", id=SPEC_PLANT.itr, d="201706051300", n=2)
    assert len(items) == 2
    item = items[0]
    assert list(item) == ["unix_time", "date", "interval", "GRID_meter", "LOAD_meter", "RENO_meter"]
    assert list(item["GRID_meter"]) == ["RST", "R", "S", "T"]
    assert list(item["GRID_meter"]["RST"]) == ["Eimp", "Eexp", "Q1", "Q2", "Q3", "Q4"]
    assert list(item["GRID_meter"]["R"]) == ["Eimp", "Eexp"]
    for meter in ("LOAD_meter", "RENO_meter"):
        assert item[meter].keys() == {"RST", "R", "S", "T"}
        assert list(item[meter]["T"]) == ["E"]
    assert item == json.loads(encode("meter", [SPEC_PLANT.meter_record(1496660400)]))[0]


async def test_meter_xml_three_phase(
    server: FakeLacecalServer, session: aiohttp.ClientSession
) -> None:
    root = await get_xml(session, server, "meter.php", id=SPEC_PLANT.itr, d="201706051300", n=2)
    assert root.tag == "MetersRecords"
    assert [r.tag for r in root] == ["MetersRecord"] * 2
    record = root[1]
    assert record.findtext("unix_time") == "1496661000"
    assert [e.tag for e in record.find("GRID_meter/RST")] == [
        "Eimp",
        "Eexp",
        "Q1",
        "Q2",
        "Q3",
        "Q4",
    ]
    assert [e.tag for e in record.find("LOAD_meter")] == ["RST", "R", "S", "T"]
    expected = SPEC_PLANT.meter_record(1496661000)
    assert expected.renewable is not None
    assert float(record.findtext("RENO_meter/S/E")) == expected.renewable.s


@pytest.mark.parametrize("out", ["json", "xml"])
async def test_meter_single_phase_and_missing_meters(
    server: FakeLacecalServer, session: aiohttp.ClientSession, out: str
) -> None:
    for plant in (SINGLE, NO_LOAD):
        _, _, body = await get(session, server, "meter.php", id=plant.itr, out=out, t=plant.first)
        expected = encode("meter", [plant.meter_record(plant.first)], out)
        assert body == expected
    _, _, body = await get(session, server, "meter.php", id=SINGLE.itr, out="json", t=SINGLE.first)
    assert list(json.loads(body)[0]["GRID_meter"]) == ["RST"]


# -- d / t / n ------------------------------------------------------------------------------
async def test_n_defaults_to_one_and_t_is_rounded_up(
    server: FakeLacecalServer, session: aiohttp.ClientSession
) -> None:
    items = await get_json(session, server, "meter.php", id=PLAIN.itr, t=PLAIN.first + 1)
    assert [i["unix_time"] for i in items] == [PLAIN.first + 600]
    items = await get_json(session, server, "meter.php", id=PLAIN.itr, t=PLAIN.first + 600)
    assert [i["unix_time"] for i in items] == [PLAIN.first + 600]


async def test_t_wins_over_d(server: FakeLacecalServer, session: aiohttp.ClientSession) -> None:
    items = await get_json(
        session, server, "inverter.php", id=SPEC_PLANT.itr, d="201706051300", t=1496614200
    )
    assert [i["unix_time"] for i in items] == [1496614200]


async def test_n_144_and_before_first(
    server: FakeLacecalServer, session: aiohttp.ClientSession
) -> None:
    items = await get_json(session, server, "meter.php", id=PLAIN.itr, t=0, n=144)
    assert [i["unix_time"] for i in items] == list(range(PLAIN.first, PLAIN.first + 86400, 600))


async def test_after_latest_is_empty_in_both_formats(
    server: FakeLacecalServer, session: aiohttp.ClientSession
) -> None:
    assert PLAIN.latest is not None
    after = PLAIN.latest + 600
    assert await get_json(session, server, "meter.php", id=PLAIN.itr, t=after) == []
    root = await get_xml(session, server, "inverter.php", id=PLAIN.itr, t=after, n=5)
    assert root.tag == "InvertersRecords"
    assert len(root) == 0
    items = await get_json(session, server, "meter.php", id=PLAIN.itr, t=PLAIN.latest - 600, n=9)
    assert [i["unix_time"] for i in items] == [PLAIN.latest - 600, PLAIN.latest]


async def test_neither_d_nor_t_is_the_latest_record(
    server: FakeLacecalServer, session: aiohttp.ClientSession
) -> None:
    items = await get_json(session, server, "inverter.php", id=PLAIN.itr, n=10)
    assert [i["unix_time"] for i in items] == [PLAIN.latest]
    gapped = attrs.evolve(PLAIN, itr="GapAtTheEnd00001", gaps=((LATEST - 1800, 2**40),))
    server.add_plant(gapped)
    items = await get_json(session, server, "meter.php", id=gapped.itr)
    assert [i["unix_time"] for i in items] == [LATEST - 2400]
    void = attrs.evolve(PLAIN, itr="AllInAGap0000001", gaps=((0, 2**40),))
    server.add_plant(void)
    assert await get_json(session, server, "meter.php", id=void.itr) == []


async def test_gap_records_mode_skips_it(
    server: FakeLacecalServer, session: aiohttp.ClientSession
) -> None:
    items = await get_json(session, server, "meter.php", id=SPEC_PLANT.itr, d="201706051300", n=5)
    start = 1496660400
    assert [i["unix_time"] for i in items] == [
        start,
        start + 600,
        start + 3000,
        start + 3600,
        start + 4200,
    ]
    assert [i["unix_time"] for i in items] == SPEC_PLANT.available_times(start, start + 4800)


async def test_gap_periods_mode_comes_back_short_or_empty(
    server: FakeLacecalServer, session: aiohttp.ClientSession
) -> None:
    start = 1496660400
    items = await get_json(session, server, "meter.php", id=PERIODS_PLANT.itr, t=start, n=6)
    assert [i["unix_time"] for i in items] == [start, start + 600, start + 3000]
    short = await get_json(session, server, "meter.php", id=PERIODS_PLANT.itr, t=start, n=5)
    assert [i["unix_time"] for i in short] == [start, start + 600]
    inside = await get_json(session, server, "meter.php", id=PERIODS_PLANT.itr, t=start + 1200, n=3)
    assert inside == []
    later = await get_json(session, server, "meter.php", id=PERIODS_PLANT.itr, t=start + 3000)
    assert len(later) == 1


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"n": "145"}, b"n must be between 1 and 144"),
        ({"n": "0"}, b"n must be"),
        ({"n": "ten"}, b"n must be an integer"),
        ({"t": "1.5"}, b"t must be an integer"),
        ({"d": "2017060513", "t": None}, b"d must be yyyyMMddhhmm"),
        ({"d": "201713051300", "t": None}, b"d is not a valid date"),
        ({"out": "csv"}, b"out must be json or xml"),
        ({"out": None}, b"out must be json or xml"),
        ({"id": "short"}, b"id must be 16 ASCII letters and digits"),
        ({"id": None}, b"id must be"),
    ],
)
async def test_bad_parameters_get_400(
    server: FakeLacecalServer,
    session: aiohttp.ClientSession,
    params: dict[str, str | None],
    reason: bytes,
) -> None:
    query = {"out": "json", "id": PLAIN.itr, "t": str(PLAIN.first)} | params
    status, content_type, body = await get(
        session, server, "meter.php", **{k: v for k, v in query.items() if v is not None}
    )
    assert status == 400
    assert content_type.startswith("text/plain")
    assert body.startswith(reason)


async def test_unknown_itr_gets_404_and_is_not_counted(
    server: FakeLacecalServer, session: aiohttp.ClientSession
) -> None:
    status, _, body = await get(session, server, "meter.php", out="json", id="A" * 16)
    assert (status, body) == (404, b"unknown ITR\n")
    assert all(server.stats(itr).requests == 0 for itr in server.plants)


async def test_inverter_list_ignores_time_parameters(
    server: FakeLacecalServer, session: aiohttp.ClientSession
) -> None:
    items = await get_json(session, server, "inverter_list.php", id=PLAIN.itr, n=999, t="x")
    assert [i["id"] for i in items] == [i.id for i in PLAIN.inverters]


# -- DST: d is Madrid local time --------------------------------------------------------
async def test_dst_autumn_page_changes_offset_and_ambiguous_d_is_first_occurrence(
    server: FakeLacecalServer, session: aiohttp.ClientSession
) -> None:
    items = await get_json(session, server, "meter.php", id=PLAIN.itr, d="202410270230", n=12)
    assert items[0]["unix_time"] == 1729989000  # 00:30 UTC: 02:30 in summer time
    dates = [i["date"] for i in items]
    assert dates[:3] == [
        "2024-10-27 02:30:00 +0200",
        "2024-10-27 02:40:00 +0200",
        "2024-10-27 02:50:00 +0200",
    ]
    assert dates[3:5] == ["2024-10-27 02:00:00 +0100", "2024-10-27 02:10:00 +0100"]
    assert all(b["unix_time"] - a["unix_time"] == 600 for a, b in itertools.pairwise(items))


async def test_dst_spring_missing_hour(session: aiohttp.ClientSession) -> None:
    spring = attrs.evolve(PLAIN, first=1711843200, latest=1711843200 + 86400)  # 2024-03-31
    async with FakeLacecalServer([spring]) as fake:
        items = await get_json(session, fake, "meter.php", id=spring.itr, d="202403310230", n=2)
        assert [i["unix_time"] for i in items] == [1711846800, 1711847400]
        assert items[0]["date"] == "2024-03-31 03:00:00 +0200"
        before = await get_json(session, fake, "meter.php", id=spring.itr, d="202403310150")
        assert before[0]["date"] == "2024-03-31 01:50:00 +0100"


# -- the clock --------------------------------------------------------------------------
async def test_latest_follows_the_fake_clock(session: aiohttp.ClientSession) -> None:
    plant = attrs.evolve(PLAIN, latest=None)
    clock = FakeClock(PLAIN.first + 3 * 600 + 30)  # the 4th period is still open
    async with FakeLacecalServer([plant], clock=clock, rate_limit=None) as fake:
        latest = await get_json(session, fake, "meter.php", id=plant.itr)
        assert [i["unix_time"] for i in latest] == [PLAIN.first + 1200]
        page = await get_json(session, fake, "meter.php", id=plant.itr, t=0, n=144)
        assert len(page) == 3
        clock.advance(600)
        latest = await get_json(session, fake, "inverter.php", id=plant.itr)
        assert [i["unix_time"] for i in latest] == [PLAIN.first + 1800]
        clock.set(PLAIN.first - 1)
        assert await get_json(session, fake, "meter.php", id=plant.itr) == []


# -- observation ------------------------------------------------------------------------
async def test_stats_log_every_request(
    server: FakeLacecalServer, session: aiohttp.ClientSession
) -> None:
    await get(session, server, "meter.php", out="json", id=PLAIN.itr, t=PLAIN.first, n=3)
    await get(session, server, "meter.php", out="json", id=PLAIN.itr, n=500)
    stats = server.stats(PLAIN.itr)
    assert (stats.requests, stats.rejections) == (2, 0)
    assert [(e.endpoint, e.status) for e in stats.log] == [("meter", 200), ("meter", 400)]
    assert stats.log[0].params == {"out": "json", "id": PLAIN.itr, "t": str(PLAIN.first), "n": "3"}
    assert stats.log[0].time <= stats.log[1].time
    async with session.get(server.base_url.replace("/APIv1/", "/_fake/stats")) as response:
        remote = await response.json()
    assert remote[PLAIN.itr]["requests"] == 2
    assert [e["status"] for e in remote[PLAIN.itr]["log"]] == [200, 400]
    assert remote[PLAIN.itr]["log"][0]["time"] == pytest.approx(stats.log[0].time - server.origin)
    server.reset_stats()
    assert server.stats(PLAIN.itr).requests == 0
    assert server.stats(PLAIN.itr).log == []


async def test_lifecycle() -> None:
    fake = FakeLacecalServer(PLANTS[:1])
    with pytest.raises(RuntimeError, match="not running"):
        _ = fake.base_url
    await fake.start()
    url = fake.base_url
    await fake.close()
    await fake.close()  # idempotent
    with pytest.raises(RuntimeError):
        _ = fake.base_url
    async with aiohttp.ClientSession() as client:
        with pytest.raises(aiohttp.ClientConnectionError):
            await client.get(url + "meter.php")

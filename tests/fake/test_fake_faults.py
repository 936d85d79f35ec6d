"""Each injectable fault, observed with plain aiohttp over loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from lacecal_async.testing import FakeLacecalServer, Faults, make_plants
from lacecal_async.testing.wire import encode

PLANTS = make_plants(2, seed=7)
PLANT = PLANTS[0]
ITR = PLANT.itr


@pytest.fixture
async def server() -> AsyncIterator[FakeLacecalServer]:
    async with FakeLacecalServer(PLANTS, rate_limit=None) as fake:
        yield fake


async def fetch(server: FakeLacecalServer, out: str = "json") -> tuple[int, str, bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            server.base_url + "meter.php",
            params={"out": out, "id": ITR, "t": str(PLANT.first), "n": "3"},
        ) as response,
    ):
        return response.status, response.headers["Content-Type"], await response.read()


def expected(out: str = "json") -> bytes:
    return encode("meter", PLANT.meter_records(PLANT.first, PLANT.first + 1800), out)


async def test_healthy_reply_is_the_ground_truth(server: FakeLacecalServer) -> None:
    assert await fetch(server) == (200, "application/json", expected())
    assert await fetch(server, "xml") == (200, "application/xml; charset=utf-8", expected("xml"))


async def test_fail_first_then_recover(server: FakeLacecalServer) -> None:
    server.set_faults(ITR, Faults(fail_first=2, fail_status=502))
    statuses = [(await fetch(server))[0] for _ in range(3)]
    assert statuses == [502, 502, 200]
    assert [e.status for e in server.stats(ITR).log] == [502, 502, 200]
    other = PLANTS[1]
    assert server.faults(other.itr) == Faults()


async def test_fault_from_plant_config() -> None:
    plants = make_plants(1, seed=7, faults=Faults(fail_first=1))
    async with FakeLacecalServer(plants) as fake:
        async with aiohttp.ClientSession() as session:
            url = fake.base_url + "inverter_list.php"
            params = {"out": "json", "id": plants[0].itr}
            async with session.get(url, params=params) as response:
                assert response.status == 503
            async with session.get(url, params=params) as response:
                assert response.status == 200


async def test_always_fail(server: FakeLacecalServer) -> None:
    server.set_faults(ITR, Faults(always_fail=True))
    for _ in range(3):
        status, content_type, body = await fetch(server)
        assert (status, body) == (503, b"Service Unavailable\n")
        assert content_type.startswith("text/plain")


async def test_delay(server: FakeLacecalServer) -> None:
    server.set_faults(ITR, Faults(delay=0.3))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(asyncio.TimeoutError):
            async with session.get(
                server.base_url + "meter.php",
                params={"out": "json", "id": ITR},
                timeout=aiohttp.ClientTimeout(total=0.05),
            ) as response:
                await response.read()
    server.set_faults(ITR, Faults(delay=0.05))
    assert (await fetch(server))[2] == expected()


async def test_truncate(server: FakeLacecalServer) -> None:
    server.set_faults(ITR, Faults(truncate=True))
    status, _, body = await fetch(server)
    assert status == 200
    assert body == expected()[: len(expected()) // 2]
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)


async def test_garbage(server: FakeLacecalServer) -> None:
    server.set_faults(ITR, Faults(garbage=True))
    first = await fetch(server)
    second = await fetch(server)
    assert first[0] == 200
    assert len(first[2]) == len(expected())
    assert first[2] != expected()
    assert first[2] != second[2]  # a different draw per request


async def test_maintenance_page(server: FakeLacecalServer) -> None:
    server.set_faults(ITR, Faults(maintenance_page=True))
    status, content_type, body = await fetch(server, "xml")
    assert (status, content_type) == (200, "text/html; charset=UTF-8")
    assert body.startswith(b"<!DOCTYPE html>")


async def test_json_as_html(server: FakeLacecalServer) -> None:
    server.set_faults(ITR, Faults(json_as_html=True))
    status, content_type, body = await fetch(server)
    assert (status, content_type, body) == (200, "text/html; charset=UTF-8", expected())
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.base_url + "meter.php", params={"out": "json", "id": ITR}) as response,
    ):
        with pytest.raises(aiohttp.ContentTypeError):
            await response.json()


async def test_drop_connection(server: FakeLacecalServer) -> None:
    server.set_faults(ITR, Faults(drop_connection=True))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await fetch(server)
    assert all(e.status == 0 for e in server.stats(ITR).log)
    server.reset_stats()
    # aiohttp's client retries an idempotent request once after a disconnect: drop twice.
    server.set_faults(ITR, Faults(drop_first=2))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await fetch(server)
    assert (await fetch(server))[0] == 200
    assert [e.status for e in server.stats(ITR).log] == [0, 0, 200]
    server.set_faults(ITR, Faults(drop_first=1))
    assert (await fetch(server))[0] == 200  # the client's silent retry got through
    assert [e.status for e in server.stats(ITR).log][-2:] == [0, 200]


async def test_cache_starting_over_changes_nothing(
    server: FakeLacecalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lacecal_async.testing.server._CACHE_LIMIT", 2)
    assert (await fetch(server))[2] == expected()
    assert (await fetch(server))[2] == expected()

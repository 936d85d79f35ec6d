"""A logger's clock glitch (a record dated in the future), and faults of some endpoints only."""

from __future__ import annotations

import json

import aiohttp
import attrs

from lacecal_async.testing import FakeClock, FakeLacecalServer, Faults, make_plants

YEAR = 365 * 86400
PLANT = make_plants(1, seed=3, days=1, gaps=False)[0]
ITR = PLANT.itr
LAST = PLANT.latest or 0


async def times(server: FakeLacecalServer, endpoint: str = "meter", **params: str) -> list[int]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            server.base_url + f"{endpoint}.php", params={"out": "json", "id": ITR, **params}
        ) as response,
    ):
        assert response.status == 200
        return [item["unix_time"] for item in json.loads(await response.read())]


async def test_a_fixed_glitch_is_the_latest_record_until_switched_off() -> None:
    glitch = LAST + YEAR
    async with FakeLacecalServer([PLANT], rate_limit=None) as server:
        server.set_faults(ITR, Faults(future_at=glitch + 7))  # aligned down to the period
        assert await times(server) == [glitch]
        assert await times(server, "inverter") == [glitch]
        # A page that reaches it has the plant's records, then the glitch.
        tail = await times(server, t=str(LAST - 2 * PLANT.interval), n="144")
        assert tail == [LAST - 2 * PLANT.interval, LAST - PLANT.interval, LAST, glitch]
        # A full page does not reach it; one starting after it has only it.
        assert await times(server, t=str(PLANT.first), n="3") == [
            PLANT.first + i * PLANT.interval for i in range(3)
        ]
        assert await times(server, t=str(LAST + 1), n="5") == [glitch]
        assert await times(server, t=str(glitch + 1), n="5") == []  # nothing after it
        server.set_faults(ITR, Faults())  # the logger's clock is fixed
        assert await times(server) == [LAST]
        assert await times(server, t=str(LAST + 1), n="5") == []


async def test_a_moving_glitch_follows_the_servers_clock() -> None:
    plant = attrs.evolve(PLANT, latest=None)
    clock = FakeClock(LAST + plant.interval + 30)
    async with FakeLacecalServer([plant], rate_limit=None, clock=clock) as server:
        server.set_faults(ITR, Faults(future_ahead=YEAR))
        first = await times(server)
        clock.advance(3 * plant.interval)
        second = await times(server)
        assert second[0] - first[0] == 3 * plant.interval
        assert first[0] == int(LAST + plant.interval + 30 + YEAR) // plant.interval * plant.interval


async def test_a_glitch_in_a_server_counting_periods() -> None:
    plant = attrs.evolve(PLANT, n_counts="periods")
    glitch = LAST + 4 * plant.interval
    async with FakeLacecalServer([plant], rate_limit=None) as server:
        server.set_faults(ITR, Faults(future_at=glitch))
        assert await times(server, t=str(LAST), n="5") == [LAST, glitch]
        assert await times(server, t=str(LAST), n="4") == [LAST]


async def test_faults_of_one_endpoint_leave_the_others_healthy() -> None:
    async with FakeLacecalServer([PLANT], rate_limit=None) as server:
        server.set_faults(ITR, Faults(fail_first=1, endpoints=("inverter_list",)))
        assert await times(server) == [LAST]  # not counted: the fault is not the meter's
        async with aiohttp.ClientSession() as session:
            url = server.base_url + "inverter_list.php"
            statuses = []
            for _ in range(2):
                async with session.get(url, params={"out": "json", "id": ITR}) as response:
                    statuses.append(response.status)
        assert statuses == [503, 200]
        server.set_faults(ITR, Faults(always_fail=True, endpoints=("meter",)))
        assert await times(server, "inverter") == [LAST]
        assert [e.status for e in server.stats(ITR).log][-1] == 200

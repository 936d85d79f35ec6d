"""LacecalClient's per-ITR rate limit, as the server sees it, on scaled periods.

The fake server enforces its own sliding window and answers 429 beyond it, so "zero 429s"
with the same limit on both sides is the proof; arrival times in its log are checked too.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Coroutine
from typing import Any

import pytest

from lacecal_async.client import LacecalClient
from lacecal_async.errors import LacecalResponseError
from lacecal_async.testing import FakeServerProcess, Faults, Plant, make_plants
from tests.support.checks import arrival_times, max_in_window, wait_until
from tests.support.fixtures import ClientFactory, ServerFactory
from tests.support.scripted import ScriptedServer, ScriptFactory

DAY = 86_400


async def test_concurrent_calls_on_one_itr_share_its_limit(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant
) -> None:
    limit = (6, 0.3)
    server = await make_server([plant], rate_limit=limit)
    client = make_client(server.base_url, rate_limit=limit)
    start = plant.first + DAY

    results = await asyncio.gather(
        *(client.inverters(plant.itr) for _ in range(14)),
        client.meter_records(plant.itr, start, start + 2 * DAY),
        client.inverter_records(plant.itr),
    )

    assert all(r == plant.inverters for r in results[:14])
    assert results[14] == tuple(plant.meter_records(start, start + 2 * DAY))
    stats = server.stats(plant.itr)
    assert stats.requests == 17
    assert stats.rejections == 0
    times = sorted(arrival_times(server, plant.itr))
    # Never a 7th in a window (the burst of 6 going at once is proved on a 60 s period below,
    # where no machine is slow enough to spread it over the window).
    assert max_in_window(times, limit[1]) <= 6
    assert all(later - earlier > limit[1] for earlier, later in zip(times, times[6:], strict=False))


async def test_a_short_fetch_goes_at_once_and_a_seventh_request_waits(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant
) -> None:
    # A 60 s period: any wait for the limiter would outlast the test's timeout.
    server = await make_server([plant], rate_limit=(6, 60.0))
    client = make_client(server.base_url, rate_limit=(6, 60.0))
    start = plant.first + DAY
    loop = asyncio.get_running_loop()
    began = loop.time()

    async with asyncio.timeout(20):
        records = await client.meter_records(plant.itr, start, start + 3 * 144 * 600)
        assert len(records) == 3 * 144
        await asyncio.gather(*(client.inverters(plant.itr) for _ in range(3)))
    assert server.stats(plant.itr).requests == 6

    tasks_before = asyncio.all_tasks()
    seventh = asyncio.create_task(client.inverters(plant.itr))
    await wait_until(lambda: client.limit_state(plant.itr).waiting == 1)
    state = client.limit_state(plant.itr)
    # Held back, not sent: queued for a slot that frees a period after the first request.
    assert server.stats(plant.itr).requests == 6
    assert (state.free, state.busy) == (0, 0)
    # The first slot frees a period (and 1 s of margin) after its request ended.
    assert state.next_free_in is not None
    assert 61.0 - (loop.time() - began) <= state.next_free_in <= 61.0
    seventh.cancel()
    with pytest.raises(asyncio.CancelledError):
        await seventh
    assert client.limit_state(plant.itr).waiting == 0
    assert asyncio.all_tasks() == tasks_before
    assert server.stats(plant.itr).requests == 6
    assert server.stats(plant.itr).rejections == 0


async def test_itrs_do_not_share_a_limit(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    plants = make_plants(3, seed=11)
    server = await make_server(plants, rate_limit=(6, 60.0))
    client = make_client(server.base_url, rate_limit=(6, 60.0))
    async with asyncio.timeout(20):  # 18 requests go at once: 6 per ITR
        await asyncio.gather(*(client.inverters(p.itr) for p in plants for _ in range(6)))
    assert client.tracked_itrs == 3
    assert [client.limit_state(p.itr).free for p in plants] == [0, 0, 0]  # 6 slots each
    assert [server.stats(p.itr).requests for p in plants] == [6, 6, 6]


async def test_retries_pass_through_the_limiter(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant
) -> None:
    limit = (2, 0.15)
    server = await make_server([plant], rate_limit=limit)
    server.set_faults(plant.itr, Faults(fail_first=6))
    client = make_client(server.base_url, rate_limit=limit, retries=6)

    results = await asyncio.gather(*(client.inverters(plant.itr) for _ in range(3)))

    assert all(r == plant.inverters for r in results)
    statuses = [e.status for e in server.stats(plant.itr).log]
    assert statuses.count(503) == 6
    assert statuses.count(200) == 3
    assert server.stats(plant.itr).rejections == 0
    assert max_in_window(arrival_times(server, plant.itr), limit[1]) <= 2


async def test_a_429_pauses_every_waiting_call_of_the_itr(
    make_server: ServerFactory, make_client: ClientFactory, plant: Plant
) -> None:
    server_period = 0.5
    server = await make_server([plant], rate_limit=(2, server_period))
    # The client believes in 6 per 0.3 s: its own slots come free long before the server's.
    client = make_client(server.base_url, rate_limit=(6, 0.3), retries=10)

    burst = [asyncio.create_task(client.inverters(plant.itr)) for _ in range(6)]
    await wait_until(lambda: server.stats(plant.itr).rejections > 0)
    late = [asyncio.create_task(client.inverters(plant.itr)) for _ in range(3)]
    results = await asyncio.gather(*burst, *late)

    assert all(r == plant.inverters for r in results)
    log = sorted(server.stats(plant.itr).log, key=lambda e: e.time)
    first_six = log[:6]
    # The server admits 2 of a burst that reaches it within its period (4 429s); a busy
    # machine may spread the burst wider, and the server admit a third: 429s all the same.
    assert 1 <= [e.status for e in first_six].count(429) <= 4
    # The server admits again `server_period` after the first admitted request: the
    # Retry-After of every 429 of the burst points there, and no call may arrive before.
    reopens = min(e.time for e in first_six if e.status == 200) + server_period
    assert all(e.time >= reopens for e in log[6:])
    assert len(log) > 9  # the pause is per ITR, but later rounds may meet 429s too


async def test_429_without_retry_after_pauses_one_full_period(
    make_scripted: ScriptFactory, make_client: ClientFactory
) -> None:
    scripted: ScriptedServer = await make_scripted([(429, {}, b"slow down")])
    client = make_client(scripted.base_url, rate_limit=(6, 0.2))
    await client.inverters("A" * 16)
    first, second = scripted.arrivals
    assert second - first >= 0.2


async def test_429_retry_after_is_clamped_to_ten_periods(
    make_scripted: ScriptFactory, make_client: ClientFactory
) -> None:
    scripted: ScriptedServer = await make_scripted([(429, {"Retry-After": "100000"}, b"")])
    client = make_client(scripted.base_url, rate_limit=(6, 0.05))
    async with asyncio.timeout(20):  # unclamped it would sleep for a day
        await client.inverters("A" * 16)
    first, second = scripted.arrivals
    assert second - first >= 10 * 0.05


@pytest.mark.parametrize("hint", ["-30", "Wed, 21 Oct 2015 07:28:00 GMT", "soon"])
async def test_429_with_a_past_or_unreadable_hint_still_retries(
    make_scripted: ScriptFactory, make_client: ClientFactory, hint: str
) -> None:
    scripted: ScriptedServer = await make_scripted([(429, {"Retry-After": hint}, b"")])
    client = make_client(scripted.base_url, rate_limit=(6, 0.05), retries=1)
    assert len(await client.inverters("A" * 16)) == 1
    assert len(scripted.arrivals) == 2


@pytest.mark.slow
async def test_idle_limiters_are_dropped(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    plants = make_plants(20, seed=5)
    server = await make_server(plants, rate_limit=(6, 0.05))
    client = make_client(server.base_url, rate_limit=(6, 0.05), retries=0)
    unknown = [f"Z{i:015d}" for i in range(1000)]

    known = [client.inverters(p.itr) for p in plants for _ in range(8)]
    answers = await asyncio.gather(*known, *map(client.inverters, unknown), return_exceptions=True)

    assert all(isinstance(a, tuple) for a in answers[: len(known)])
    assert all(
        isinstance(a, LacecalResponseError) and a.status == 404 for a in answers[len(known) :]
    )

    # Remembered for a period after the ends (tests/client/test_ratelimit_memory.py), then
    # dropped: nothing is left of 1020 ITRs.
    await wait_until(lambda: client.tracked_itrs == 0)
    assert "tracked=0" in repr(client)
    assert [client.limit_state(p.itr).free for p in plants] == [6] * len(plants)
    assert all(server.stats(p.itr).rejections == 0 for p in plants)


@pytest.mark.slow
async def test_heavy_load_across_many_itrs_meets_no_429() -> None:
    limit = (6, 0.5)
    async with FakeServerProcess(plants=200, seed=3, rate_limit=limit, days=3) as proc:
        plants = proc.plants
        async with LacecalClient(base_url=proc.base_url, rate_limit=limit, retries=0) as client:
            ranged = {p.itr: (p.first + DAY, p.first + 2 * DAY) for p in plants}
            calls: list[Coroutine[Any, Any, tuple[Any, ...]]]
            calls = [client.inverters(p.itr) for p in plants for _ in range(8)]
            calls += [client.meter_records(p.itr) for p in plants for _ in range(2)]
            calls += [client.meter_records(p.itr, *ranged[p.itr]) for p in plants]
            assert len(calls) >= 2000
            results = await asyncio.gather(*calls)
        stats = await proc.stats()

    assert all(r for r in results)
    for p, got in zip(plants, results[-len(plants) :], strict=True):
        assert got == tuple(p.meter_records(*ranged[p.itr]))
    assert sum(s["rejections"] for s in stats.values()) == 0
    total = 0
    for p in plants:
        times = [entry["time"] for entry in stats[p.itr]["log"]]
        total += len(times)
        assert max_in_window(times, limit[1]) <= limit[0]
        assert len(times) <= 8 + 2 + math.ceil(DAY / p.interval / 144) + 1
    assert total >= len(calls)

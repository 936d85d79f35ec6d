"""What a limiter remembers of ITRs it is done with: their recent slots, for one period.

That memory IS the rate limit (a plant fetched again within the period must wait), but it
costs no timer on the loop and a few hundred bytes per ITR used within the last period,
whatever the throughput: a fan-out over a long input stays flat.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import Iterator

import pytest

from lacecal_async import LacecalClient
from lacecal_async.testing import make_plants
from tests.support.checks import library_timers
from tests.support.fixtures import ServerFactory

#: Bytes a recently used ITR may cost, at most (docs/explanation/rate-model.md says so).
PER_ITR = 500
#: The limit's period in the first test: what it remembers of an ITR lasts this long [s].
#: A day, not the API's minute: under tracemalloc, coverage and a busy machine the test can
#: take over a minute, and the ITRs it used first would be forgotten before it counts them.
DAY = 86_400.0


def _identifiers(count: int, prefix: str = "q7Wz0Kp3Lm") -> Iterator[str]:
    for number in range(count):
        yield f"{prefix}{number:06d}"


@pytest.mark.slow
async def test_itrs_done_within_the_period_cost_no_timer_and_little_memory(
    make_server: ServerFactory,
) -> None:
    server = await make_server(make_plants(1, seed=5), rate_limit=None)
    count = 1500
    loop = asyncio.get_running_loop()
    async with LacecalClient(base_url=server.base_url, rate_limit=(6, DAY), retries=0) as client:
        tracemalloc.start()  # before the warm-up: what it allocates and later frees counts
        try:
            # Warm up, as many other ITRs: sessions, connections, bounded caches (hiding, re).
            async for _ in client.stream_many(
                _identifiers(count, "w7Wz0Kp3Lm"), "inverter_list", max_active=10
            ):
                pass
            gc.collect()
            before = tracemalloc.take_snapshot()
            second_pass = loop.time()
            async for _ in client.stream_many(_identifiers(count), "inverter_list", max_active=10):
                pass
            await asyncio.sleep(0)
            gc.collect()
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        library = [  # what the library keeps (the fake server keeps a log per ITR)
            tracemalloc.Filter(inclusive=True, filename_pattern="*/lacecal_async/*"),
            tracemalloc.Filter(inclusive=False, filename_pattern="*/lacecal_async/testing/*"),
        ]
        grown = sum(
            stat.size_diff
            for stat in after.filter_traces(library).compare_to(
                before.filter_traces(library), "filename"
            )
        )
        assert library_timers() == []  # no timer per ITR, nor per slot
        assert grown / count < PER_ITR, f"{grown / count:.0f} bytes per ITR"
        state = client.limit_state("q7Wz0Kp3Lm000007")  # used: one slot taken a moment ago
        assert (state.free, state.busy) == (5, 0)
        # Free again a period (and the margin) after its request, which ended in the pass.
        remembered = DAY + DAY / 60
        assert state.all_free_in is not None
        assert remembered - (loop.time() - second_pass) <= state.all_free_in <= remembered
        assert client.tracked_itrs == 2 * count  # every ITR used within the period
        assert f"tracked={2 * count}" in repr(client)


async def test_an_itr_is_remembered_without_a_timer_until_its_period_is_over(
    make_server: ServerFactory,
) -> None:
    plant = make_plants(1, seed=6)[0]
    server = await make_server([plant], rate_limit=None)
    async with LacecalClient(base_url=server.base_url, rate_limit=(2, 60.0)) as client:
        await client.inverters(plant.itr)
        await client.inverters(plant.itr)
        # Both slots remembered (a minute: no machine is slow enough to get past it here),
        # and that costs no timer on the loop.
        state = client.limit_state(plant.itr)
        assert (state.free, state.busy) == (0, 0)
        assert library_timers() == []
        assert client.tracked_itrs == 1
        assert "tracked=1" in repr(client)


async def test_an_itr_is_forgotten_once_its_period_is_over(make_server: ServerFactory) -> None:
    plant = make_plants(1, seed=6)[0]
    server = await make_server([plant], rate_limit=None)
    async with LacecalClient(base_url=server.base_url, rate_limit=(2, 0.2)) as client:
        await client.inverters(plant.itr)
        await client.inverters(plant.itr)
        wait = client.limit_state(plant.itr).all_free_in
        assert wait is not None
        assert wait <= 0.2 + 0.2 / 60  # a period and the margin after the last request
        # Once that has passed (at least: a busy machine only makes it longer), the ITR is
        # forgotten: a fresh state, nothing tracked.
        await asyncio.sleep(wait + 0.001)
        state = client.limit_state(plant.itr)
        assert (state.free, state.all_free_in) == (2, 0.0)
        assert client.tracked_itrs == 0
        assert "tracked=0" in repr(client)
        assert await client.inverters(plant.itr) == plant.inverters  # a fresh start

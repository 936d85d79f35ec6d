"""Hole repairs never starve a plant's polls: holes may wait, fresh data must not.

Before, a cycle repaired every hole due before it scheduled its next poll: 100 holes due at
once stretched one cycle to many periods, and the plant's lag grew with them. Now repairs run
between polls, through slots of the plant's rate limit that its polls do not need.
"""

from __future__ import annotations

import asyncio
import math
import time

import attrs
import pytest

from lacecal_async import LacecalClient, ScaledClock, fingerprint
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import Cycle, SyncState, follow
from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support.checks import DEADLINE
from tests.support.store_kinds import StoreKind

HOLES = 100


async def _period(store_kind: StoreKind) -> int:
    """A period [s] of 10 polls as long as one takes now (at least 2 s), as the machine goes.

    One poll is a request for the latest record and a commit, after the commit of the one
    repair that may be landing then (a plant's commits take turns); on a busy machine all
    are slower, and a period in real seconds must leave room for them: the test asserts
    that repairs never delay a poll, not how fast a poll is.
    """
    plant = make_plants(1, seed=60, days=1, interval=600)[0]
    took = []
    async with (
        FakeLacecalServer([plant], rate_limit=None) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as client,
        store_kind.make() as store,
    ):
        await store.add_plant(fingerprint(plant.itr), "probe")
        for _ in range(3):
            began = time.monotonic()
            (latest,) = await client.meter_records(plant.itr)
            state = SyncState(latest=latest.unix_time, interval=600, since=latest.unix_time)
            for _ in range(2):  # a repair's commit, then the poll's
                await store.commit_page("probe", Endpoint.METER, [latest], state, now=time.time())
            took.append(time.monotonic() - began)
    return max(2, math.ceil(10 * max(took)))


@pytest.mark.slow
async def test_a_hundred_holes_due_at_once_never_delay_a_poll(store_kind: StoreKind) -> None:
    period = await _period(store_kind)
    #: The API's limit scaled down: 6 requests per ITR in any period / 8, at the server too.
    #: The repairs take 100 / 5 of these windows (one slot stays the poll's): 2.5 periods.
    rate = (6, period / 8)
    clock = ScaledClock(time.time(), 1.0)
    now = int(clock.now()) // period * period
    start = now - (2 * HOLES + 4) * period
    base = make_plants(1, seed=61, start=start, days=1, interval=period, follow_clock=True)[0]
    plant = attrs.evolve(base, gaps=())
    cycles: list[tuple[float, Cycle]] = []
    async with (
        FakeLacecalServer([plant], rate_limit=rate, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=rate) as client,
        store_kind.make() as store,
    ):
        # Every other period stored, found 8 periods ago: 100 one-period holes, all due.
        last = plant.last_time(clock.now())
        records = [plant.meter_record(t) for t in range(start, last + 1, period)]
        kept = [r for i, r in enumerate(records) if i > 2 * HOLES or i % 2]
        await store.add_plant(fingerprint(plant.itr), "roof")
        state = SyncState(latest=kept[-1].unix_time, interval=period, since=kept[0].unix_time)
        await store.commit_page("roof", Endpoint.METER, kept, state, now=clock.now() - 8 * period)
        due = await store.holes("roof", Endpoint.METER, due_by=clock.now())
        assert len(due) == HOLES

        def watch(cycle: Cycle) -> None:
            cycles.append((clock.now(), cycle))

        started = clock.now()
        task = asyncio.create_task(
            follow(client, store, [(plant.itr, "roof")], "meter", clock=clock, on_cycle=watch)
        )
        try:
            async with asyncio.timeout(DEADLINE):  # every hole repaired, eventually
                while await store.holes("roof", Endpoint.METER) or not cycles:  # noqa: ASYNC110 - in the database
                    await asyncio.sleep(0.05)
            polls_meanwhile = len(cycles)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert server.stats(plant.itr).rejections == 0  # the limit held all along
    # The first poll came at once, the holes all due notwithstanding; then every period
    # while the holes were repaired over the following cycles.
    assert all(cycle.error is None for _, cycle in cycles)
    assert cycles[0][0] - started < period, cycles[0]
    for at, cycle in cycles[1:]:
        assert cycle.latest is not None
        # The newest stored period closed less than a period before this poll's end.
        assert at - (cycle.latest + period) < period, (at, cycle)
    assert polls_meanwhile >= 2

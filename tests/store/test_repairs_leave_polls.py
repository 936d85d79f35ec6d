"""Hole repairs never starve a plant's polls: holes may wait, fresh data must not.

Before, a cycle repaired every hole due before it scheduled its next poll: 100 holes due at
once stretched one cycle to many periods, and the plant's lag grew with them. Now repairs run
between polls, through slots of the plant's rate limit that its polls do not need.
"""

from __future__ import annotations

import asyncio
import time

import attrs
import pytest

from lacecal_async import LacecalClient, ScaledClock, fingerprint
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import Cycle, SyncState, follow
from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support.checks import DEADLINE
from tests.support.store_kinds import StoreKind

PERIOD = 2
SPEED = 1.0  # a period lasts 2 real seconds: the requests' own time stays small beside it
HOLES = 100
#: The API's limit scaled down: 6 requests per ITR in any 0.25 s, at the server too. The
#: repairs take 100 / 5 of these windows (one slot stays the poll's): over 2 periods.
RATE = (6, 0.25)


@pytest.mark.slow
async def test_a_hundred_holes_due_at_once_never_delay_a_poll(store_kind: StoreKind) -> None:
    clock = ScaledClock(time.time(), SPEED)
    now = int(clock.now()) // PERIOD * PERIOD
    start = now - (2 * HOLES + 4) * PERIOD
    base = make_plants(1, seed=61, start=start, days=1, interval=PERIOD, follow_clock=True)[0]
    plant = attrs.evolve(base, gaps=())
    cycles: list[tuple[float, Cycle]] = []
    async with (
        FakeLacecalServer([plant], rate_limit=RATE, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=RATE) as client,
        store_kind.make() as store,
    ):
        # Every other period stored, found 8 periods ago: 100 one-period holes, all due.
        last = plant.last_time(clock.now())
        records = [plant.meter_record(t) for t in range(start, last + 1, PERIOD)]
        kept = [r for i, r in enumerate(records) if i > 2 * HOLES or i % 2]
        await store.add_plant(fingerprint(plant.itr), "roof")
        state = SyncState(latest=kept[-1].unix_time, interval=PERIOD, since=kept[0].unix_time)
        await store.commit_page("roof", Endpoint.METER, kept, state, now=clock.now() - 8 * PERIOD)
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
    assert cycles[0][0] - started < PERIOD, cycles[0]
    for at, cycle in cycles[1:]:
        assert cycle.latest is not None
        # The newest stored period closed less than a period before this poll's end.
        assert at - (cycle.latest + PERIOD) < PERIOD, (at, cycle)
    assert polls_meanwhile >= 2

"""A failing inverter list is a failure like any other: stored, shown, reported, backed off.

Before, a follow whose `inverter_list` failed (503, 404, a reply over the size cap) said
nothing: 0 failures in `status`, no error in the cycle event, and it asked again on every
cycle (26 requests in 25 s).
"""

from __future__ import annotations

import asyncio
import itertools
import time

import attrs

from lacecal_async import LacecalClient, ScaledClock
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import Cycle, follow
from lacecal_async.testing import FakeLacecalServer, Faults, make_plants
from tests.support.checks import wait_until
from tests.support.store_kinds import StoreKind

PERIOD = 2
SPEED = 8.0


async def test_a_failing_inverter_list_is_stored_shown_and_backs_off_in_periods(
    store_kind: StoreKind,
) -> None:
    clock = ScaledClock(time.time(), SPEED)
    start = int(clock.now()) // PERIOD * PERIOD - 5 * PERIOD
    base = make_plants(1, seed=51, start=start, days=1, interval=PERIOD, follow_clock=True)[0]
    failing = Faults(always_fail=True, fail_status=503, endpoints=("inverter_list",))
    plant = attrs.evolve(base, gaps=(), faults=failing)
    cycles: list[Cycle] = []
    async with (
        FakeLacecalServer([plant], rate_limit=None, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0), retries=0) as client,
        store_kind.make() as store,
    ):

        def listings() -> list[float]:
            log = server.stats(plant.itr).log
            return [entry.time for entry in log if entry.endpoint == "inverter_list"]

        task = asyncio.create_task(
            follow(
                client,
                store,
                [(plant.itr, "roof")],
                "inverter",
                since=start,
                clock=clock,
                on_cycle=cycles.append,
            )
        )
        asked: list[float] = []

        def settled() -> bool:
            # Four listings asked, each reported by its cycle, and the records polled more
            # often than the listing: the listing backs off, the records do not. (On a busy
            # machine a cycle may outlast a period: how many cycles come is not timed.)
            asked[:] = listings()
            reported = sum(1 for c in cycles if c.inventory_error)
            return len(asked) >= 4 and reported == len(asked) < len(cycles)

        try:
            await wait_until(lambda: settled() or task.done())
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        rows = {row.endpoint: row for row in await store.status()}
    assert len(asked) >= 4
    # Backed off in periods: the k-th retry waits at least 2**(k-1) periods of the clock
    # (the server logs arrivals in monotonic seconds; the clock runs SPEED times faster).
    gaps = [(b - a) * SPEED for a, b in itertools.pairwise(asked)]
    assert all(gap >= 2**k * PERIOD for k, gap in enumerate(gaps)), gaps
    # Reported in the cycle event of each cycle that asked, the records' own fine.
    assert all("HTTP 503" in (c.inventory_error or "") for c in cycles if c.inventory_error)
    assert all(c.error is None for c in cycles)
    # Stored, and shown by status apart from the records (whose failures stay 0): each
    # listing answered (one more may have been under way when the follow was cancelled).
    listing = rows[Endpoint.INVERTER_LIST]
    assert len(asked) <= listing.failures <= len(asked) + 1
    assert "HTTP 503" in (listing.last_error or "")
    assert listing.next_poll is not None
    assert listing.next_poll > clock.now() - 32 * PERIOD
    assert rows[Endpoint.INVERTER].failures == 0

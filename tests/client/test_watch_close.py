"""`client.watch` ends on `client.close()`: its tasks stop at once, its next step raises.

Issue 23, item 3: the store-less follow (now `watch`) had its own copy of the fan-out's
queue-draining loop, without the fan-out's close hook. A consumer suspended between two
batches when the client closed left the plants' tasks behind: one asleep on the clock until
its next poll, another stuck on the full queue, for as long as the event loop lived.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from lacecal_async import Cursor, LacecalClient, LacecalClosedError
from lacecal_async.testing import FakeClock, FakeLacecalServer, make_plants
from tests.support.checks import wait_until

PERIOD = 2
NOW = 1_727_827_201
#: How long the watch's tasks may take to end once cancelled [s]: a few loop turns, on a
#: machine however busy (they wait on nothing but the loop).
GONE_WITHIN = 30.0


async def test_close_ends_the_watch_and_its_tasks_while_the_consumer_holds_a_batch() -> None:
    clock = FakeClock(NOW)
    start = NOW // PERIOD * PERIOD - 20 * PERIOD
    # One plant caught up (it sleeps on the clock until its next poll), one with a long
    # backlog: with a one-batch buffer its task waits on the full queue.
    plants = make_plants(2, seed=7, start=start, days=1, interval=PERIOD, follow_clock=True)
    async with FakeLacecalServer(plants, rate_limit=None, clock=clock) as server:
        client = LacecalClient(base_url=server.base_url, rate_limit=(50, 1.0))
        before = asyncio.all_tasks()
        caught_up = {plants[0].itr: Cursor("meter", plants[0].last_time(NOW), PERIOD)}
        batches = client.watch(
            [p.itr for p in plants], "meter", since=start, cursors=caught_up, clock=clock, buffer=1
        )
        async with contextlib.aclosing(batches):
            await anext(batches)  # the consumer now holds a batch: suspended between two
            started = asyncio.all_tasks() - before
            assert started, "the watch runs its plants in tasks"
            await wait_until(
                lambda: clock.sleepers == 1 and all(server.stats(p.itr).requests for p in plants)
            )
            await client.close()
            await wait_until(lambda: all(task.done() for task in started), deadline=GONE_WITHIN)
            assert clock.sleepers == 0  # no plant waits for its next poll any more
            with pytest.raises(LacecalClosedError):
                await anext(batches)

"""Follow keeps many plants with a few tasks: a plant waiting for its next poll is no task.

Before, `follow` ran two tasks per plant and endpoint (its polls, its repairs), each asleep
on the clock between its jobs: about 11 KB an idle plant. Now the plants wait as entries
in two schedules, each worked by at most `FOLLOW_TASKS` tasks. On a `JumpClock` (virtual
time that jumps once every pool task sleeps), with far fewer tasks than plants, every
plant still polls at the very moment it said it would.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import attrs
import pytest

from lacecal_async import LacecalClient
from lacecal_async.sync import Cycle, SQLiteStore, follow
from lacecal_async.sync import engine as sync_engine
from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support.checks import wait_until
from tests.support.virtual_clock import JumpClock

T0 = 1727827200  # 2024-10-02 00:00Z
PERIOD = 600
PLANTS = 24
TASKS = 3


@attrs.frozen
class _Poll:
    at: float
    cycle: Cycle


async def test_many_plants_poll_on_time_with_a_few_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_engine, "FOLLOW_TASKS", TASKS)
    now = T0 + 2 * 86400 + 123
    plants = make_plants(PLANTS, seed=41, start=T0, interval=PERIOD, gaps=False, follow_clock=True)
    # Every task of both schedules (polls, repairs) asleep: then the clock jumps.
    clock = JumpClock(now, sleepers=2 * TASKS)
    polls: dict[str, list[_Poll]] = {f"p{i}": [] for i in range(PLANTS)}
    most_tasks = 0

    def seen(cycle: Cycle) -> None:
        nonlocal most_tasks
        polls[cycle.plant].append(_Poll(clock.now(), cycle))
        most_tasks = max(most_tasks, len(asyncio.all_tasks()))

    async with (
        FakeLacecalServer(plants, rate_limit=None, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as client,
        SQLiteStore(tmp_path / "pool.db") as store,
    ):
        idle = len(asyncio.all_tasks())  # the server's, the test's: before follow
        task = asyncio.create_task(
            follow(
                client,
                store,
                [(p.itr, key) for p, key in zip(plants, polls, strict=True)],
                "meter",
                now - 4 * PERIOD,
                clock=clock,
                on_cycle=seen,
            )
        )
        await wait_until(lambda: all(len(p) >= 5 for p in polls.values()) or task.done())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    # A task per plant would be 2 x 24 here: the pools stay at 3 each (a job and a sleep
    # each, follow itself and its close watch, the server's handlers on top).
    assert most_tasks - idle < 2 * PLANTS
    for key, seen_polls in polls.items():
        assert all(p.cycle.error is None for p in seen_polls), key
        assert [p.cycle.records for p in seen_polls[2:5]] == [1] * 3  # one a period
        for before, after in itertools.pairwise(seen_polls):
            assert after.at == before.cycle.next_poll, key  # it polled when it said it would

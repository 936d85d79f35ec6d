"""Closing the client under `follow`: it stops with `LacecalClosedError`, and every task it
ran is accounted for.

Each plant's request is in flight (the server stalls mid-body) when the client closes:
every job of the lot fails at once. The first failure ends the lot; the others must still
be retrieved, or asyncio reports "Task exception was never retrieved" when they are
collected (an ERROR in a service's log, at shutdown, for nothing).
"""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import pytest

from lacecal_async import LacecalClosedError
from lacecal_async.sync import SQLiteStore, follow
from lacecal_async.testing import make_plants
from tests.support.checks import wait_until
from tests.support.fixtures import ClientFactory
from tests.support.scripted import STALL, ScriptFactory

PLANTS = make_plants(4, seed=41, days=1)
STALLED = b'[{"unix_time": 1727827200, '


async def test_closing_the_client_under_follow_leaves_no_unretrieved_task_error(
    make_scripted: ScriptFactory, make_client: ClientFactory, tmp_path: Path
) -> None:
    scripted = await make_scripted([(STALL, {}, STALLED)] * len(PLANTS))
    client = make_client(scripted.base_url, retries=0)
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        async with SQLiteStore(tmp_path / "f.db") as store:
            plants = [(plant.itr, f"p{i}") for i, plant in enumerate(PLANTS)]
            task = asyncio.create_task(follow(client, store, plants, "meter", PLANTS[0].first))
            await wait_until(lambda: len(scripted.arrivals) == len(PLANTS))
            await client.close()
            with pytest.raises(LacecalClosedError):
                await asyncio.wait_for(task, 30)
        del task
        gc.collect()
        await asyncio.sleep(0)  # a task collected reports through the loop's handler
    finally:
        loop.set_exception_handler(previous)
    assert [context["message"] for context in reported] == []

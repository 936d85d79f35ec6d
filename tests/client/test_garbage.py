"""Fetching leaves no reference cycles behind: the cyclic collector has nothing to free.

Cyclic garbage is freed only by a collection, after it has been traversed (and promoted)
with the live objects; a bulk fetch that made some per request paid for it on every page.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from lacecal_async import LacecalClient
from lacecal_async.testing import FakeLacecalServer, make_plants

DAY = 86_400


@contextmanager
def cyclic_garbage() -> Iterator[list[int]]:
    """Count the objects the collector frees inside the block (a final collection included)."""
    freed = [0]

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop":
            freed[0] += info["collected"]

    gc.collect()
    gc.callbacks.append(count)
    try:
        yield freed
        gc.collect()
    finally:
        gc.callbacks.remove(count)


@pytest.mark.slow
async def test_a_fan_out_and_a_single_fetch_leave_no_cyclic_garbage() -> None:
    plants = make_plants(3, seed=31, interval=600, gaps=False)
    start = plants[0].first
    itrs = [p.itr for p in plants]
    async with (
        FakeLacecalServer(plants, rate_limit=None) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 0.05)) as client,
    ):
        await client.fetch_many(itrs, "meter", start, start + DAY)  # warm: first-use caches
        with cyclic_garbage() as freed:
            results = await client.fetch_many(itrs, "meter", start, start + 10 * DAY)
            records = await client.meter_records(itrs[0], start, start + 3 * DAY)
    assert all(len(result.records) == 10 * 144 for result in results.values())
    assert len(records) == 3 * 144
    assert freed[0] == 0

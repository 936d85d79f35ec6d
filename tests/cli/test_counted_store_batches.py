"""``lacecal sync``'s counting stores and follow's batches: each page told once, once committed.

A batch (`commit_pages`) tells each of its pages; one that fails tells none, and the
`Batcher` then commits its pages alone, each told once more only if it lands: the count
never holds a page twice, nor one the database refused.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lacecal_async import fingerprint
from lacecal_async.cli.counted_store import counted_store
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import PlantPage, StoreError, SyncState
from lacecal_async.sync.batching import Batcher
from lacecal_async.testing import FakeClock, make_plants

PLANTS = make_plants(2, seed=83, days=1, gaps=False)
KEYS = ["a", "b"]


def _page(key: str, index: int) -> PlantPage:
    plant = PLANTS[index]
    records = [plant.meter_record(plant.first + i * plant.interval) for i in range(3)]
    state = SyncState(latest=records[-1].unix_time, interval=plant.interval, since=plant.first)
    return PlantPage(key, Endpoint.METER, records, state)


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, bool]:
    if request.param == "sqlite":
        return str(tmp_path / "sync.db"), False
    return request.getfixturevalue("postgres_dsn"), True


async def test_a_batch_tells_each_page_once_and_a_failed_one_none(db: tuple[str, bool]) -> None:
    told: list[tuple[str, int]] = []
    store = counted_store(db[0], lambda p, _e, n, _s: told.append((p, n)), dsn=db[1])
    async with store:
        for plant, key in zip(PLANTS, KEYS, strict=True):
            await store.add_plant(fingerprint(plant.itr), key)
        with pytest.raises(StoreError):  # a plant never added: the whole batch is refused
            await store.commit_pages([_page("a", 0), _page("nobody", 1)], now=1.0)
        assert told == []
        batcher = Batcher(store, FakeClock(1.0), window=0.2)
        got = await asyncio.gather(
            batcher.commit(_page("a", 0)),
            batcher.commit(_page("nobody", 1)),
            batcher.commit(_page("b", 1)),
            return_exceptions=True,
        )
        await batcher.drain()
        assert got[0] is None
        assert got[2] is None
        assert isinstance(got[1], StoreError)
        for key in KEYS:
            assert await store.state(key, Endpoint.METER) == _page(key, KEYS.index(key)).state
    assert sorted(told) == [("a", 3), ("b", 3)]

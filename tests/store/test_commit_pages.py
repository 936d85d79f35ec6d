"""`commit_pages`: several plants' pages in one transaction, each landing as `commit_page`'s.

Follow mode polls many plants a record at a time; one commit for many of them costs one
transaction instead of one each. Exactly once per page still holds: the batch lands whole,
each page with its state, or none of it does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import attrs
import pytest

from lacecal_async import fingerprint
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import LeaseLostError, PostgresStore, Store, StoreError, SyncState
from lacecal_async.sync.core import PlantPage, StoreCore
from lacecal_async.tables import INVERTERS, METER, PERIODS, Row, Table
from lacecal_async.testing import make_plants
from tests.support.store_kinds import StoreKind
from tests.support.stores import KEY, PLANT, meter_pages, page_state

IV = PLANT.interval
OTHER = make_plants(3, seed=5, days=1)
KEYS = [fingerprint(plant.itr) for plant in OTHER[:2]]
#: A plant given the same pages one `commit_page` at a time.
REFERENCE = "reference"


@pytest.fixture
async def store(store_kind: StoreKind) -> AsyncIterator[StoreCore]:
    async with store_kind.make() as opened:
        assert isinstance(opened, StoreCore)
        for key in (KEY, *KEYS):
            await opened.add_plant(key)
        await opened.add_plant(fingerprint(OTHER[2].itr), REFERENCE)
        yield opened


async def table(store: Store, which: Table) -> list[Row]:
    return [row async for batch in store.read_rows(which) for row in batch]


async def test_a_batch_lands_as_its_pages_would_one_by_one(store: StoreCore) -> None:
    first, second = meter_pages()[:2]
    gap = second[2:]  # a hole between the plant's two pages
    one = OTHER[0].meter_records(OTHER[0].first, OTHER[0].first + OTHER[0].interval)
    periods = OTHER[1].inverter_records(OTHER[1].first, OTHER[1].first + 3 * OTHER[1].interval)
    since = SyncState(latest=first[-1].unix_time, interval=IV, since=PLANT.first - 2 * IV)
    await store.commit_pages(
        [
            PlantPage(KEY, Endpoint.METER, first, since),
            PlantPage(KEYS[0], Endpoint.METER, one, page_state(one)),
            PlantPage(KEY, Endpoint.METER, gap, page_state(gap)),
            PlantPage(KEYS[1], Endpoint.INVERTER, periods, SyncState(latest=0, interval=IV)),
        ],
        now=5.0,
    )
    expected = sorted(METER.rows(KEY, [*first, *gap]) + METER.rows(KEYS[0], one))
    assert await table(store, METER) == expected
    assert await table(store, PERIODS) == PERIODS.rows(KEYS[1], periods)
    assert len(await table(store, INVERTERS)) == len(INVERTERS.rows(KEYS[1], periods))
    # The last page of a plant gives its state; the first one's `since` stays.
    assert await store.state(KEY, Endpoint.METER) == attrs.evolve(
        page_state(gap), since=since.since
    )
    assert await store.state(KEYS[0], Endpoint.METER) == page_state(one)
    # The holes and the state, as the same pages one by one give them: the head, the gaps.
    for records, state in ((first, since), (gap, page_state(gap))):
        await store.commit_page(REFERENCE, Endpoint.METER, records, state, now=5.0)
    holes = await store.holes(KEY, Endpoint.METER)
    assert holes == await store.holes(REFERENCE, Endpoint.METER)
    assert (PLANT.first - 2 * IV, PLANT.first) in [(h.start, h.end) for h in holes]
    assert (first[-1].unix_time + IV, second[2].unix_time) in [(h.start, h.end) for h in holes]
    assert await store.state(KEY, Endpoint.METER) == await store.state(REFERENCE, Endpoint.METER)


async def test_one_bad_page_leaves_no_page_of_the_batch(
    store: StoreCore, store_kind: StoreKind
) -> None:
    first, second = meter_pages()[:2]
    one = OTHER[0].meter_records(OTHER[0].first, OTHER[0].first + OTHER[0].interval)
    broken = [*second[:-1], attrs.evolve(second[-1], interval=0)]  # breaks a CHECK
    good = PlantPage(KEYS[0], Endpoint.METER, one, page_state(one))
    with pytest.raises(store_kind.integrity_error):
        await store.commit_pages(
            [good, PlantPage(KEY, Endpoint.METER, broken, page_state(second))], now=1.0
        )
    with pytest.raises(StoreError, match="unknown plant 'nobody'"):
        await store.commit_pages(
            [good, PlantPage("nobody", Endpoint.METER, first, page_state(first))], now=1.0
        )
    with pytest.raises(TypeError, match="another kind of record"):
        await store.commit_pages(
            [good, PlantPage(KEY, Endpoint.INVERTER, first, SyncState())], now=1.0
        )
    await store.commit_pages([], now=1.0)
    assert await table(store, METER) == []
    assert await store.state(KEYS[0], Endpoint.METER) is None
    assert await store.holes(KEY, Endpoint.METER) == []
    # The store is still usable: the batch, fixed, lands whole.
    fixed = PlantPage(KEY, Endpoint.METER, second, page_state(second))
    await store.commit_pages([good, fixed], now=2.0)
    assert len(await table(store, METER)) == len(one) + len(second)


async def test_a_batch_naming_a_plant_whose_lease_is_lost_writes_nothing(
    postgres_dsn: str,
) -> None:
    page = meter_pages()[0]
    async with PostgresStore(postgres_dsn) as store:
        for key in (KEY, *KEYS):
            await store.add_plant(key)
        assert await store.lease_plants("a", want=2, ttl=600.0, among=[KEY, KEYS[0]]) == sorted(
            [KEY, KEYS[0]]
        )
        assert await store.lease_plants("b", want=1, ttl=600.0, among=[KEYS[1]]) == [KEYS[1]]
        mine = PlantPage(KEY, Endpoint.METER, page, page_state(page))
        theirs = PlantPage(KEYS[1], Endpoint.METER, page, page_state(page))
        with pytest.raises(LeaseLostError, match="no longer holds the lease"):
            await store.commit_pages([mine, theirs], now=1.0, worker="a")
        assert await table(store, METER) == []
        assert await store.state(KEY, Endpoint.METER) is None
        await store.commit_pages([mine], now=1.0, worker="a")
        assert await table(store, METER) == METER.rows(KEY, page)

"""Reading a store back: rows and records in plant and time order, in batches, filtered.

Every test runs on each store (`store_kind`).
"""

from __future__ import annotations

import attrs
import pytest

from lacecal_async import fingerprint
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import Store, SyncState
from lacecal_async.tables import INVERTER_LIST, INVERTERS, METER, PERIODS
from lacecal_async.testing import make_plants
from tests.support.store_kinds import StoreKind

PLANTS = make_plants(3, seed=5, days=1)
ALIASES = ("b-plant", "a-plant", "c-plant")
N = 25


async def filled(kind: StoreKind) -> Store:
    """A store holding N periods of meter and inverter records of each plant."""
    store = kind.make()
    await store.open()
    for plant, alias in zip(PLANTS, ALIASES, strict=True):
        key = await store.add_plant(fingerprint(plant.itr), alias)
        span = (plant.first, plant.first + N * plant.interval)
        for endpoint, records in (
            (Endpoint.METER, plant.meter_records(*span)),
            (Endpoint.INVERTER, plant.inverter_records(*span)),
        ):
            state = SyncState(latest=records[-1].unix_time, interval=plant.interval)
            await store.commit_page(key, endpoint, records, state, now=1.0)
        await store.commit_inventory(key, plant.inverters, now=1.0)
    return store


def expected(endpoint: Endpoint, start: int = 0, end: int = 2**40) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for alias, plant in sorted(zip(ALIASES, PLANTS, strict=True)):
        records = (plant.meter_records if endpoint is Endpoint.METER else plant.inverter_records)(
            plant.first, plant.first + N * plant.interval
        )
        out += [(alias, r) for r in records if start <= r.unix_time < end]
    return out


@pytest.mark.parametrize("batch", [1, 7, 10_000])
@pytest.mark.parametrize("endpoint", [Endpoint.METER, Endpoint.INVERTER])
async def test_records_come_back_as_committed(
    store_kind: StoreKind, endpoint: Endpoint, batch: int
) -> None:
    store = await filled(store_kind)
    try:
        batches = [b async for b in store.read_records(endpoint, batch=batch)]
    finally:
        await store.close()
    assert [(plant, r) for plant, records in batches for r in records] == expected(endpoint)
    assert all(0 < len(records) <= batch for _, records in batches)
    assert len({plant for plant, _ in batches}) == len(PLANTS)


async def test_filters_by_plant_and_time(store_kind: StoreKind) -> None:
    store = await filled(store_kind)
    plant = PLANTS[0]
    start, end = plant.first + 3 * plant.interval, plant.first + 9 * plant.interval
    try:
        got = [
            (key, r)
            async for key, records in store.read_records(
                Endpoint.INVERTER, plants=["b-plant"], start=start, end=end, batch=4
            )
            for r in records
        ]
        assert got == [e for e in expected(Endpoint.INVERTER, start, end) if e[0] == "b-plant"]
        assert [b async for b in store.read_records(Endpoint.METER, plants=[])] == []
        rows = [r async for b in store.read_rows(INVERTERS, plants=["c-plant"], batch=5) for r in b]
        last = PLANTS[2]
        records = last.inverter_records(last.first, last.first + N * last.interval)
        assert rows == INVERTERS.rows("c-plant", records)
        assert [b async for b in store.read_rows(PERIODS, end=min(p.first for p in PLANTS))] == []
        inventory = [r async for b in store.read_rows(INVERTER_LIST, batch=2) for r in b]
        assert inventory == [
            row
            for alias, p in sorted(zip(ALIASES, PLANTS, strict=True))
            for row in INVERTER_LIST.rows(alias, sorted(p.inverters, key=lambda i: i.id))
        ]
        meter = [r async for b in store.read_rows(METER, start=start, end=end) for r in b]
        assert {r[1] for r in meter} <= set(range(start, end))
    finally:
        await store.close()


async def test_bad_reads_are_refused(store_kind: StoreKind) -> None:
    async with store_kind.make() as store:
        with pytest.raises(ValueError, match="no table 'elsewhere'"):
            [b async for b in store.read_rows(attrs.evolve(METER, name="elsewhere"))]
        with pytest.raises(ValueError, match="no time"):
            [b async for b in store.read_rows(INVERTER_LIST, start=0)]
        with pytest.raises(ValueError, match="at least 1"):
            [b async for b in store.read_rows(METER, batch=0)]
        with pytest.raises(ValueError, match="at least 1"):
            [b async for b in store.read_records(Endpoint.METER, batch=0)]
        with pytest.raises(ValueError, match="no records per period"):
            [b async for b in store.read_records(Endpoint.INVERTER_LIST)]
        assert [b async for b in store.read_records(Endpoint.INVERTER)] == []

"""`drop_future` on every store: rows dated after the clock go, with their holes; a note stays."""

from __future__ import annotations

from lacecal_async import fingerprint
from lacecal_async.endpoints import Endpoint
from lacecal_async.records import InverterRecord
from lacecal_async.sync import Store, SyncState
from lacecal_async.testing import make_plants
from tests.support.store_kinds import StoreKind

PLANT = make_plants(1, seed=81, days=1, gaps=False)[0]
PERIOD = PLANT.interval
FIRST = PLANT.first
YEAR = 365 * 86400


async def _periods(store: Store) -> list[tuple[int, int]]:
    """Each stored inverter period's start and how many inverter rows it has."""
    return [
        (record.unix_time, len(record.inverters))
        async for _, records in store.read_records(Endpoint.INVERTER)
        for record in records
        if isinstance(record, InverterRecord)
    ]


async def test_future_inverter_periods_go_with_their_rows_and_holes(store_kind: StoreKind) -> None:
    believable = [PLANT.inverter_record(FIRST + i * PERIOD) for i in range(3)]
    future = [PLANT.inverter_record(FIRST + YEAR + i * PERIOD) for i in (0, 5)]
    async with store_kind.make() as store:
        await store.add_plant(fingerprint(PLANT.itr), "roof")
        state = SyncState(latest=believable[-1].unix_time, interval=PERIOD, since=FIRST)
        await store.commit_page("roof", Endpoint.INVERTER, believable, state, now=1.0)
        state = SyncState(latest=future[-1].unix_time, interval=PERIOD * 2, since=FIRST)
        await store.commit_page("roof", Endpoint.INVERTER, future, state, now=2.0)
        assert len(await store.holes("roof", Endpoint.INVERTER)) == 2  # to next year, and in it
        removed = await store.drop_future(
            "roof", Endpoint.INVERTER, after=FIRST + 86400, seen=None, now=3.0
        )
        assert removed == 2
        inverters = len(PLANT.inverters)
        assert await _periods(store) == [(r.unix_time, inverters) for r in believable]
        assert await store.holes("roof", Endpoint.INVERTER) == []
        kept = await store.state("roof", Endpoint.INVERTER)
        assert kept == SyncState(latest=believable[-1].unix_time, interval=PERIOD, since=FIRST)
        (row,) = await store.status()
        assert (row.future_record, row.future_seen_at, row.future_removed) == (
            future[-1].unix_time,
            3.0,
            2,
        )
        # A record refused before it was stored is noted; nothing else changes.
        again = await store.drop_future(
            "roof", Endpoint.INVERTER, after=FIRST + 86400, seen=FIRST + 2 * YEAR, now=4.0
        )
        assert again == 0
        assert await store.state("roof", Endpoint.INVERTER) == kept
        (row,) = await store.status()
        assert (row.future_record, row.future_seen_at, row.future_removed) == (
            FIRST + 2 * YEAR,
            4.0,
            2,
        )


async def test_a_refusal_before_anything_is_stored_leaves_a_note(store_kind: StoreKind) -> None:
    async with store_kind.make() as store:
        await store.add_plant(fingerprint(PLANT.itr), "roof")
        assert await store.drop_future("roof", Endpoint.METER, after=10, seen=YEAR, now=5.0) == 0
        assert await store.state("roof", Endpoint.METER) == SyncState()
        (row,) = await store.status()
        assert (row.endpoint, row.latest_record, row.failures) == (Endpoint.METER, None, 0)
        assert (row.future_record, row.future_seen_at, row.future_removed) == (YEAR, 5.0, 0)

"""`rollup_store` on SQLite and PostgreSQL: the rows of the records it holds, batch by batch.

Each store is filled through its API; its rollup must equal the pure rollup of the same
records whatever the read batch (a bucket split across batches, a plant change inside
one), begin each plant with its first stored period, and follow a repair committed later.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lacecal_async import fingerprint
from lacecal_async.endpoints import Endpoint
from lacecal_async.records import InverterRecord, MeterRecord
from lacecal_async.stats import StatsRow, rollup
from lacecal_async.stats_buckets import Bucket
from lacecal_async.stats_store import rollup_store
from lacecal_async.stats_sums import running_sums
from lacecal_async.sync import Store, SyncState
from lacecal_async.testing import make_plants
from tests.support.store_kinds import StoreKind

MADRID = ZoneInfo("Europe/Madrid")
FIRST = int(datetime(2024, 10, 25, tzinfo=MADRID).timestamp())
PLANTS = make_plants(3, seed=21, start=FIRST, days=5)
ALIASES = ("roof", "barn", None)
#: Two periods of roof missing on the 26th at 10:00 local, committed later.
LATE = {FIRST + 86400 + 10 * 3600, FIRST + 86400 + 10 * 3600 + 600}


def span(plant: Any, endpoint: Endpoint) -> list[Any]:
    end = (plant.latest or 0) + 1
    if endpoint is Endpoint.METER:
        return list(plant.meter_records(plant.first, end))
    return list(plant.inverter_records(plant.first, end))


async def commit(store: Store, key: str, endpoint: Endpoint, records: Sequence[Any]) -> None:
    for i in range(0, len(records), 50):
        page = records[i : i + 50]
        state = SyncState(latest=page[-1].unix_time, interval=page[-1].interval)
        await store.commit_page(key, endpoint, page, state, now=1.0)


async def fill(store: Store, *, late: bool = False) -> dict[str, dict[Endpoint, list[Any]]]:
    """Commit every plant's records (roof without `LATE` unless `late`); return them by key."""
    held: dict[str, dict[Endpoint, list[Any]]] = {}
    for plant, alias in zip(PLANTS, ALIASES, strict=True):
        key = await store.add_plant(fingerprint(plant.itr), alias)
        held[key] = {}
        for endpoint in (Endpoint.METER, Endpoint.INVERTER):
            records = span(plant, endpoint)
            if key == "roof" and not late:
                records = [r for r in records if r.unix_time not in LATE]
            held[key][endpoint] = records
            await commit(store, key, endpoint, records)
    return held


async def collect(store: Any, endpoint: Endpoint, bucket: Bucket, **kw: Any) -> list[StatsRow]:
    return [row async for row in rollup_store(store, endpoint, bucket, MADRID, **kw)]


def pure(
    held: dict[str, dict[Endpoint, list[Any]]],
    endpoint: Endpoint,
    bucket: Bucket,
    **kw: Any,
) -> list[StatsRow]:
    records: dict[str, list[MeterRecord] | list[InverterRecord]] = {
        key: held[key][endpoint] for key in sorted(held)
    }
    return rollup(records, bucket, MADRID, **kw)


@pytest.mark.parametrize("endpoint", [Endpoint.METER, Endpoint.INVERTER])
async def test_the_store_rollup_is_the_rollup_of_its_records(
    store_kind: StoreKind, endpoint: Endpoint
) -> None:
    async with store_kind.make() as store:
        held = await fill(store)
        for bucket in ("hour", "day", "month"):
            want = pure(held, endpoint, bucket)
            assert await collect(store, endpoint, bucket) == want
            assert await collect(store, endpoint, bucket, batch=7) == want
        window = {"start": FIRST + 86400 + 3600 * 5 + 300, "end": FIRST + 3 * 86400 - 1}
        want = pure(held, endpoint, "hour", **window)
        assert await collect(store, endpoint, "hour", batch=13, **window) == want
        only = await collect(store, endpoint.value, "day", plants=["barn"])  # type: ignore[arg-type]
        assert only == [row for row in pure(held, endpoint, "day") if row.plant == "barn"]


async def test_rows_begin_with_each_plants_first_stored_period(store_kind: StoreKind) -> None:
    async with store_kind.make() as store:
        await fill(store)
        since = FIRST - 5 * 86400  # days before any plant has data
        rows = await collect(store, Endpoint.METER, "day", start=since)
        assert rows == await collect(store, Endpoint.METER, "day")
        first = {row.plant: row for row in reversed(rows)}
        assert all(row.start == datetime.fromtimestamp(FIRST, MADRID) for row in first.values())
        inside = FIRST + 86400 + 10 * 3600 + 600  # the window starts inside roof's hole
        (hour, *_) = await collect(store, Endpoint.METER, "hour", start=inside, plants=["roof"])
        assert (hour.periods, hour.expected, hour.complete) == (4, 6, False)


async def test_a_repair_committed_later_changes_the_rows_from_its_bucket_on(
    store_kind: StoreKind,
) -> None:
    async with store_kind.make() as store:
        await fill(store)
        before = await collect(store, Endpoint.METER, "hour", plants=["roof"])
        roof = PLANTS[0]
        repair = [roof.meter_record(t) for t in sorted(LATE)]
        state = SyncState(latest=(roof.latest or 0), interval=roof.interval)
        await store.commit_page("roof", Endpoint.METER, repair, state, now=2.0)
        after = await collect(store, Endpoint.METER, "hour", plants=["roof"])
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert len(changed) == 1
    (at,) = changed
    assert not before[at].complete
    assert after[at].complete
    old, new = running_sums(before, "grid_imported_kwh"), running_sums(after, "grid_imported_kwh")
    assert old[:at] == new[:at]
    assert all(a.sum < b.sum for a, b in zip(old[at:], new[at:], strict=True))


async def test_arguments_are_checked_before_reading(store_kind: StoreKind) -> None:
    async with store_kind.make() as store:
        with pytest.raises(ValueError, match="no periods to roll up"):
            await collect(store, Endpoint.INVERTER_LIST, "day")
        with pytest.raises(ValueError, match="end must be after start"):
            await collect(store, Endpoint.METER, "day", start=FIRST, end=FIRST)
        with pytest.raises(ValueError, match="bucket must be one of"):
            await collect(store, Endpoint.METER, "week")  # type: ignore[arg-type]
        assert await collect(store, Endpoint.METER, "day") == []

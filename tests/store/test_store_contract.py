"""The `Store` contract, on every store (SQLite and PostgreSQL): what the sync engine relies on.

Idempotent pages, one transaction per page, holes and their repairs, errors, status, reading
back, and calls that complete whole. Each test runs once per store (`store_kind`) and looks
only through the protocol, so a store that passes behaves as the engine expects.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import attrs
import pytest

from lacecal_async import LacecalError, fingerprint
from lacecal_async.endpoints import Endpoint
from lacecal_async.records import Inverter, InverterEnergy
from lacecal_async.sync import (
    Hole,
    PostgresStore,
    SQLiteStore,
    StatusRow,
    Store,
    StoreError,
    SyncState,
)
from lacecal_async.tables import INVERTERS, PERIODS, Row, Table
from lacecal_async.tables import METER as METER_TABLE
from lacecal_async.testing import make_plants
from tests.support.store_kinds import StoreKind
from tests.support.stores import KEY, PLANT, meter_pages, page_state

METER = Endpoint.METER
INVERTER = Endpoint.INVERTER
IV = PLANT.interval


@pytest.fixture
async def store(store_kind: StoreKind) -> AsyncIterator[Store]:
    async with store_kind.make() as opened:
        await opened.add_plant(KEY)
        yield opened


async def table(store: Store, which: Table) -> list[Row]:
    return [row async for batch in store.read_rows(which) for row in batch]


async def test_same_page_twice_gives_the_same_rows(store: Store) -> None:
    page = meter_pages()[0]
    await store.commit_page(KEY, METER, page, page_state(page), now=1.0)
    first = await table(store, METER_TABLE)
    await store.commit_page(KEY, METER, page, page_state(page), now=2.0)
    assert await table(store, METER_TABLE) == first == METER_TABLE.rows(KEY, page)
    assert await store.state(KEY, METER) == page_state(page)


async def test_a_page_comes_back_as_its_export_rows(store: Store) -> None:
    meters = PLANT.meter_records(PLANT.first, PLANT.first + 5 * IV)
    inverters = PLANT.inverter_records(PLANT.first, PLANT.first + 5 * IV)
    await store.commit_page(KEY, METER, meters, page_state(meters), now=1.0)
    await store.commit_page(KEY, INVERTER, inverters, SyncState(latest=0, interval=IV), now=1.0)
    assert await table(store, METER_TABLE) == METER_TABLE.rows(KEY, meters)
    assert await table(store, PERIODS) == PERIODS.rows(KEY, inverters)
    assert await table(store, INVERTERS) == sorted(
        INVERTERS.rows(KEY, inverters), key=lambda r: (r[1], r[5])
    )
    # `start` comes back at the plant's offset, as the record had it (not only the instant).
    assert [r[2].isoformat() for r in await table(store, METER_TABLE)] == [  # type: ignore[union-attr]
        r.start.isoformat() for r in meters
    ]


async def test_a_corrected_record_replaces_the_stored_one(store: Store) -> None:
    record = attrs.evolve(
        PLANT.inverter_record(PLANT.first),
        total_energy=3.0,
        inverters=(InverterEnergy(6, 1.0), InverterEnergy(7, 2.0)),
    )
    await store.commit_page(KEY, INVERTER, [record], SyncState(), now=1.0)
    assert [(r[5], r[6]) for r in await table(store, INVERTERS)] == [(6, 1.0), (7, 2.0)]
    # The logger corrected the period: one inverter only, another energy.
    fixed = attrs.evolve(record, total_energy=9.5, inverters=(InverterEnergy(7, 9.5),))
    await store.commit_page(KEY, INVERTER, [fixed], SyncState(), now=2.0)
    assert [(r[5], r[6]) for r in await table(store, INVERTERS)] == [(7, 9.5)]
    assert [(r[5], r[6]) for r in await table(store, PERIODS)] == [(9.5, 1)]
    # A period without inverters is a stored period with no inverter rows; a replay adds none.
    bare = attrs.evolve(record, inverters=(), total_energy=0.0)
    for now in (3.0, 4.0):
        await store.commit_page(KEY, INVERTER, [bare], SyncState(), now=now)
    assert await table(store, INVERTERS) == []
    assert [(r[1], r[5], r[6]) for r in await table(store, PERIODS)] == [(record.unix_time, 0.0, 0)]
    assert [r async for r in store.read_records(INVERTER)] == [(KEY, [bare])]


async def test_a_page_repeating_a_period_keeps_its_last_record(store: Store) -> None:
    first, second = PLANT.meter_records(PLANT.first, PLANT.first + 2 * IV)
    fixed = attrs.evolve(first, interval=IV)
    again = attrs.evolve(first, load=None)
    await store.commit_page(KEY, METER, [fixed, second, again], page_state([second]), now=1.0)
    assert await table(store, METER_TABLE) == METER_TABLE.rows(KEY, [again, second])


async def test_periods_without_inverters_are_no_holes(store: Store) -> None:
    records = PLANT.inverter_records(PLANT.first, PLANT.first + 6 * IV)
    empty = [attrs.evolve(r, inverters=(), total_energy=0.0) for r in records[1:5]]
    page = [records[0], *empty, records[5]]
    await store.commit_page(KEY, INVERTER, page, SyncState(latest=page[-1].unix_time), now=1.0)
    assert await store.holes(KEY, INVERTER) == []
    (status,) = await store.status()
    assert (status.first_record, status.latest_record) == (page[0].unix_time, page[-1].unix_time)
    inverter_rows = await table(store, INVERTERS)
    assert len(inverter_rows) == len(records[0].inverters) + len(records[5].inverters)
    # A period missing from the reply is a hole, whatever the inverter rows around it.
    await store.commit_page(KEY, INVERTER, [*page[:2], *page[3:]], SyncState(), now=2.0)
    await store.commit_page(
        KEY,
        INVERTER,
        PLANT.inverter_records(PLANT.first + 8 * IV, PLANT.first + 9 * IV),
        SyncState(),
        now=3.0,
    )
    assert [(h.start, h.end) for h in await store.holes(KEY, INVERTER)] == [
        (PLANT.first + 6 * IV, PLANT.first + 8 * IV)
    ]


async def test_a_failing_row_leaves_neither_rows_nor_state(
    store: Store, store_kind: StoreKind
) -> None:
    pages = meter_pages()
    await store.commit_page(KEY, METER, pages[0], page_state(pages[0]), now=1.0)
    before = await table(store, METER_TABLE)
    # The last record breaks a constraint after the others were written in the transaction.
    broken = [*pages[1][:-1], attrs.evolve(pages[1][-1], interval=0)]
    with pytest.raises(store_kind.integrity_error, match=r"(?i)check"):
        await store.commit_page(KEY, METER, broken, page_state(pages[1]), now=2.0)
    assert await table(store, METER_TABLE) == before
    assert await store.state(KEY, METER) == page_state(pages[0])
    # The store is still usable, and the same page, fixed, lands whole.
    await store.commit_page(KEY, METER, pages[1], page_state(pages[1]), now=3.0)
    assert len(await table(store, METER_TABLE)) == len(pages[0]) + len(pages[1])


async def test_a_failing_state_leaves_no_rows(store: Store, store_kind: StoreKind) -> None:
    page = meter_pages()[0]
    with pytest.raises(store_kind.integrity_error):
        await store.commit_page(KEY, METER, page, SyncState(latest=1, interval=0), now=1.0)
    assert await table(store, METER_TABLE) == []
    assert await store.holes(KEY, METER) == []
    assert await store.state(KEY, METER) is None


async def test_a_page_of_the_other_endpoint_is_refused(store: Store) -> None:
    inverters = PLANT.inverter_records(PLANT.first, PLANT.first + 2 * IV)
    with pytest.raises(TypeError, match="another kind of record"):
        await store.commit_page(KEY, METER, inverters, SyncState(), now=1.0)
    with pytest.raises(ValueError, match="inventory"):
        await store.commit_page(KEY, Endpoint.INVERTER_LIST, [], SyncState(), now=1.0)
    with pytest.raises(ValueError, match="no records per period"):
        await store.holes(KEY, Endpoint.INVERTER_LIST)
    assert await table(store, METER_TABLE) == []
    assert await table(store, INVERTERS) == []


async def test_unknown_plants_are_refused(store: Store) -> None:
    page = meter_pages()[0]
    with pytest.raises(StoreError, match="unknown plant 'nobody'"):
        await store.commit_page("nobody", METER, page, page_state(page), now=1.0)
    with pytest.raises(StoreError, match="unknown plant"):
        await store.record_error("nobody", METER, "boom", None, now=1.0)
    with pytest.raises(StoreError, match="unknown plant"):
        await store.commit_inventory("nobody", [], now=1.0)
    await store.repair_attempted("nobody", METER, 0, 10, now=1.0)  # nothing to count
    assert await table(store, METER_TABLE) == []
    assert await store.state("nobody", METER) is None


async def test_plants_are_keyed_by_alias_else_fingerprint(store: Store) -> None:
    other = fingerprint("Another000Plant1")
    third = fingerprint("Another000Plant2")
    assert await store.add_plant(other, "roof") == "roof"
    assert await store.add_plant(other, "roof") == "roof"  # idempotent
    assert await store.add_plant(KEY) == KEY
    assert [(p.plant, p.fingerprint, p.alias) for p in await store.plants()] == [
        (KEY, KEY, None),
        ("roof", other, "roof"),
    ]
    with pytest.raises(StoreError, match="is stored as 'roof'"):
        await store.add_plant(other, "barn")
    with pytest.raises(StoreError, match="already names another plant"):
        await store.add_plant(third, "roof")
    for bad_alias in ("AbCd0123456789Zz", "itr-0123456789ab", "", " ", "x" * 201):
        with pytest.raises(ValueError, match="alias"):
            await store.add_plant(third, bad_alias)
    for bad_key in ("AbCd0123456789Zz", "itr-0123456789AB", "itr-123"):
        with pytest.raises(ValueError, match="fingerprint"):
            await store.add_plant(bad_key)
    assert len(await store.plants()) == 2
    assert issubclass(StoreError, LacecalError)


async def test_plant_keys_sort_bytewise(store: Store) -> None:
    for n, alias in enumerate(["b", "B", "a", "_z", "Ä"]):
        await store.add_plant(fingerprint(f"Another000Plan{n:02d}"), alias)
    keys = [p.plant for p in await store.plants()]
    assert keys == sorted(keys, key=lambda k: k.encode())
    assert [row.plant for row in await store.status()] == keys


async def test_inventory_is_replaced_as_a_whole(store: Store) -> None:
    first = [Inverter(6, "A", "SMA", "STP"), Inverter(7, "Año Ñ", "SMA", "STP", "0001")]
    await store.commit_inventory(KEY, first, now=1.0)
    assert await store.inventory(KEY) == first
    renamed = [Inverter(7, "B", "SMA", "STP", None), Inverter(9, "C", "Fronius", "Symo")]
    await store.commit_inventory(KEY, renamed, now=2.0)
    assert await store.inventory(KEY) == renamed
    await store.commit_inventory(KEY, [], now=3.0)
    assert await store.inventory(KEY) == []


async def test_holes_appear_between_pages_and_fill_in_late(store: Store) -> None:
    t0 = PLANT.first
    records = {r.unix_time: r for r in PLANT.meter_records(t0, t0 + 20 * IV)}
    have = [records[t0 + i * IV] for i in (0, 1, 2, 6, 7)]
    await store.commit_page(KEY, METER, have[:3], page_state(have[:3]), now=100.0)
    assert await store.holes(KEY, METER) == []  # nothing after the latest is a hole
    await store.commit_page(KEY, METER, have[3:], page_state(have[3:]), now=100.0)
    first_repair = 100.0 + 6 * IV
    assert await store.holes(KEY, METER) == [
        Hole(t0 + 3 * IV, t0 + 6 * IV, IV, first_seen=100.0, next_attempt=first_repair)
    ]
    # A record uploaded late lands in the middle: the hole splits, its schedule stays.
    late = records[t0 + 4 * IV]
    await store.commit_page(KEY, METER, [late], page_state(have[3:]), now=200.0)
    assert await store.holes(KEY, METER) == [
        Hole(t0 + 3 * IV, t0 + 4 * IV, IV, first_seen=100.0, next_attempt=first_repair),
        Hole(t0 + 5 * IV, t0 + 6 * IV, IV, first_seen=100.0, next_attempt=first_repair),
    ]
    assert await store.state(KEY, METER) == page_state(have[3:])  # the high-water mark stays
    # Backfilling before the first record makes a hole there too.
    early = records[t0 + 0 * IV]
    await store.commit_page(KEY, METER, [early], page_state(have[3:]), now=300.0)
    assert len(await store.holes(KEY, METER)) == 2
    await store.commit_page(
        KEY, METER, [records[t0 + 3 * IV], records[t0 + 5 * IV]], page_state(have), now=400.0
    )
    assert await store.holes(KEY, METER) == []


async def test_repairs_follow_the_schedule_then_give_up(store: Store) -> None:
    t0 = PLANT.first
    page = [PLANT.meter_record(t0), PLANT.meter_record(t0 + 10 * IV)]
    await store.commit_page(KEY, METER, page, page_state(page), now=0.0)
    hole_start, hole_end = t0 + IV, t0 + 10 * IV
    assert await store.holes(KEY, METER, due_by=6 * IV - 1) == []
    due = await store.holes(KEY, METER, due_by=6 * IV)
    assert [(h.start, h.end, h.periods) for h in due] == [(hole_start, hole_end, 9)]
    nexts = []
    now = 6.0 * IV
    for _ in range(4):
        await store.repair_attempted(KEY, METER, hole_start, hole_end, now=now)
        (hole,) = await store.holes(KEY, METER)
        nexts.append(hole.next_attempt)
        now = hole.next_attempt or now
    assert nexts == [36.0 * IV, 144.0 * IV, 1008.0 * IV, None]
    assert await store.holes(KEY, METER, due_by=10**12) == []  # given up: never due
    (kept,) = await store.holes(KEY, METER)
    assert (kept.start, kept.end, kept.attempts) == (hole_start, hole_end, 4)  # still listed
    (status,) = await store.status()
    assert (status.holes, status.missing_periods) == (1, 9)


async def test_errors_are_counted_and_cleaned(store: Store) -> None:
    itr = PLANT.itr
    await store.record_error(KEY, METER, f"GET meter.php?id={itr} failed", 50.0, now=10.0)
    await store.record_error(KEY, METER, "timeout " + "ab " * 400, 90.0, now=20.0)
    state = await store.state(KEY, METER)
    assert state is not None
    assert (state.failures, state.next_poll, state.last_error_at, state.latest) == (
        2,
        90.0,
        20.0,
        None,
    )
    assert state.last_error is not None
    assert len(state.last_error) == 500
    await store.record_error(KEY, METER, f"GET meter.php?id={itr} failed", 50.0, now=30.0)
    state = await store.state(KEY, METER)
    assert state is not None
    assert state.last_error == f"GET meter.php?id=...{itr[-4:]} failed"
    # A committed page writes the engine's state: failures back to 0.
    page = meter_pages()[0]
    await store.commit_page(KEY, METER, page, attrs.evolve(state, failures=0), now=40.0)
    state = await store.state(KEY, METER)
    assert state is not None
    assert (state.failures, state.latest) == (0, None)


async def test_status_has_a_row_per_plant_and_endpoint(store: Store) -> None:
    await store.add_plant(fingerprint("Another000Plant1"), "zeta")
    pages = meter_pages()
    for page in pages[:3]:
        await store.commit_page(KEY, METER, page, page_state(page), now=5.0)
    await store.record_error(KEY, INVERTER, "HTTP 503", 77.0, now=6.0)
    assert await store.status() == [
        StatusRow(KEY, INVERTER, None, None, 0, 0, 1, "HTTP 503", 6.0, 77.0),
        # The plant's first gap (5 periods) lies within the first three pages.
        StatusRow(
            KEY, METER, pages[0][0].unix_time, pages[2][-1].unix_time, 1, 5, 0, None, None, None
        ),
        StatusRow("zeta", None, None, None, 0, 0, 0, None, None, None),
    ]


async def test_the_event_loop_runs_while_a_page_commits(store: Store) -> None:
    records = PLANT.meter_records(PLANT.first, (PLANT.latest or 0) + 1)
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(0)
    started = ticks
    for _ in range(3):
        await store.commit_page(KEY, METER, records, page_state(records), now=1.0)
    during = ticks - started
    beat.cancel()
    assert during > 3  # the loop kept running while the database wrote


async def test_a_closed_store_refuses_calls_and_closes_twice(store_kind: StoreKind) -> None:
    store = store_kind.make()
    with pytest.raises(StoreError, match="not open"):
        await store.plants()
    await store.open()
    await store.open()  # already open: nothing happens
    await store.close()
    await store.close()
    with pytest.raises(StoreError, match="not open"):
        await store.state(KEY, METER)
    async with store_kind.make() as reopened:
        assert await reopened.plants() == []


async def test_a_cancelled_commit_still_commits_whole(store: Store, store_kind: StoreKind) -> None:
    records = PLANT.meter_records(PLANT.first, (PLANT.latest or 0) + 1)
    task = asyncio.create_task(store.commit_page(KEY, METER, records, page_state(records), now=1.0))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await store.close()  # waits for the transaction in flight
    async with store_kind.make() as reopened:
        assert len(await table(reopened, METER_TABLE)) == len(records)
        assert await reopened.state(KEY, METER) == page_state(records)


async def test_no_run_of_an_identifier_reaches_the_database(store_kind: StoreKind) -> None:
    plants = make_plants(4, seed=21, days=1)
    found: list[bytes] = []
    async with store_kind.make() as store:
        for plant in plants:
            key = await store.add_plant(fingerprint(plant.itr))
            meters = plant.meter_records(plant.first, plant.first + 40 * plant.interval)
            inverters = plant.inverter_records(plant.first, plant.first + 40 * plant.interval)
            state = SyncState(latest=meters[-1].unix_time, interval=plant.interval)
            await store.commit_page(key, METER, meters, state, now=1.0)
            await store.commit_page(key, INVERTER, inverters, state, now=1.0)
            await store.commit_inventory(key, plant.inverters, now=1.0)
            # A careless caller's messages quote the identifier; the store cuts them.
            await store.record_error(key, METER, f"id={plant.itr} 503", 9.0, now=2.0)
            await store.commit_page(
                key,
                INVERTER,
                [],
                SyncState(last_error=f"{plant.itr}: timeout", failures=1),
                now=3.0,
            )
        found.append(store_kind.dump())  # while open: SQLite's WAL too
    found.append(store_kind.dump())
    for plant in plants:
        runs = {plant.itr[i : i + 8].encode("ascii") for i in range(len(plant.itr) - 7)}
        for content in found:
            hits = [run for run in runs if run in content]
            assert hits == [], f"identifier runs stored: {hits}"
    # The search works: the plant keys are there.
    assert all(fingerprint(p.itr).encode() in found[-1] for p in plants)


async def test_states_are_every_plant_s_states_of_an_endpoint(store: Store) -> None:
    assert isinstance(store, (SQLiteStore, PostgresStore))
    other = fingerprint(make_plants(1, seed=3)[0].itr)
    await store.add_plant(other)
    assert await store.states(METER) == {}
    page = meter_pages()[0]
    await store.commit_page(KEY, METER, page, page_state(page), now=1.0)
    await store.record_error(other, METER, "boom", 3.0, now=2.0)
    states = await store.states(METER)
    assert states == {KEY: await store.state(KEY, METER), other: await store.state(other, METER)}
    assert await store.states(INVERTER) == {}

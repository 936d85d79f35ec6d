"""SQLiteStore on real files: idempotent pages, one transaction per page, holes, errors, status."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest
from store_support import KEY, PLANT, meter_pages, page_state, rows

from lacecal_async import LacecalError, fingerprint
from lacecal_async.endpoints import Endpoint
from lacecal_async.records import Inverter, InverterEnergy
from lacecal_async.sync import Hole, SQLiteStore, StatusRow, StoreError, SyncState
from lacecal_async.tables import INVERTERS, PERIODS, Row
from lacecal_async.tables import METER as METER_TABLE

METER = Endpoint.METER
INVERTER = Endpoint.INVERTER
IV = PLANT.interval


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "sync.db"


@pytest.fixture
async def store(db: Path) -> AsyncIterator[SQLiteStore]:
    async with SQLiteStore(db) as opened:
        await opened.add_plant(KEY)
        yield opened


def meter_table(db: Path) -> list[tuple[object, ...]]:
    return rows(db, "SELECT * FROM meter ORDER BY plant, unix_time")


def inverter_table(db: Path) -> list[tuple[object, ...]]:
    return rows(db, "SELECT * FROM inverter ORDER BY plant, unix_time, inverter_id")


def periods_table(db: Path) -> list[tuple[object, ...]]:
    return rows(db, "SELECT * FROM inverter_periods ORDER BY plant, unix_time")


def as_stored(export_rows: list[Row]) -> list[tuple[object, ...]]:
    """The export's rows as SQLite holds them: ``start`` as ISO 8601 text with its offset."""
    return [(*row[:2], row[2].isoformat(), *row[3:]) for row in export_rows]  # type: ignore[union-attr]


async def test_same_page_twice_gives_the_same_rows(store: SQLiteStore, db: Path) -> None:
    page = meter_pages()[0]
    await store.commit_page(KEY, METER, page, page_state(page), now=1.0)
    first = meter_table(db)
    await store.commit_page(KEY, METER, page, page_state(page), now=2.0)
    assert meter_table(db) == first
    assert len(first) == len(page)
    assert [r[1] for r in first] == [r.unix_time for r in page]
    assert await store.state(KEY, METER) == page_state(page)


async def test_rows_are_the_export_columns_and_values(store: SQLiteStore, db: Path) -> None:
    meters = PLANT.meter_records(PLANT.first, PLANT.first + 5 * IV)
    inverters = PLANT.inverter_records(PLANT.first, PLANT.first + 5 * IV)
    await store.commit_page(KEY, METER, meters, page_state(meters), now=1.0)
    await store.commit_page(KEY, INVERTER, inverters, SyncState(latest=0, interval=IV), now=1.0)
    assert meter_table(db) == as_stored(METER_TABLE.rows(KEY, meters))
    assert periods_table(db) == as_stored(PERIODS.rows(KEY, inverters))
    assert inverter_table(db) == sorted(
        as_stored(INVERTERS.rows(KEY, inverters)), key=lambda r: (r[1], r[5])
    )
    tables = {"meter": METER_TABLE, "inverter": INVERTERS, "inverter_periods": PERIODS}
    for name, table in tables.items():
        names = [r[0] for r in rows(db, "SELECT name FROM pragma_table_info(?)", name)]
        assert names == table.names
    # Each period's total once: SQL sums give the plant's production.
    (total,) = rows(db, "SELECT sum(total_energy_kwh) FROM inverter_periods")[0]
    assert total == pytest.approx(sum(r.total_energy for r in inverters))


async def test_a_corrected_record_replaces_the_stored_one(store: SQLiteStore, db: Path) -> None:
    record = attrs.evolve(
        PLANT.inverter_record(PLANT.first),
        total_energy=3.0,
        inverters=(InverterEnergy(6, 1.0), InverterEnergy(7, 2.0)),
    )
    await store.commit_page(KEY, INVERTER, [record], SyncState(), now=1.0)
    assert [(r[5], r[6]) for r in inverter_table(db)] == [(6, 1.0), (7, 2.0)]
    # The logger corrected the period: one inverter only, another energy.
    fixed = attrs.evolve(record, total_energy=9.5, inverters=(InverterEnergy(7, 9.5),))
    await store.commit_page(KEY, INVERTER, [fixed], SyncState(), now=2.0)
    assert [(r[5], r[6]) for r in inverter_table(db)] == [(7, 9.5)]
    assert [(r[5], r[6]) for r in periods_table(db)] == [(9.5, 1)]
    # A period without inverters is a stored period with no inverter rows; a replay adds none.
    bare = attrs.evolve(record, inverters=(), total_energy=0.0)
    for now in (3.0, 4.0):
        await store.commit_page(KEY, INVERTER, [bare], SyncState(), now=now)
    assert inverter_table(db) == []
    assert [(r[1], r[5], r[6]) for r in periods_table(db)] == [(record.unix_time, 0.0, 0)]
    assert [r async for r in store.read_records(INVERTER)] == [(KEY, [bare])]


async def test_periods_without_inverters_are_no_holes(store: SQLiteStore, db: Path) -> None:
    records = PLANT.inverter_records(PLANT.first, PLANT.first + 6 * IV)
    empty = [attrs.evolve(r, inverters=(), total_energy=0.0) for r in records[1:5]]
    page = [records[0], *empty, records[5]]
    await store.commit_page(KEY, INVERTER, page, SyncState(latest=page[-1].unix_time), now=1.0)
    assert await store.holes(KEY, INVERTER) == []
    (status,) = await store.status()
    assert (status.first_record, status.latest_record) == (page[0].unix_time, page[-1].unix_time)
    assert len(inverter_table(db)) == len(records[0].inverters) + len(records[5].inverters)
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


async def test_a_failing_row_leaves_neither_rows_nor_state(store: SQLiteStore, db: Path) -> None:
    pages = meter_pages()
    await store.commit_page(KEY, METER, pages[0], page_state(pages[0]), now=1.0)
    before = meter_table(db)
    # The last record breaks a constraint after the others were written in the transaction.
    broken = [*pages[1][:-1], attrs.evolve(pages[1][-1], interval=0)]
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await store.commit_page(KEY, METER, broken, page_state(pages[1]), now=2.0)
    assert meter_table(db) == before
    assert await store.state(KEY, METER) == page_state(pages[0])
    # The store is still usable, and the same page, fixed, lands whole.
    await store.commit_page(KEY, METER, pages[1], page_state(pages[1]), now=3.0)
    assert len(meter_table(db)) == len(pages[0]) + len(pages[1])


async def test_a_failing_state_leaves_no_rows(store: SQLiteStore, db: Path) -> None:
    page = meter_pages()[0]
    with pytest.raises(sqlite3.IntegrityError):
        await store.commit_page(KEY, METER, page, SyncState(latest=1, interval=0), now=1.0)
    assert meter_table(db) == []
    assert await store.holes(KEY, METER) == []
    assert await store.state(KEY, METER) is None


async def test_a_page_of_the_other_endpoint_is_refused(store: SQLiteStore, db: Path) -> None:
    inverters = PLANT.inverter_records(PLANT.first, PLANT.first + 2 * IV)
    with pytest.raises(TypeError, match="another kind of record"):
        await store.commit_page(KEY, METER, inverters, SyncState(), now=1.0)
    with pytest.raises(ValueError, match="inventory"):
        await store.commit_page(KEY, Endpoint.INVERTER_LIST, [], SyncState(), now=1.0)
    with pytest.raises(ValueError, match="no records per period"):
        await store.holes(KEY, Endpoint.INVERTER_LIST)
    assert meter_table(db) == []
    assert inverter_table(db) == []


async def test_unknown_plants_are_refused(store: SQLiteStore, db: Path) -> None:
    page = meter_pages()[0]
    with pytest.raises(StoreError, match="unknown plant 'nobody'"):
        await store.commit_page("nobody", METER, page, page_state(page), now=1.0)
    with pytest.raises(StoreError, match="unknown plant"):
        await store.record_error("nobody", METER, "boom", None, now=1.0)
    with pytest.raises(StoreError, match="unknown plant"):
        await store.commit_inventory("nobody", [], now=1.0)
    assert meter_table(db) == []
    assert await store.state("nobody", METER) is None


async def test_plants_are_keyed_by_alias_else_fingerprint(store: SQLiteStore) -> None:
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


async def test_inventory_is_replaced_as_a_whole(store: SQLiteStore) -> None:
    first = [Inverter(6, "A", "SMA", "STP"), Inverter(7, "Año Ñ", "SMA", "STP", "0001")]
    await store.commit_inventory(KEY, first, now=1.0)
    assert await store.inventory(KEY) == first
    renamed = [Inverter(7, "B", "SMA", "STP", None), Inverter(9, "C", "Fronius", "Symo")]
    await store.commit_inventory(KEY, renamed, now=2.0)
    assert await store.inventory(KEY) == renamed
    await store.commit_inventory(KEY, [], now=3.0)
    assert await store.inventory(KEY) == []


async def test_holes_appear_between_pages_and_fill_in_late(store: SQLiteStore) -> None:
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


async def test_repairs_follow_the_schedule_then_give_up(store: SQLiteStore) -> None:
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


async def test_errors_are_counted_and_cleaned(store: SQLiteStore) -> None:
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


async def test_status_has_a_row_per_plant_and_endpoint(store: SQLiteStore) -> None:
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


async def test_the_event_loop_runs_while_a_page_commits(store: SQLiteStore) -> None:
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
    assert during > 3  # the loop kept running while the worker thread wrote


async def test_a_closed_store_refuses_calls_and_closes_twice(db: Path) -> None:
    store = SQLiteStore(db)
    with pytest.raises(StoreError, match="not open"):
        await store.plants()
    await store.open()
    await store.open()  # already open: nothing happens
    await store.close()
    await store.close()
    with pytest.raises(StoreError, match="not open"):
        await store.state(KEY, METER)
    async with SQLiteStore(db) as reopened:
        assert await reopened.plants() == []


async def test_a_cancelled_commit_still_commits_whole(store: SQLiteStore, db: Path) -> None:
    records = PLANT.meter_records(PLANT.first, (PLANT.latest or 0) + 1)
    task = asyncio.create_task(store.commit_page(KEY, METER, records, page_state(records), now=1.0))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await store.close()  # waits for the transaction in flight
    assert len(meter_table(db)) == len(records)
    assert rows(db, "SELECT latest FROM sync_state") == [(records[-1].unix_time,)]

"""A record from the future never stops a plant: refused, never stored, shown; old ones removed.

A data logger whose clock glitches serves a latest record dated a year ahead. Before, the
first sync stored it and took it as the cursor: once the logger was fixed nothing newer
than the cursor existed, so the plant stopped for good while `status` said lag 0s, 0
failures (and in follow mode a moving one stored a junk row and opened a hole per cycle).
"""

from __future__ import annotations

import asyncio
import time

import attrs

from lacecal_async import LacecalClient, ScaledClock
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import Cycle, Store, SyncState, follow, sync
from lacecal_async.testing import FakeClock, FakeLacecalServer, Faults, Plant, make_plants
from tests.support.checks import wait_until
from tests.support.store_kinds import StoreKind

YEAR = 365 * 86400
PERIOD = 600
T0 = 1_760_000_000


def _plant(now: float, interval: int = PERIOD, seed: int = 31) -> Plant:
    start = int(now) - 86400
    base = make_plants(1, seed=seed, start=start, days=2, interval=interval, follow_clock=True)
    return attrs.evolve(base[0], gaps=())


async def _times(store: Store, plant: str) -> list[int]:
    return [
        record.unix_time
        async for _, records in store.read_records(Endpoint.METER, plants=[plant])
        for record in records
    ]


async def test_a_future_record_is_refused_shown_and_the_plant_goes_on_once_fixed(
    store_kind: StoreKind,
) -> None:
    clock = FakeClock(T0)
    plant = _plant(T0)
    last = plant.last_time(T0)
    glitch = last + YEAR
    async with (
        FakeLacecalServer([plant], rate_limit=None, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as client,
        store_kind.make() as store,
    ):
        server.set_faults(plant.itr, Faults(future_at=glitch))
        plants = [(plant.itr, "roof")]
        first = await sync(client, store, plants, "meter", since=plant.first, clock=clock)
        # Every believable record is stored, the future one is not, nor is it the cursor.
        assert await _times(store, "roof") == plant.available_times(
            plant.first, last + 1, now=clock.now()
        )
        assert (await store.state("roof", Endpoint.METER) or SyncState()).latest == last
        assert not first["roof"].ok
        assert "after this client's clock" in (first["roof"].endpoints[0].error or "")
        assert first["roof"].records == len(
            plant.available_times(plant.first, last + 1, now=clock.now())
        )
        # status shows the fault in between: a failure, and what was ignored.
        (row,) = await store.status()
        assert (row.failures, row.latest_record, row.holes) == (1, last, 0)
        assert "after this client's clock" in (row.last_error or "")
        assert (row.future_record, row.future_seen_at, row.future_removed) == (glitch, T0, 0)

        # The logger is fixed; ten periods later the next sync stores every new record.
        server.set_faults(plant.itr, Faults())
        clock.advance(10 * PERIOD)
        again = await sync(client, store, plants, "meter", since=plant.first, clock=clock)
        assert again["roof"].ok
        assert again["roof"].records == 10
        now_last = plant.last_time(clock.now())
        assert await _times(store, "roof") == plant.available_times(
            plant.first, now_last + 1, now=clock.now()
        )
        (row,) = await store.status()
        assert (row.failures, row.latest_record, row.holes) == (0, now_last, 0)
        assert row.future_record == glitch  # the note stays: what was ignored, and when


async def test_future_rows_a_store_already_holds_are_removed_and_the_plant_caught_up(
    store_kind: StoreKind,
) -> None:
    clock = FakeClock(T0)
    plant = _plant(T0, seed=32)
    last = plant.last_time(T0)
    believable = last - 20 * PERIOD
    glitch = last + YEAR
    async with (
        FakeLacecalServer([plant], rate_limit=None, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as client,
        store_kind.make() as store,
    ):
        # What the engine stored before records were checked: the glitch as the cursor, and
        # a hole of a year of missing periods in between.
        await sync(client, store, [(plant.itr, "roof")], "meter", since=believable, clock=clock)
        future = plant.meter_record(glitch)
        state = SyncState(latest=glitch, interval=PERIOD, since=believable)
        await store.commit_page("roof", Endpoint.METER, [future], state, now=clock.now())
        (row,) = await store.status()
        assert row.missing_periods > 50_000  # the junk hole
        rows_before = await _times(store, "roof")
        assert glitch in rows_before
        # The server never had it; new records came meanwhile.
        clock.advance(5 * PERIOD)
        report = await sync(client, store, [(plant.itr, "roof")], "meter", clock=clock)
        assert report["roof"].ok
        now_last = plant.last_time(clock.now())
        assert await _times(store, "roof") == plant.available_times(
            believable, now_last + 1, now=clock.now()
        )
        assert await store.holes("roof", Endpoint.METER) == []
        (row,) = await store.status()
        assert (row.latest_record, row.failures, row.holes) == (now_last, 0, 0)
        assert (row.future_record, row.future_removed) == (glitch, 1)


async def test_a_moving_future_record_in_follow_stores_no_junk_and_opens_no_hole(
    store_kind: StoreKind,
) -> None:
    period, speed = 2, 4.0
    clock = ScaledClock(time.time(), speed)
    start = int(clock.now()) // period * period - 10 * period
    base = make_plants(1, seed=33, start=start, days=1, interval=period, follow_clock=True)[0]
    plant = attrs.evolve(base, gaps=(), faults=Faults(future_ahead=YEAR))
    cycles: list[Cycle] = []
    async with (
        FakeLacecalServer([plant], rate_limit=None, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as client,
        store_kind.make() as store,
    ):
        task = asyncio.create_task(
            follow(
                client,
                store,
                [(plant.itr, "roof")],
                "meter",
                since=start,
                clock=clock,
                on_cycle=cycles.append,
            )
        )
        try:
            # caught up, then polled again and again while the logger's clock is wrong
            await wait_until(lambda: sum(1 for c in cycles if c.error) >= 4)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        stored = await _times(store, "roof")
        assert max(stored) <= clock.now()  # no junk row
        assert await store.holes("roof", Endpoint.METER) == []  # no hole to the future
        # progress, no gap
        assert stored == plant.available_times(start, max(stored) + 1, now=clock.now())
        assert max(stored) >= start + 10 * period
        (row,) = await store.status()
        assert row.failures >= 1  # since the last page committed (each cycle commits some)
        assert "after this client's clock" in (row.last_error or "")
        assert row.future_record is not None
        assert row.future_record > clock.now() + YEAR - 60
        # The fault keeps the plant's schedule (a backoff would wait 4, 8... periods).
        errors = [c for c in cycles if c.error and c.latest is not None]
        assert all(c.next_poll - (c.latest or 0) < 4.5 * period for c in errors[2:])


async def test_a_server_behind_the_stored_records_is_a_fault_shown_not_nothing_new(
    store_kind: StoreKind,
) -> None:
    plant = make_plants(1, seed=34, days=1, gaps=False)[0]
    last = plant.latest or 0
    clock = FakeClock(last + 2 * PERIOD)
    async with (
        FakeLacecalServer([plant], rate_limit=None, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as client,
        store_kind.make() as store,
    ):
        plants = [(plant.itr, "roof")]
        assert (await sync(client, store, plants, "meter", plant.first, clock=clock))["roof"].ok
        # The server loses its last five periods (its clock went back, or data was lost).
        server.add_plant(attrs.evolve(plant, latest=last - 5 * PERIOD))
        report = await sync(client, store, plants, "meter", clock=clock)
        assert "clock went back" in (report["roof"].endpoints[0].error or "")
        (row,) = await store.status()
        assert (row.latest_record, row.failures) == (last, 1)
        assert "clock went back" in (row.last_error or "")
        assert row.future_record is None  # nothing from the future was ignored


async def test_a_plant_started_now_learns_no_period_from_a_future_record(
    store_kind: StoreKind,
) -> None:
    clock = FakeClock(T0)
    plant = _plant(T0, seed=35)
    glitch = plant.last_time(T0) + YEAR
    cycles: list[Cycle] = []
    async with (
        FakeLacecalServer([plant], rate_limit=None, clock=clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as client,
        store_kind.make() as store,
    ):
        server.set_faults(plant.itr, Faults(future_at=glitch))
        plants = [(plant.itr, "roof")]
        await sync(client, store, plants, "meter", T0, clock=clock, on_cycle=cycles.append)
        (cycle,) = cycles
        assert (cycle.records, cycle.latest, cycle.interval) == (0, None, None)
        assert "after this client's clock" in (cycle.error or "")
        (row,) = await store.status()
        assert (row.latest_record, row.failures, row.future_record) == (None, 1, glitch)

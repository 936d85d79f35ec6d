"""Fleet workers in process: fenced writes, plants without an identifier, lost leases.

Real PostgreSQL (the `postgres_dsn` fixture) and the fake server over HTTP; 2-second periods
and lease ttls of about a second keep every wait short. No test depends on a round coming
back in time: a lease runs out when a test shortens it, and every wait is for a state.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from lacecal_async import LacecalClient, fingerprint
from lacecal_async.endpoints import Endpoint
from lacecal_async.records import Inverter
from lacecal_async.sync import (
    FleetEvent,
    LeaseLostError,
    PostgresStore,
    SyncState,
    follow_fleet,
    worker_id,
)
from lacecal_async.tables import METER
from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support.checks import wait_until
from tests.support.fleet import EXPIRE_SOON, until
from tests.support.lease_worker import measured_ttl

PERIOD = 2
LONG = 60.0  # a ttl that does not run out during a test


def _refused(events: list[FleetEvent]) -> set[str]:
    """The plants refused for want of their identifiers."""
    return {p for e in events if e.kind == "no_identifier" for p in e.plants}


async def test_a_fenced_write_from_a_worker_that_lost_its_lease_is_refused(
    postgres_dsn: str,
) -> None:
    plant = make_plants(1, seed=3, days=1)[0]
    records = plant.meter_records(plant.first, plant.first + 10 * plant.interval)
    async with PostgresStore(postgres_dsn) as a, PostgresStore(postgres_dsn) as b:
        key = await a.add_plant(fingerprint(plant.itr))
        assert await a.lease_plants("a", want=1, ttl=LONG) == [key]
        first = SyncState(latest=records[4].unix_time, interval=plant.interval)
        await a.commit_page(key, Endpoint.METER, records[:5], first, now=1.0, worker="a")
        # "a" stalls past its lease (it runs out); "b" takes the plant over.
        await a.renew_leases("a", ttl=EXPIRE_SOON)

        async def taken() -> bool:
            return await b.lease_plants("b", want=1, ttl=LONG) == [key]

        await until(taken)
        stale = SyncState(latest=records[-1].unix_time, interval=plant.interval)
        writes: list[Callable[[], Awaitable[None]]] = [
            lambda: a.commit_page(key, Endpoint.METER, records[5:], stale, now=2.0, worker="a"),
            lambda: a.commit_inventory(
                key, [Inverter(1, "x", "m", "mo", "s")], now=2.0, worker="a"
            ),
            lambda: a.repair_attempted(key, Endpoint.METER, 0, 10, now=2.0, worker="a"),
            lambda: a.record_error(key, Endpoint.METER, "boom", 5.0, now=2.0, worker="a"),
        ]
        for write in writes:
            with pytest.raises(LeaseLostError, match="no longer holds the lease"):
                await write()
        assert await b.state(key, Endpoint.METER) == first  # nothing of "a" got through
        assert await b.inventory(key) == []
        # The holder writes; an unfenced write (no worker) is not checked.
        await b.commit_page(key, Endpoint.METER, records[5:], stale, now=3.0, worker="b")
        await a.record_error(key, Endpoint.METER, "tool", 9.0, now=4.0)
        state = await b.state(key, Endpoint.METER)
        assert state is not None
        assert (state.latest, state.failures) == (records[-1].unix_time, 1)


async def test_a_fenced_write_on_an_expired_lease_no_one_took_is_refused(
    postgres_dsn: str,
) -> None:
    # Expiry alone ends a lease: the worker's write is refused though its id is still on
    # the row (no other worker took the plant), as after a stall that no one noticed.
    plant = make_plants(1, seed=3, days=1)[0]
    records = plant.meter_records(plant.first, plant.first + 10 * plant.interval)
    async with PostgresStore(postgres_dsn) as store:
        key = await store.add_plant(fingerprint(plant.itr))
        assert await store.lease_plants("a", want=1, ttl=LONG) == [key]
        first = SyncState(latest=records[4].unix_time, interval=plant.interval)
        await store.commit_page(key, Endpoint.METER, records[:5], first, now=1.0, worker="a")
        await store.renew_leases("a", ttl=EXPIRE_SOON)

        async def expired() -> bool:
            return await store.leases() == {}

        await until(expired)
        stale = SyncState(latest=records[-1].unix_time, interval=plant.interval)
        writes: list[Callable[[], Awaitable[None]]] = [
            lambda: store.commit_page(key, Endpoint.METER, records[5:], stale, now=2.0, worker="a"),
            lambda: store.commit_inventory(
                key, [Inverter(1, "x", "m", "mo", "s")], now=2.0, worker="a"
            ),
            lambda: store.repair_attempted(key, Endpoint.METER, 0, 10, now=2.0, worker="a"),
            lambda: store.record_error(key, Endpoint.METER, "boom", 5.0, now=2.0, worker="a"),
        ]
        for write in writes:
            with pytest.raises(LeaseLostError, match="no longer holds the lease"):
                await write()
        assert await store.state(key, Endpoint.METER) == first  # nothing got through
        assert await store.inventory(key) == []
        rows = [r async for batch in store.read_rows(METER) for r in batch]
        assert len(rows) == 5
        assert await store.leases() == {}  # and still no one else holds it


def test_worker_ids_are_unique_and_hold_no_identifier() -> None:
    ids = {worker_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(w.split("-")) >= 3 for w in ids)


async def _follow_until(task: asyncio.Task[None], done: Callable[[], bool]) -> None:
    await wait_until(lambda: done() or task.done())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_plant_without_its_identifier_goes_to_the_worker_that_has_it(
    postgres_dsn: str,
) -> None:
    start = int(time.time()) // PERIOD * PERIOD - 10 * PERIOD
    plants = make_plants(4, seed=5, start=start, days=1, interval=PERIOD, follow_clock=True)
    events: list[FleetEvent] = []
    async with (
        FakeLacecalServer(plants, rate_limit=(5, 1.0)) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(5, 1.0)) as client,
        PostgresStore(postgres_dsn) as store,
        PostgresStore(postgres_dsn) as other,
    ):
        # "full" registers every plant, with aliases; "partial" knows two identifiers only.
        named = [(p.itr, f"roof-{i}") for i, p in enumerate(plants)]
        for itr, alias in named:
            await store.add_plant(fingerprint(itr), alias)
        ttl = await measured_ttl(store)  # rounds never late, however busy the machine
        common = functools.partial(
            follow_fleet, lease_ttl=ttl, handover_wait=0.0, on_fleet=events.append
        )
        partial = asyncio.create_task(
            common(client, store, [p.itr for p in plants[:2]], "meter", start, worker="partial")
        )
        # Alone, it leases all four and refuses the two it cannot fetch.
        await wait_until(lambda: _refused(events) == {"roof-2", "roof-3"} or partial.done())
        full = asyncio.create_task(common(client, other, named, "meter", start, worker="full"))

        async def stored() -> int:
            return sum(1 for row in await other.status() if row.latest_record is not None)

        async def all_stored() -> bool:
            return await stored() == 4

        await until(all_stored)
        for task in (partial, full):
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert await stored() == 4
        assert await other.leases() == {}  # both released everything on the way out
        assert await other.live_workers() == []
    refused = [e for e in events if e.kind == "no_identifier"]
    assert refused
    assert {p for e in refused for p in e.plants} == {"roof-2", "roof-3"}
    assert {e.worker for e in refused} == {"partial"}
    took = {p for e in events if e.kind == "took" and e.worker == "full" for p in e.plants}
    assert {"roof-2", "roof-3"} <= took
    text = repr(events)
    assert all(p.itr[-8:] not in text for p in plants)


async def test_a_worker_whose_lease_is_taken_stops_that_plant(postgres_dsn: str) -> None:
    start = int(time.time()) // PERIOD * PERIOD - 10 * PERIOD
    plants = make_plants(2, seed=6, start=start, days=1, interval=PERIOD, follow_clock=True)
    events: list[FleetEvent] = []
    async with (
        FakeLacecalServer(plants, rate_limit=None) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(50, 1.0)) as client,
        PostgresStore(postgres_dsn) as store,
    ):
        task = asyncio.create_task(
            follow_fleet(
                client,
                store,
                [p.itr for p in plants],
                "meter",
                start,
                worker="w",
                lease_ttl=30,
                handover_wait=0.0,
                on_fleet=events.append,
            )
        )
        key = fingerprint(plants[0].itr)

        async def started() -> bool:
            return await store.state(key, Endpoint.METER) is not None

        await until(started)
        # Another worker takes the lease behind its back (as after a long stall).
        conn = await asyncpg.connect(postgres_dsn)
        try:
            await conn.execute("UPDATE leases SET worker = 'thief' WHERE plant = $1", key)
        finally:
            await conn.close()
        await _follow_until(
            task, lambda: any(e.kind == "stopped" and e.plants == (key,) for e in events)
        )
        stopped = [e for e in events if e.kind == "stopped" and e.plants == (key,)]
        assert stopped
        assert "no longer holds the lease" in stopped[0].detail
        assert (await store.leases())[key] == "thief"  # its lease was not released by "w"


async def test_a_failing_lease_round_stops_every_plant(postgres_dsn: str) -> None:
    start = int(time.time()) // PERIOD * PERIOD - 10 * PERIOD
    plants = make_plants(1, seed=7, start=start, days=1, interval=PERIOD, follow_clock=True)
    events: list[FleetEvent] = []
    async with (
        FakeLacecalServer(plants, rate_limit=None) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(50, 1.0)) as client,
    ):
        store = PostgresStore(postgres_dsn)
        await store.open()
        task = asyncio.create_task(
            follow_fleet(
                client,
                store,
                [plants[0].itr],
                "meter",
                start,
                lease_ttl=6.0,  # no round comes back late, however busy the machine
                handover_wait=0.0,
                on_fleet=events.append,
            )
        )

        async def took() -> bool:
            return any(e.kind == "took" for e in events)

        await until(took)
        await store.close()  # every later call fails: the worker stops what it runs
        closed = len(events)
        await _follow_until(task, lambda: any(e.kind == "stopped" for e in events[closed:]))
    # A round failed, or the plant's own write did first: either way the plant stopped.
    stopped = next(e for e in events[closed:] if e.kind == "stopped")
    assert stopped.plants == (fingerprint(plants[0].itr),)
    assert "is not open" in stopped.detail


async def test_lease_ttl_must_be_positive(postgres_dsn: str) -> None:
    async with PostgresStore(postgres_dsn) as store, LacecalClient() as client:
        with pytest.raises(ValueError, match="lease_ttl"):
            await follow_fleet(client, store, [], "meter", 0, lease_ttl=0)


async def test_plants_a_worker_cannot_fetch_are_taken_beyond_the_share_of_one_that_can(
    postgres_dsn: str,
) -> None:
    """Finding 09 of review 2: "full" stopped at its fair share (12 / 2) and 3 plants starved."""
    start = int(time.time()) // PERIOD * PERIOD - 10 * PERIOD
    plants = make_plants(12, seed=5, start=start, days=1, interval=PERIOD, follow_clock=True)
    events: list[FleetEvent] = []
    async with (
        FakeLacecalServer(plants, rate_limit=(50, 1.0)) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(50, 1.0)) as client,
        PostgresStore(postgres_dsn) as store,
        PostgresStore(postgres_dsn) as other,
    ):
        named = [(p.itr, f"roof-{i:02}") for i, p in enumerate(plants)]
        for itr, alias in named:
            await store.add_plant(fingerprint(itr), alias)
        ttl = await measured_ttl(store)  # rounds never late, however busy the machine
        common = functools.partial(
            follow_fleet, lease_ttl=ttl, handover_wait=0.0, on_fleet=events.append
        )
        partial = asyncio.create_task(
            common(client, store, named[:3], "meter", start, worker="partial")
        )
        # Alone, it leases all twelve and refuses the nine it cannot fetch.
        await wait_until(lambda: len(_refused(events)) == 9 or partial.done())
        full = asyncio.create_task(common(client, other, named, "meter", start, worker="full"))

        async def stored() -> int:
            return sum(1 for row in await other.status() if row.latest_record is not None)

        held: dict[str, str] = {}

        async def all_stored_and_held() -> bool:
            held.update(await other.leases())
            return await stored() == 12 and len(held) == 12

        await until(all_stored_and_held)
        for task in (partial, full):
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert await stored() == 12
    assert sorted(held) == [alias for _, alias in named]
    assert {k for k, w in held.items() if w == "partial"} <= {"roof-00", "roof-01", "roof-02"}

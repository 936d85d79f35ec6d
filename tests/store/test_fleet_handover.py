"""Hand-overs: a worker waits out what is left of the previous holder's rate window, no more.

Real PostgreSQL (the `postgres_dsn` fixture) and the fake server over HTTP. A plant no
worker ever held is asked for at once, whatever the hand-over wait; one another worker
let go of (released, or its lease expired) waits until its previous holder's requests
have left the API's window. The store says, per lease taken, how long ago its holder let
go (`LeaseBalance.idle`, the database's clock).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

import asyncpg
import pytest

from lacecal_async import LacecalClient, fingerprint
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import FleetEvent, PostgresStore, follow_fleet
from lacecal_async.sync.schema import POSTGRES_MIGRATIONS as MIGRATIONS
from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support.fleet import EXPIRE_SOON, until
from tests.support.lease_worker import measured_ttl

PERIOD = 2
LONG = 600.0  # a ttl that does not run out during a test
HOUR = 3600.0


def _keys(n: int) -> list[str]:
    return [fingerprint(f"HandoverPlant{i:03d}") for i in range(n)]


async def test_a_lease_taken_says_how_long_ago_its_holder_let_go(postgres_dsn: str) -> None:
    released, expired, fresh = _keys(3)
    async with PostgresStore(postgres_dsn) as store:
        for key in (released, expired, fresh):
            await store.add_plant(key)
        assert await store.lease_plants("a", want=2, ttl=LONG, among=[released, expired]) == (
            sorted([released, expired])
        )
        before = time.monotonic()
        await store.release_leases("a", [released])
        await store.renew_leases("a", ttl=EXPIRE_SOON)  # the other lease runs out

        async def expired_now() -> bool:
            return await store.leases() == {}

        await until(expired_now)
        balance = await store.balance_leases("b", ttl=LONG)
        since = time.monotonic() - before
    assert balance.taken == tuple(sorted([released, expired, fresh]))
    assert sorted(balance.idle) == sorted([released, expired])  # never held: not in it
    assert 0 <= balance.idle[expired] <= balance.idle[released] <= since + 1.0


class _Version4Store(PostgresStore):
    """The store's schema as the release before `leases.released_at` shipped it (schema 4).

    Only its schema: this code's lease statements need the new column, so the older
    workers' leases are written as they wrote them, in SQL.
    """

    migrations: ClassVar[tuple[tuple[str, ...], ...]] = MIGRATIONS[:4]


async def _old_release(dsn: str, plants: list[str], holder: str | None) -> None:
    """Lease (or free) `plants` as the release before did: no trace of when it let go."""
    conn = await asyncpg.connect(dsn)
    try:
        expires = "clock_timestamp() + interval '1 hour'" if holder else "NULL"
        await conn.execute(
            f"UPDATE leases SET worker = $1, acquired_at = {expires}, "  # noqa: S608 - ours
            f"expires_at = {expires} WHERE plant = ANY($2::text[])",
            holder,
            plants,
        )
    finally:
        await conn.close()


async def test_the_upgrade_counts_free_leases_as_just_released_and_keeps_held_ones(
    postgres_dsn: str,
) -> None:
    # An older worker that released a plant said not when: its next holder waits a whole
    # hand-over (so do plants no one held yet, once: the upgrade cannot tell them apart).
    held, free = _keys(2)
    async with _Version4Store(postgres_dsn) as old:
        for key in (held, free):
            await old.add_plant(key)
    await _old_release(postgres_dsn, [held, free], "old")
    await _old_release(postgres_dsn, [free], None)
    async with PostgresStore(postgres_dsn) as store:
        assert await store.leases() == {held: "old"}
        balance = await store.balance_leases("new", ttl=LONG)
    assert balance.taken == (free,)
    assert list(balance.idle) == [free]


async def test_a_worker_asks_at_once_for_plants_no_worker_held(postgres_dsn: str) -> None:
    # Before, every plant waited the whole hand-over (here an hour): a fleet's first start,
    # and a lone worker's, spent a rate-limit period doing nothing.
    start = int(time.time()) // PERIOD * PERIOD - 10 * PERIOD
    plants = make_plants(2, seed=8, start=start, days=1, interval=PERIOD, follow_clock=True)
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
                lease_ttl=LONG,
                handover_wait=HOUR,
            )
        )

        async def stored() -> bool:
            states = [await store.state(fingerprint(p.itr), Endpoint.METER) for p in plants]
            return all(state is not None for state in states) or task.done()

        await until(stored)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_plant_released_a_moment_ago_waits_for_its_last_requests_to_leave_the_window(
    postgres_dsn: str,
) -> None:
    window = 2.0  # the clients' rate-limit period: the hand-over is that and 1/60 of it
    start = int(time.time()) // PERIOD * PERIOD - 10 * PERIOD
    (plant,) = make_plants(1, seed=9, start=start, days=1, interval=PERIOD, follow_clock=True)
    key = fingerprint(plant.itr)
    async with (
        FakeLacecalServer([plant], rate_limit=None) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(50, window), user_agent="a") as a,
        LacecalClient(base_url=server.base_url, rate_limit=(50, window), user_agent="b") as b,
        PostgresStore(postgres_dsn) as store,
    ):

        def sent(agent: str) -> list[float]:
            log = server.stats(plant.itr).log
            return [entry.time for entry in log if entry.user_agent.endswith(f" {agent}")]

        events: list[FleetEvent] = []
        # Rounds a ttl/3 apart: a round skips a lease whose fenced write is still in flight
        # (the first worker's last page may be), and the next one takes it.
        common: dict[str, Any] = {
            "since": start,
            "endpoints": "meter",
            "lease_ttl": await measured_ttl(store),
            "on_fleet": events.append,
        }
        first = asyncio.create_task(follow_fleet(a, store, [plant.itr], worker="a", **common))

        async def stored() -> bool:
            return await store.state(key, Endpoint.METER) is not None or first.done()

        await until(stored)
        first.cancel()  # it stops the plant, then releases its lease on the way out
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await store.leases() == {}, events
        second = asyncio.create_task(follow_fleet(b, store, [plant.itr], worker="b", **common))

        async def asked() -> bool:
            return bool(sent("b")) or second.done()

        try:
            await until(asked)
        except TimeoutError:
            pytest.fail(f"no request from b: {events}, leases {await store.leases()}")
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        # The fake's clock and the database's tick at the same rate: the gap is at least
        # the hand-over, so no window of the API's ever held both workers' requests.
        assert min(sent("b")) - max(sent("a")) >= window

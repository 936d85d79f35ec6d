"""Identifiers a server echoes in inverter lists never reach a store (review 3, item 4).

Plants whose inverter names, manufacturers, models and serial numbers echo their own and
each other's identifiers (raw, fullwidth, bold, enclosed, spaced, split across fields) are
synced into each store; then everything the database holds is dumped (SQLite: its files;
PostgreSQL: pg_dump) and no 8 consecutive characters of any identifier are in it, in any
spelling. Innocent inverters come back exactly as served.
"""

from __future__ import annotations

import asyncio
import contextlib

from lacecal_async import LacecalClient, fingerprint
from lacecal_async.sync import PostgresStore, follow_fleet, sync
from lacecal_async.testing import FakeLacecalServer
from tests.support.checks import DEADLINE
from tests.support.echoing import INNOCENT, echoing_plants
from tests.support.store_kinds import StoreKind
from tests.support.windows import assert_no_leak

PLANTS = echoing_plants()
ITRS = [plant.itr for plant in PLANTS]


async def test_echoed_identifiers_are_hidden_before_they_are_stored(store_kind: StoreKind) -> None:
    a, b, c = PLANTS
    async with (
        FakeLacecalServer(PLANTS, rate_limit=None) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0), retries=0) as client,
        store_kind.make() as store,
    ):
        chosen: list[str | tuple[str, str | None]] = [a.itr, (b.itr, "roof"), c.itr]
        reports = await sync(client, store, chosen, "inverter", since=a.last_time() - 3600)
        assert all(report.ok for report in reports.values()), reports
        inventories = {
            key: await store.inventory(key)
            for key in (fingerprint(a.itr), "roof", fingerprint(c.itr))
        }
    assert [len(found) for found in inventories.values()] == [4, 2, 2]
    for found in inventories.values():
        assert_no_leak(repr(found), ITRS)
    first, _, third, innocent = inventories[fingerprint(a.itr)]
    assert first.name == f"Tejado ...{a.itr[-4:]}"  # only the run is replaced
    assert third.manufacturer.endswith(" Fronius")
    assert innocent == INNOCENT[0]
    assert inventories["roof"][1] == INNOCENT[1]
    assert tuple(inventories[fingerprint(c.itr)]) == INNOCENT
    assert_no_leak(store_kind.dump().decode("utf-8", "replace"), ITRS)


async def test_a_fleet_worker_hides_the_identifiers_of_plants_it_does_not_hold(
    postgres_dsn: str,
) -> None:
    # Another worker holds B and C: this one never asks about them, yet A's inverter list
    # echoes them. It was given their identifiers, so it hides them all the same.
    a, b, c = PLANTS
    async with (
        FakeLacecalServer(PLANTS, rate_limit=None) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0), retries=0) as client,
        PostgresStore(postgres_dsn) as store,
    ):
        keys = [await store.add_plant(fingerprint(p.itr)) for p in PLANTS]
        assert sorted(await store.lease_plants("other", want=2, ttl=600, among=keys[1:])) == sorted(
            keys[1:]
        )
        since = a.last_time() - 3600
        task = asyncio.create_task(
            follow_fleet(client, store, ITRS, "inverter", since, worker="this", lease_ttl=3.0)
        )
        try:
            async with asyncio.timeout(DEADLINE):
                while not await store.inventory(keys[0]):  # noqa: ASYNC110 - polls a database
                    await asyncio.sleep(0.05)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        stored = await store.inventory(keys[0])
        assert server.stats(b.itr).requests == server.stats(c.itr).requests == 0
    assert len(stored) == 4
    assert_no_leak(repr(stored), ITRS)
    assert stored[3] == INNOCENT[0]

"""A restarted `follow` refreshes each inverter list on its saved schedule, not at once.

Before, the next refresh lived in memory only: every restart asked every plant's
inverter list again in its first cycle (one of the ITR's 6 requests a minute; 100,000
plants, 100,000 extra requests at start), and a failed refresh's backoff was forgotten.
Counted here on the fake server's request log.
"""

from __future__ import annotations

import asyncio

import attrs
import pytest

from lacecal_async import LacecalClient, fingerprint
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import Cycle, PostgresStore, Store, follow, follow_fleet
from lacecal_async.testing import FakeLacecalServer, Faults, Plant
from tests.support.checks import first_cycle, wait_until
from tests.support.fixtures import ClientFactory, ServerFactory
from tests.support.store_kinds import StoreKind


def _listings(server: FakeLacecalServer, plant: Plant) -> int:
    return sum(1 for entry in server.stats(plant.itr).log if entry.endpoint == "inverter_list")


async def _follow_one_cycle(client: LacecalClient, store: Store, plant: Plant) -> Cycle:
    """Follow `plant`'s inverters until its first cycle is reported; return that cycle."""
    return await first_cycle(
        lambda on_cycle: follow(
            client, store, [(plant.itr, "roof")], "inverter", plant.first, on_cycle=on_cycle
        )
    )


async def test_a_restarted_follow_refreshes_the_inverter_list_when_due_not_at_once(
    store_kind: StoreKind, plant: Plant, make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server([plant])
    client = make_client(server.base_url)
    async with store_kind.make() as store:
        await _follow_one_cycle(client, store, plant)
        assert _listings(server, plant) == 1
        # Restarted: the refresh is 144 periods away, so the list is not asked again.
        second = await _follow_one_cycle(client, store, plant)
        assert second.error is None
        assert _listings(server, plant) == 1
        # A schedule saved in the past (the daemon was down a day) is due at once.
        await store.commit_inventory("roof", [], now=plant.first, next_poll=plant.first)
        await _follow_one_cycle(client, store, plant)
        assert _listings(server, plant) == 2
        assert len(await store.inventory("roof")) == len(plant.inverters) > 0


async def test_a_failed_refresh_keeps_its_backoff_across_a_restart(
    store_kind: StoreKind, plant: Plant, make_server: ServerFactory, make_client: ClientFactory
) -> None:
    failing = Faults(always_fail=True, fail_status=503, endpoints=("inverter_list",))
    server = await make_server([attrs.evolve(plant, faults=failing)])
    client = make_client(server.base_url, retries=0)
    async with store_kind.make() as store:
        first = await _follow_one_cycle(client, store, plant)
        assert "HTTP 503" in (first.inventory_error or "")
        assert _listings(server, plant) == 1
        # Backed off a period (600 s) at least: a restart does not ask again meanwhile.
        second = await _follow_one_cycle(client, store, plant)
        assert second.inventory_error is None
        assert _listings(server, plant) == 1
        rows = {row.endpoint: row for row in await store.status()}
    listing = rows[Endpoint.INVERTER_LIST]
    assert listing.failures == 1
    assert listing.next_poll is not None
    assert listing.next_poll >= (listing.last_error_at or 0) + plant.interval


@pytest.mark.parametrize("failures", [1, 3])
async def test_a_refresh_failing_after_a_restart_backs_off_further(
    failures: int,
    store_kind: StoreKind,
    plant: Plant,
    make_server: ServerFactory,
    make_client: ClientFactory,
) -> None:
    failing = Faults(always_fail=True, fail_status=503, endpoints=("inverter_list",))
    server = await make_server([attrs.evolve(plant, faults=failing)])
    client = make_client(server.base_url, retries=0)
    async with store_kind.make() as store:
        await store.add_plant(fingerprint(plant.itr), "roof")
        for _ in range(failures):  # saved by an earlier run, now due
            await store.record_error("roof", Endpoint.INVERTER_LIST, "HTTP 503", 0.0, now=0.0)
        cycle = await _follow_one_cycle(client, store, plant)
        assert "HTTP 503" in (cycle.inventory_error or "")
        rows = {row.endpoint: row for row in await store.status()}
    listing = rows[Endpoint.INVERTER_LIST]
    # The count goes on from the saved one, and the wait doubles with it (in periods).
    assert listing.failures == failures + 1
    assert listing.next_poll is not None
    wait = listing.next_poll - (listing.last_error_at or 0)
    assert wait >= 2**failures * plant.interval


async def test_a_fleet_worker_taking_a_plant_over_keeps_its_inventory_schedule(
    postgres_dsn: str, plant: Plant, make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server([plant])
    client = make_client(server.base_url)
    async with PostgresStore(postgres_dsn) as store:
        for worker in ("w1", "w2"):  # w2 takes the plant over once w1 is gone
            cycles: list[Cycle] = []
            task = asyncio.create_task(
                follow_fleet(
                    client,
                    store,
                    [(plant.itr, "roof")],
                    "inverter",
                    plant.first,
                    on_cycle=cycles.append,
                    worker=worker,
                    handover_wait=0.0,
                )
            )
            try:
                await wait_until(lambda: bool(cycles) or task.done())  # noqa: B023 - awaited here
                assert not task.done(), task.exception()
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            assert cycles[0].error is None
    assert _listings(server, plant) == 1

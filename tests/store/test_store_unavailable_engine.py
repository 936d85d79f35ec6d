"""The engine waits out a store that is unavailable when a daemon starts, or mid lease round.

`follow` adds its plants first: a database restarting at that moment is retried
(`StoreUnavailableError`), not fatal. A fleet worker whose leases cannot be released at
start, or whose round cannot be applied, stops its plants and tries again next round.
Each store here fails a chosen call by raising what a dropped connection raises.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import pytest

from lacecal_async import LacecalClient
from lacecal_async.records import Inverter
from lacecal_async.sync import (
    Cycle,
    FleetEvent,
    PlantEntry,
    PostgresStore,
    SQLiteStore,
    StoreUnavailableError,
    follow,
    follow_fleet,
)
from lacecal_async.tables import INVERTER_LIST
from lacecal_async.testing import Plant
from tests.support.checks import first_cycle, wait_until
from tests.support.fixtures import ClientFactory, ServerFactory
from tests.support.lease_worker import measured_ttl


def _drop(name: str, calls: Counter[str], fail: set[int]) -> None:
    calls[name] += 1
    if calls[name] in fail:
        raise StoreUnavailableError(f"the connection dropped ({name}, call {calls[name]})")


class SlowToStart(SQLiteStore):
    """A SQLite store whose first `add_plant` finds the database unavailable."""

    calls: Counter[str]

    async def add_plant(self, fingerprint: str, alias: str | None = None) -> str:
        _drop("add_plant", self.calls, {1})
        return await super().add_plant(fingerprint, alias)


class InventoryDropped(SQLiteStore):
    """A SQLite store whose first `commit_inventory` finds the database unavailable."""

    calls: Counter[str]

    async def commit_inventory(
        self,
        plant: str,
        inverters: Sequence[Inverter],
        *,
        now: float,
        next_poll: float | None = None,
        worker: str | None = None,
    ) -> None:
        _drop("commit_inventory", self.calls, {1})
        await super().commit_inventory(
            plant, inverters, now=now, next_poll=next_poll, worker=worker
        )


class FlakyFleetStore(PostgresStore):
    """A fleet store whose first release and second plant listing find the database gone."""

    calls: Counter[str]

    async def release_leases(
        self, worker: str, plants: Sequence[str] | None = None, *, refused: bool = False
    ) -> list[str]:
        _drop("release_leases", self.calls, {1})
        return await super().release_leases(worker, plants, refused=refused)

    async def plants(self) -> list[PlantEntry]:
        _drop("plants", self.calls, {2})
        return await super().plants()


class HoldDropped(PostgresStore):
    """A fleet store whose first follow hold finds the database gone."""

    calls: Counter[str]

    @contextlib.asynccontextmanager
    async def following(self, *, fleet: bool = False) -> AsyncIterator[None]:
        _drop("following", self.calls, {1})
        async with super().following(fleet=fleet):
            yield


async def test_follow_waits_for_a_store_unavailable_at_start(
    tmp_path: Path, plant: Plant, make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server([plant])
    client: LacecalClient = make_client(server.base_url)
    cycles: list[Cycle] = []
    store = SlowToStart(tmp_path / "s.db")
    store.calls = Counter()
    async with store:
        task = asyncio.create_task(
            follow(client, store, [plant.itr], "meter", plant.first, on_cycle=cycles.append)
        )
        await wait_until(lambda: bool(cycles) or task.done())
        assert not task.done(), task.exception()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert store.calls["add_plant"] == 2
    assert cycles[0].error is None
    assert cycles[0].latest is not None


async def test_an_inventory_the_store_failed_to_commit_is_tried_again_next_cycle(
    tmp_path: Path, plant: Plant, make_server: ServerFactory, make_client: ClientFactory
) -> None:
    # Before, the next refresh was set 144 periods ahead before the commit: a store failing
    # at that moment (a full disk, a dropped connection) lost the inverter list for a day.
    server = await make_server([plant])
    client: LacecalClient = make_client(server.base_url)
    cycles: list[Cycle] = []
    store = InventoryDropped(tmp_path / "s.db")
    store.calls = Counter()
    async with store:
        task = asyncio.create_task(
            follow(client, store, [plant.itr], "inverter", plant.first, on_cycle=cycles.append)
        )
        await wait_until(lambda: any(c.error is None for c in cycles[1:]) or task.done())
        assert not task.done(), task.exception()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        stored = [row async for batch in store.read_rows(INVERTER_LIST) for row in batch]
    assert "unavailable" in (cycles[0].error or "")
    assert len(stored) == len(plant.inverters) > 0


@pytest.mark.slow
async def test_a_fleet_worker_waits_out_a_store_unavailable_mid_round(
    postgres_dsn: str, plant: Plant, make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server([plant])
    client: LacecalClient = make_client(server.base_url)
    events: list[FleetEvent] = []
    cycles: list[Cycle] = []
    store = FlakyFleetStore(postgres_dsn)
    store.calls = Counter()
    async with store:
        ttl = await measured_ttl(store)  # rounds come back in time, however busy the machine
        task = asyncio.create_task(
            follow_fleet(
                client,
                store,
                [(plant.itr, "roof")],
                "meter",
                plant.first,
                lease_ttl=ttl,
                handover_wait=0.0,
                on_fleet=events.append,
                on_cycle=cycles.append,
                worker="w1",
            )
        )
        await wait_until(lambda: any(c.error is None for c in cycles) or task.done())
        assert not task.done(), task.exception()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert store.calls["release_leases"] >= 2  # the failed one at start, and on the way out
    assert store.calls["plants"] >= 3  # joining, the failed round, the next round
    assert any(e.kind == "took" and e.plants == ("roof",) for e in events)


@pytest.mark.parametrize("fleet", [False, True], ids=["follow", "follow_fleet"])
async def test_a_follower_waits_for_its_hold_at_start(
    postgres_dsn: str,
    plant: Plant,
    make_server: ServerFactory,
    make_client: ClientFactory,
    *,
    fleet: bool,
) -> None:
    # A daemon started with the machine, its database not up yet: a plain follow took the
    # hold on the store's one follower once, and its dropped connection ended the daemon.
    server = await make_server([plant])
    client: LacecalClient = make_client(server.base_url)
    store = HoldDropped(postgres_dsn)
    store.calls = Counter()

    def follows(on_cycle: Callable[[Cycle], object]) -> Awaitable[None]:
        if fleet:
            plants = [(plant.itr, "roof")]
            return follow_fleet(
                client, store, plants, "meter", plant.first, handover_wait=0.0, on_cycle=on_cycle
            )
        return follow(client, store, [plant.itr], "meter", plant.first, on_cycle=on_cycle)

    async with store:
        cycle = await first_cycle(follows)
    assert store.calls["following"] == 2
    assert cycle.error is None
    assert cycle.latest is not None

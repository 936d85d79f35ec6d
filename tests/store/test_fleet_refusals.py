"""A plant no live worker has the identifier of: refused once per worker, shown by status.

Real PostgreSQL (the `postgres_dsn` fixture); the store API with several worker ids, and
`follow_fleet` workers against the fake server over HTTP. Lease ttls of a fraction of a second
keep every wait short; a heartbeat that must run out is shortened (`EXPIRE_SOON`), and the
tests wait for states or for counted lease rounds, never for a fixed time.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import asyncpg
import pytest

from lacecal_async import LacecalClient, fingerprint
from lacecal_async.cli import main
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import FleetEvent, LeaseBalance, PostgresStore, StatusRow, follow_fleet
from lacecal_async.sync.leases import DEFAULT_SLACK
from lacecal_async.sync.schema import POSTGRES_MIGRATIONS as MIGRATIONS
from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support.checks import DEADLINE, wait_until
from tests.support.fleet import EXPIRE_SOON, CountingStore, until
from tests.support.lease_worker import measured_ttl

PERIOD = 2
LONG = 60.0  # a ttl that does not expire during a test
ORPHAN = fingerprint("OrphanPlant00001")
OTHER = fingerprint("KnownPlant000001")


async def _refuse(store: PostgresStore, worker: str, ttl: float = LONG) -> list[str]:
    """One round of `worker`, which has no identifier at all: balance, refuse what it holds."""
    held = (await store.balance_leases(worker, ttl=ttl)).held
    if held:
        await store.release_leases(worker, held, refused=True)
    return list(held)


def _by_plant(rows: list[StatusRow]) -> dict[str, StatusRow]:
    return {row.plant: row for row in rows}


async def test_a_plant_every_live_worker_refused_is_no_longer_handed_around(
    postgres_dsn: str,
) -> None:
    async with PostgresStore(postgres_dsn) as store:
        await store.add_plant(ORPHAN)
        for worker in ("a", "b"):  # both live before the first round
            await store.renew_leases(worker, ttl=LONG)
        taken = {"a": 0, "b": 0}
        for _ in range(5):
            for worker in taken:
                taken[worker] += len(await _refuse(store, worker))
        # Each worker took it once, found no identifier, refused it: then no one takes it.
        assert taken == {"a": 1, "b": 1}
        assert await store.leases() == {}
        row = _by_plant(await store.status())[ORPHAN]
        assert (row.holder, row.refused_by, row.orphaned) == (None, ("a", "b"), True)
        # A worker that has not refused it takes it.
        assert (await store.balance_leases("c", ttl=LONG)).held == (ORPHAN,)
        row = _by_plant(await store.status())[ORPHAN]
        assert (row.holder, row.refused_by, row.orphaned) == ("c", ("a", "b"), False)


async def test_refusals_are_forgotten_when_their_worker_leaves_or_expires(
    postgres_dsn: str,
) -> None:
    async with PostgresStore(postgres_dsn) as store:
        await store.add_plant(ORPHAN)
        await store.add_plant(OTHER)
        assert await store.lease_plants("quick", want=2, ttl=LONG, among=[ORPHAN]) == [ORPHAN]
        await store.release_leases("quick", [ORPHAN], refused=True)
        assert await store.lease_plants("slow", want=2, ttl=LONG, among=[ORPHAN]) == [ORPHAN]
        await store.release_leases("slow", [ORPHAN], refused=True)
        assert await store.lease_plants("slow", want=2, ttl=LONG) == [OTHER]
        rows = _by_plant(await store.status())
        assert (rows[ORPHAN].refused_by, rows[ORPHAN].orphaned) == (("quick", "slow"), True)
        assert (rows[OTHER].holder, rows[OTHER].refused_by, rows[OTHER].orphaned) == (
            "slow",
            (),
            False,
        )
        await store.renew_leases("quick", ttl=EXPIRE_SOON)  # its heartbeat runs out

        async def quick_gone() -> bool:
            return await store.live_workers() == ["slow"]

        await until(quick_gone)
        row = _by_plant(await store.status())[ORPHAN]  # its refusal no longer counts
        assert (row.refused_by, row.orphaned) == (("slow",), True)
        # "quick" comes back: its refusal counts again, and it still does not take the plant.
        assert await store.lease_plants("quick", want=2, ttl=LONG) == []
        assert _by_plant(await store.status())[ORPHAN].refused_by == ("quick", "slow")
        await store.release_leases("quick")
        await store.release_leases("slow")  # leaving: its refusals go with it
        row = _by_plant(await store.status())[ORPHAN]
        assert (row.holder, row.refused_by, row.orphaned) == (None, (), False)
        # The same worker id, started again (given the identifier this time), may take it.
        assert await store.lease_plants("slow", want=2, ttl=LONG) == sorted([ORPHAN, OTHER])


def test_status_shows_holders_and_flags_a_plant_no_worker_can_sync(
    postgres_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def setup() -> None:
        async with PostgresStore(postgres_dsn) as store:
            await store.add_plant(ORPHAN)
            await store.add_plant(OTHER, "roof")
            assert await store.lease_plants("host-1-aa", want=1, ttl=LONG, among=["roof"]) == [
                "roof"
            ]
            for worker in ("host-1-aa", "host-2-bb"):
                await store.lease_plants(worker, want=1, ttl=LONG, among=[ORPHAN])
                await store.release_leases(worker, [ORPHAN], refused=True)
            for endpoint in (Endpoint.METER, Endpoint.INVERTER):  # a row per endpoint
                await store.record_error(ORPHAN, endpoint, "boom", None, now=1e9)

    asyncio.run(setup())
    capsys.readouterr()
    assert main(["status", postgres_dsn, "--json"]) == 2  # CRITICAL: a plant nobody syncs
    rows = {row["plant"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows[ORPHAN]["verdict"] == "critical"
    assert rows[ORPHAN]["problems"][0] == "no live worker has its identifier"
    assert (rows["roof"]["lease_holder"], rows["roof"]["orphaned"]) == ("host-1-aa", False)
    assert rows["roof"]["refused_by"] == []
    assert rows[ORPHAN]["lease_holder"] is None
    assert rows[ORPHAN]["refused_by"] == ["host-1-aa", "host-2-bb"]
    assert rows[ORPHAN]["orphaned"] is True
    assert rows[ORPHAN]["holes"] == 0  # the existing keys are still there
    assert main(["status", postgres_dsn]) == 2
    *table, verdict = capsys.readouterr().out.splitlines()
    assert verdict.startswith(f"CRITICAL: {ORPHAN} inverter: no live worker has its identifier")
    assert table[0].split()[:3] == ["plant", "endpoint", "first"]
    assert table[0].split()[-1] == "lease"
    note = (
        "no live worker has its identifier (refused by host-1-aa, host-2-bb): "
        "restart one of them with its identifier, or start a worker that has it"
    )
    # The orphan's two rows (the note once, under the first), then roof's.
    assert [line.split()[:2] for line in table if not line.startswith(" ")] == [
        ["plant", "endpoint"],
        [ORPHAN, "inverter"],
        [ORPHAN, "meter"],
        ["roof", "-"],
    ]
    assert table[1].split()[-1] == table[4].split()[-1] == "free"
    assert table[2].strip() == note
    assert table[3].strip().endswith(": boom")
    assert [line.strip() for line in table].count(note) == 1
    assert table[-1].split()[-1] == "host-1-aa"


async def _text_of_tables(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
        assert "lease_refusals" in {table[0] for table in tables}
        rows = []
        for table in tables:
            rows += await conn.fetch(f'SELECT t::text FROM "{table[0]}" t')  # noqa: S608
        return "\n".join(row[0] for row in rows)
    finally:
        await conn.close()


@pytest.mark.slow
async def test_follow_workers_without_an_identifier_refuse_it_once_then_a_newcomer_syncs_it(
    postgres_dsn: str,
) -> None:
    start = int(time.time()) // PERIOD * PERIOD - 10 * PERIOD
    plants = make_plants(3, seed=9, start=start, days=1, interval=PERIOD, follow_clock=True)
    known, orphan = [p.itr for p in plants[:2]], plants[2]
    events: list[FleetEvent] = []
    async with (
        FakeLacecalServer(plants, rate_limit=None) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(50, 1.0)) as client,
        CountingStore(postgres_dsn) as store,
    ):
        ttl = await measured_ttl(store)  # rounds never late, however busy the machine
        key = await store.add_plant(fingerprint(orphan.itr), "orphan")
        common = functools.partial(
            follow_fleet, client, store, endpoints="meter", since=start, lease_ttl=ttl,
            handover_wait=0.0, on_fleet=events.append,
        )  # fmt: skip
        workers = [asyncio.create_task(common(known, worker=w)) for w in ("w1", "w2")]

        def refusers() -> list[str]:
            return sorted(e.worker for e in events if e.kind == "no_identifier" and key in e.plants)

        await wait_until(lambda: len(refusers()) >= 2)
        # Then many lease rounds: a worker's rounds are ttl / 3 apart at least, so these
        # span 12 ttls, past the 10 after which a refusal kept in memory once wore off.
        after = {w: store.rounds[w] + 36 for w in ("w1", "w2")}
        await wait_until(
            lambda: all(store.rounds[w] >= n for w, n in after.items()),
            deadline=DEADLINE + 36 * ttl,
        )
        assert refusers() == ["w1", "w2"]  # once each: no ping-pong

        async def orphaned() -> bool:  # as soon as both heartbeats are live (never late)
            row = _by_plant(await store.status())[key]
            return (row.holder, row.refused_by, row.orphaned) == (None, ("w1", "w2"), True)

        await until(orphaned)
        assert _by_plant(await store.status())[key].latest_record is None
        # A worker given its identifier joins: it takes the plant and syncs it.
        workers.append(asyncio.create_task(common([orphan.itr], worker="w3")))

        async def synced_by_w3() -> bool:
            row = _by_plant(await store.status())[key]
            return (row.latest_record is not None, row.holder, row.orphaned) == (True, "w3", False)

        await until(synced_by_w3)
        assert refusers() == ["w1", "w2"]
        text = await _text_of_tables(postgres_dsn)
        for task in workers:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        row = _by_plant(await store.status())[key]
        assert (row.holder, row.refused_by, row.orphaned) == (None, (), False)
    for plant in plants:  # the database never held an identifier, nor part of one
        assert all(plant.itr[i : i + 8] not in text for i in range(len(plant.itr) - 7))


class _Version1Store(PostgresStore):
    """The store as the release before refusals shipped it."""

    migrations: ClassVar[tuple[tuple[str, ...], ...]] = MIGRATIONS[:1]


async def test_a_version_1_fleet_database_is_upgraded_with_its_leases(postgres_dsn: str) -> None:
    async with _Version1Store(postgres_dsn) as old:
        await old.add_plant(ORPHAN)
        await old.add_plant(OTHER)
    conn = await asyncpg.connect(postgres_dsn)
    try:  # what a worker of that release left: a lease, a heartbeat, a last refuser
        await conn.execute("INSERT INTO workers VALUES ('a', now(), now(), now() + '1 hour')")
        await conn.execute(
            "UPDATE leases SET worker = 'a', acquired_at = now(), "
            "expires_at = now() + interval '1 hour' WHERE plant = $1",
            OTHER,
        )
        await conn.execute("UPDATE leases SET refused_by = 'gone' WHERE plant = $1", ORPHAN)
    finally:
        await conn.close()
    async with PostgresStore(postgres_dsn) as store:
        assert await store.lease_plants("b", want=1, ttl=LONG, among=[ORPHAN]) == [ORPHAN]
        await store.release_leases("b", [ORPHAN], refused=True)
        rows = _by_plant(await store.status())
        assert (rows[OTHER].holder, rows[OTHER].orphaned) == ("a", False)
        assert (rows[ORPHAN].holder, rows[ORPHAN].refused_by) == (None, ("b",))
        assert rows[ORPHAN].orphaned is False  # "a" is live and has not refused it
        assert (await store.balance_leases("a", ttl=LONG)).held == tuple(sorted([ORPHAN, OTHER]))


async def _waiting_on_a_lock(conn: asyncpg.Connection[Any]) -> bool:
    """Whether another session of the database waits on a lock (`conn`'s, here)."""
    waiting = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
    )
    return bool(waiting)


async def test_a_worker_leaving_during_its_own_round_in_flight_releases_everything(
    postgres_dsn: str,
) -> None:
    """Review of this branch's first full run: a leaving worker kept its leases.

    A round locks the worker's heartbeat row, then its leases; a release locked the leases,
    then the heartbeat row: a round still in flight when the worker left deadlocked with the
    release, which PostgreSQL aborted (the leases stayed held until they expired).
    """
    async with PostgresStore(postgres_dsn) as store:
        for i in range(3):
            await store.add_plant(fingerprint(f"LeavingPlant{i:04d}"))
        held = await store.lease_plants("a", want=3, ttl=LONG)
        assert len(held) == 3
        conn = await asyncpg.connect(postgres_dsn)
        try:
            async with conn.transaction():  # a round of "a" in flight: heartbeat first
                await conn.execute(
                    "UPDATE workers SET heartbeat_at = clock_timestamp() WHERE worker = 'a'"
                )
                release = asyncio.create_task(store.release_leases("a"))
                await until(functools.partial(_waiting_on_a_lock, conn))  # on the round
                await conn.execute(
                    "UPDATE leases SET expires_at = clock_timestamp() + interval '1 minute' "
                    "WHERE worker = 'a'"
                )
            assert await release == held
        finally:
            await conn.close()
        assert await store.leases() == {}
        assert await store.live_workers() == []


class _SlowRounds(PostgresStore):
    """A store whose lease rounds take a while, as under load; like every store call, a
    round once made completes even if its caller is cancelled."""

    started: asyncio.Event
    rounds: list[asyncio.Future[LeaseBalance]]

    async def balance_leases(
        self,
        worker: str,
        *,
        ttl: float,
        slack: float = DEFAULT_SLACK,
        among: Sequence[str] | None = None,
    ) -> LeaseBalance:
        async def slow() -> LeaseBalance:
            self.started.set()
            await asyncio.sleep(0.3)
            return await PostgresStore.balance_leases(
                self, worker, ttl=ttl, slack=slack, among=among
            )

        self.rounds.append(asyncio.ensure_future(slow()))
        return await asyncio.shield(self.rounds[-1])


async def test_a_worker_stopped_during_a_lease_round_leaves_no_lease_behind(
    postgres_dsn: str,
) -> None:
    start = int(time.time()) // PERIOD * PERIOD - 10 * PERIOD
    plants = make_plants(2, seed=10, start=start, days=1, interval=PERIOD, follow_clock=True)
    async with (
        FakeLacecalServer(plants, rate_limit=None) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(50, 1.0)) as client,
        _SlowRounds(postgres_dsn) as store,
    ):
        store.started, store.rounds = asyncio.Event(), []
        task = asyncio.create_task(
            follow_fleet(
                client, store, [p.itr for p in plants], "meter", start, worker="w",
                lease_ttl=2.0, handover_wait=0.0,
            )
        )  # fmt: skip

        async def leased() -> bool:
            return len(await store.leases()) == 2

        await until(leased)
        store.started.clear()
        await store.started.wait()  # a round has begun: stop the worker in the middle of it
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.gather(*store.rounds)  # whatever was in flight has landed
        assert await store.leases() == {}
        assert await store.live_workers() == []


async def test_a_worker_restarted_with_its_fixed_id_takes_what_it_refused_before(
    postgres_dsn: str,
) -> None:
    # `follow_fleet(worker="w")`: "w" refused the plant (no identifier), then crashed, so its
    # refusal outlived it; restarted with the identifier under the same id, it once never
    # got the plant back (its revived heartbeat kept the refusal alive for good).
    start = int(time.time()) // PERIOD * PERIOD - 10 * PERIOD
    plants = make_plants(1, seed=9, start=start, days=1, interval=PERIOD, follow_clock=True)
    itr = plants[0].itr
    async with (
        FakeLacecalServer(plants, rate_limit=None) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(50, 1.0)) as client,
        PostgresStore(postgres_dsn) as store,
    ):
        key = await store.add_plant(fingerprint(itr), "roof")
        held = (await store.balance_leases("w", ttl=LONG)).held
        await store.release_leases("w", held, refused=True)  # and no clean exit after it

        async def synced() -> bool:
            return any(r.plant == key and r.latest_record for r in await store.status())

        task = asyncio.create_task(
            follow_fleet(
                client, store, [itr], "meter", start, worker="w", lease_ttl=2.0, handover_wait=0.0
            )
        )
        try:
            await until(synced)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

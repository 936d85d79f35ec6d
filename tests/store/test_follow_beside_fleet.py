"""`follow` on a PostgreSQL store: one plain follower, never beside a running fleet.

Fleet mode is explicit (`follow_fleet`); `follow` on a `PostgresStore` is one follower that
shares nothing and is not fenced. Beside a live fleet worker, or a second `follow`, it would
poll the same plants again (past the API's limit per ITR) and write unfenced: it is refused
with `StoreInUseError`, as a second `follow` of a SQLite file is.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from lacecal_async import LacecalClient
from lacecal_async.sync import (
    FleetEvent,
    PostgresStore,
    StoreError,
    StoreInUseError,
    follow,
    follow_fleet,
)
from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support.checks import wait_until

PLANT = make_plants(1, seed=59, days=1)[0]
#: How long `follow` gets to refuse: far longer than one lease round on a busy machine.
REFUSED_WITHIN = 20.0


@pytest.mark.slow
async def test_follow_beside_a_live_fleet_worker_is_refused(postgres_dsn: str) -> None:
    async with (
        FakeLacecalServer([PLANT], rate_limit=None) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 0.05)) as fleet_client,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 0.05)) as solo_client,
        PostgresStore(postgres_dsn) as store,
    ):
        worker = asyncio.create_task(
            follow_fleet(fleet_client, store, [PLANT.itr], since=PLANT.first, handover_wait=0.0)
        )
        solo = None
        try:
            await wait_until(lambda: server.stats(PLANT.itr).requests >= 1)
            assert await store.live_workers()
            solo = asyncio.create_task(follow(solo_client, store, [PLANT.itr], since=PLANT.first))
            with pytest.raises(StoreInUseError):
                await asyncio.wait_for(solo, REFUSED_WITHIN)
        finally:
            for task in (worker, solo):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task


async def test_a_fleet_worker_beside_a_plain_follow_is_refused_until_it_ends(
    postgres_dsn: str,
) -> None:
    async with (
        FakeLacecalServer([PLANT], rate_limit=None) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 0.05)) as solo_client,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 0.05)) as fleet_client,
        PostgresStore(postgres_dsn) as store,
        PostgresStore(postgres_dsn) as other,
    ):
        solo = asyncio.create_task(follow(solo_client, store, [PLANT.itr], since=PLANT.first))
        try:
            await wait_until(lambda: server.stats(PLANT.itr).requests >= 1)
            worker = follow_fleet(fleet_client, other, [PLANT.itr], since=PLANT.first)
            with pytest.raises(StoreInUseError, match="a plain follow runs") as refused:
                await asyncio.wait_for(worker, REFUSED_WITHIN)
            assert "stop it" in str(refused.value)
            assert PLANT.itr[:8] not in str(refused.value)
            # Refused before it joined: no heartbeat, no lease.
            assert await other.live_workers() == []
            assert await other.leases() == {}
        finally:
            solo.cancel()
            with contextlib.suppress(BaseException):
                await solo
        # The plain follow gone, the fleet worker runs: it takes the plant.
        events: list[FleetEvent] = []
        fleet = asyncio.create_task(
            follow_fleet(
                fleet_client,
                other,
                [PLANT.itr],
                since=PLANT.first,
                handover_wait=0.0,
                on_fleet=events.append,
            )
        )
        try:
            await wait_until(lambda: fleet.done() or any(e.kind == "took" for e in events))
            assert not fleet.done(), fleet.exception()
        finally:
            fleet.cancel()
            with contextlib.suppress(BaseException):
                await fleet


async def test_a_second_follow_of_one_database_is_refused_until_the_first_ends(
    postgres_dsn: str,
) -> None:
    async with (
        FakeLacecalServer([PLANT], rate_limit=None) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 0.05)) as first_client,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 0.05)) as second_client,
        PostgresStore(postgres_dsn) as store,
        PostgresStore(postgres_dsn) as other,
    ):
        first = asyncio.create_task(follow(first_client, store, [PLANT.itr], since=PLANT.first))
        try:
            await wait_until(lambda: server.stats(PLANT.itr).requests >= 1)
            second = follow(second_client, other, [PLANT.itr], since=PLANT.first)
            with pytest.raises(StoreInUseError, match="another follow runs") as refused:
                await asyncio.wait_for(second, REFUSED_WITHIN)
            assert PLANT.itr[:8] not in str(refused.value)
            asked = server.stats(PLANT.itr).requests
        finally:
            first.cancel()
            with contextlib.suppress(BaseException):
                await first
        # The first one gone, its hold is gone with it: the next follow runs.
        third = asyncio.create_task(follow(second_client, other, [PLANT.itr], since=PLANT.first))
        try:
            await wait_until(lambda: server.stats(PLANT.itr).requests > asked)
            assert not third.done()
        finally:
            third.cancel()
            with contextlib.suppress(BaseException):
                await third


async def test_stores_in_two_schemas_of_one_database_are_followed_apart(postgres_dsn: str) -> None:
    import asyncpg  # noqa: PLC0415 - only the tests that use PostgreSQL need it

    admin = await asyncpg.connect(postgres_dsn)
    try:
        await admin.execute("CREATE SCHEMA north; CREATE SCHEMA south")
    finally:
        await admin.close()
    async with (
        PostgresStore(f"{postgres_dsn}?search_path=north") as north,
        PostgresStore(f"{postgres_dsn}?search_path=north") as north_again,
        PostgresStore(f"{postgres_dsn}?search_path=south") as south,
        north.following(),
    ):
        async with south.following():  # another store: followed beside it
            pass
        with pytest.raises(StoreInUseError, match="another follow runs"):
            async with north_again.following():
                pass


async def test_a_follow_lock_that_cannot_be_taken_is_a_store_error(postgres_dsn: str) -> None:
    import asyncpg  # noqa: PLC0415 - only the tests that use PostgreSQL need it

    role = f"follower_{next(iter(postgres_dsn.rsplit('/', 1)[1:]))}"
    admin = await asyncpg.connect(postgres_dsn)
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN SUPERUSER')
        dsn = postgres_dsn.replace("postgresql://postgres@", f"postgresql://{role}@", 1)
        async with PostgresStore(dsn) as store:
            # The store's pool keeps its connection; a new one, as the lock takes, is refused.
            await admin.execute(f'ALTER ROLE "{role}" NOLOGIN')
            with pytest.raises(StoreError, match="cannot take the follow lock") as failed:
                async with store.following():
                    pass
            assert not isinstance(failed.value, StoreInUseError)
    finally:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role
        )
        await admin.execute(f'DROP OWNED BY "{role}"; DROP ROLE "{role}"')
        await admin.close()


async def test_fleet_holds_share_the_store_and_keep_a_plain_follow_out(postgres_dsn: str) -> None:
    # Held before any heartbeat is written: a plain follow starting at the same moment as
    # a fleet worker is refused by the lock, whichever checked first.
    async with (
        PostgresStore(postgres_dsn) as one,
        PostgresStore(postgres_dsn) as two,
        PostgresStore(postgres_dsn) as solo,
        one.following(fleet=True),
        two.following(fleet=True),  # fleet workers run beside each other
    ):
        assert await solo.live_workers() == []
        with pytest.raises(StoreInUseError, match="fleet workers follow this database"):
            async with solo.following():
                pass
    async with PostgresStore(postgres_dsn) as solo, solo.following():  # both gone: it runs
        pass

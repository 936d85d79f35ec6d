"""Leases on a real PostgreSQL: one worker per plant, take-over after expiry, fair shares.

Time is the database's clock; ttls are fractions of a second, so expiry takes no long sleep.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lacecal_async import fingerprint
from lacecal_async.sync import LeaseBalance, LeaseStore, PostgresStore, fair_share
from lacecal_async.sync.leases import surplus
from tests.support.lease_worker import RELEASED, Window, hold_leases, overlaps

WORKER_SCRIPT = Path(__file__).parents[1] / "support" / "lease_worker.py"
LONG = 60.0  # a ttl that does not expire during a test


def keys(n: int) -> list[str]:
    return [fingerprint(f"LeasePlant{i:06d}") for i in range(n)]


async def fleet(dsn: str, plants: int, workers: int) -> list[PostgresStore]:
    """`workers` open stores on one database holding `plants` plants."""
    stores = [PostgresStore(dsn) for _ in range(workers)]
    for store in stores:
        await store.open()
    for key in keys(plants):
        await stores[0].add_plant(key)
    return stores


@pytest.fixture
async def stores(postgres_dsn: str) -> AsyncIterator[list[PostgresStore]]:
    opened = await fleet(postgres_dsn, 30, 4)
    yield opened
    for store in opened:
        await store.close()


def test_fair_share_and_surplus() -> None:
    assert [fair_share(300, n) for n in (0, 1, 2, 3, 7)] == [300, 300, 150, 100, 43]
    assert fair_share(0, 3) == 0
    assert surplus(110, 100) == 0  # within the slack
    assert surplus(111, 100) == 11  # over it: back down to the share
    assert surplus(150, 100, slack=0.5) == 0
    assert surplus(5, 0) == 5
    with pytest.raises(ValueError, match="not negative"):
        fair_share(-1, 2)
    with pytest.raises(ValueError, match="not negative"):
        surplus(1, 1, slack=-0.1)


async def test_concurrent_takers_never_get_the_same_plant(stores: list[PostgresStore]) -> None:
    taken = await asyncio.gather(
        *(store.lease_plants(f"w{i}", want=10, ttl=LONG) for i, store in enumerate(stores))
    )
    everything = [plant for got in taken for plant in got]
    assert len(everything) == len(set(everything)) == 30  # 4 x 10 wanted, 30 exist
    assert all(len(got) <= 10 for got in taken)
    leases = await stores[0].leases()
    assert {plant: f"w{i}" for i, got in enumerate(taken) for plant in got} == leases
    assert await stores[1].lease_plants("w9", want=5, ttl=LONG) == []  # none left


async def test_an_expired_lease_is_taken_over(stores: list[PostgresStore]) -> None:
    a, b = stores[0], stores[1]
    mine = await a.lease_plants("a", want=5, ttl=0.5)
    assert len(mine) == 5
    assert set(await b.lease_plants("b", want=30, ttl=LONG)).isdisjoint(mine)
    assert await a.renew_leases("a", ttl=0.5) == mine  # renewed while alive
    await asyncio.sleep(0.6)  # "a" stops renewing: its leases expire
    assert await b.lease_plants("b", want=30, ttl=LONG) == mine
    assert await a.renew_leases("a", ttl=0.5) == []  # lost, even when it comes back
    assert set((await a.leases()).values()) == {"b"}


async def test_a_worker_may_take_back_its_own_expired_leases_first(
    stores: list[PostgresStore],
) -> None:
    first = await stores[0].lease_plants("a", want=3, ttl=0.3)
    await stores[0].lease_plants("b", want=3, ttl=LONG)
    await asyncio.sleep(0.4)
    assert await stores[0].lease_plants("a", want=3, ttl=LONG) == first


async def test_leases_of_some_plants_only(stores: list[PostgresStore]) -> None:
    among = keys(30)[5:8]
    assert await stores[0].lease_plants("a", want=10, ttl=LONG, among=among) == sorted(among)
    assert await stores[0].lease_plants("b", want=10, ttl=LONG, among=among) == []


async def test_release_and_leave(stores: list[PostgresStore]) -> None:
    a, b = stores[0], stores[1]
    mine = await a.lease_plants("a", want=4, ttl=LONG)
    await b.lease_plants("b", want=1, ttl=LONG)
    assert await a.live_workers() == ["a", "b"]
    assert await a.release_leases("a", mine[:1]) == mine[:1]
    assert await a.release_leases("b", mine[1:]) == []  # not its leases
    assert await a.renew_leases("a", ttl=LONG) == mine[1:]
    assert await a.release_leases("a") == mine[1:]  # leaving: all of them, and its heartbeat
    assert await a.live_workers() == ["b"]
    assert len(await a.lease_plants("c", want=30, ttl=LONG)) == 29


async def test_a_worker_that_stops_its_heartbeat_is_not_live(stores: list[PostgresStore]) -> None:
    await stores[0].renew_leases("quick", ttl=0.3)
    await stores[0].renew_leases("slow", ttl=LONG)
    assert await stores[1].live_workers() == ["quick", "slow"]
    await asyncio.sleep(0.4)
    assert await stores[1].live_workers() == ["slow"]


async def test_bad_lease_arguments_are_refused(stores: list[PostgresStore]) -> None:
    store: LeaseStore = stores[0]
    with pytest.raises(ValueError, match="worker id"):
        await store.lease_plants("", want=1, ttl=1)
    with pytest.raises(ValueError, match="positive"):
        await store.renew_leases("a", ttl=0)
    with pytest.raises(ValueError, match="slack"):
        await store.balance_leases("a", ttl=1, slack=-1)
    assert await store.live_workers() == []  # nothing was written


async def balance_all(stores: dict[str, PostgresStore], ttl: float) -> dict[str, LeaseBalance]:
    """One round for every worker: balance, then release the surplus (as the engine does)."""
    out = {}
    for worker, store in stores.items():
        balance = await store.balance_leases(worker, ttl=ttl)
        if balance.surplus:
            await store.release_leases(worker, balance.held[-balance.surplus :])
        out[worker] = balance
    return out


async def holdings(store: PostgresStore) -> dict[str, int]:
    counts: dict[str, int] = {}
    for worker in (await store.leases()).values():
        counts[worker] = counts.get(worker, 0) + 1
    return counts


async def test_fair_shares_converge_as_workers_join_and_leave(postgres_dsn: str) -> None:
    opened = await fleet(postgres_dsn, 30, 3)
    a, b, c = opened
    try:
        first = await balance_all({"a": a}, LONG)
        assert (first["a"].share, len(first["a"].held), first["a"].workers) == (30, 30, 1)
        # "b" joins: within two rounds each holds its share.
        for _ in range(2):
            await balance_all({"b": b, "a": a}, LONG)
        assert await holdings(a) == {"a": 15, "b": 15}
        # "c" joins.
        for _ in range(2):
            await balance_all({"c": c, "a": a, "b": b}, LONG)
        assert await holdings(a) == {"a": 10, "b": 10, "c": 10}
        # "b" leaves cleanly: the others take its plants at their next round.
        await b.release_leases("b")
        rounds = await balance_all({"a": a, "c": c}, LONG)
        assert rounds["a"].workers == 2
        assert await holdings(a) == {"a": 15, "c": 15}
        # "a" dies (stops renewing, a short ttl): "c" takes everything once it expires.
        await balance_all({"a": a, "c": c}, 0.3)
        await asyncio.sleep(0.4)
        await balance_all({"c": c}, LONG)
        assert await holdings(a) == {"c": 30}
    finally:
        for store in opened:
            await store.close()


async def test_no_plant_is_worked_on_by_two_workers(postgres_dsn: str) -> None:
    """Workers join, leave and die while balancing; their work windows never overlap."""
    opened = await fleet(postgres_dsn, 24, 4)
    windows: list[Window] = []
    ttl = 0.5
    try:
        tasks = [
            asyncio.create_task(
                hold_leases(store, f"w{i}", ttl=ttl, seconds=2.5, log=windows.append)
            )
            for i, store in enumerate(opened[:3])
        ]
        await asyncio.sleep(0.7)
        tasks[0].cancel()  # dies: no release, its leases expire
        died = time.monotonic()
        late = asyncio.create_task(
            hold_leases(opened[3], "late", ttl=ttl, seconds=1.5, log=windows.append)
        )
        await asyncio.gather(*tasks[1:], late)
        with pytest.raises(asyncio.CancelledError):
            await tasks[0]
    finally:
        for store in opened:
            await store.close()
    assert overlaps(windows) == []
    workers = {w[1] for w in windows if w[3] != RELEASED}
    assert workers == {"w0", "w1", "w2", "late"}
    # The dead worker's plants went to the others: once its leases expired, all 24 were worked.
    after = {w[0] for w in windows if w[2] > died + ttl and w[3] != RELEASED}
    assert len(after) == 24


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_worker_processes_share_plants_and_survive_a_kill(postgres_dsn: str) -> None:
    asyncio.run(_add_plants(postgres_dsn, 30))
    ttl = 0.6
    until = time.monotonic() + 4.5  # every worker stops then: none leaves while others count
    workers = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, str(WORKER_SCRIPT), postgres_dsn, f"p{i}", str(ttl), str(until)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    assert workers[0].stdout is not None
    first = workers[0].stdout.readline()  # it holds leases: now kill it mid-run
    time.sleep(0.5)
    workers[0].send_signal(signal.SIGKILL)
    outputs = [worker.communicate(timeout=60) for worker in workers]
    outputs[0] = (first + outputs[0][0], outputs[0][1])
    assert workers[0].returncode == -signal.SIGKILL
    assert [w.returncode for w in workers[1:]] == [0, 0], [err for _, err in outputs]
    windows: list[Window] = []
    settled = {}  # each survivor's plants in its last round well before any worker stops
    for out, _ in outputs:
        for line in out.splitlines():
            entry = json.loads(line)
            if entry[0] != "round":
                windows.append(tuple(entry))
            elif entry[2] < until - 2 * ttl:
                settled[entry[1]] = entry[3]
    assert {w[1] for w in windows} == {"p0", "p1", "p2"}  # the killed one worked too
    assert overlaps(windows) == []
    # p0's plants taken over, shared fairly by the survivors
    assert (settled["p1"], settled["p2"]) == (15, 15)


async def _add_plants(dsn: str, n: int) -> None:
    async with PostgresStore(dsn) as store:
        for key in keys(n):
            await store.add_plant(key)

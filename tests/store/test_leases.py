"""Leases on a real PostgreSQL: one worker per plant, take-over after expiry, fair shares.

Time is the database's clock. A lease that must expire gets a short ttl only once nothing
races it any more (taken with `LONG`, then renewed with `SHORT`), and the test waits for
the expiry as a condition; workers that race each other get a ttl measured from the
database's speed now (`measured_ttl`), and run until the outcome is seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from lacecal_async import fingerprint
from lacecal_async.sync import LeaseBalance, PostgresStore, fair_share
from lacecal_async.sync.leases import surplus
from tests.support import processes
from tests.support.checks import DEADLINE, wait_until
from tests.support.lease_worker import RELEASED, Window, hold_leases, measured_ttl, overlaps

WORKER_SCRIPT = Path(__file__).parents[1] / "support" / "lease_worker.py"
LONG = 600.0  # a ttl that does not expire during a test
SHORT = 0.2  # a ttl that expires soon: given only when nothing may race the expiry
T = TypeVar("T")


async def eventually(read: Callable[[], Awaitable[T]], done: Callable[[T], bool]) -> T:
    """Call `read` until what it returns is `done`; return that (fail after `DEADLINE`)."""
    async with asyncio.timeout(DEADLINE):
        while not done(value := await read()):  # noqa: ASYNC110 - the state is in the database
            await asyncio.sleep(0.02)
        return value


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
    mine = await a.lease_plants("a", want=5, ttl=LONG)
    assert len(mine) == 5
    assert set(await b.lease_plants("b", want=30, ttl=LONG)).isdisjoint(mine)
    assert await a.renew_leases("a", ttl=SHORT) == mine  # renewed while alive, a last time
    # "a" stops renewing: its leases expire, and "b" takes them (and nothing before).
    taken = await eventually(lambda: b.lease_plants("b", want=30, ttl=LONG), bool)
    assert taken == mine
    assert await a.renew_leases("a", ttl=SHORT) == []  # lost, even when it comes back
    assert set((await a.leases()).values()) == {"b"}


async def test_a_worker_may_take_back_its_own_expired_leases_first(
    stores: list[PostgresStore],
) -> None:
    last = sorted(keys(30))[-3:]  # in plant order, any other free plants would come first
    first = await stores[0].lease_plants("a", want=3, ttl=LONG, among=last)
    await stores[0].lease_plants("b", want=3, ttl=LONG)
    await stores[0].renew_leases("a", ttl=SHORT)
    await eventually(stores[0].leases, lambda held: "a" not in held.values())
    assert await stores[0].lease_plants("a", want=3, ttl=LONG) == first == last


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
    await stores[0].renew_leases("quick", ttl=LONG)
    await stores[0].renew_leases("slow", ttl=LONG)
    assert await stores[1].live_workers() == ["quick", "slow"]
    await stores[0].renew_leases("quick", ttl=SHORT)  # its last heartbeat
    live = await eventually(stores[1].live_workers, lambda live: live != ["quick", "slow"])
    assert live == ["slow"]


async def test_bad_lease_arguments_are_refused(stores: list[PostgresStore]) -> None:
    store = stores[0]
    with pytest.raises(ValueError, match="worker id"):
        await store.lease_plants("", want=1, ttl=1)
    for ttl in (0, math.inf, math.nan):  # a lease that never ends would never be free
        with pytest.raises(ValueError, match="positive"):
            await store.renew_leases("a", ttl=ttl)
    with pytest.raises(ValueError, match="slack"):
        await store.balance_leases("a", ttl=1, slack=-1)
    assert await store.live_workers() == []  # nothing was written


async def test_a_lease_of_years_is_taken(stores: list[PostgresStore]) -> None:
    # Its round's idle bound is clamped to PostgreSQL's largest, not an overflow.
    key = await stores[0].add_plant("itr-" + "f" * 12)
    assert await stores[0].lease_plants("a", want=1, ttl=1e12, among=[key]) == [key]
    assert key in await stores[0].renew_leases("a", ttl=2**31 / 1000)


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
        # "a" dies (stops renewing after a round with a short ttl): "c" takes everything
        # once its leases and its heartbeat expired (the round renews the heartbeat last:
        # it may outlive the leases by the round's length).
        await balance_all({"a": a}, SHORT)
        await eventually(a.leases, lambda held: "a" not in held.values())
        await eventually(a.live_workers, lambda live: "a" not in live)
        await balance_all({"c": c}, LONG)
        assert await holdings(a) == {"c": 30}
    finally:
        for store in opened:
            await store.close()


async def test_no_plant_is_worked_on_by_two_workers(postgres_dsn: str) -> None:
    """Workers join, leave and die while balancing; their work windows never overlap."""
    opened = await fleet(postgres_dsn, 24, 4)
    windows: list[Window] = []
    ttl = await measured_ttl(opened[0])
    stop = asyncio.Event()

    def worked(by: set[str], after: float = 0.0) -> set[str]:
        """The plants that one of `by` may work on in a window starting after `after`."""
        return {w[0] for w in windows if w[1] in by and w[2] > after and w[3] != RELEASED}

    try:
        tasks = [
            asyncio.create_task(hold_leases(store, f"w{i}", ttl=ttl, stop=stop, log=windows.append))
            for i, store in enumerate(opened[:3])
        ]
        await wait_until(lambda: all(worked({f"w{i}"}) for i in range(3)))  # all three work
        tasks[0].cancel()  # dies: no release, its leases expire
        with pytest.raises(asyncio.CancelledError):
            await tasks[0]
        died = time.monotonic()
        late = asyncio.create_task(
            hold_leases(opened[3], "late", ttl=ttl, stop=stop, log=windows.append)
        )
        # The dead worker's plants go to the others: once its leases expired, all 24 are
        # worked on, the newcomer's share too.
        survivors = {"w1", "w2", "late"}
        await wait_until(
            lambda: len(worked(survivors, died + ttl)) == 24 and bool(worked({"late"}))
        )
        stop.set()
        await asyncio.gather(*tasks[1:], late)
    finally:
        for store in opened:
            await store.close()
    assert overlaps(windows) == []
    assert {w[1] for w in windows if w[3] != RELEASED} == {"w0", "w1", "w2", "late"}


def _entries(lines: list[str]) -> list[list[Any]]:
    return [json.loads(line) for line in lines]


def _last_round(lines: list[str], after: float) -> int | None:
    """Plants held in the worker's last round sent after the instant `after`, if any."""
    held = [e[3] for e in _entries(lines) if e[0] == "round" and e[2] > after]
    return int(held[-1]) if held else None


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_worker_processes_share_plants_and_survive_a_kill(postgres_dsn: str) -> None:
    asyncio.run(_add_plants(postgres_dsn, 30))
    ttl = asyncio.run(_ttl(postgres_dsn))
    with contextlib.ExitStack() as stack:
        workers = [
            stack.enter_context(
                processes.started(
                    [sys.executable, str(WORKER_SCRIPT), postgres_dsn, f"p{i}", str(ttl)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
            for i in range(3)
        ]
        outputs = [processes.Lines(worker.stdout) for worker in workers]
        errors = [processes.Lines(worker.stderr) for worker in workers]
        # Once p0 holds leases (a window logged), kill it mid-run.
        processes.poll_until(lambda: any(e[0] != "round" for e in _entries(outputs[0].lines)))
        killed = time.monotonic()
        assert processes.stop(workers[0], signal.SIGKILL) == -signal.SIGKILL
        # Its leases expire; the survivors take its plants over and share them fairly.
        processes.poll_until(
            lambda: [_last_round(out.lines, killed + ttl) for out in outputs[1:]] == [15, 15]
        )
        for worker in workers[1:]:  # end of input: they release their leases and leave
            assert worker.stdin is not None
            worker.stdin.close()
        codes = [worker.wait(DEADLINE) for worker in workers[1:]]
        assert codes == [0, 0], [err.join() for err in errors]
        entries = [e for out in outputs for e in _entries(out.join())]
    windows: list[Window] = [(e[0], e[1], e[2], e[3]) for e in entries if e[0] != "round"]
    assert {w[1] for w in windows} == {"p0", "p1", "p2"}  # the killed one worked too
    assert overlaps(windows) == []


async def _ttl(dsn: str) -> float:
    async with PostgresStore(dsn) as store:
        return await measured_ttl(store)


async def _add_plants(dsn: str, n: int) -> None:
    async with PostgresStore(dsn) as store:
        for key in keys(n):
            await store.add_plant(key)

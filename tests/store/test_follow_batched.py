"""Follow commits several plants' small pages in one transaction (issue 26, item 2).

A steady poll brings one record and then its next poll time: two transactions a poll
before. Now plants whose pages come within a few milliseconds share one `commit_pages`,
each page with its own state, so the rows stay those of an undisturbed sync. One plant's
failing page in a batch fails that plant only; a follow cancelled with a batch in flight
returns only once it has landed, and one cancelled with pages still waiting takes them
back: after a restart the rows are an undisturbed sync's. A fleet's worker batches too and
is still refused a page for a plant whose lease it lost.

The store is seen through its own methods: each test counts its `commit_page` and
`commit_pages` calls (a test double of the store, nothing of aiohttp's), and one holds a
batch at the door to cancel follow under it.

Seen failing first: on the engine without batching, every test here (as many transactions
as pages; no batch to hold or fail); with batches but no page-by-page retry of a failed
batch, the other plants of the batch failed too (the store's "no room", the lost lease);
with a cancelled plant neither taking its page back nor waiting for its batch, and follow
not waiting for batches in flight, the held batch landed after follow returned
(PostgreSQL; SQLite's landed in time).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import attrs
import pytest

from lacecal_async import LacecalClient
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import (
    Cycle,
    FleetEvent,
    PostgresStore,
    SQLiteStore,
    Store,
    follow,
    follow_fleet,
    sync,
)
from lacecal_async.sync import batching as sync_batching
from lacecal_async.sync.core import PlantPage
from lacecal_async.tables import METER, Row
from lacecal_async.testing import FakeClock, FakeLacecalServer, Plant, make_plants
from tests.support.checks import wait_until
from tests.support.store_kinds import StoreKind

T0 = 1727827200  # 2024-10-02 00:00Z
PERIOD = 600
#: Each step of the clock ends here in a period: after every plant's poll for the period
#: that closed (at most 0.35 of a period late), before the next close.
INTO = 0.4 * PERIOD
NOW = T0 + 86400 + INTO
SINCE = int(NOW) - 3 * PERIOD
PLANTS = make_plants(6, seed=26, start=T0, interval=PERIOD, gaps=False, follow_clock=True)
KEYS = [f"p{i}" for i in range(len(PLANTS))]
PAIRS = [(plant.itr, key) for plant, key in zip(PLANTS, KEYS, strict=True)]
#: Long enough that every plant due together lands in one batch, on a busy machine too.
WINDOW = 1.0


@pytest.fixture(autouse=True)
def _wide_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sync_batching, "WINDOW", WINDOW)


@attrs.define
class Commits:
    """A store's page commits as its caller made them; `hold` keeps batches at the door."""

    transactions: int = 0
    pages: int = 0
    batches: list[list[PlantPage]] = attrs.field(factory=list)
    #: The batches that raised, and the worker each named.
    failed: list[list[PlantPage]] = attrs.field(factory=list)
    workers: set[str | None] = attrs.field(factory=set)
    hold: asyncio.Event | None = None


def counted(store: Any) -> Commits:
    """Count `store`'s page commits from now on (its own methods do the work)."""
    seen = Commits()
    one, many = store.commit_page, store.commit_pages

    async def commit_page(*args: Any, **kwargs: Any) -> None:
        seen.transactions += 1
        seen.pages += 1
        await one(*args, **kwargs)

    async def commit_pages(batch: Sequence[PlantPage], **kwargs: Any) -> None:
        seen.transactions += 1
        seen.pages += len(batch)
        seen.batches.append(list(batch))
        seen.workers.add(kwargs.get("worker"))
        if seen.hold is not None:
            await seen.hold.wait()
        try:
            await many(batch, **kwargs)
        except Exception:
            seen.failed.append(list(batch))
            raise

    store.commit_page = commit_page
    store.commit_pages = commit_pages
    return seen


@attrs.define
class Driver:
    """Follow on a `FakeClock`, moved a period at a time once every plant polled."""

    clock: FakeClock
    cycles: dict[str, list[Cycle]] = attrs.field(factory=lambda: {key: [] for key in KEYS})

    def seen(self, cycle: Cycle) -> None:
        self.cycles[cycle.plant].append(cycle)

    def settled(self, keys: Sequence[str]) -> bool:
        """Whether each of `keys` has cycled and waits for a poll after the clock's time."""
        now = self.clock.now()
        return all(self.cycles[k] and self.cycles[k][-1].next_poll > now for k in keys)

    async def until(self, task: asyncio.Task[None], done: Callable[[], bool]) -> None:
        await wait_until(lambda: done() or task.done())
        if task.done():
            task.result()
            raise AssertionError("follow ended by itself")

    async def periods(self, task: asyncio.Task[None], count: int, keys: Sequence[str]) -> None:
        """Let `keys` settle, then move the clock `count` periods, settling after each."""
        await self.until(task, lambda: self.settled(keys))
        for _ in range(count):
            self.clock.advance(PERIOD)
            await self.until(task, lambda: self.settled(keys))


async def rows(store: Store) -> list[Row]:
    found = [row async for batch in store.read_rows(METER) for row in batch]
    return sorted(found)


async def undisturbed(url: str, clock: FakeClock, folder: Path) -> list[Row]:
    """The rows a one-shot sync of every plant stores at the clock's time."""
    async with (
        LacecalClient(base_url=url, rate_limit=(100, 1.0)) as client,
        SQLiteStore(folder / "undisturbed.db") as reference,
    ):
        await sync(client, reference, PAIRS, "meter", SINCE, clock=clock)
        return await rows(reference)


async def stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def serve(plants: list[Plant], clock: FakeClock) -> FakeLacecalServer:
    return FakeLacecalServer(plants, rate_limit=None, clock=clock)


async def test_plants_followed_together_share_transactions_and_store_what_sync_does(
    store_kind: StoreKind, tmp_path: Path
) -> None:
    driver = Driver(FakeClock(NOW))
    async with (
        serve(PLANTS, driver.clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as client,
        store_kind.make() as store,
    ):
        commits = counted(store)
        task = asyncio.create_task(
            follow(client, store, PAIRS, "meter", SINCE, clock=driver.clock, on_cycle=driver.seen)
        )
        try:
            await driver.periods(task, 3, KEYS)
        finally:
            await stopped(task)
        followed = await rows(store)
        expected = await undisturbed(server.base_url, driver.clock, tmp_path)
    # Each plant: a catch-up page and its next poll, then a record and its next poll a period.
    assert all(c.error is None for cycles in driver.cycles.values() for c in cycles)
    assert all([c.records for c in driver.cycles[k][-3:]] == [1, 1, 1] for k in KEYS)
    assert commits.pages >= 2 * 4 * len(KEYS)
    assert commits.transactions < commits.pages / 2, commits
    assert max(len(batch) for batch in commits.batches) > 1
    assert followed == expected


class _Unbatched(SQLiteStore):
    """A store written before `commit_pages`: it commits a page at a time."""

    commit_pages = None  # type: ignore[assignment]


async def test_a_store_without_commit_pages_is_followed_a_page_at_a_time(
    tmp_path: Path,
) -> None:
    driver = Driver(FakeClock(NOW))
    async with (
        serve(PLANTS, driver.clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as client,
        _Unbatched(tmp_path / "unbatched.db") as store,
    ):
        pages = 0
        one = store.commit_page

        async def commit_page(*args: Any, **kwargs: Any) -> None:
            nonlocal pages
            pages += 1
            await one(*args, **kwargs)

        store.commit_page = commit_page  # type: ignore[method-assign]
        task = asyncio.create_task(
            follow(client, store, PAIRS, "meter", SINCE, clock=driver.clock, on_cycle=driver.seen)
        )
        try:
            await driver.periods(task, 1, KEYS)
        finally:
            await stopped(task)
        followed = await rows(store)
        expected = await undisturbed(server.base_url, driver.clock, tmp_path)
    assert pages >= 2 * 2 * len(KEYS)
    assert followed == expected


async def test_a_plant_whose_page_fails_in_a_batch_fails_alone(
    store_kind: StoreKind, tmp_path: Path
) -> None:
    if store_kind.name != "postgres":
        pytest.skip("the database refuses one plant's rows as out of disk: PostgreSQL's trigger")
    bad = KEYS[2]
    driver = Driver(FakeClock(NOW))
    async with (
        serve(PLANTS, driver.clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as client,
        store_kind.make() as store,
    ):
        commits = counted(store)
        task = asyncio.create_task(
            follow(client, store, PAIRS, "meter", SINCE, clock=driver.clock, on_cycle=driver.seen)
        )
        try:
            await driver.periods(task, 0, KEYS)
            # The database refuses that plant's rows (a full disk, as it says): transient.
            await store_kind.execute(
                f"""
                CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'no room' USING ERRCODE = 'disk_full'; END $$;
                CREATE TRIGGER refuse BEFORE INSERT ON meter
                    FOR EACH ROW WHEN (NEW.plant = '{bad}') EXECUTE FUNCTION refuse();
                """
            )
            marks = {k: len(v) for k, v in driver.cycles.items()}
            await driver.periods(task, 2, KEYS)
            refused = [c for c in driver.cycles[bad][marks[bad] :] if c.error is not None]
            others = [c for k in KEYS if k != bad for c in driver.cycles[k][marks[k] :]]
            await store_kind.execute("DROP TRIGGER refuse ON meter")
            driver.clock.advance(PERIOD)
            await driver.until(task, lambda: bool(driver.cycles[bad][-1].records))
            await driver.periods(task, 0, KEYS)
        finally:
            await stopped(task)
        followed = await rows(store)
        expected = await undisturbed(server.base_url, driver.clock, tmp_path)
    # Its pages were in batches with the others' pages: those batches failed, and only it did.
    assert any(len(b) > 1 and any(p.plant == bad for p in b) for b in commits.failed)
    assert refused
    assert all("the store is unavailable" in (c.error or "") for c in refused)
    assert len(others) >= 2 * (len(KEYS) - 1)
    assert all(c.error is None and c.records == 1 for c in others), others
    assert followed == expected


async def test_follow_cancelled_under_a_batch_loses_nothing(
    store_kind: StoreKind, tmp_path: Path
) -> None:
    driver = Driver(FakeClock(NOW))
    async with (
        serve(PLANTS, driver.clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as client,
    ):
        async with store_kind.make() as store:
            commits = counted(store)
            task = asyncio.create_task(
                follow(
                    client, store, PAIRS, "meter", SINCE, clock=driver.clock, on_cycle=driver.seen
                )
            )
            try:
                await driver.periods(task, 1, KEYS)
                commits.hold = asyncio.Event()
                held = len(commits.batches)
                driver.clock.advance(PERIOD)  # every plant polls: a batch comes, and is held
                await driver.until(task, lambda: len(commits.batches) > held)
                task.cancel()  # with that batch in flight, and pages behind it still waiting
                commits.hold.set()
            finally:
                await stopped(task)
            # Back from the cancel: the batch in flight has landed, each page with its state.
            batch = commits.batches[held]
            for page in batch:
                assert await store.state(page.plant, page.endpoint) == page.state
        # A restart polls again for what was taken back, and catches up.
        restarted = Driver(driver.clock)
        async with store_kind.make() as store:
            task = asyncio.create_task(
                follow(
                    client,
                    store,
                    PAIRS,
                    "meter",
                    SINCE,
                    clock=driver.clock,
                    on_cycle=restarted.seen,
                )
            )
            try:
                await restarted.periods(task, 1, KEYS)
            finally:
                await stopped(task)
            followed = await rows(store)
        expected = await undisturbed(server.base_url, driver.clock, tmp_path)
    assert followed == expected


async def test_a_fleet_worker_batches_and_is_refused_a_page_of_a_lost_lease(
    postgres_dsn: str,
) -> None:
    lost = KEYS[1]
    driver = Driver(FakeClock(NOW))
    events: list[FleetEvent] = []
    async with (
        serve(PLANTS, driver.clock) as server,
        LacecalClient(base_url=server.base_url, rate_limit=(100, 1.0)) as client,
        PostgresStore(postgres_dsn) as store,
    ):
        commits = counted(store)
        task = asyncio.create_task(
            follow_fleet(
                client,
                store,
                PAIRS,
                "meter",
                SINCE,
                clock=driver.clock,
                on_cycle=driver.seen,
                worker="w",
                # No lease round in the test: the fenced write is what finds the lease gone.
                lease_ttl=3600.0,
                handover_wait=0.0,
                on_fleet=events.append,
            )
        )
        try:
            await driver.periods(task, 1, KEYS)
            before = await store.state(lost, Endpoint.METER)
            # Another worker takes a lease behind its back (as after a long stall).
            conn = await asyncpg.connect(postgres_dsn)
            try:
                await conn.execute("UPDATE leases SET worker = 'thief' WHERE plant = $1", lost)
            finally:
                await conn.close()
            marks = {k: len(v) for k, v in driver.cycles.items()}
            kept = [k for k in KEYS if k != lost]
            await driver.periods(task, 2, kept)
            await driver.until(
                task, lambda: any(e.kind == "stopped" and e.plants == (lost,) for e in events)
            )
            after = await store.state(lost, Endpoint.METER)
        finally:
            await stopped(task)
    assert commits.workers == {"w"}  # every batch fenced by the worker's leases
    assert any(len(b) > 1 and any(p.plant == lost for p in b) for b in commits.failed)
    assert after == before  # its page was refused: nothing of it written
    others = [c for k in kept for c in driver.cycles[k][marks[k] :]]
    assert len(others) >= 2 * len(kept)
    assert all(c.error is None and c.records == 1 for c in others), others
    stop = next(e for e in events if e.kind == "stopped" and e.plants == (lost,))
    assert "no longer holds the lease" in stop.detail

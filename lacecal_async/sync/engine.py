"""The sync engine: `sync` brings plants' records in a store up to date; `follow` keeps them so.

Each plant's endpoint is one worker. A cycle catches up from the stored sync state (or
`since`), committing each page with the state in one transaction; asks again for holes due
for repair; re-reads the `lookback` window if asked; refreshes the inverter inventory now
and then; and schedules its next poll (`lacecal_async.polling`): once per the plant's own
integration period, shortly after a period closes, at a phase of its own. A failure is
written to the store (`record_error`) and backs off, counted in the plant's periods; it
never stops the other plants, and a plant that keeps failing is retried, never dropped.

Plants are stored under their alias, else `fingerprint(itr)`: never their identifier.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import attrs

from lacecal_async.client import LacecalClient
from lacecal_async.clock import Clock, SystemClock, sleep_until
from lacecal_async.endpoints import Endpoint
from lacecal_async.errors import LacecalClosedError, LacecalError
from lacecal_async.follow import Cursor
from lacecal_async.itr import fingerprint, redact, validate_itr
from lacecal_async.polling import backoff, next_poll, phase_of
from lacecal_async.sync.store import TIMED, Store, StoreError, SyncState

__all__ = [
    "DEFAULT_INTERVAL",
    "INVENTORY_EVERY",
    "Cycle",
    "EndpointReport",
    "PlantReport",
    "SyncPlant",
    "follow",
    "sync",
    "sync_plants",
]

#: The period assumed for a plant none of whose records told its own [s].
DEFAULT_INTERVAL = 600
#: Follow mode refreshes a plant's inverter inventory once per this many periods.
INVENTORY_EVERY = 144


@attrs.frozen
class SyncPlant:
    """A plant to sync: its identifier (a secret, shown redacted) and an optional alias.

    `key` names it in the store: the alias, else `fingerprint(itr)`.
    """

    itr: str = attrs.field(repr=redact, validator=lambda _i, _a, v: validate_itr(v))
    alias: str | None = None

    @property
    def key(self) -> str:
        """The plant's name in every table."""
        return self.alias if self.alias is not None else fingerprint(self.itr)

    @property
    def name(self) -> str:
        """How messages name it: the alias, else the redacted identifier."""
        return self.alias if self.alias is not None else redact(self.itr)


def sync_plants(plants: Iterable[str | tuple[str, str | None] | SyncPlant]) -> list[SyncPlant]:
    """Return `plants` as `SyncPlant`s: identifiers, ``(itr, alias)`` pairs, or SyncPlants."""
    out: dict[str, SyncPlant] = {}
    for plant in plants:
        if isinstance(plant, SyncPlant):
            value = plant
        elif isinstance(plant, str):
            value = SyncPlant(plant)
        else:
            itr, alias = plant
            value = SyncPlant(itr, alias)
        seen = out.setdefault(value.itr, value)
        if seen != value:
            raise ValueError(f"plant {value.name} is given twice with different aliases")
    return list(out.values())


def _endpoints(endpoints: Iterable[Endpoint | str] | Endpoint | str) -> tuple[Endpoint, ...]:
    if isinstance(endpoints, str):
        endpoints = (endpoints,)
    chosen = tuple(dict.fromkeys(Endpoint(e) for e in endpoints))
    if not chosen or any(e not in TIMED for e in chosen):
        raise ValueError("endpoints are 'meter' and/or 'inverter'")
    return chosen


@attrs.frozen
class Cycle:
    """What one cycle of a plant's endpoint did: the engine's progress event.

    records: records committed (new, repaired and re-read); latest: the newest stored
    record's start; next_poll: when it asks again; error: why it failed (None: it did not).
    """

    plant: str
    endpoint: Endpoint
    records: int
    pages: int
    repaired: int
    latest: int | None
    interval: int | None
    next_poll: float
    failures: int
    error: str | None


@attrs.frozen
class EndpointReport:
    """One endpoint of a `PlantReport`: the totals of the cycles `sync` ran."""

    endpoint: Endpoint
    records: int
    pages: int
    repaired: int
    latest: int | None
    error: str | None


@attrs.frozen
class PlantReport:
    """What `sync` did for a plant: its key, per endpoint, and the inventory's size."""

    plant: str
    endpoints: tuple[EndpointReport, ...]
    inverters: int | None = None
    inventory_error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether every endpoint (and the inventory) is up to date without error."""
        return self.inventory_error is None and all(e.error is None for e in self.endpoints)

    @property
    def records(self) -> int:
        """Records committed, every endpoint together."""
        return sum(e.records for e in self.endpoints)


@attrs.define
class _Context:
    client: LacecalClient
    store: Store
    clock: Clock
    since: int | None
    lookback: float | None
    on_cycle: Callable[[Cycle], object] | None
    rng: random.Random = attrs.field(factory=random.Random)


@attrs.define
class _Worker:
    """One plant's endpoint: its cycles, its state, its schedule."""

    ctx: _Context
    plant: SyncPlant
    endpoint: Endpoint
    state: SyncState = attrs.field(factory=SyncState)
    inventory_due: float | None = None
    inverters: int | None = None
    inventory_error: str | None = None

    @property
    def key(self) -> str:
        return self.plant.key

    def cursor(self) -> Cursor:
        if self.state.latest is not None:
            return Cursor(self.endpoint, self.state.latest, self.state.interval)
        if self.ctx.since is None:
            raise ValueError(f"plant {self.plant.name} has no sync state: give `since`")
        return Cursor.since(self.endpoint, self.ctx.since)

    async def load(self) -> None:
        state = await self.ctx.store.state(self.key, self.endpoint)
        if state is not None:
            self.state = state

    async def _commit(self, records: Sequence[Any]) -> None:
        await self.ctx.store.commit_page(
            self.key, self.endpoint, records, self.state, now=self.ctx.clock.now()
        )

    async def _range(self, start: int, end: int) -> tuple[Any, ...]:
        client, itr = self.ctx.client, self.plant.itr
        if self.endpoint is Endpoint.METER:
            return await client.meter_records(itr, start, end)
        return await client.inverter_records(itr, start, end)

    async def _catch_up(self) -> tuple[int, int]:
        records = pages = 0
        batches = self.ctx.client.catch_up(self.plant.itr, self.endpoint, self.cursor())
        async with contextlib.aclosing(batches):
            async for batch, cursor in batches:
                self.state = attrs.evolve(
                    self.state, latest=cursor.after, interval=cursor.interval, failures=0
                )
                await self._commit(batch)
                records += len(batch)
                pages += 1
        return records, pages

    async def _repair(self) -> int:
        store, clock = self.ctx.store, self.ctx.clock
        landed = 0
        for hole in await store.holes(self.key, self.endpoint, due_by=clock.now()):
            found = await self._range(hole.start, hole.end)
            if found:
                await self._commit(found)
                landed += len(found)
            await store.repair_attempted(
                self.key, self.endpoint, hole.start, hole.end, now=clock.now()
            )
        return landed

    async def _look_back(self) -> int:
        latest, lookback = self.state.latest, self.ctx.lookback
        if latest is None or not lookback:
            return 0
        found = await self._range(int(latest - lookback), latest)
        if found:
            await self._commit(found)
        return len(found)

    async def _inventory(self, interval: int) -> None:
        now = self.ctx.clock.now()
        if self.endpoint is not Endpoint.INVERTER or (
            self.inventory_due is not None and now < self.inventory_due
        ):
            return
        try:
            inverters = await self.ctx.client.inverters(self.plant.itr)
        except LacecalClosedError:
            raise
        except LacecalError as exc:
            self.inventory_error = str(exc)
            return
        await self.ctx.store.commit_inventory(self.key, inverters, now=now)
        self.inverters, self.inventory_error = len(inverters), None
        self.inventory_due = now + INVENTORY_EVERY * interval

    async def cycle(self) -> Cycle:
        """Run one cycle; a plant's failure is stored and reported, never raised."""
        ctx = self.ctx
        records = pages = repaired = 0
        error: str | None = None
        try:
            records, pages = await self._catch_up()
            repaired = await self._repair()
            records += repaired + await self._look_back()
            await self._inventory(self.state.interval or DEFAULT_INTERVAL)
        except (LacecalClosedError, StoreError):
            raise
        except LacecalError as exc:
            error = str(exc)
        interval = self.state.interval or DEFAULT_INTERVAL
        now = ctx.clock.now()
        if error is None:
            grid = self.state.latest if self.state.latest is not None else 0
            when = next_poll(now, interval, grid=grid, phase=phase_of(self.key), rng=ctx.rng)
            self.state = attrs.evolve(self.state, next_poll=when, failures=0)
            await self._commit(())
        else:
            when = now + backoff(self.state.failures + 1, interval, rng=ctx.rng)
            await ctx.store.record_error(self.key, self.endpoint, error, when, now=now)
            await self.load()
        cycle = Cycle(
            self.key,
            self.endpoint,
            records,
            pages,
            repaired,
            self.state.latest,
            self.state.interval,
            when,
            self.state.failures,
            error,
        )
        if ctx.on_cycle is not None:
            ctx.on_cycle(cycle)
        return cycle

    async def forever(self) -> None:
        """Cycle until cancelled, sleeping on the clock until each next poll."""
        while True:
            cycle = await self.cycle()
            await sleep_until(self.ctx.clock, cycle.next_poll)


async def _workers(
    ctx: _Context, plants: Sequence[SyncPlant], endpoints: Sequence[Endpoint]
) -> list[_Worker]:
    workers = []
    for plant in plants:
        await ctx.store.add_plant(fingerprint(plant.itr), plant.alias)
        for endpoint in endpoints:
            worker = _Worker(ctx, plant, endpoint)
            await worker.load()
            worker.cursor()  # ValueError now, for a new plant without `since`
            workers.append(worker)
    return workers


def _context(  # noqa: PLR0917 - private, called twice
    client: LacecalClient,
    store: Store,
    since: datetime | int | None,
    clock: Clock | None,
    lookback: float | None,
    on_cycle: Callable[[Cycle], object] | None,
) -> _Context:
    start = None if since is None else Cursor.since(Endpoint.METER, since).after + 1
    if lookback is not None and lookback < 0:
        raise ValueError("lookback is a duration in seconds, zero or more")
    return _Context(
        client, store, clock if clock is not None else SystemClock(), start, lookback, on_cycle
    )


async def sync(
    client: LacecalClient,
    store: Store,
    plants: Iterable[str | tuple[str, str | None] | SyncPlant],
    endpoints: Iterable[Endpoint | str] | Endpoint | str = (Endpoint.METER, Endpoint.INVERTER),
    since: datetime | int | None = None,
    *,
    clock: Clock | None = None,
    lookback: float | None = None,
    on_cycle: Callable[[Cycle], object] | None = None,
) -> dict[str, PlantReport]:
    """Bring every plant up to date in `store`; return a report per plant key.

    `plants`: identifiers or ``(itr, alias)`` pairs. A plant with sync state resumes after
    its latest stored record; one without starts at `since` (ValueError if None). Pages are
    committed as they arrive; holes due for repair are asked for again; the inverter
    inventory is refreshed when "inverter" is synced; `lookback` [s] re-reads the window
    before each latest record. A plant's failure is in its report (and the store), never
    raised; a cancellation stops at once, after the commit in flight.
    """
    ctx = _context(client, store, since, clock, lookback, on_cycle)
    chosen = sync_plants(plants)
    workers = await _workers(ctx, chosen, _endpoints(endpoints))
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(worker.cycle()) for worker in workers]
    reports: dict[str, PlantReport] = {}
    for worker, task in zip(workers, tasks, strict=True):
        cycle = task.result()
        entry = EndpointReport(
            cycle.endpoint, cycle.records, cycle.pages, cycle.repaired, cycle.latest, cycle.error
        )
        report = reports.get(worker.key, PlantReport(worker.key, ()))
        reports[worker.key] = attrs.evolve(
            report,
            endpoints=(*report.endpoints, entry),
            inverters=worker.inverters if worker.inverters is not None else report.inverters,
            inventory_error=worker.inventory_error or report.inventory_error,
        )
    return reports


async def follow(
    client: LacecalClient,
    store: Store,
    plants: Iterable[str | tuple[str, str | None] | SyncPlant],
    endpoints: Iterable[Endpoint | str] | Endpoint | str = (Endpoint.METER, Endpoint.INVERTER),
    since: datetime | int | None = None,
    *,
    clock: Clock | None = None,
    lookback: float | None = None,
    on_cycle: Callable[[Cycle], object] | None = None,
) -> None:
    """Do what `sync` does, then keep every plant up to date until cancelled.

    After downtime each plant first backfills what it missed (as fast as the rate limit
    lets), then is polled once per its integration period. Cancel the task to stop: the
    commit in flight completes (the store finishes it), nothing else is started.
    """
    ctx = _context(client, store, since, clock, lookback, on_cycle)
    workers = await _workers(ctx, sync_plants(plants), _endpoints(endpoints))
    async with asyncio.TaskGroup() as group:
        for worker in workers:
            group.create_task(worker.forever())

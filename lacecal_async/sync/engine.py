"""The sync engine: `sync` brings plants' records in a store up to date; `follow` keeps them so.

Each plant's endpoint is one worker. A cycle catches up from the stored sync state (or
`since`), committing each page with the state in one transaction; asks again for holes due
for repair; re-reads the `lookback` window if asked; refreshes the inverter inventory now
and then; and schedules its next poll (`lacecal_async.polling`): once per the plant's own
integration period, shortly after a period closes, at a phase of its own. A failure is
written to the store (`record_error`) and backs off, counted in the plant's periods; it
never stops the other plants, and a plant that keeps failing is retried, never dropped.

Plants are stored under their alias, else `fingerprint(itr)`: never their identifier.

Fleets: `follow_fleet` shares the plants listed in a `FleetStore` (`PostgresStore`) with
every other worker following it, one worker per plant at a time. Its lease loop is a
`lacecal_async.sync.fleet.Fleet`, which starts the engine's per-plant work for each plant it
holds, with requests gated on the lease and writes through a `Fenced` view of the store;
the engine itself never knows whether it runs in a fleet.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

import attrs

from lacecal_async.client import LacecalClient
from lacecal_async.clock import Clock, SystemClock
from lacecal_async.endpoints import DEFAULT_INTERVAL, Endpoint, EndpointLike, Records, timed
from lacecal_async.errors import (
    LacecalClockError,
    LacecalClosedError,
    LacecalError,
    LacecalParseError,
    LacecalRateLimitError,
    LacecalResponseError,
)
from lacecal_async.itr import fingerprint, redact, validate_itr
from lacecal_async.polling import Outcome, PollPlan, backoff
from lacecal_async.redaction import Hider
from lacecal_async.sync.batching import SMALL_PAGE, Batcher
from lacecal_async.sync.core import PlantPage
from lacecal_async.sync.fleet import (
    DEFAULT_LEASE_TTL,
    Fenced,
    Fleet,
    FleetEvent,
    FleetStore,
    first_error,
    join,
    worker_id,
)
from lacecal_async.sync.schedule import Lot, Schedule
from lacecal_async.sync.store import (
    ALIAS_HOLDS_IDENTIFIER,
    Store,
    StoreError,
    StoreUnavailableError,
    SyncState,
    check_alias,
)
from lacecal_async.watch import Cursor, future_tolerance

__all__ = [
    "DEFAULT_INTERVAL",
    "INVENTORY_EVERY",
    "Cycle",
    "EndpointReport",
    "PlantReport",
    "SyncPlant",
    "follow",
    "follow_fleet",
    "sync",
    "sync_plants",
]

_log = logging.getLogger("lacecal_async.sync")
T = TypeVar("T")

#: Follow mode refreshes a plant's inverter inventory once per this many periods.
INVENTORY_EVERY = 144
#: Follow mode's most plants polling at once, and repairing at once (`_Schedules`): a plant
#: waiting for its time is an entry in a heap, and this many tasks do the work when due.
FOLLOW_TASKS = 1024
#: A job of follow's schedule: a plant's poll, or a round of its repairs.
_POLL, _REPAIRS = 0, 1
#: The first wait after the store failed for a while [s]; it doubles with each failure in a
#: row, up to the plant's period (`store_backoff`).
STORE_RETRY = 1.0
#: The longest wait between tries to start while the store is unavailable [s].
_START_RETRY_MAX = 60.0
#: A one-shot `sync` tries this many times while the store is unavailable, `store_backoff`
#: apart (about 15 to 31 s in all: a database restarting), then gives up with one error.
SYNC_STORE_TRIES = 6


def store_backoff(failures: int, interval: float, *, rng: random.Random) -> float:
    """Return how long to wait [s] after the store failed `failures` times in a row.

    A database that drops connections or restarts is back in seconds, a full disk when
    someone frees space: try again soon, then less often, at least once per period.
    Jittered (50-100%) so that plants do not all come back at once.
    """
    wait = min(STORE_RETRY * 2.0 ** min(failures - 1, 30), max(interval, STORE_RETRY))
    return wait * rng.uniform(0.5, 1.0)


@attrs.frozen
class SyncPlant:
    """A plant to sync: its identifier (a secret, shown redacted) and an optional alias.

    `key` names it in the store: the alias, else `fingerprint(itr)`. The alias is checked
    as the store checks it, and against its own identifier (`ValueError`): one holding an
    identifier, or 8 characters of this one, is refused up front.
    """

    itr: str = attrs.field(repr=redact, validator=lambda _i, _a, v: validate_itr(v))
    alias: str | None = attrs.field(
        default=None, validator=lambda i, _a, v: v is None or check_alias(v, (i.itr,))
    )

    @classmethod
    def _stored(cls, itr: str, alias: str | None) -> SyncPlant:
        """Return the plant a store lists under `alias`, without checking the alias again.

        The store checked it when it was added; one added before the rule on pieces of the
        identifier is where the plant's rows are, and refusing it here would stop the plant.
        """
        plant = cls(itr)
        object.__setattr__(plant, "alias", alias)  # frozen: set without the check
        return plant

    @property
    def key(self) -> str:
        """The plant's name in every table."""
        return self.alias if self.alias is not None else fingerprint(self.itr)

    @property
    def name(self) -> str:
        """How messages name it: the alias, else the redacted identifier."""
        return self.alias if self.alias is not None else redact(self.itr)


def sync_plants(plants: Iterable[str | tuple[str, str | None] | SyncPlant]) -> list[SyncPlant]:
    """Return `plants` as `SyncPlant`s: identifiers, ``(itr, alias)`` pairs, or SyncPlants.

    ValueError for a plant given twice with different aliases, or an alias holding 8
    characters of any identifier of `plants` (`check_alias`).
    """
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
    hider = Hider(out)
    for value in out.values():
        if value.alias is not None and hider.suspects(value.alias):
            raise ValueError(f"the alias of plant {redact(value.itr)}: {ALIAS_HOLDS_IDENTIFIER}")
    return list(out.values())


def _endpoints(endpoints: Iterable[EndpointLike] | EndpointLike) -> tuple[Endpoint, ...]:
    if isinstance(endpoints, str | Records):
        endpoints = (endpoints,)
    chosen = tuple(dict.fromkeys(timed(e) for e in endpoints))
    if not chosen:
        raise ValueError("no endpoint given: 'meter' and/or 'inverter'")
    return chosen


@attrs.frozen
class Cycle:
    """What one cycle of a plant's endpoint did: the engine's progress event.

    records: records committed (new, repaired and re-read); repaired: those that filled
    holes (in `follow`, the repairs between the previous cycle and this one); latest: the
    newest stored record's start; next_poll: when it asks again; error: why it failed (None:
    it did not); inventory_error: why this cycle's refresh of the inverter list failed
    (None: it did not, or was not due). failures: the plant's failures in a row; for a cycle
    the store failed (`StoreUnavailableError`, not stored), the store's failures in a row.
    reread: those of `records` the lookback re-read.
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
    inventory_error: str | None = None
    reread: int = 0


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
    #: Where each plant's work reads and writes: the store, or a fleet's `Fenced` view of it
    #: (the same methods: the engine never asks which).
    store: Store | Fenced
    clock: Clock
    since: int | None
    lookback: float | None
    on_cycle: Callable[[Cycle], object] | None
    #: The client's view for hole repairs: it leaves each plant's polls the slots they need.
    spare: LacecalClient
    rng: random.Random = attrs.field(factory=random.Random)
    #: In follow: the schedules the plants' polls and repairs wait in, and their lot.
    schedules: _Schedules | None = None
    lot: Lot | None = None
    #: In follow: where small pages wait to be committed with other plants' (`Batcher`).
    batcher: Batcher | None = None


def _of_the_range(error: LacecalError) -> bool:
    """Whether a failed request says something of its range only: a bad page, or a 4xx."""
    if isinstance(error, LacecalRateLimitError):
        return False
    return isinstance(error, LacecalParseError) or (
        isinstance(error, LacecalResponseError) and 400 <= error.status < 500
    )


@attrs.define
class _Worker:
    """One plant's endpoint: its polls and its repairs, its state, its schedule."""

    ctx: _Context
    plant: SyncPlant
    endpoint: Endpoint
    state: SyncState = attrs.field(factory=SyncState)
    inventory_due: float | None = None
    inverters: int | None = None
    inventory_error: str | None = None
    inventory_failures: int = 0
    #: The latest record's start, when asked for its period (the poll grid before any is stored).
    grid: int | None = None
    asked_period: bool = False
    #: Records repairs landed since the last cycle event (follow mode repairs between polls).
    repaired: int = 0
    #: Records and pages the current cycle committed so far (reported even if it fails).
    landed: tuple[int, int] = (0, 0)
    #: Held while the state is written: the polls and the repairs take turns.
    writing: asyncio.Lock = attrs.field(factory=asyncio.Lock)
    #: Set after the first cycle (which removes any future-dated rows): repairs start then.
    polled: _Flag = attrs.field(factory=lambda: _Flag())  # noqa: PLW0108 - defined below
    #: Cycles in a row the store failed for a while (`StoreUnavailableError`).
    store_failures: int = 0
    #: Whether the state in memory may be behind the store's (a commit it could not confirm).
    stale: bool = False

    @property
    def key(self) -> str:
        return self.plant.key

    @property
    def interval(self) -> int:
        return self.state.interval or DEFAULT_INTERVAL

    def limit(self) -> int:
        """Return the latest start a record may have now: a later one is a clock fault."""
        return int(self.ctx.clock.now() + future_tolerance(self.state.interval))

    def cursor(self) -> Cursor:
        if self.state.latest is not None:
            return Cursor(self.endpoint, self.state.latest, self.state.interval)
        since = self.ctx.since if self.ctx.since is not None else self.state.since
        if since is None:
            raise ValueError(f"plant {self.plant.name} has no sync state: give `since`")
        cursor = Cursor.since(self.endpoint, since)
        if self.state.since is None:  # kept by the store: late periods after it are a hole
            self.state = attrs.evolve(self.state, since=cursor.after + 1)
        return cursor

    async def load(self) -> None:
        state = await self.ctx.store.state(self.key, self.endpoint)
        if state is not None:
            self.state = state

    async def load_inventory(self) -> None:
        """Take the inverter list's saved refresh schedule (follow mode, at start).

        A restarted daemon then refreshes each list when due, not every plant's at once, and
        a failed refresh keeps its backoff. A one-shot `sync` refreshes it on every run.
        """
        if self.endpoint is Endpoint.INVERTER:
            saved = await self.ctx.store.state(self.key, Endpoint.INVERTER_LIST)
            if saved is not None:
                self.inventory_due, self.inventory_failures = saved.next_poll, saved.failures

    async def _commit(self, records: Sequence[Any], **changes: Any) -> None:  # noqa: ANN401
        """Commit `records` with the state changed by `changes`, in turn with the repairs."""
        async with self.writing:
            state = attrs.evolve(self.state, **changes)
            batcher = self.ctx.batcher
            if batcher is not None and len(records) <= SMALL_PAGE:  # a steady poll's
                await batcher.commit(PlantPage(self.key, self.endpoint, records, state))
            else:
                await self.ctx.store.commit_page(
                    self.key, self.endpoint, records, state, now=self.ctx.clock.now()
                )
            self.state = state

    async def _range(self, client: LacecalClient, start: int, end: int) -> tuple[Any, ...]:
        """Return the records of ``[start, end)``, but none dated after the clock's tolerance."""
        limit = self.limit()
        end = min(end, limit + 1)
        if end <= start:
            return ()
        itr = self.plant.itr
        found: tuple[Any, ...] = await (
            client.meter_records(itr, start, end)
            if self.endpoint is Endpoint.METER
            else client.inverter_records(itr, start, end)
        )
        return tuple(record for record in found if record.unix_time <= limit)

    async def _drop_future(self, seen: int | None) -> int:
        """Remove stored periods dated after the clock (noting `seen`, one just refused)."""
        async with self.writing:
            after = self.limit()
            removed = await self.ctx.store.drop_future(
                self.key, self.endpoint, after=after, seen=seen, now=self.ctx.clock.now()
            )
            if removed or (self.state.latest or 0) > after:
                await self.load()  # the newest period kept is the cursor now
        return removed

    async def _catch_up(self) -> None:
        batches = self.ctx.client.catch_up(
            self.plant.itr, self.endpoint, self.cursor(), clock=self.ctx.clock
        )
        async with contextlib.aclosing(batches):
            async for batch, cursor in batches:
                await self._commit(batch, latest=cursor.after, interval=cursor.interval, failures=0)
                records, pages = self.landed
                self.landed = (records + len(batch), pages + 1)

    async def _repair(self) -> None:
        """Ask for the holes due now with the slots the polls leave; count what lands.

        A hole whose reply is bad (a page the server cannot serve, a 4xx for its range)
        stays due and the next holes are still asked for: one that always fails must not
        hold the others back. The first such failure is raised once they are done; any
        other failure (the server or the way to it is down, a 429) at once.
        """
        store, clock = self.ctx.store, self.ctx.clock
        bad: LacecalError | None = None
        for hole in await store.holes(self.key, self.endpoint, due_by=clock.now()):
            try:
                found = await self._range(self.ctx.spare, hole.start, hole.end)
            except (LacecalParseError, LacecalResponseError) as exc:
                if not _of_the_range(exc):
                    raise
                bad = bad or exc
                continue
            if found:
                await self._commit(found)
                self.repaired += len(found)
            await store.repair_attempted(
                self.key, self.endpoint, hole.start, hole.end, now=clock.now()
            )
        if bad is not None:
            raise bad

    async def _look_back(self) -> int:
        latest, lookback = self.state.latest, self.ctx.lookback
        if latest is None or not lookback:
            return 0
        # never a negative t
        found = await self._range(self.ctx.client, max(int(latest - lookback), 0), latest)
        if found:
            await self._commit(found)
        return len(found)

    async def _learn_period(self) -> None:
        """Ask once for the latest record of a plant none of whose records is stored yet.

        A plant started ``--start now`` stores nothing in its first cycle, so no record has
        told its period and it would wait `DEFAULT_INTERVAL`; one request (through the
        client's rate limiter, like any other) tells it, and its next poll follows it.
        A record dated after the clock tells nothing.
        """
        self.asked_period = True
        client, itr = self.ctx.client, self.plant.itr
        latest: Any = await (
            client.latest_meter_record(itr)
            if self.endpoint is Endpoint.METER
            else client.latest_inverter_record(itr)
        )
        if latest is not None and latest.unix_time <= self.limit():
            self.state = attrs.evolve(self.state, interval=latest.interval)
            self.grid = latest.unix_time

    async def _inventory(self) -> str | None:
        """Refresh the inverter list when due; return why it failed (None: it did not, or no try).

        A failure is stored like any other (``lacecal status`` shows it, endpoint
        ``inverter_list``) and backs off in the plant's periods, apart from its records.
        """
        ctx, interval = self.ctx, self.interval
        now = ctx.clock.now()
        if self.endpoint is not Endpoint.INVERTER or (
            self.inventory_due is not None and now < self.inventory_due
        ):
            return None
        try:
            inverters = await ctx.client.inverters(self.plant.itr)
        except (LacecalClosedError, StoreError):  # a lease gate's refusal included
            raise
        except LacecalError as exc:
            # The backoff runs from the failure, not from before the request: the next try
            # then comes the whole backoff after this one reached the server, however long
            # this one took to get there (a busy machine, a slot of the rate limit).
            failed = ctx.clock.now()
            self.inventory_failures += 1
            self.inventory_error = str(exc)
            self.inventory_due = failed + backoff(self.inventory_failures, interval, rng=ctx.rng)
            await ctx.store.record_error(
                self.key,
                Endpoint.INVERTER_LIST,
                self.inventory_error,
                self.inventory_due,
                now=failed,
            )
            return self.inventory_error
        # Due again only once stored: a store failing now (a full disk) retries it next cycle.
        due = now + INVENTORY_EVERY * interval
        await ctx.store.commit_inventory(self.key, inverters, now=now, next_poll=due)
        self.inventory_due = due
        self.inverters, self.inventory_error, self.inventory_failures = len(inverters), None, 0
        return None

    async def cycle(self, *, repair: bool = True, store_raises: bool = False) -> Cycle:
        """Run one cycle; a plant's failure is stored and reported, never raised.

        `repair`: ask for the holes due too (`sync`); `follow` repairs between polls. A store
        failing for a while (`StoreUnavailableError`) is reported and retried soon (raised
        with `store_raises`: `sync` says it once); a lease lost (`LeaseLostError`, the
        gate's refusal included) is raised: the fleet acts on it.
        """
        self.landed = (0, 0)
        error: str | None = None
        inventory_error: str | None = None
        fault: LacecalClockError | None = None
        looked = 0
        try:
            if self.stale:  # a commit the store could not confirm may have landed: ask it
                async with self.writing:
                    await self.load()
                self.stale = False
            if self.state.latest is not None and self.state.latest > self.limit():
                await self._drop_future(None)  # a store written before records were checked
            try:
                await self._catch_up()
            except LacecalClockError as exc:  # the records before the fault are committed
                fault = exc
                if exc.future:
                    await self._drop_future(exc.record_time)
            if self.state.interval is None and not self.asked_period:
                await self._learn_period()
            if repair:
                await self._repair()
            looked = await self._look_back()
            inventory_error = await self._inventory()
            if fault is not None:
                error = str(fault)
        except StoreUnavailableError as exc:
            return self._store_failed(exc, inventory_error, looked, raises=store_raises)
        except (LacecalClosedError, StoreError):  # lease lost or gate refused: give it up
            raise
        except LacecalError as exc:
            error, fault = str(exc), None
        try:
            when = await self._schedule(error, fault)
        except StoreUnavailableError as exc:
            return self._store_failed(exc, inventory_error, looked, raises=store_raises)
        if self.store_failures:
            _log.warning(
                "%s %s: the store works again (after %d failed cycles)",
                self.plant.name,
                self.endpoint.value,
                self.store_failures,
            )
            self.store_failures = 0
        self.polled.set()
        return self._report(when, error, inventory_error, looked)

    async def _schedule(self, error: str | None, fault: LacecalClockError | None) -> float:
        """Write the cycle's outcome and return when to poll next: on schedule, or backed off."""
        ctx = self.ctx
        now = ctx.clock.now()
        if error is None:
            outcome, failures = Outcome.CAUGHT_UP, 0
        else:  # a clock fault keeps the schedule: the records before it come
            outcome = Outcome.FAILED if fault is None else Outcome.CLOCK_FAULT
            failures = self.state.failures + 1
        # The rule `client.watch` follows too (made per poll: nothing more held per plant).
        when = PollPlan.of(self.plant.itr).next_poll(
            outcome,
            now,
            interval=self.state.interval,
            grid=self.state.latest if self.state.latest is not None else self.grid,
            failures=failures,
            rng=ctx.rng,
        )
        if error is None:
            await self._commit((), next_poll=when, failures=0)
            return when
        async with self.writing:
            await ctx.store.record_error(self.key, self.endpoint, error, when, now=now)
            await self.load()
        return when

    def _store_failed(
        self,
        exc: StoreUnavailableError,
        inventory_error: str | None,
        looked: int,
        *,
        raises: bool = False,
    ) -> Cycle:
        """Report a cycle the store failed for a while, and ask again soon (`store_backoff`).

        Nothing is written (the store is what failed): the error is logged and in the
        cycle's event, and the next cycle first reads the state back from the store.
        `raises`: raise `exc` instead (nothing logged or reported).
        """
        self.stale = True
        if raises:
            raise exc
        self.store_failures += 1
        now = self.ctx.clock.now()
        wait = store_backoff(self.store_failures, self.interval, rng=self.ctx.rng)
        error = f"the store is unavailable: {exc}"
        # The first failure in a row, and one in ten after it: a full disk for hours is a
        # few lines, not one per plant and second (each cycle's event says it anyway).
        level = logging.WARNING if self.store_failures % 10 == 1 else logging.INFO
        _log.log(
            level,
            "%s %s: %s; trying again in %.3g s",
            self.plant.name,
            self.endpoint.value,
            error,
            wait,
        )
        return self._report(now + wait, error, inventory_error, looked, self.store_failures)

    def _report(
        self,
        when: float,
        error: str | None,
        inventory_error: str | None,
        looked: int,
        failures: int | None = None,
    ) -> Cycle:
        """Return (and hand to `on_cycle`) the cycle's event."""
        repaired, self.repaired = self.repaired, 0
        records, pages = self.landed
        cycle = Cycle(
            self.key,
            self.endpoint,
            records + repaired + looked,
            pages,
            repaired,
            self.state.latest,
            self.state.interval,
            when,
            self.state.failures if failures is None else failures,
            error,
            inventory_error,
            looked,
        )
        if self.ctx.on_cycle is not None:
            self.ctx.on_cycle(cycle)
        return cycle

    async def step(self, action: int) -> float | None:
        """Run one job of follow's schedule; return when it is due again.

        A poll runs a cycle and is due at its next poll; the first also starts the
        repairs, due at once (`repair_round`), then once a period.
        """
        ctx = self.ctx
        if ctx.batcher is not None:
            with ctx.batcher.job():  # a page may come from it: a batch waits for it
                return await self._step(action)
        return await self._step(action)

    async def _step(self, action: int) -> float | None:
        ctx = self.ctx
        if action == _REPAIRS:
            await self.repair_round()
            return ctx.clock.now() + self.interval
        first = not self.polled.is_set()
        cycle = await self.cycle(repair=False)
        if first and self.polled.is_set() and ctx.schedules is not None and ctx.lot is not None:
            ctx.schedules.repairs.add(ctx.lot, ctx.clock.now(), self, _REPAIRS)
        return cycle.next_poll

    async def repair_round(self) -> None:
        """Repair due holes between polls (follow runs one round a period).

        Through `_Context.spare`: a repair takes only a slot of the plant's rate limit that
        its polls do not need, and waits for one meanwhile, so a poll keeps its schedule
        whatever the holes (the polls and the repairs wait in schedules of their own). A
        failed repair leaves its hole due for the next round.
        """
        try:
            await self._repair()
        except StoreUnavailableError as exc:  # its hole stays due: the next round asks
            _log.warning("%s %s: a repair failed: %s", self.plant.name, self.endpoint.value, exc)
            self.stale = True
        except (LacecalClosedError, StoreError):
            raise
        except LacecalError as exc:
            _log.info("%s %s: a repair failed: %s", self.plant.name, self.endpoint.value, exc)


class _Flag:
    """A flag set once (whether a plant has polled): far smaller than an `asyncio.Event`."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = False

    def set(self) -> None:
        self.value = True

    def is_set(self) -> bool:
        return self.value


@attrs.define
class _Schedules:
    """Follow's two schedules: the plants' polls, and their repairs.

    Apart, so that a repair (which may wait long for a slot its plant's polls leave) never
    holds a task a poll needs.
    """

    polls: Schedule
    repairs: Schedule

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, clock: Clock) -> AsyncIterator[_Schedules]:
        async with Schedule(clock, FOLLOW_TASKS) as polls, Schedule(clock, FOLLOW_TASKS) as repairs:
            yield cls(polls, repairs)

    def quiet(self, when: float) -> bool:
        """Whether no poll or repair round is due by `when` (`Batcher.quiet`)."""
        return not (self.polls.due_by(when) or self.repairs.due_by(when))

    def start(self, lot: Lot, workers: Iterable[_Worker], now: float) -> None:
        """Schedule each worker's first poll now (its repairs start after it)."""
        for worker in workers:
            self.polls.add(lot, now, worker, _POLL)


async def _workers(
    ctx: _Context,
    store: Store,
    plants: Sequence[SyncPlant],
    endpoints: Sequence[Endpoint],
    *,
    follows: bool = False,
) -> list[_Worker]:
    workers = []
    for plant in plants:
        await store.add_plant(fingerprint(plant.itr), plant.alias)
        for endpoint in endpoints:
            worker = _Worker(ctx, plant, endpoint)
            await worker.load()
            if follows:
                await worker.load_inventory()
            worker.cursor()  # ValueError now, for a new plant without `since`
            workers.append(worker)
    return workers


def _context(  # noqa: PLR0917 - private, called twice
    client: LacecalClient,
    store: Store | Fenced,
    endpoints: Sequence[Endpoint],
    since: datetime | int | None,
    clock: Clock | None,
    lookback: float | None,
    on_cycle: Callable[[Cycle], object] | None,
) -> _Context:
    start = None if since is None else Cursor.since(Endpoint.METER, since).after + 1
    if lookback is not None and not (math.isfinite(lookback) and lookback >= 0):
        raise ValueError("lookback is a finite duration in seconds, zero or more")
    return _Context(
        client,
        store,
        clock if clock is not None else SystemClock(),
        start,
        lookback,
        on_cycle,
        client.with_options(leave_free=_poll_slots(endpoints, lookback)),
    )


def _poll_slots(endpoints: Sequence[Endpoint], lookback: float | None = None) -> int:
    """Return the requests a plant's poll makes at once: what its hole repairs leave free.

    One per endpoint (its latest record), and one more each with a `lookback`: they come at
    the same phase of the period, and a repair never takes the slots they need.
    """
    return len(endpoints) * (2 if lookback else 1)


@contextlib.contextmanager
def _one_error() -> Iterator[None]:
    """Raise a client closed, or a store failed, under the engine's tasks as one error.

    Every task waiting on the client fails with `LacecalClosedError` at once, and a store
    closed or damaged stops the plants with its `StoreError`; a group of them would slip
    past the caller's ``except LacecalClosedError`` or ``except StoreError``.
    """
    try:
        yield
    except* (LacecalClosedError, StoreError) as failed:
        raise cast("BaseException", first_error(failed)) from None


async def sync(
    client: LacecalClient,
    store: Store,
    plants: Iterable[str | tuple[str, str | None] | SyncPlant],
    endpoints: Iterable[EndpointLike] | EndpointLike = (Endpoint.METER, Endpoint.INVERTER),
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
    raised; a cancellation stops at once, after the commit in flight. The store failing for
    a while is not a plant's failure: the plants it failed are tried again, `SYNC_STORE_TRIES`
    times in all (about 15 to 31 s), then one `StoreUnavailableError` is raised; what was
    committed is kept, and a new `sync` goes on from there.
    """
    chosen, endpoints = sync_plants(plants), _endpoints(endpoints)
    ctx = _context(client, store, endpoints, since, clock, lookback, on_cycle)
    client.hide_identifiers(plant.itr for plant in chosen)  # a reply may echo any of them
    workers = await _patiently(
        lambda: _workers(ctx, store, chosen, endpoints), ctx, tries=SYNC_STORE_TRIES
    )
    reports: dict[str, PlantReport] = {}
    for worker, cycle in zip(workers, await _sync_cycles(ctx, workers), strict=True):
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
    endpoints: Iterable[EndpointLike] | EndpointLike = (Endpoint.METER, Endpoint.INVERTER),
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

    This process is the store's one follower (`Store.following`: a second `follow` of the
    same SQLite file or PostgreSQL store, or one beside a live fleet worker, raises
    `StoreInUseError`); for workers sharing a PostgreSQL store, use `follow_fleet`.
    """
    chosen, endpoints = sync_plants(plants), _endpoints(endpoints)
    ctx = _context(client, store, endpoints, since, clock, lookback, on_cycle)
    client.hide_identifiers(plant.itr for plant in chosen)  # held here or not: all hidden
    async with contextlib.AsyncExitStack() as held:
        # One follower at a time (a second would double the polls); a database not up yet,
        # as when the machine starts, is waited for like the rest of the start.
        await _patiently(lambda: held.enter_async_context(store.following()), ctx)
        workers = await _patiently(
            lambda: _workers(ctx, store, chosen, endpoints, follows=True), ctx
        )
        if not workers:
            return
        async with (
            Batcher.open(store, ctx.clock) as ctx.batcher,
            _Schedules.open(ctx.clock) as schedules,
        ):
            ctx.schedules, ctx.lot = schedules, Lot()
            if ctx.batcher is not None:
                ctx.batcher.quiet = schedules.quiet
            schedules.start(ctx.lot, workers, ctx.clock.now())
            with _one_error():
                async with asyncio.TaskGroup() as group:
                    group.create_task(_ended(ctx.lot))
                    # a close() ends the plants' waits too, not their next request
                    group.create_task(client.wait_closed())


async def follow_fleet(
    client: LacecalClient,
    store: FleetStore,
    plants: Iterable[str | tuple[str, str | None] | SyncPlant],
    endpoints: Iterable[EndpointLike] | EndpointLike = (Endpoint.METER, Endpoint.INVERTER),
    since: datetime | int | None = None,
    *,
    clock: Clock | None = None,
    lookback: float | None = None,
    on_cycle: Callable[[Cycle], object] | None = None,
    worker: str | None = None,
    lease_ttl: float = DEFAULT_LEASE_TTL,
    on_fleet: Callable[[FleetEvent], object] | None = None,
    handover_wait: float | None = None,
) -> None:
    """Do what `follow` does as one worker of a fleet sharing `store`, until cancelled.

    `plants` are added to the store (one given without an alias keeps the key it is stored
    under) and are the identifiers this worker knows; it works on the plants of the store it
    holds leases on (about its fair share), whichever worker added them
    (`lacecal_async.sync.fleet`). `worker` is its id (default `worker_id()`), `lease_ttl`
    [s] how long its leases last unrenewed (a dead worker's plants move after that),
    `on_fleet` is called with each `FleetEvent`. Its leases are released when it stops. A
    plant it takes is first asked for `handover_wait` [s] after its previous holder let go
    of it (default: the client's rate-limit period and 1/60 of it; at once for a plant no
    worker held), so that that holder's requests have left the API's window: the per-ITR
    limit then holds across the hand-over too. A worker beside a plain `follow` of the same
    store is refused at start (`StoreInUseError`).
    """
    chosen, endpoints = sync_plants(plants), _endpoints(endpoints)
    worker = worker or worker_id()
    ctx = _context(client, Fenced(store, worker), endpoints, since, clock, lookback, on_cycle)
    client.hide_identifiers(plant.itr for plant in chosen)  # held here or not: all hidden
    if not lease_ttl > 0:
        raise ValueError(f"lease_ttl is a positive number of seconds, not {lease_ttl}")
    if handover_wait is None:
        period = client.rate_limit[1]
        handover_wait = period + period / 60
    fleet = Fleet(
        store,
        worker,
        lease_ttl,
        functools.partial(_follow_leased, ctx, endpoints),
        client.wait_closed,
        on_fleet,
        handover_wait,
    )
    async with contextlib.AsyncExitStack() as held:  # never beside a plain `follow`
        await _patiently(lambda: held.enter_async_context(store.following(fleet=True)), ctx)
        await _patiently(lambda: join(store, [(plant.itr, plant.alias) for plant in chosen]), ctx)
        fleet.know(plant.itr for plant in chosen)
        async with (
            Batcher.open(ctx.store, ctx.clock) as ctx.batcher,
            _Schedules.open(ctx.clock) as ctx.schedules,  # the plants it holds wait here
        ):
            if ctx.batcher is not None:
                ctx.batcher.quiet = ctx.schedules.quiet
            await fleet.run()


async def _follow_leased(
    base: _Context,
    endpoints: Sequence[Endpoint],
    itr: str,
    alias: str | None,
    gate: Callable[[], float],
) -> None:
    """Follow one plant a fleet worker holds until cancelled; its requests pass `gate`."""
    ctx = attrs.evolve(base, client=base.client.with_gate(gate), spare=base.spare.with_gate(gate))
    plant = SyncPlant._stored(itr, alias)
    workers = [_Worker(ctx, plant, endpoint) for endpoint in endpoints]
    ctx.lot = lot = Lot()  # the plant's jobs in the schedules: they stop together
    try:
        for one in workers:
            await one.load()
            await one.load_inventory()
            one.cursor()
        assert ctx.schedules is not None  # noqa: S101 - `follow_fleet` opened them
        ctx.schedules.start(lot, workers, ctx.clock.now())
        await lot.ended
    finally:
        await lot.stop()


async def _patiently(
    call: Callable[[], Awaitable[T]], ctx: _Context, *, tries: int | None = None
) -> T:
    """Return ``await call()``, trying again (`store_backoff`) while the store is unavailable.

    For a daemon's start: a database restarting at that moment is waited for, not fatal.
    `call` must be safe to repeat (adding plants and reading state are). With `tries`, the
    last failure is raised as `_gave_up` says.
    """
    failures, began = 0, ctx.clock.now()
    while True:
        try:
            return await call()
        except StoreUnavailableError as exc:
            failures += 1
            if tries is not None and failures >= tries:
                raise _gave_up(exc, failures, ctx.clock.now() - began) from None
            wait = store_backoff(failures, _START_RETRY_MAX, rng=ctx.rng)
            level = logging.WARNING if tries is None or failures == 1 else logging.INFO
            _log.log(level, "the store failed, trying again in %.3g s: %s", wait, exc)
            await ctx.clock.sleep(wait)


async def _sync_cycles(ctx: _Context, workers: Sequence[_Worker]) -> list[Cycle]:
    """Return each worker's cycle; run again those the store failed for a while.

    The outage is logged once (a warning; each try after it at INFO), never as the plants'
    failures; after `SYNC_STORE_TRIES` tries it is raised (`_gave_up`). A cycle tried again
    reads its state back from the store first: nothing committed is lost or doubled.
    """
    cycles: dict[int, Cycle] = {}
    landed = [(0, 0)] * len(workers)  # by the tries the store failed: still in the report
    pending, began = list(range(len(workers))), ctx.clock.now()
    for tries in range(1, SYNC_STORE_TRIES + 1):
        with _one_error():
            async with asyncio.TaskGroup() as group:
                tasks = {i: group.create_task(_try_cycle(workers[i])) for i in pending}
        failed: StoreUnavailableError | None = None
        pending = []
        for i, task in tasks.items():
            outcome = task.result()
            if isinstance(outcome, StoreUnavailableError):
                failed = failed or outcome
                pending.append(i)
                (records, pages), (more, pages_more) = landed[i], workers[i].landed
                landed[i] = (records + more, pages + pages_more)
            else:
                records, pages = landed[i]
                cycles[i] = attrs.evolve(
                    outcome, records=outcome.records + records, pages=outcome.pages + pages
                )
        if failed is None:
            break
        if tries == SYNC_STORE_TRIES:
            raise _gave_up(failed, tries, ctx.clock.now() - began) from None
        wait = store_backoff(tries, _START_RETRY_MAX, rng=ctx.rng)
        _log.log(
            logging.WARNING if tries == 1 else logging.INFO,
            "the store is unavailable (%d of %d plant endpoints waiting): %s; "
            "trying again in %.3g s",
            len(pending),
            len(workers),
            failed,
            wait,
        )
        await ctx.clock.sleep(wait)
    return [cycles[i] for i in range(len(workers))]


async def _try_cycle(worker: _Worker) -> Cycle | StoreUnavailableError:
    """Return the worker's one-shot cycle, or the store's failure that stopped it."""
    try:
        return await worker.cycle(store_raises=True)
    except StoreUnavailableError as exc:
        return exc


def _gave_up(exc: StoreUnavailableError, tries: int, took: float) -> StoreUnavailableError:
    """Return the error a one-shot `sync` ends with when the store stays unavailable."""
    return StoreUnavailableError(
        f"{exc}; the store was unavailable {tries} times over {took:.0f} s: giving up (what "
        "was committed is kept: run the sync again once the database works)"
    )


async def _ended(lot: Lot) -> None:
    """Return when `lot` ends; raise what ended it (a plant's job failed)."""
    await lot.ended

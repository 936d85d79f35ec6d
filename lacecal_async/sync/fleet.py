"""The fleet: workers sharing one database split its plants by leases, one worker per plant.

`follow_fleet` (the engine) runs one worker of a fleet with a `Fleet`: its lease loop, and a
task per plant it holds. A lease is a row per plant naming the worker that holds it and
until when (the database's clock: every worker of a fleet shares it). Every ``ttl / 3`` or
so the worker balances its leases (`FleetStore.balance_leases`: renew, take up to the fair
share, say how many to give back); it works only on the plants it holds, stops a plant
before releasing it, stops every plant when a round fails or returns after its start plus
the ttl (its leases may have expired and been taken), and releases all on the way out. A
dead worker's leases expire and the others take them over. Since a plant is fetched only by
the worker holding its lease, each worker's own per-ITR rate limiter is exact fleet-wide.

Refusals: a worker is given identifiers by its own configuration, never by the database. A
leased plant it has no identifier for is reported (`FleetEvent` "no_identifier") and
released as refused: the store never leases it to that worker again while it lives, another
worker takes it beyond its share, and one that every live worker refused stays free (no
hand-overs) until a worker that has not refused it joins.

Fencing is a wrapper, `Fenced`: the engine writes through it as through any store, and each
write carries the worker's id, so the store checks in the write's own transaction that the
worker still holds the plant's lease (`LeaseLostError` if not). A worker stalled past its
lease cannot write over the new holder's state; nor can it ask the API for the plant: each
request passes the plant's lease gate (`lacecal_async.sync.lease_gate`) right before it is
sent, and the plant stops and starts again if the next round still holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Literal, Protocol

import attrs

from lacecal_async.endpoints import Endpoint
from lacecal_async.errors import LacecalClosedError
from lacecal_async.itr import fingerprint
from lacecal_async.records import Inverter, InverterRecord, MeterRecord
from lacecal_async.sync.core import PlantPage
from lacecal_async.sync.holes import Hole
from lacecal_async.sync.lease_gate import LeaseGate
from lacecal_async.sync.leases import LeaseBalance, LeaseLostError
from lacecal_async.sync.store import PlantEntry, StoreError, StoreUnavailableError, SyncState

__all__ = [
    "DEFAULT_LEASE_TTL",
    "Fenced",
    "Fleet",
    "FleetEvent",
    "FleetStore",
    "LeaseStore",
    "PlantRun",
    "first_error",
    "join",
    "worker_id",
]

_log = logging.getLogger("lacecal_async.sync")

#: How long a fleet worker's leases last without renewal [s]; it renews every third of it.
DEFAULT_LEASE_TTL = 30.0


def worker_id() -> str:
    """Return a new worker id: host, process id and a random part (no identifier in it)."""
    host = "".join(c if c.isalnum() or c in "-." else "_" for c in socket.gethostname())[:64]
    return f"{host or 'host'}-{os.getpid()}-{secrets.token_hex(3)}"


class LeaseStore(Protocol):
    """The lease operations a fleet worker uses; times are seconds.

    `worker` is an id unique to one running worker (e.g. host, pid and a random part); it
    must not contain an identifier. `ttl` is how long a lease and the worker's heartbeat
    last without renewal, by the database's clock. `PostgresStore` implements them (and a
    few more, for tools and tests: `lease_plants`, `renew_leases`, `live_workers`).
    """

    async def balance_leases(self, worker: str, *, ttl: float) -> LeaseBalance:
        """Renew, take leases up to the share and others' refused ones; say how many to give back.

        Never a plant this worker refused.
        """

    async def release_leases(
        self, worker: str, plants: Sequence[str] | None = None, *, refused: bool = False
    ) -> list[str]:
        """Free the worker's leases (`plants` only, if given); return those freed.

        Without `plants` the worker is leaving: its heartbeat goes too, so the others count
        one worker fewer at once instead of after the ttl, and its refusals with it.
        `refused`: the worker was not given their identifiers; the refusal is recorded while
        the worker lives, it is never given them again, and another worker takes them beyond
        its fair share.
        """


class FleetStore(LeaseStore, Protocol):
    """What `follow_fleet` uses of a store that workers share: leases, plants, fenced writes.

    With `worker` given, each write runs only if that worker holds an unexpired lease on
    the plant, checked in the write's own transaction; else `LeaseLostError` and nothing
    is written. Without it, the write is not fenced (a single process, or a tool).
    """

    def following(self, *, fleet: bool = False) -> contextlib.AbstractAsyncContextManager[None]:
        """`Store.following`; with `fleet`, a fleet worker's hold (`follow_fleet`).

        Shared by the workers, refused (`StoreInUseError`) while a plain `follow` holds it.
        """

    async def add_plant(self, fingerprint: str, alias: str | None = None) -> str:
        """`Store.add_plant`."""

    async def add_plants(self, plants: Sequence[tuple[str, str | None]]) -> list[str]:
        """Register ``(fingerprint, alias)`` plants as `add_plant` would, all in one go."""

    async def plants(self) -> list[PlantEntry]:
        """`Store.plants`."""

    async def state(self, plant: str, endpoint: Endpoint) -> SyncState | None:
        """`Store.state`."""

    async def holes(
        self, plant: str, endpoint: Endpoint, *, due_by: float | None = None
    ) -> list[Hole]:
        """`Store.holes`."""

    async def commit_page(
        self,
        plant: str,
        endpoint: Endpoint,
        records: Sequence[MeterRecord] | Sequence[InverterRecord],
        state: SyncState,
        *,
        now: float,
        worker: str | None = None,
    ) -> None:
        """`Store.commit_page`, fenced by `worker`'s lease on `plant`."""

    async def commit_pages(
        self, batch: Sequence[PlantPage], *, now: float, worker: str | None = None
    ) -> None:
        """`StoreCore.commit_pages`: several plants' pages in one transaction, all fenced."""

    async def commit_inventory(
        self,
        plant: str,
        inverters: Sequence[Inverter],
        *,
        now: float,
        next_poll: float | None = None,
        worker: str | None = None,
    ) -> None:
        """`Store.commit_inventory`, fenced by `worker`'s lease on `plant`."""

    async def drop_future(
        self,
        plant: str,
        endpoint: Endpoint,
        *,
        after: int,
        seen: int | None,
        now: float,
        worker: str | None = None,
    ) -> int:
        """`Store.drop_future`, fenced by `worker`'s lease on `plant`."""

    async def repair_attempted(
        self,
        plant: str,
        endpoint: Endpoint,
        start: int,
        end: int,
        *,
        now: float,
        worker: str | None = None,
    ) -> None:
        """`Store.repair_attempted`, fenced by `worker`'s lease on `plant`."""

    async def record_error(
        self,
        plant: str,
        endpoint: Endpoint,
        message: str,
        next_attempt: float | None,
        *,
        now: float,
        worker: str | None = None,
    ) -> None:
        """`Store.record_error`, fenced by `worker`'s lease on `plant`."""


@attrs.frozen
class Fenced:
    """A fleet store as the engine sees it: the plain writes, each fenced by `worker`'s lease.

    The same methods as a `Store`'s for a plant's work, so the engine calls one thing
    whether or not it runs in a fleet; a write whose lease is gone raises `LeaseLostError`.
    """

    store: FleetStore
    worker: str

    async def state(self, plant: str, endpoint: Endpoint) -> SyncState | None:
        """`Store.state` (reads are not fenced)."""
        return await self.store.state(plant, endpoint)

    async def holes(
        self, plant: str, endpoint: Endpoint, *, due_by: float | None = None
    ) -> list[Hole]:
        """`Store.holes` (reads are not fenced)."""
        return await self.store.holes(plant, endpoint, due_by=due_by)

    async def commit_page(
        self,
        plant: str,
        endpoint: Endpoint,
        records: Sequence[MeterRecord] | Sequence[InverterRecord],
        state: SyncState,
        *,
        now: float,
    ) -> None:
        """`Store.commit_page`, fenced."""
        await self.store.commit_page(plant, endpoint, records, state, now=now, worker=self.worker)

    async def commit_pages(self, batch: Sequence[PlantPage], *, now: float) -> None:
        """`StoreCore.commit_pages`, fenced: nothing is written unless it holds every lease."""
        await self.store.commit_pages(batch, now=now, worker=self.worker)

    async def commit_inventory(
        self,
        plant: str,
        inverters: Sequence[Inverter],
        *,
        now: float,
        next_poll: float | None = None,
    ) -> None:
        """`Store.commit_inventory`, fenced."""
        await self.store.commit_inventory(
            plant, inverters, now=now, next_poll=next_poll, worker=self.worker
        )

    async def drop_future(
        self, plant: str, endpoint: Endpoint, *, after: int, seen: int | None, now: float
    ) -> int:
        """`Store.drop_future`, fenced."""
        return await self.store.drop_future(
            plant, endpoint, after=after, seen=seen, now=now, worker=self.worker
        )

    async def repair_attempted(
        self, plant: str, endpoint: Endpoint, start: int, end: int, *, now: float
    ) -> None:
        """`Store.repair_attempted`, fenced."""
        await self.store.repair_attempted(plant, endpoint, start, end, now=now, worker=self.worker)

    async def record_error(
        self,
        plant: str,
        endpoint: Endpoint,
        message: str,
        next_attempt: float | None,
        *,
        now: float,
    ) -> None:
        """`Store.record_error`, fenced."""
        await self.store.record_error(
            plant, endpoint, message, next_attempt, now=now, worker=self.worker
        )


_Kind = Literal["took", "released", "no_identifier", "stopped"]


@attrs.frozen
class FleetEvent:
    """What a fleet worker did with its leases (`follow_fleet`'s `on_fleet`).

    kind: "took" (plants leased and started), "released" (stopped and given back to balance
    the fleet), "no_identifier" (leased, but this worker was not given their identifiers:
    released as refused, never leased to this worker again), "stopped" (every plant
    stopped: a round failed or came back late, so the leases may be gone; `detail` says why).
    plants: plant keys (aliases or fingerprints, never identifiers); share and workers: the
    fair share and live workers of the round (0 when unknown).
    """

    kind: _Kind
    worker: str
    plants: tuple[str, ...]
    share: int = 0
    workers: int = 0
    detail: str = ""


#: Follows one held plant until cancelled: ``(identifier, alias, gate)``; the gate, for
#: `LacecalClient.with_gate`, refuses the plant's requests once its lease may be gone.
PlantRun = Callable[[str, str | None, Callable[[], float]], Awaitable[None]]


async def join(store: FleetStore, plants: Iterable[tuple[str, str | None]]) -> None:
    """Add ``(identifier, alias)`` `plants` to a fleet's store; one without alias keeps its key.

    In one transaction (`add_plants`): a fleet of thousands starts in a moment.
    """
    stored = {entry.fingerprint for entry in await store.plants()}
    await store.add_plants(
        [
            (fingerprint(itr), alias)
            for itr, alias in plants
            if alias is not None or fingerprint(itr) not in stored
        ]
    )


def first_error(error: BaseException | None) -> BaseException | None:
    """Return the first exception of a (nested) group, or `error` itself."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


#: What a fleet's store must offer beyond a plain store's (`LeaseStore`).
_LEASE_OPERATIONS = ("balance_leases", "release_leases")


def _seen(done: asyncio.Future[Any]) -> None:
    """Mark a lease round's outcome as seen: a round timed out is never awaited again."""
    if not done.cancelled():
        done.exception()


@attrs.define
class Fleet:
    """One worker of a fleet: the lease loop, and a task per plant it holds.

    `follow` runs each plant it holds (`PlantRun`), first `handover_wait` [s] after its
    previous holder let go of it (at once for a plant no worker held); `wait_closed`
    returns once the client is closed, which stops the worker.
    """

    store: FleetStore
    worker: str
    ttl: float
    follow: PlantRun
    wait_closed: Callable[[], Awaitable[None]]
    on_fleet: Callable[[FleetEvent], object] | None
    handover_wait: float
    #: The identifiers this worker was given, by fingerprint.
    known: dict[str, str] = attrs.field(factory=dict)
    entries: dict[str, PlantEntry] = attrs.field(factory=dict)
    running: dict[str, asyncio.Task[None]] = attrs.field(factory=dict)
    #: The latest lease round: awaited (not cancelled) before the leases are released.
    last_round: asyncio.Future[LeaseBalance] | None = None
    #: Lease rounds failed in a row (logged: the first, then one in ten).
    failed_rounds: int = 0
    #: Set when a plant's task ended because the client closed: the loop stops at once.
    closed: asyncio.Event = attrs.field(factory=asyncio.Event)
    #: Each held plant's lease deadline: its requests are refused from then, less a margin.
    gate: LeaseGate = attrs.field()

    @gate.default
    def _gate(self) -> LeaseGate:
        return LeaseGate(self.ttl)

    def __attrs_post_init__(self) -> None:
        if not all(callable(getattr(self.store, name, None)) for name in _LEASE_OPERATIONS):
            raise TypeError(
                f"a fleet shares a store with leases (PostgresStore), not a "
                f"{type(self.store).__name__}: use `follow` for one follower"
            )

    def know(self, itrs: Iterable[str]) -> None:
        """Note identifiers this worker was given: it follows their plants when it holds them."""
        self.known.update((fingerprint(itr), itr) for itr in itrs)

    def _emit(
        self,
        kind: _Kind,
        plants: Iterable[str],
        balance: LeaseBalance | None = None,
        detail: str = "",
    ) -> None:
        chosen = tuple(sorted(plants))
        if self.on_fleet is None or not (chosen or kind == "stopped"):
            return
        share, workers = (balance.share, balance.workers) if balance is not None else (0, 0)
        self.on_fleet(FleetEvent(kind, self.worker, chosen, share, workers, detail))

    async def run(self) -> None:
        """Balance the leases every third of the ttl and follow the plants held, until closed."""
        loop = asyncio.get_running_loop()
        deadline = 0.0
        # A clean slate for this id: an earlier run of it that did not leave cleanly (a
        # crash) may still have leases, a heartbeat and refusals of plants it lacked. A
        # database down now is no reason to stop: the rounds below wait for it.
        try:
            await self.store.release_leases(self.worker)
        except StoreUnavailableError as exc:
            _log.warning("worker %s: could not release earlier leases: %s", self.worker, exc)
        watch = asyncio.create_task(self._watch_close())
        try:
            while True:
                self._reap()
                if watch.done():  # no plant running saw it: a worker holding none, asleep
                    raise LacecalClosedError("the LacecalClient was closed")
                sent, renewing = loop.time(), self.gate.clock()
                balance, failure = await self._round(deadline if self.running else sent + self.ttl)
                if balance is None or loop.time() >= sent + self.ttl:
                    await self._stop_all(failure or "lease round came back too late")
                    deadline = 0.0
                else:
                    deadline = sent + self.ttl
                    self.gate.hold(balance.held, renewing)
                    try:
                        await self._apply(balance)
                    except StoreUnavailableError as exc:  # as a failed round: stop, try again
                        deadline = 0.0
                        await self._stop_all(f"lease round failed: {exc}")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(sent + self.ttl / 3 - loop.time(), 0.0)):
                        await self.closed.wait()
        finally:
            watch.cancel()
            self.gate.drop()
            await self._stop(list(self.running))
            await asyncio.gather(watch, return_exceptions=True)
            # A round still in flight may yet renew or take leases: let it land, then release.
            with contextlib.suppress(Exception):
                if self.last_round is not None:
                    await self.last_round
            with contextlib.suppress(Exception):
                await self.store.release_leases(self.worker)

    async def _round(self, deadline: float) -> tuple[LeaseBalance | None, str]:
        """Run a lease round that must come back by `deadline`; return it, or why it failed.

        A failure is logged (the first in a row, and one in ten after it): the plants stop
        and an ``on_fleet`` event says so, but a library user without one would see a
        database down for hours as nothing at all. A store closed or damaged is raised: no
        later round can succeed.
        """
        try:
            self.last_round = asyncio.ensure_future(
                self.store.balance_leases(self.worker, ttl=self.ttl)
            )
            self.last_round.add_done_callback(_seen)
            async with asyncio.timeout_at(deadline):
                balance = await asyncio.shield(self.last_round)
        except Exception as exc:
            if isinstance(exc, StoreError) and not isinstance(exc, StoreUnavailableError):
                raise
            self.failed_rounds += 1
            reason = f"lease round failed: {str(exc) or type(exc).__name__}"
            level = logging.WARNING if self.failed_rounds % 10 == 1 else logging.INFO
            _log.log(level, "worker %s: %s (%d in a row)", self.worker, reason, self.failed_rounds)
            return None, reason
        self.failed_rounds = 0
        return balance, ""

    async def _stop_all(self, detail: str) -> None:
        """Stop every plant: this worker cannot prove it still holds their leases."""
        self.gate.drop()
        if self.running:
            stopped = list(self.running)
            await self._stop(stopped)
            self._emit("stopped", stopped, detail=detail)

    async def _watch_close(self) -> None:
        """Wake the lease loop when the client closes, whatever the plants are doing."""
        with contextlib.suppress(LacecalClosedError):
            await self.wait_closed()
        self.closed.set()

    async def _refresh(self) -> None:
        self.entries = {entry.plant: entry for entry in await self.store.plants()}

    def _reap(self) -> None:
        """Forget plants whose task ended; raise what ended one unless the database did.

        A lost lease ends a plant quietly (already reported); a failing database (a
        `StoreError`, a connection's `OSError`) is reported, and the plant starts again at
        the next round if its lease is still held. Anything else is a bug: raised.
        """
        for key, task in list(self.running.items()):
            if task.done():
                del self.running[key]
                error = first_error(task.exception())
                if isinstance(error, (StoreError, OSError)):
                    self._emit("stopped", [key], detail=f"the store failed: {error}")
                elif error is not None:
                    raise error

    async def _stop(self, keys: Iterable[str]) -> None:
        tasks = [self.running.pop(key) for key in keys if key in self.running]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _apply(self, balance: LeaseBalance) -> None:
        held = set(balance.held)
        await self._stop([key for key in self.running if key not in held])
        # Give back first what is not running yet, then the last in key order; never a plant
        # adopted from a worker that lacked its identifier (no one else may have it).
        order = sorted(held.difference(balance.adopted), key=lambda key: (key in self.running, key))
        give = order[: balance.surplus]
        if any(key not in self.entries for key in held):
            await self._refresh()
        missing = sorted(
            key
            for key in held.difference(give)
            if key not in self.entries or self.entries[key].fingerprint not in self.known
        )
        await self._stop([*give, *missing])
        self.gate.drop([*give, *missing])
        if give:
            await self.store.release_leases(self.worker, give)
        if missing:  # the store records the refusal: never leased to this worker again
            await self.store.release_leases(self.worker, missing, refused=True)
        self._emit("released", give, balance)
        self._emit(
            "no_identifier",
            missing,
            balance,
            "not in this worker's identifiers (--itr-file / LACECAL_ITR)",
        )
        start = sorted(held.difference(give, missing, self.running))
        for key in start:
            entry = self.entries[key]
            itr, wait = self.known[entry.fingerprint], self._handover(key, balance)
            task = asyncio.create_task(self._plant(key, itr, entry.alias, wait))
            self.running[key] = task
            task.add_done_callback(self._ended)
        self._emit("took", start, balance)

    def _handover(self, key: str, balance: LeaseBalance) -> float:
        """Return how long [s] to wait before asking for a plant held from this round on.

        Its previous holder's requests may still count in the API's window for up to
        `handover_wait` after it let go: the rest of that, none for a plant that no worker
        held before. A plant this worker held already (started again) waits the whole.
        """
        if key not in balance.taken:
            return self.handover_wait
        idle = balance.idle.get(key)
        return 0.0 if idle is None else max(self.handover_wait - idle, 0.0)

    def _ended(self, task: asyncio.Task[None]) -> None:
        """Wake the lease loop when a plant ended because the client closed: all stop."""
        if not task.cancelled() and isinstance(first_error(task.exception()), LacecalClosedError):
            self.closed.set()

    async def _plant(self, key: str, itr: str, alias: str | None, wait: float) -> None:
        """Follow one leased plant, `wait` [s] from now, until stopped or its lease may be lost.

        A fenced write finding it lost, or its lease gate refusing a request, ends it quietly
        (reported): the next round starts it again if it still holds the lease.
        """
        try:
            # The previous holder may have asked for it within the rate window: let it pass.
            await asyncio.sleep(wait)
            await self.follow(itr, alias, self.gate.gate(key))
        except LeaseLostError as lost:
            self._emit("stopped", [key], detail=str(lost))

"""Leases: how workers sharing one database split its plants, one worker per plant at a time.

A lease is a row per plant naming the worker that holds it and until when (the database's
clock: every worker of a fleet shares it). Workers take free or expired leases with
``SELECT ... FOR UPDATE SKIP LOCKED`` (so two workers never wait on, or take, the same
row), renew theirs while alive, and release them when they leave; a dead worker's leases
expire and the others take them over. Since a plant is fetched only by the worker holding
its lease, each worker's own per-ITR rate limiter is exact fleet-wide.

The engine's loop, every ``ttl / 3`` or so::

    sent = time.monotonic()
    balance = await store.balance_leases(worker, ttl=ttl)
    # held: work on these until sent + ttl (unless renewed before); stop any other plant.
    # surplus > 0: stop that many plants, then release_leases(worker, those plants).

If a call fails or returns after ``sent + ttl``, the worker must stop every plant: its
leases may have expired and been taken. On the way out: stop, then ``release_leases(worker)``.

Refusals: a worker is given identifiers by its own configuration, never by the database. One
that holds a plant it has no identifier for releases it with ``refused=True``; the store
records that refusal under the worker's id for as long as its heartbeat lasts (it goes when
the worker leaves or expires) and never leases the plant to that worker again. Another live
worker takes it, beyond its share; a plant every live worker refused stays free instead of
being handed around, until a worker that has not refused it joins. ``status()`` names the
refusing workers and flags such a plant as orphaned.

Fencing: the writes for a plant (`FleetStore.commit_page` and the others) take an optional
``worker=``; with it, the store checks in the same transaction that the worker still holds
an unexpired lease on the plant, and raises `LeaseLostError` if not. So a worker that was
stalled past its lease (a long GC pause, a frozen VM) cannot write old state over the new
holder's; nor can it ask the API for the plant: its requests pass a gate on the lease's
deadline by its own clock (`lacecal_async.sync.lease_gate`). This module holds the pure
arithmetic and the protocols; `PostgresStore` implements them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import attrs

from lacecal_async.endpoints import Endpoint
from lacecal_async.records import Inverter, InverterRecord, MeterRecord
from lacecal_async.sync.store import Store, StoreError, SyncState

__all__ = [
    "DEFAULT_SLACK",
    "FleetStore",
    "LeaseBalance",
    "LeaseLostError",
    "LeaseStore",
    "fair_share",
    "surplus",
]

#: A worker gives plants back only when it holds more than its share by this fraction.
DEFAULT_SLACK = 0.1


def fair_share(plants: int, workers: int) -> int:
    """Return the plants each of `workers` live workers should hold: a ceiling division."""
    if plants < 0 or workers < 0:
        raise ValueError("plants and workers are counts: not negative")
    return math.ceil(plants / max(workers, 1))


def surplus(held: int, share: int, slack: float = DEFAULT_SLACK) -> int:
    """Return how many plants to give back: down to `share`, once over it by `slack`.

    The hysteresis keeps workers from trading plants back and forth over a rounding; a
    worker that gives back goes down to its share so that a newcomer gets a full one.
    """
    if slack < 0:
        raise ValueError(f"slack is a fraction of the share, not negative: {slack}")
    return held - share if held > share + int(share * slack) else 0


@attrs.frozen
class LeaseBalance:
    """What one round of `LeaseStore.balance_leases` left a worker with.

    held: the plants leased to the worker now (renewed, plus those just taken), sorted.
    taken: those of `held` it did not hold before this round.
    share: its fair share; workers: the live workers it was computed with (itself included).
    surplus: how many of `held` to stop and release (0 unless over the share plus slack).
    adopted: those of `held` taken beyond the share because another worker lacked their
    identifiers: never given back to balance (and not counted in `surplus`).
    """

    held: tuple[str, ...]
    taken: tuple[str, ...]
    share: int
    workers: int
    surplus: int
    adopted: tuple[str, ...] = ()


class LeaseLostError(StoreError):
    """A fenced write came from a worker that no longer holds the plant's lease."""


@runtime_checkable
class LeaseStore(Protocol):
    """The lease operations of a store that several workers share; times are seconds.

    `worker` is an id unique to one running worker (e.g. host, pid and a random part); it
    must not contain an identifier. `ttl` is how long a lease and the worker's heartbeat
    last without renewal, by the database's clock.
    """

    async def lease_plants(
        self, worker: str, *, want: int, ttl: float, among: Sequence[str] | None = None
    ) -> list[str]:
        """Take up to `want` free or expired leases (of `among` only, if given); return them.

        Never a plant this worker refused.
        """

    async def renew_leases(self, worker: str, *, ttl: float) -> list[str]:
        """Extend the worker's unexpired leases and heartbeat; return the plants still held.

        A lease that expired is not renewed even if no one took it: the worker lost it.
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

    async def live_workers(self) -> list[str]:
        """Return the workers whose heartbeat has not expired, sorted."""

    async def balance_leases(
        self,
        worker: str,
        *,
        ttl: float,
        slack: float = DEFAULT_SLACK,
        among: Sequence[str] | None = None,
    ) -> LeaseBalance:
        """Renew, take leases up to the share and others' refused ones; say how many to give back.

        Never a plant this worker refused.
        """


class FleetStore(Store, LeaseStore, Protocol):
    """A `Store` with leases whose writes for a plant are fenced by ``worker=``.

    With `worker` given, each write runs only if that worker holds an unexpired lease on
    the plant, checked in the write's own transaction; else `LeaseLostError` and nothing
    is written. Without it, the write is not fenced (a single process, or a tool).
    """

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

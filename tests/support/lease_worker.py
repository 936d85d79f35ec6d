"""A worker that only holds leases, as the sync engine would, logging when it may work on what.

Each round it calls `balance_leases`, and may work on the plants held from the reply until
the round's start plus the ttl (the lease cannot have expired before), or until it releases
them. It logs each such window as ``(plant, worker, start, end)`` on `time.monotonic()`
(one clock for every process on a Linux host), so a test can check that no two workers'
windows for a plant ever overlap. Run as a script (``python tests/support/lease_worker.py DSN
WORKER TTL``), it prints its windows and each round's number of plants held as JSON lines
until its standard input ends (then it releases its leases and exits) or it is killed.

`measured_ttl` picks a ttl from what a round trip to the database takes now: a busy machine
gets longer leases, so that rounds come back in time and the workers get on with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable

from lacecal_async.sync import PostgresStore
from lacecal_async.testing import lifeline

Window = tuple[str, str, float, float]
#: A window's end meaning: the worker stopped work on the plant at its start and released it.
RELEASED = -1.0


async def hold_leases(
    store: PostgresStore,
    worker: str,
    *,
    ttl: float,
    stop: asyncio.Event,
    log: Callable[[Window], None],
    release_at_exit: bool = True,
    on_round: Callable[[float, int], None] | None = None,
) -> list[str]:
    """Balance leases every ttl/4 until `stop` is set, logging windows; return those held last.

    A round's reply lets the worker work on the plants held from then until the round's
    start plus the ttl; a plant given back ends its windows when the worker stops it.
    """
    held: list[str] = []
    while not stop.is_set():
        sent = time.monotonic()
        balance = await store.balance_leases(worker, ttl=ttl)
        got = time.monotonic()
        held = []
        if got < sent + ttl:  # else too late: the leases may be gone, so no work this round
            held = list(balance.held)
            for plant in held:
                log((plant, worker, got, sent + ttl))
        if balance.surplus and held:
            give, held = held[-balance.surplus :], held[: -balance.surplus]
            stopped = time.monotonic()
            for plant in give:
                log((plant, worker, stopped, RELEASED))
            await store.release_leases(worker, give)
        if on_round is not None:
            on_round(sent, len(held))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), ttl / 4)
    if release_at_exit:
        stopped = time.monotonic()
        for plant in held:
            log((plant, worker, stopped, RELEASED))
        await store.release_leases(worker)
    return held


def overlaps(windows: list[Window]) -> list[tuple[Window, Window]]:
    """Return the pairs of windows of one plant, held by two workers, that overlap."""
    releases: dict[tuple[str, str], list[float]] = {}
    for plant, worker, at, end in windows:
        if end == RELEASED:
            releases.setdefault((plant, worker), []).append(at)
    by_plant: dict[str, list[Window]] = {}
    for plant, worker, start, end in windows:
        if end == RELEASED:
            continue
        cut = [t for t in releases.get((plant, worker), []) if start <= t < end]
        by_plant.setdefault(plant, []).append((plant, worker, start, min([end, *cut])))
    found = []
    for plant_windows in by_plant.values():
        ordered = sorted(plant_windows, key=lambda w: w[2])
        for i, first in enumerate(ordered):
            for second in ordered[i + 1 :]:
                if second[2] >= first[3]:
                    break
                if second[1] != first[1]:
                    found.append((first, second))
    return found


async def measured_ttl(store: PostgresStore) -> float:
    """A lease ttl of 30 round trips to the database as they take now, 0.5 s to 10 s."""
    took = []
    for _ in range(3):
        began = time.monotonic()
        await store.live_workers()
        took.append(time.monotonic() - began)
    return min(max(30 * max(took), 0.5), 10.0)


async def _main(dsn: str, worker: str, ttl: float) -> None:
    """Hold leases until standard input ends (the test closed it, or died)."""

    def log(window: Window) -> None:
        sys.stdout.write(json.dumps(window) + "\n")
        sys.stdout.flush()

    def on_round(sent: float, held: int) -> None:
        sys.stdout.write(json.dumps(["round", worker, sent, held]) + "\n")
        sys.stdout.flush()

    stop = asyncio.Event()
    lifeline.stop_at_eof(stop)
    async with PostgresStore(dsn) as store:
        await hold_leases(store, worker, ttl=ttl, stop=stop, log=log, on_round=on_round)


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], sys.argv[2], float(sys.argv[3])))

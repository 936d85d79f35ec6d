"""A fleet of ``lacecal sync postgresql://... --follow`` processes: take-over, no loss, no overlap.

Three worker processes follow 60 plants with 2-second periods against one PostgreSQL server
and a fake server in a process of its own, with a strict sliding-window limit. One worker is
SIGKILLed once all three share the plants; the survivors run until they have taken its
plants over and stored records that closed after its death. Every step waits for what it
needs (in the database, in the server's log), never for a fixed time: on a busy machine the
test takes longer, and asserts the same. Every request names its worker in the User-Agent,
so the fake server's per-ITR log says who fetched what, and when.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from lacecal_async import fingerprint
from lacecal_async.testing import FakeServerProcess
from tests.support import processes
from tests.support.checks import DEADLINE

pytestmark = [pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL"), pytest.mark.slow]

PERIOD = 2
PLANTS = 60
#: Long enough that a worker starved of CPU for a while keeps its leases (its rounds come
#: every third of it): hand-overs happen as workers join and once its leases expire.
TTL = 4.0
RATE = (3, 1.0)  # the server's strict limit per ITR, and the workers' own
_WORKER = re.compile(r"lacecal_async/\S+ worker/(\S+)")


def _command(dsn: str, itr_file: Path, url: str, since: int) -> list[str]:
    return [
        *(sys.executable, "-m", "lacecal_async", "sync", dsn, "--itr-file", str(itr_file)),
        *("--since", str(since), "--follow", "--endpoint", "meter", "--base-url", url),
        *("--rate", f"{RATE[0]}/{RATE[1]}", "--lease-ttl", f"{TTL}s", "--progress", "none"),
        *("--workers", "1"),
    ]


def runs(log: list[dict[str, Any]]) -> list[tuple[str, float, float]]:
    """One ITR's requests as runs of one worker: ``(worker, first, last)``, in time order."""
    out: list[tuple[str, float, float]] = []
    for entry in sorted(log, key=lambda e: e["time"]):
        match = _WORKER.fullmatch(entry["user_agent"])
        assert match is not None, entry["user_agent"]
        worker = match[1]
        if out and out[-1][0] == worker:
            out[-1] = (worker, out[-1][1], entry["time"])
        else:
            out.append((worker, entry["time"], entry["time"]))
    return out


async def _rows(dsn: str) -> dict[str, list[int]]:
    conn = await asyncpg.connect(dsn)
    try:
        found = await conn.fetch("SELECT plant, unix_time FROM meter ORDER BY plant, unix_time")
        leases = await conn.fetchval("SELECT count(*) FROM leases WHERE worker IS NOT NULL")
    finally:
        await conn.close()
    assert leases == 0  # every live worker released its leases on the way out
    out: dict[str, list[int]] = {}
    for plant, unix_time in found:
        out.setdefault(plant, []).append(unix_time)
    return out


async def _fleet(dsn: str) -> tuple[dict[str, str], dict[str, int]]:
    """Unexpired leases (plant -> worker) and each stored plant's latest record."""
    conn = await asyncpg.connect(dsn)
    try:
        leases = await conn.fetch(
            "SELECT plant, worker FROM leases WHERE expires_at > clock_timestamp()"
        )
        latest = await conn.fetch("SELECT plant, max(unix_time) FROM meter GROUP BY plant")
    except asyncpg.UndefinedTableError:  # no worker has made the schema yet
        return {}, {}
    finally:
        await conn.close()
    return {r[0]: r[1] for r in leases}, {r[0]: r[1] for r in latest}


async def _until(what: str, check: Callable[[], Any]) -> None:
    """Await `check()` every half second until it is true; fail after `DEADLINE`."""
    try:
        async with asyncio.timeout(DEADLINE):
            while not await check():  # noqa: ASYNC110 - the state is in other processes
                await asyncio.sleep(0.5)
    except TimeoutError:
        raise AssertionError(f"not seen within {DEADLINE:g} s: {what}") from None


async def test_three_workers_one_killed_lose_nothing_and_never_overlap(
    postgres_dsn: str, tmp_path: Path
) -> None:
    start = int(time.time()) // PERIOD * PERIOD - 20 * PERIOD
    async with FakeServerProcess(
        plants=PLANTS,
        seed=16,
        rate_limit=RATE,
        interval=PERIOD,
        follow=True,
        start=start,
        days=1,
    ) as server:
        itr_file = tmp_path / "plants.txt"
        itr_file.write_text("".join(f"{p.itr}\n" for p in server.plants))
        itr_file.chmod(0o600)
        command = _command(postgres_dsn, itr_file, server.base_url, start)
        errs = [(tmp_path / f"worker{i}.err").open("w+") for i in range(3)]
        async with contextlib.AsyncExitStack() as stack:
            workers = [
                await stack.enter_async_context(
                    processes.started_async(command, stderr=err, stdout=subprocess.DEVNULL)
                )
                for err in errs
            ]
            ids = [f"-{worker.pid}-" for worker in workers]  # worker ids: host-pid-random

            async def sharing() -> bool:
                """All three hold leases and have fetched; every plant has records."""
                leases, latest = await _fleet(postgres_dsn)
                stats = await server.stats()
                fetched = {e["user_agent"] for s in stats.values() for e in s["log"]}
                return len(latest) == PLANTS and all(
                    any(i in w for w in leases.values()) and any(i in a for a in fetched)
                    for i in ids
                )

            await _until("the three workers share the plants", sharing)
            workers[0].kill()
            assert await workers[0].wait() == -signal.SIGKILL
            died = time.time()

            async def taken_over() -> bool:
                """The survivors hold every plant, and stored one that closed after the kill."""
                leases, latest = await _fleet(postgres_dsn)
                return (
                    len(leases) == PLANTS
                    and not any(ids[0] in worker for worker in leases.values())
                    and len(latest) == PLANTS
                    and min(latest.values()) >= died
                )

            await _until("the survivors take the killed worker's plants over", taken_over)
            for worker in workers[1:]:
                worker.send_signal(signal.SIGTERM)
            assert [await worker.wait() for worker in workers[1:]] == [0, 0]
        stopped = time.time()
        stats = await server.stats()
    outputs = []
    for err in errs:
        err.seek(0)
        outputs.append(err.read())
        err.close()
    stored = await _rows(postgres_dsn)

    # The database equals the fake server's ground truth: every record once, none missing,
    # up to the end of the run (the killed worker's plants too, past its death).
    assert len(stored) == PLANTS
    for plant in server.plants:
        times = stored[fingerprint(plant.itr)]
        assert times == plant.available_times(start, times[-1] + 1, now=stopped)
        assert times[-1] >= died
    # A strict server saw no request over the limit, across every hand-over too.
    rejected = {i: s["log"] for i, s in stats.items() if s["rejections"]}
    assert not rejected, outputs

    by_itr = {itr: runs(s["log"]) for itr, s in stats.items()}
    named = {worker for itr_runs in by_itr.values() for worker, _, _ in itr_runs}
    assert len(named) == 3  # each request named one of the three workers
    killed = next(w for w in named if ids[0] in w)
    # Every plant the killed worker fetched went on with another worker.
    its = [itr_runs for itr_runs in by_itr.values() if any(w == killed for w, _, _ in itr_runs)]
    assert its
    assert all(itr_runs[-1][0] != killed for itr_runs in its)
    # No plant was fetched by two workers at once. Two workers holding one plant would
    # alternate on it every period (dozens of runs in this run); one holder at a time
    # hands a plant over only as workers join (A -> B -> C while they balance) and once
    # the killed worker's plants are taken (-> A): at most 4 runs, and runs never overlap.
    for itr_runs in by_itr.values():
        assert len(itr_runs) <= 4, (itr_runs, outputs)
        assert all(a[2] < b[1] for a, b in itertools.pairwise(itr_runs))
    # stderr names plants by fingerprint, never by identifier.
    assert all(p.itr[-8:] not in "".join(outputs) for p in server.plants)
